"""Fixtures of the report tests: a synthetic runs frame (no training) shaped exactly like
`planner.experiments.store.load_runs`, so reports, plots and renderers are tested in
milliseconds."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import pytest

HTML_DOMAIN = "<b>x</b>"


def make_record(strategy: str, domain: str, ppl: float, *, before: float | None = None,
                pretraining_flops: float = 1e12, specialization_flops: float = 1e11,
                scale: str = "tiny", seed: int = 0, info: dict[str, Any] | None = None,
                ) -> dict[str, Any]:
    """One stored run record (the runner's keys) with made-up measurements."""
    from planner.experiments.store import RUN_COLUMNS
    from strategies.machinery.scales import get_scale

    s = get_scale(scale)
    spec = s.large if strategy == "large" else s.small
    rec = {
        "run_key": f"{strategy}-{domain}-{seed}", "strategy": strategy, "paper_name": "",
        "domain": domain, "source": "packaged", "scale": scale, "seed": seed,
        "params": {"scale": scale, "seed": seed}, "n_domain_tokens": s.domain_train_tokens,
        "pretraining_flops": pretraining_flops, "specialization_flops": specialization_flops,
        "inference_flops_per_token": 2.0 * spec.n_params, "inference_params": spec.n_params,
        "pretraining_params": spec.n_params, "test_ppl": ppl, "test_nll": math.log(ppl),
        "test_tokens": 8000, "test_ppl_before_finetune": before if before else ppl * 1.3,
        "wall_s": 10.0, "model_path": "", "datetime": "2026-01-01T00:00:00", "versions": {},
        "info": info or {}, "cost_components": {"finetune": specialization_flops},
    }
    assert set(RUN_COLUMNS) <= set(rec)
    return rec


def uniform(k: int) -> list[float]:
    return [1.0 / k] * k


@pytest.fixture(scope="session")
def html_domain() -> str:
    """A domain name made of HTML, which every renderer must escape."""
    return HTML_DOMAIN


@pytest.fixture(scope="session")
def reference_model() -> Any:
    """`PerformanceModel` fitted on the paper's reference tables only. Shared by the
    session: nothing in the reports or plots refits or changes it."""
    from planner.performance.perfmodel import PerformanceModel

    return PerformanceModel().fit()


@pytest.fixture
def make_run_record() -> Any:
    """`make_record`, for tests that build their own runs."""
    return make_record


@pytest.fixture(scope="session")
def runs_frame() -> pd.DataFrame:
    """5 strategies x 3 domains at tiny scale; one domain name is HTML; `news` is diffuse
    (uniform histogram), `legal` concentrated; `small` has two seeds on news. Shared by
    the session: copy it before changing it."""
    peaked = [0.79] + [0.03] * 7
    ppl = {"small": 180.0, "small_nopt": 400.0, "large": 150.0, "hypernetwork": 170.0,
           "importance_sampling": 160.0}
    offset = {"news": 1.0, "legal": 0.7, HTML_DOMAIN: 1.2}
    rows = []
    for strategy, base in ppl.items():
        for domain, f in offset.items():
            info = {}
            if strategy in ("hypernetwork", "importance_sampling"):
                hist = uniform(8) if domain == "news" else peaked
                info = {"cluster_histogram": hist, "cluster_entropy": 0.0,
                        "top_cluster_share": max(hist)}
            pre = {"small_nopt": 0.0, "importance_sampling": 0.0, "large": 8e12}.get(
                strategy, 1e12)
            spec = 2e12 if strategy == "importance_sampling" else 1e11
            rows.append(make_record(strategy, domain, base * f, pretraining_flops=pre,
                                    specialization_flops=spec, info=info))
    rows.append(make_record("small", "news", 200.0, seed=1))
    return pd.DataFrame(rows)
