"""The report's figures: which plots it shows, in which order, with which captions.

Each `FigureSpec` draws one frame of a `planner.reports.report.Report` with a function of
`planner.reports.plots` on a fresh matplotlib `Figure` (constrained layout, no pyplot state),
so the HTML page and the PDF show the same figures.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from planner.costing.budget import format_params

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from planner.reports.report import Report

__all__ = ["DPI", "FigureSpec", "figures", "png_bytes"]

#: resolution of the PNG figures embedded in the HTML page
DPI = 110


@dataclass(frozen=True)
class FigureSpec:
    """One figure of the report: a title, a caption, and how to draw it."""

    key: str
    title: str
    caption: str
    draw: Callable[[], Figure]


def _new_figure(width: float = 7.6, height: float = 4.4) -> tuple[Figure, Any]:
    from matplotlib.figure import Figure

    from planner.reports.fonts import use_wide_fonts

    use_wide_fonts()  # any script in a domain name (Noto Sans CJK as fallback)
    fig = Figure(figsize=(width, height), layout="constrained")
    return fig, fig.add_subplot()


def figures(report: Report) -> list[FigureSpec]:
    """The report's figures, in order (only those with data)."""
    from planner.reports import plots

    b = report.budget
    specs: list[FigureSpec] = []

    def one(key: str, title: str, caption: str, fn: Callable[[Any], Any],
            size: tuple[float, float] = (7.6, 4.4)) -> None:
        def draw() -> Figure:
            fig, ax = _new_figure(*size)
            fn(ax)
            return fig

        specs.append(FigureSpec(key, title, caption, draw))

    if len(report.decision_map):
        one("decision_map", "Decision map",
            f"Best strategy at the inference cap {b.inference} and "
            f"{format_params(b.n_domain_tokens)} domain tokens, over pretraining x specialization "
            "budgets (the paper's Figure 1). The star is your budget.",
            lambda ax: plots.plot_decision_map(
                report.decision_map, ax,
                point=(b.pretraining.amount, b.specialization.amount)), (8.2, 4.8))
    if len(report.decision_map_domains):
        total = b.total.amount if b.total is not None else b.pretraining.amount
        one("decision_map_domains", "Decision map over the number of domains",
            "Best strategy when one total budget pays for pretraining and N domains' "
            "specialization (the paper's Eq. 1 and Figure 6), at your inference cap and data "
            "size. The star is your number of domains and budget.",
            lambda ax: plots.plot_decision_map_domains(
                report.decision_map_domains, ax, point=(b.n_domains, total)), (8.2, 4.8))
    for axis in ("pretraining", "specialization"):
        sub = report.budget_curves
        if len(sub) and (sub["axis"] == axis).any():
            amount = getattr(b, axis).amount

            def curve(ax: Axes, axis: str = axis, amount: float = amount) -> Axes:
                return plots.plot_budget_curves(report.budget_curves, axis, ax, point=amount)

            one(f"curve_{axis}", f"Perplexity vs {axis} budget",
                f"Each strategy's best predicted perplexity (90% band) as the {axis} budget "
                "varies, the other budgets fixed. A strategy is drawn only where it fits.",
                curve)
    if len(report.domain_costs):
        one("domain_costs", "Cost over N domains (planned)",
            f"Total cost of each strategy's configuration for your budget as the number of "
            f"domains grows (paper's Eq. 1), on {b.accelerator}.",
            lambda ax: plots.plot_cost_over_domains(report.domain_costs, ax))
    for scale in dict.fromkeys(report.runs["scale"]) if len(report.runs) else []:
        sub = report.runs[report.runs["scale"] == scale]

        def scale_runs(ax: Axes, sub: pd.DataFrame = sub) -> Axes:
            return plots.plot_runs(sub, ax)

        one(f"runs_{scale}", f"Measured runs at scale {scale!r}",
            "Test perplexity of each specialized model (bars) and of its starting point "
            "before fine-tuning (black ticks).",
            scale_runs, (8.4, 4.4))
        mdc = report.measured_domain_costs
        mdc = mdc[mdc["scale"] == scale]
        if len(mdc):

            def measured_costs(ax: Axes, mdc: pd.DataFrame = mdc) -> Axes:
                return plots.plot_cost_over_domains(mdc, ax)

            one(f"measured_costs_{scale}", f"Measured FLOPs over N domains at scale {scale!r}",
                "Measured pretraining FLOPs plus N x the mean measured specialization FLOPs.",
                measured_costs)
    if len(report.cluster_histograms):
        one("clusters", "Domain cluster histograms",
            "Share of each domain's documents in each generic-corpus cluster. A flat "
            "histogram (high entropy) is a warning sign for mixtures and projected networks.",
            lambda ax: plots.plot_cluster_histograms(report.cluster_histograms, ax,
                                                     clusters=report.clusters))
    if len(report.measured_vs_predicted):
        one("model_check", "Performance model: predicted vs measured",
            "Each point is predicted by the model fitted without it (leave-one-out): your "
            "runs (circles, 90% band) and the paper's Table 8 rows (squares).",
            lambda ax: plots.plot_measured_vs_predicted(report.measured_vs_predicted, ax),
            (7.6, 5.0))
    return specs


def png_bytes(fig: Figure) -> bytes:
    """`fig` as PNG bytes at `DPI`."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()
