"""`specplan study`: the run plan, the claim verdicts on made-up runs, and bad --seeds."""

from __future__ import annotations

from typing import Any

import pytest

from planner.experiments.study import (
    BUDGET_STRATEGIES,
    MAIN,
    SIZE_STRATEGIES,
    RunSpec,
    StudyConfig,
    claims,
    format_claims,
    plan_runs,
)


def test_the_study_preset_plan() -> None:
    cfg = StudyConfig()
    specs = plan_runs(cfg)
    assert len(specs) == len(set(specs))
    assert {s.domain for s in specs} == {"biomedical", "legal", "news"}
    assert {s.seed for s in specs} == {0, 1, 2}
    n = 3 * 3
    assert len([s for s in specs if s.part == "main"]) == len(MAIN) * n
    assert len([s for s in specs if s.part == "size"]) == len(SIZE_STRATEGIES) * n
    # three budgets: 0.5x and 2x here, 1x is the main runs
    assert len([s for s in specs if s.part == "budget"]) == 2 * len(BUDGET_STRATEGIES) * n
    assert {dict(s.params)["n_pretrain_tokens"] for s in specs if s.part == "budget"} == {
        150_000, 600_000}


def test_every_domain_supplies_a_histogram_at_the_small_size(tiny_ws_8k) -> None:  # type: ignore[no-untyped-def]
    """The data-size part's clustered runs need a cluster histogram of the domain's
    documents: every packaged domain has enough of them at the study's smaller size (at
    4,096 tokens legal had 3, and its 6 clustered runs failed)."""
    from domains import get_domain
    from strategies.machinery.clustering import MIN_HISTOGRAM_DOCS, domain_train_documents

    cfg = StudyConfig()
    assert tiny_ws_8k.n_domain_tokens == cfg.small_domain_tokens
    assert tiny_ws_8k.scale.name == cfg.scale
    # the two with long documents (biomedical's abstracts are short: its first 5 start
    # within 1,700 tokens, and tokenizing its 15M-token train split takes minutes)
    for name in ("legal", "news"):
        assert name in cfg.domains
        docs = domain_train_documents(tiny_ws_8k, get_domain(name))
        assert len(docs) >= MIN_HISTOGRAM_DOCS, (name, len(docs))


def _pairs(ppl: dict[tuple[str, str], list[float]]) -> list[tuple[RunSpec, dict[str, Any]]]:
    """Made-up runs: (part, strategy) -> per-seed perplexity, the same on every domain."""
    cfg = StudyConfig()
    out = []
    for spec in plan_runs(cfg):
        vals = ppl.get((spec.part if spec.part != "budget" else
                        f"budget{dict(spec.params)['n_pretrain_tokens']}", spec.strategy))
        if vals is None:
            continue
        v = vals[spec.seed]
        out.append((spec, {"test_ppl": v, "test_ppl_before_finetune": 1.5 * v,
                           "pretraining_flops": 4.0 if spec.strategy == "distillation" else 1.0,
                           "info": {"top_cluster_share": 0.6}}))
    return out


def test_verdicts_follow_the_seed_intervals() -> None:
    pairs = _pairs({
        ("main", "small"): [100.0, 104.0, 102.0],
        ("main", "small_nopt"): [300.0, 310.0, 320.0],  # far behind: reproduced
        ("main", "large"): [101.0, 99.0, 103.0],  # overlaps small: within noise
        ("main", "distillation"): [110.0, 112.0, 111.0],  # behind small: not reproduced
        ("main", "importance_sampling"): [90.0, 91.0, 92.0],
        ("budget600000", "small"): [95.0, 96.0, 97.0],
    })
    table = {c.claim: c for c in claims(pairs, StudyConfig())}
    assert table["SLM-nopt far behind SLM"].verdict == "reproduced"
    assert table["LLM ahead of SLM"].verdict == "within noise"
    assert table["SLM-d ahead of SLM at equal student pretraining"].verdict == "not reproduced"
    assert table["SLM-d behind SLM once the teacher is counted"].verdict == "reproduced"
    assert "4.0x SLM's" in table["SLM-d behind SLM once the teacher is counted"].measured
    assert table["SLM-is at or ahead of SLM on news"].verdict == "reproduced"
    assert table["fine-tuning always helps"].verdict == "reproduced"
    assert table["SLM-nopt far behind SLM"].seeds == "0,1,2"
    assert "102.0 [100.0-104.0]" in table["LLM ahead of SLM"].measured
    text = format_claims(list(table.values()))
    assert text.startswith("| claim | paper |") and "**within noise**" in text


def test_mixture_regime_is_stated_with_arithmetic() -> None:
    table = {c.claim: c for c in claims(_pairs({}), StudyConfig())}
    note = table["SLM-mix crosses SLM as pretraining grows"].note
    assert "tokens per parameter" in note and "360-1440" in note


@pytest.mark.parametrize("seeds", ["", "0,-1", "a,b", "0,0"])
def test_bad_seeds_are_one_line_exit_2(seeds: str, capsys: pytest.CaptureFixture[str]) -> None:
    from planner.cli.main import main

    rc = main(["study", "--seeds", seeds, "--claims-only"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert len(err) == 1 and "--seeds" in err[0] and "Traceback" not in err[0]


def test_budget_sweep_and_mixture_crossing() -> None:
    pairs = _pairs({
        ("budget150000", "small"): [120.0, 121.0, 122.0],
        ("main", "small"): [110.0, 111.0, 112.0],
        ("budget600000", "small"): [100.0, 101.0, 102.0],
        ("budget150000", "mixture"): [130.0, 131.0, 132.0],  # behind SLM
        ("main", "mixture"): [111.0, 112.0, 113.0],  # within noise
        ("budget600000", "mixture"): [95.0, 96.0, 97.0],  # ahead: the crossing
    })
    table = {c.claim: c for c in claims(pairs, StudyConfig())}
    assert table["more pretraining helps small"].verdict == "reproduced"
    assert table["more pretraining helps mixture"].verdict == "reproduced"
    assert table["SLM-mix crosses SLM as pretraining grows"].verdict == "reproduced"
    none = {c.claim: c for c in claims(_pairs({("main", "small"): [1.0, 1.0, 1.0]}),
                                       StudyConfig())}
    assert none["more pretraining helps small"].verdict == "not measured"
    assert none["SLM-mix crosses SLM as pretraining grows"].verdict == "not measured"


def test_study_report_has_the_claim_section(tmp_path, make_run_record) -> None:  # type: ignore[no-untyped-def]
    from planner.experiments.study import write_study_report

    cfg = StudyConfig(domains=("news", "legal"), seeds=(0, 1))
    pairs = [(RunSpec("main", s, d, seed, 16_384),
              make_run_record(s, d, v + seed, seed=seed))
             for s, v in (("small", 100.0), ("small_nopt", 300.0))
             for d in cfg.domains for seed in cfg.seeds]
    table = claims(pairs, cfg)
    paths = write_study_report(pairs, table, cfg, tmp_path / "report")
    html = paths[0].read_text(encoding="utf-8")
    assert "The paper&#39;s orderings at this scale (specplan study)" in html or \
        "The paper&#x27;s orderings at this scale (specplan study)" in html or \
        "The paper's orderings at this scale (specplan study)" in html
    assert "SLM-nopt far behind SLM" in html and "reproduced" in html
    assert "Recommended for your domains" in html and "Advice for your domains" in html
