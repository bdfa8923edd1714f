"""planner.reports (report, runs, planning, clusters, model_check, provenance): the
report's frames, on synthetic runs and the reference tables."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from planner.costing import default_budget
from planner.performance.perfmodel import PerformanceModel
from planner.reports import (
    DIFFUSE_NORMALIZED_ENTROPY,
    budget_curves,
    build_report,
    cluster_histograms,
    cluster_table,
    decision_map,
    domain_costs,
    measured_domain_costs,
    measured_vs_predicted,
    provenance_table,
    recommendation_table,
    runs_table,
    sensitivity,
    strategy_summary,
)


# ------------------------------------------------------------------------------ runs
def test_runs_table_one_row_per_strategy_and_domain(runs_frame: pd.DataFrame) -> None:
    table = runs_table(runs_frame)
    assert len(table) == 15  # 5 strategies x 3 domains; the two seeds of small/news merged
    row = table[(table.strategy == "small") & (table.domain == "news")].iloc[0]
    assert row.n_runs == 2
    # seeds average in log space: exp(mean NLL) = geometric mean of 180 and 200
    np.testing.assert_allclose(row.test_ppl, math.sqrt(180.0 * 200.0), rtol=1e-12)
    gain = 100 * (row.test_ppl_before_finetune - row.test_ppl) / row.test_ppl_before_finetune
    np.testing.assert_allclose(row.finetune_gain_pct, gain, rtol=1e-12)
    assert list(dict.fromkeys(table.strategy))[:3] == ["small", "small_nopt", "large"]


def test_runs_table_flags_the_inference_cap(runs_frame: pd.DataFrame) -> None:
    table = runs_table(runs_frame)
    assert not table[table.strategy == "large"].within_cap.any()
    assert table[table.strategy != "large"].within_cap.all()


def test_runs_table_skips_failed_runs_and_handles_empty(runs_frame: pd.DataFrame) -> None:
    broken = runs_frame.copy()
    broken.loc[0, "test_ppl"] = None
    assert len(runs_table(broken)) == 15  # small/news keeps its second seed
    assert runs_table(runs_frame.iloc[:0]).empty
    assert strategy_summary(runs_table(runs_frame.iloc[:0])).empty


def test_strategy_summary_macro_average_and_rank(runs_frame: pd.DataFrame) -> None:
    table = runs_table(runs_frame)
    summary = strategy_summary(table).set_index("strategy")
    hn = table[table.strategy == "hypernetwork"].test_ppl
    np.testing.assert_allclose(summary.loc["hypernetwork", "macro_ppl"],
                               np.exp(np.log(hn).mean()), rtol=1e-12)
    assert pd.isna(summary.loc["large", "rank"])  # over the cap: not ranked
    ranked = summary.dropna(subset=["rank"]).sort_values("rank")
    assert ranked.index[0] == "importance_sampling" and ranked.index[-1] == "small_nopt"
    assert summary.loc["large", "pretraining_flops"] == 8e12


def test_measured_domain_costs_follow_eq1(runs_frame: pd.DataFrame) -> None:
    costs = measured_domain_costs(runs_table(runs_frame), n_domains=(1, 10))
    is_ = costs[costs.strategy == "importance_sampling"].set_index("n_domains")
    assert is_.loc[1, "pretraining"] == 0.0
    np.testing.assert_allclose(is_.loc[10, "total"], 10 * 2e12)
    small = costs[costs.strategy == "small"].set_index("n_domains")
    np.testing.assert_allclose(small.loc[10, "total"], 1e12 + 10 * 1e11)


# ------------------------------------------------------------------------------ clusters
def test_cluster_table_entropy_and_diffuse_warning(runs_frame: pd.DataFrame) -> None:
    clusters = cluster_table(runs_frame).set_index("domain")
    assert len(clusters) == 3  # one row per domain and k, whichever strategy recorded it
    np.testing.assert_allclose(clusters.loc["news", "entropy"], math.log(8), rtol=1e-12)
    np.testing.assert_allclose(clusters.loc["news", "normalized_entropy"], 1.0, rtol=1e-12)
    assert clusters.loc["news", "diffuse"] and "news" in clusters.loc["news", "warning"]
    peaked = np.array([0.79] + [0.03] * 7)
    expected = -(peaked * np.log(peaked)).sum()
    np.testing.assert_allclose(clusters.loc["legal", "entropy"], expected, rtol=1e-12)
    assert clusters.loc["legal", "normalized_entropy"] < DIFFUSE_NORMALIZED_ENTROPY
    assert not clusters.loc["legal", "diffuse"] and clusters.loc["legal", "warning"] == ""
    long = cluster_histograms(cluster_table(runs_frame))
    assert len(long) == 24 and long.groupby("domain").share.sum().round(12).eq(1.0).all()


def test_cluster_table_ignores_runs_without_histograms(runs_frame: pd.DataFrame) -> None:
    plain = runs_frame[runs_frame.strategy.isin(["small", "large"])]
    assert cluster_table(plain).empty
    bad = runs_frame.copy()
    bad["info"] = [{"cluster_histogram": [0.0, 0.0]}] * len(bad)
    assert cluster_table(bad).empty


# ------------------------------------------------------------------------------ planning
def test_decision_map_grid(reference_model: PerformanceModel) -> None:
    budget = default_budget()
    grid = decision_map(budget, reference_model, n_points=3)
    assert len(grid) == 9
    assert set(grid.pretraining_unit) == {"gpu_hours"}
    assert "large" not in set(grid.strategy)  # a 126M cap excludes the 771M model
    big = decision_map(default_budget(inference="1B"), reference_model,
                       pretraining=[400.0], specialization=[2.0])
    assert big.strategy.tolist() == ["large"]  # the paper's Fig. 1: large inference budget


def test_decision_map_importance_sampling_needs_a_large_specialization_budget(
        reference_model: PerformanceModel) -> None:
    grid = decision_map(default_budget(domains="1"), reference_model,
                        pretraining=[400.0], specialization=[0.5, 150.0])
    by_spec = grid.set_index("specialization_budget").strategy
    assert by_spec[150.0] == "importance_sampling"
    assert by_spec[0.5] != "importance_sampling"


def test_budget_curves_small_never_gets_worse_with_more_pretraining(
        reference_model: PerformanceModel) -> None:
    curves = budget_curves(default_budget(), reference_model, n_points=4)
    assert set(curves.axis) == {"pretraining", "specialization"}
    small = curves[(curves.axis == "pretraining") & (curves.strategy == "small")]
    assert len(small) >= 3
    assert (np.diff(small.sort_values("budget").predicted_ppl) <= 1e-9).all()
    assert (curves.low <= curves.predicted_ppl).all()
    assert (curves.predicted_ppl <= curves.high).all()


def test_domain_costs_per_domain_pretraining_grows_with_n(
        reference_model: PerformanceModel) -> None:
    costs = domain_costs(default_budget(), reference_model, n_domains=(1, 50))
    np.testing.assert_allclose(
        costs.total, costs.pretraining + costs.n_domains * costs.specialization_per_domain)
    is_ = costs[costs.strategy == "importance_sampling"].set_index("n_domains")
    assert is_.loc[1, "pretraining"] == 0.0
    np.testing.assert_allclose(is_.loc[50, "total"], 50 * is_.loc[1, "total"], rtol=1e-12)


def test_recommendation_table(reference_model: PerformanceModel) -> None:
    from planner.search.recommend import recommend

    rec = recommend(default_budget(), model=reference_model)
    table = recommendation_table(rec)
    assert table.iloc[0].strategy == rec.strategy and table.iloc[0].status == "recommended"
    assert "large" in set(table[table.status == "not considered"].strategy)
    np.testing.assert_allclose(table.iloc[0].total, rec.cost.total.gpu_hours)


def test_sensitivity_moves_with_the_budgets(reference_model: PerformanceModel) -> None:
    frame = sensitivity(model=reference_model, what_ifs={"inference": ("126M", "1B"),
                                                         "specialization": ("150gpuh",)})
    by = frame.set_index(["variable", "value"]).strategy
    assert by[("inference", "1B")] == "large"
    assert by[("inference", "126M")] != "large"
    assert len(frame) == 3


# ------------------------------------------------------------------------------ checks
def test_measured_vs_predicted_leave_one_out(runs_frame: pd.DataFrame) -> None:
    frame = measured_vs_predicted(runs_frame.head(6), include_reference=False)
    assert len(frame) == 6 and set(frame.method) == {"leave-one-out"}
    assert (frame.low <= frame.predicted).all() and (frame.predicted <= frame.high).all()
    with_ref = measured_vs_predicted(runs_frame.iloc[:0])
    assert set(with_ref.source) == {"paper Table 8"}
    assert with_ref.error_pct.abs().mean() < 5.0  # the model reproduces Table 8 closely


def test_provenance_table_reads_builtin_domains_and_names_unknown_ones(
        html_domain: str) -> None:
    frame = provenance_table(["news", html_domain]).set_index("domain")
    assert frame.loc["news", "source"] == "packaged" and frame.loc["news", "licence"]
    assert "not recorded" in frame.loc[html_domain, "provenance"]


def test_build_report_gathers_every_frame(runs_frame: pd.DataFrame,
                                          reference_model: PerformanceModel) -> None:
    report = build_report(runs=runs_frame, model=reference_model, n_points=3, loo=False)
    assert report.recommendation is not None
    frames = report.frames()
    for name in ("runs", "summary", "recommendation_frame", "decision_map", "budget_curves",
                 "domain_costs", "clusters", "measured_vs_predicted", "provenance"):
        assert len(frames[name]), name
    assert any("diffuse" in n and "news" in n for n in report.notes)
    assert set(report.measured_vs_predicted.method) == {"in-sample", "leave-one-out"}
    only_tiny = build_report(runs=runs_frame, model=reference_model, n_points=2, loo=False,
                             scales=["demo"])
    assert only_tiny.runs.empty


def test_diffuse_warning_is_judged_on_the_finest_histogram(make_run_record) -> None:
    from planner.reports import cluster_notes

    # news: flat over the experts' 4 clusters (too coarse to judge), concentrated over 16;
    # legal: flat over 16 clusters
    peaked16 = [0.7] + [0.02] * 15
    rows = [make_run_record("hypernetwork", "news", 100.0,
                            info={"cluster_histogram": [0.25] * 4}),
            make_run_record("importance_sampling", "news", 100.0,
                            info={"cluster_histogram": peaked16}),
            make_run_record("importance_sampling", "legal", 100.0,
                            info={"cluster_histogram": [1 / 16] * 16})]
    clusters = cluster_table(pd.DataFrame(rows))
    assert len(clusters) == 3
    assert clusters.diffuse.tolist() == [False, False, True]  # k = 4 never flags
    notes = cluster_notes(clusters)
    assert len(notes) == 1 and "'legal'" in notes[0] and "k=16" in notes[0]
