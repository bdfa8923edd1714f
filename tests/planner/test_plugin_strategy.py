"""A third-party strategy is a first-class citizen (issue 16).

A toy package, installed as a distribution on ``sys.path`` (a ``.dist-info`` folder with
an ``entry_points.txt``), registers a strategy through the ``specplan.strategies`` entry
point. It is discovered by the registry, passes the shipped conformance suite, runs at the
``tiny`` scale and is stored like a built-in, and `recommend` plans it at the paper's
scale from the prior it declares (low confidence: it borrows the SLM's curve), and the
report shows it.
"""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from planner.testing import StrategyContractTests

TOY = "toy_plugin"
_PACKAGE = '''
"""A toy specplan plug-in: SLM with a different name and a declared prior."""

from strategies.base import PlanningPrior
from strategies.small import SmallStrategy


class ToyStrategy(SmallStrategy):
    """The small model, registered from outside specplan."""

    name = "toy_plugin"
    paper_name = "TOY"
    summary = "a plug-in: the small model, planned from a declared prior"
    charging = {"pretraining": "small model on generic text (shared)",
                "specialization": "early-stopped fine-tune",
                "inference": "small model"}

    @classmethod
    def planning_prior(cls) -> PlanningPrior:
        return PlanningPrior(kind="like", like="small", log_ppl_offset=0.03,
                             confidence="low",
                             source="toy prior: the SLM curve, 3% worse (an assumption)")
'''


def _clear_caches() -> None:
    from planner.performance import perfdata, perfmodel

    perfdata.planning_prior.cache_clear()
    perfdata._served_params.cache_clear()
    perfdata._gpuh_per_flop.cache_clear()
    perfmodel._kind.cache_clear()
    perfmodel._baseline_items.cache_clear()


@pytest.fixture(scope="module")
def toy_cls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[type]:
    """Install the toy distribution on sys.path; uninstall it afterwards."""
    from strategies.registry import get_strategy_class, strategy_registry

    site = tmp_path_factory.mktemp("site")
    (site / "toyplug").mkdir()
    (site / "toyplug" / "__init__.py").write_text(textwrap.dedent(_PACKAGE))
    info = site / "toyplug-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toyplug\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        f"[specplan.strategies]\n{TOY} = toyplug:ToyStrategy\n")
    sys.path.insert(0, str(site))
    strategy_registry._entry_points_loaded = False
    _clear_caches()
    try:
        yield get_strategy_class(TOY)
    finally:
        sys.path.remove(str(site))
        strategy_registry._targets.pop(TOY, None)
        strategy_registry._entry_points_loaded = False
        sys.modules.pop("toyplug", None)
        _clear_caches()


class TestToyContract(StrategyContractTests):
    """The shipped conformance suite, run on the plug-in."""

    @pytest.fixture
    def strategy_cls(self, toy_cls: type) -> type:
        return toy_cls

    @pytest.mark.slow
    def test_end_to_end_micro(self, strategy_cls: type, micro_ws: Any, news_domain: Any,
                              tmp_path: Any) -> None:
        super().test_end_to_end_micro(strategy_cls, micro_ws, news_domain, tmp_path)


def test_the_entry_point_registers_it(toy_cls: type) -> None:
    from strategies.registry import list_strategies

    assert TOY in list_strategies() and toy_cls.__module__ == "toyplug"


@pytest.mark.slow
def test_run_at_tiny_planned_and_reported(toy_cls: type, tiny_ws: Any, news_domain: Any,
                                          tmp_path: Path) -> None:
    from planner.costing.budget import Budget
    from planner.experiments.runner import measure
    from planner.experiments.store import add_run, load_runs, open_study
    from planner.reports.report import build_report
    from planner.search.recommend import recommend

    storage = f"sqlite:///{tmp_path / 'runs.db'}"
    record = measure(toy_cls(scale="tiny"), news_domain, tiny_ws, root=tmp_path,
                     run_key="toy-news")
    add_run(open_study(storage), record)
    assert record["strategy"] == TOY and record["test_ppl"] > 1
    assert record["teacher_pretraining_flops"] == 0 and record["external_usd"] == 0
    runs = load_runs(storage)
    assert list(runs["strategy"]) == [TOY]

    budget = Budget.from_strings(pretraining="400gpuh", specialization="2gpuh",
                                 inference="126M", domain_tokens="8M", domains=3)
    rec = recommend(budget, runs=runs)
    planned = {r.strategy: r for r in rec.runners_up}
    assert TOY == rec.strategy or TOY in planned
    toy = planned[TOY] if TOY in planned else None
    if toy is not None:
        small = planned.get("small")
        assert toy.feasible and (small is None or toy.predicted_ppl > small.predicted_ppl)
    assert TOY not in rec.excluded

    # at the paper's scale its confidence is what its prior allows
    from planner.performance.perfmodel import PerformanceModel

    p = PerformanceModel().fit(runs).predict_gpuh(TOY, pretraining_gpuh=400,
                                                  n_domain_tokens=8e6)
    assert p.confidence == "low" and "toy prior" in p.basis

    # at the scale it was measured at, its own run is the basis
    here = PerformanceModel().fit(runs).predict(
        TOY, pretraining_flops=float(record["pretraining_flops"]),
        specialization_flops=float(record["specialization_flops"]),
        n_domain_tokens=float(record["n_domain_tokens"]), scale="tiny")
    assert here.ppl == pytest.approx(record["test_ppl"], rel=0.05)
    assert "runs at scale 'tiny'" in here.basis and here.confidence == "medium"

    report = build_report(runs=runs, budget=budget, loo=False, n_points=3)
    assert TOY in set(report.runs["strategy"])
    assert TOY in set(report.recommendation_frame["strategy"])
