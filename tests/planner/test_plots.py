"""planner.reports.plots: labels and legend entries of every figure, then a render to memory."""

from __future__ import annotations

from io import BytesIO

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from planner.costing import default_budget  # noqa: E402
from planner.performance.perfmodel import PerformanceModel  # noqa: E402
from planner.reports import (  # noqa: E402
    budget_curves,
    cluster_histograms,
    cluster_table,
    decision_map,
    domain_costs,
    measured_domain_costs,
    measured_vs_predicted,
    plots,  # noqa: E402
    runs_table,
)


def _legend(ax: plt.Axes) -> list[str]:
    legend = ax.get_legend()
    return [t.get_text() for t in legend.get_texts()] if legend else []


def _renders(ax: plt.Axes) -> None:
    buf = BytesIO()
    ax.figure.savefig(buf, format="png")
    assert buf.getvalue()[:8] == b"\x89PNG\r\n\x1a\n"
    plt.close(ax.figure)


def test_decision_map(reference_model: PerformanceModel) -> None:
    frame = decision_map(default_budget(), reference_model, n_points=3)
    ax = plots.plot_decision_map(frame, point=(400.0, 2.0))
    assert ax.get_xlabel() == "pretraining budget (GPU-hours)"
    assert ax.get_ylabel() == "specialization budget per domain (GPU-hours)"
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    entries = _legend(ax)
    assert "your budget" in entries
    winners = set(frame.strategy) - {"none"}
    assert all(any(e.startswith(w + " (") for e in entries) for w in winners)
    _renders(ax)


def test_budget_curves_on_a_given_axes(reference_model: PerformanceModel) -> None:
    frame = budget_curves(default_budget(), reference_model, axes=("specialization",), n_points=3)
    fig, ax = plt.subplots()
    out = plots.plot_budget_curves(frame, "specialization", ax, point=2.0)
    assert out is ax
    assert ax.get_xlabel() == "specialization budget per domain (GPU-hours)"
    assert ax.get_ylabel() == "predicted perplexity"
    assert "your budget" in _legend(ax) and "small (SLM)" in _legend(ax)
    _renders(ax)


def test_cost_over_domains(reference_model: PerformanceModel, runs_frame: pd.DataFrame) -> None:
    costs = domain_costs(default_budget(), reference_model, n_domains=(1, 7))
    ax = plots.plot_cost_over_domains(costs)
    assert ax.get_xlabel() == "number of domains N"
    assert ax.get_ylabel() == "total cost (GPU-hours)"
    assert "importance_sampling (SLM-is)" in _legend(ax)
    _renders(ax)
    ax = plots.plot_cost_over_domains(measured_domain_costs(runs_table(runs_frame)))
    assert ax.get_ylabel() == "total cost (FLOPs)"
    _renders(ax)


def test_cluster_histograms(runs_frame: pd.DataFrame) -> None:
    clusters = cluster_table(runs_frame)
    ax = plots.plot_cluster_histograms(cluster_histograms(clusters), clusters=clusters)
    assert ax.get_xlabel() == "generic-corpus cluster (k = 8)"
    assert ax.get_ylabel() == "share of the domain's documents"
    entries = _legend(ax)
    assert len(entries) == 3
    assert any(e.startswith("news (H=2.08 nats") and "diffuse" in e for e in entries)
    _renders(ax)


def test_measured_vs_predicted(runs_frame: pd.DataFrame) -> None:
    ax = plots.plot_measured_vs_predicted(measured_vs_predicted(runs_frame.head(4)))
    assert ax.get_xlabel() == "measured perplexity"
    assert ax.get_ylabel() == "predicted perplexity"
    assert "small (your runs)" in _legend(ax) and "large (paper Table 8)" in _legend(ax)
    _renders(ax)


def test_runs_and_user_text_with_dollars(runs_frame: pd.DataFrame, html_domain: str) -> None:
    frame = runs_frame.copy()
    frame.loc[frame.domain == "legal", "domain"] = "cost in $ and $$"
    ax = plots.plot_runs(runs_table(frame))
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert html_domain in labels and r"cost in \$ and \$\$" in labels  # no mathtext
    assert ax.get_ylabel() == "test perplexity (log scale)"
    assert "large (LLM)" in _legend(ax)
    _renders(ax)


def test_strategy_colors_are_stable() -> None:
    a = plots.strategy_colors(["large", "small"])
    b = plots.strategy_colors(["small", "mine"])
    assert a["small"] == b["small"] and a["large"] != a["small"]
    assert b["mine"] not in {a["small"], a["large"]}
