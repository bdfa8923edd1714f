"""Figures for the report: each function draws one report frame (`planner.reports`) on an Axes.

The functions compute nothing (the frames hold every number); they take the frame and an
optional ``ax`` and return the Axes, so a notebook can place them in its own figures:

    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from planner.costing.scenario import default_budget
    >>> from planner.reports.planning import decision_map
    >>> from planner.performance.perfmodel import PerformanceModel
    >>> from planner.reports.plots import plot_decision_map
    >>> frame = decision_map(default_budget(), PerformanceModel().fit(), n_points=3)
    >>> plot_decision_map(frame).get_xlabel()
    'pretraining budget (GPU-hours)'

Each strategy keeps one colour in every figure (`strategy_colors`). Text that comes from
the user (domain names) is passed through `_text`, so a ``$`` in a name is not read as
matplotlib mathtext.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

from planner.reports.common import paper_name
from planner.reports.formatting import UNIT_LABELS

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.artist import Artist
    from matplotlib.axes import Axes

__all__ = [
    "UNIT_LABELS",
    "plot_budget_curves",
    "plot_cluster_histograms",
    "plot_cost_over_domains",
    "plot_decision_map",
    "plot_decision_map_domains",
    "plot_measured_vs_predicted",
    "plot_runs",
    "strategy_colors",
]

_NONE_COLOR = "#d9d9d9"  # grid points where no strategy fits the budgets


#: Longest label drawn, in columns (a CJK character counts 2); longer ones end in "…".
MAX_LABEL = 40


def _text(value: Any, width: int = MAX_LABEL) -> str:
    """User text for a matplotlib label: cut to `width` columns with a visible "…", and a
    literal ``$`` must not start mathtext."""
    from planner.reports.fonts import shorten

    return shorten(str(value), width).replace("$", r"\$")


def _axes(ax: Axes | None, figsize: tuple[float, float] = (6.4, 4.2)) -> Axes:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    from planner.reports.fonts import use_wide_fonts

    use_wide_fonts()
    _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def strategy_colors(names: Iterable[str]) -> dict[str, str]:
    """A fixed colour per strategy: registry order on matplotlib's tab10, then tab20."""
    from matplotlib import colormaps

    tab10, tab20 = colormaps["tab10"], colormaps["tab20"]
    # integer inputs index the (listed) colormaps' entries: tab10's, then tab20's light ones
    palette = [tab10(i) for i in range(tab10.N)] + [tab20(i) for i in range(1, tab20.N, 2)]
    from strategies.registry import strategy_registry

    known = strategy_registry.names()
    out = {}
    extra = [n for n in dict.fromkeys(names) if n not in known]
    for i, name in enumerate(known + extra):
        out[name] = _hex(palette[i % len(palette)])
    out["none"] = _NONE_COLOR
    return out


def _hex(rgb: tuple[float, ...]) -> str:
    return "#" + "".join(f"{int(round(255 * c)):02x}" for c in rgb[:3])


def _label(strategy: str) -> str:
    paper = paper_name(strategy)
    return _text(f"{strategy} ({paper})" if paper else strategy)


def _edges(values: np.ndarray) -> np.ndarray:
    """Cell edges of a log-spaced grid: geometric midpoints, extended at both ends."""
    v = np.sort(np.unique(values))
    if len(v) == 1:
        return np.array([v[0] / 1.5, v[0] * 1.5])
    mid = np.sqrt(v[1:] * v[:-1])
    return np.concatenate([[v[0] ** 2 / mid[0]], mid, [v[-1] ** 2 / mid[-1]]])


def plot_decision_map(frame: pd.DataFrame, ax: Axes | None = None, *,
                      point: tuple[float, float] | None = None) -> Axes:
    """The best strategy over pretraining x specialization budgets (the paper's Figure 1).

    Args:
        frame: `planner.reports.planning.decision_map`.
        point: the user's (pretraining, specialization) budget, marked with a star.
    """
    ax = _strategy_map(frame, "pretraining_budget", "specialization_budget", ax, point=point)
    unit_p = UNIT_LABELS.get(str(frame["pretraining_unit"].iloc[0]), "")
    unit_s = UNIT_LABELS.get(str(frame["specialization_unit"].iloc[0]), "")
    ax.set_xlabel(f"pretraining budget ({unit_p})")
    ax.set_ylabel(f"specialization budget per domain ({unit_s})")
    ax.set_title("Best strategy by budget")
    return ax


def plot_decision_map_domains(frame: pd.DataFrame, ax: Axes | None = None, *,
                              point: tuple[float, float] | None = None) -> Axes:
    """The best strategy over the number of domains x a shared total budget (Fig. 6).

    Args:
        frame: `planner.reports.planning.decision_map_domains`.
        point: the user's (number of domains, total budget), marked with a star.
    """
    ax = _strategy_map(frame, "n_domains", "total_budget", ax, point=point)
    ax.set_xlabel("number of domains N")
    unit = UNIT_LABELS.get(str(frame["unit"].iloc[0]), "")
    ax.set_ylabel(f"total budget over N domains ({unit})")
    ax.set_title("Best strategy by number of domains (Eq. 1)")
    return ax


def _strategy_map(frame: pd.DataFrame, x: str, y: str, ax: Axes | None, *,
                  point: tuple[float, float] | None) -> Axes:
    """The winning strategy per (x, y) grid cell of `frame` as colored cells on log axes,
    with a legend (and the user's point as a star); the caller labels the axes."""
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    ax = _axes(ax)
    xs = np.sort(frame[x].unique())
    ys = np.sort(frame[y].unique())
    names = list(dict.fromkeys(frame["strategy"]))
    colors = strategy_colors(names)
    codes = {n: i for i, n in enumerate(names)}
    grid = frame.pivot(index=y, columns=x, values="strategy").reindex(index=ys, columns=xs)
    z = np.vectorize(codes.get)(grid.to_numpy())  # (n_y, n_x) strategy codes
    ax.pcolormesh(_edges(xs.astype(float)), _edges(ys.astype(float)), z,
                  cmap=ListedColormap([colors[n] for n in names]), vmin=-0.5,
                  vmax=len(names) - 0.5, shading="flat")
    ax.set_xscale("log")
    ax.set_yscale("log")
    handles: list[Artist] = [
        Patch(facecolor=colors[n], label=_label(n) if n != "none" else "nothing fits")
        for n in names]
    if point is not None:
        (star,) = ax.plot([point[0]], [point[1]], marker="*", markersize=16, color="white",
                          markeredgecolor="black", linestyle="none", label="your budget")
        handles.append(star)
    ax.legend(handles=handles, loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8,
              frameon=False)
    return ax


def plot_budget_curves(frame: pd.DataFrame, axis: str = "pretraining",
                       ax: Axes | None = None, *, point: float | None = None) -> Axes:
    """Each strategy's best predicted perplexity as one budget varies (with its band).

    Args:
        frame: `planner.reports.planning.budget_curves`.
        axis: ``pretraining`` or ``specialization``: which budget varies.
        point: the user's value of that budget (a dashed vertical line).
    """
    ax = _axes(ax)
    sub = frame[frame["axis"] == axis]
    colors = strategy_colors(sub["strategy"])
    for name, g in sub.groupby("strategy", sort=False):
        g = g.sort_values("budget")
        ax.plot(g["budget"], g["predicted_ppl"], marker="o", markersize=3,
                color=colors[name], label=_label(name))
        ax.fill_between(g["budget"], g["low"], g["high"], color=colors[name], alpha=0.15,
                        linewidth=0)
    if point is not None:
        ax.axvline(point, color="black", linestyle="--", linewidth=1, label="your budget")
    ax.set_xscale("log")
    unit = UNIT_LABELS.get(str(sub["unit"].iloc[0]), "") if len(sub) else ""
    what = "pretraining budget" if axis == "pretraining" else "specialization budget per domain"
    ax.set_xlabel(f"{what} ({unit})")
    ax.set_ylabel("predicted perplexity")
    ax.set_title(f"Perplexity vs {what}")
    ax.grid(True, which="both", alpha=0.3)
    if len(sub):
        ax.legend(fontsize=8, frameon=False)
    return ax


def plot_cost_over_domains(frame: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Total cost over N domains per strategy: pretraining + N x specialization (Eq. 1).

    Args:
        frame: `planner.reports.planning.domain_costs` or
            `planner.reports.runs.measured_domain_costs`.
    """
    ax = _axes(ax)
    colors = strategy_colors(frame["strategy"])
    for name, g in frame.groupby("strategy", sort=False):
        g = g.sort_values("n_domains")
        ax.plot(g["n_domains"], g["total"], marker="o", markersize=3, color=colors[name],
                label=_label(name))
    ax.set_xscale("log")
    ax.set_yscale("log")
    unit = UNIT_LABELS.get(str(frame["unit"].iloc[0]), "") if len(frame) else ""
    ax.set_xlabel("number of domains N")
    ax.set_ylabel(f"total cost ({unit})")
    ax.set_title("Cost over N domains: pretraining + N x specialization")
    ax.grid(True, which="both", alpha=0.3)
    if len(frame):
        ax.legend(fontsize=8, frameon=False)
    return ax


def plot_cluster_histograms(frame: pd.DataFrame, ax: Axes | None = None,
                            clusters: pd.DataFrame | None = None) -> Axes:
    """Each domain's cluster histogram (grouped bars), entropy in the legend.

    Args:
        frame: `planner.reports.clusters.cluster_histograms` (long form), for one k (the
            largest is drawn if several are present).
        clusters: `planner.reports.clusters.cluster_table`, for the entropies in the legend.
    """
    ax = _axes(ax)
    if len(frame):
        frame = frame[frame["k"] == frame["k"].max()]
    domains = list(dict.fromkeys(frame["domain"]))
    width = 0.8 / max(1, len(domains))
    for i, d in enumerate(domains):
        g = frame[frame["domain"] == d].sort_values("cluster")
        label = _text(d)
        if clusters is not None and len(clusters):
            row = clusters[(clusters["domain"] == d) & (clusters["k"] == g["k"].iloc[0])]
            if len(row):
                r = row.iloc[0]
                label = _text(f"{d} (H={r.entropy:.2f} nats, top {r.top_share:.0%}"
                              + (", diffuse" if r.diffuse else "") + ")")
        ax.bar(g["cluster"] + (i - (len(domains) - 1) / 2) * width, g["share"], width=width,
               label=label)
    k = int(frame["k"].iloc[0]) if len(frame) else 0
    ax.set_xlabel(f"generic-corpus cluster (k = {k})")
    ax.set_ylabel("share of the domain's documents")
    ax.set_title("Domain cluster histograms")
    if domains:
        ax.legend(fontsize=8, frameon=False)
    return ax


def plot_measured_vs_predicted(frame: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Predicted against measured perplexity (log-log), the diagonal for reference.

    Args:
        frame: `planner.reports.model_check.measured_vs_predicted`.
    """
    ax = _axes(ax)
    markers = {"your runs": "o", "paper Table 8": "s"}
    colors = strategy_colors(frame["strategy"])
    for (source, name), g in frame.groupby(["source", "strategy"], sort=False):
        yerr = None
        if g["low"].notna().all():
            yerr = np.vstack([g["predicted"] - g["low"], g["high"] - g["predicted"]])
        ax.errorbar(g["measured"], g["predicted"], yerr=yerr, linestyle="none",
                    marker=markers.get(source, "^"), markersize=5, color=colors[name],
                    alpha=0.85, label=_text(f"{name} ({source})"))
    if len(frame):
        lo = float(np.nanmin(frame[["measured", "predicted"]].to_numpy())) * 0.9
        hi = float(np.nanmax(frame[["measured", "predicted"]].to_numpy())) * 1.1
        ax.plot([lo, hi], [lo, hi], color="black", linewidth=1, linestyle=":")
        ax.legend(fontsize=7, frameon=False, ncol=2)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("measured perplexity")
    ax.set_ylabel("predicted perplexity")
    ax.set_title("Performance model: predicted vs measured (leave-one-out)")
    return ax


def plot_runs(frame: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Measured test perplexity per domain and strategy (bars: after fine-tuning; black
    ticks: before fine-tuning).

    Args:
        frame: `planner.reports.runs.runs_table` (one scale).
    """
    ax = _axes(ax, figsize=(7.2, 4.2))
    domains = list(dict.fromkeys(frame["domain"]))
    names = list(dict.fromkeys(frame["strategy"]))
    colors = strategy_colors(names)
    width = 0.8 / max(1, len(names))
    x = np.arange(len(domains))
    for i, name in enumerate(names):
        g = frame[frame["strategy"] == name].set_index("domain").reindex(domains)
        pos = x + (i - (len(names) - 1) / 2) * width
        ax.bar(pos, g["test_ppl"], width=width, color=colors[name], label=_label(name))
        ax.plot(pos, g["test_ppl_before_finetune"], linestyle="none", marker="_",
                markersize=8, color="black")
    ax.set_xticks(x, [_text(d) for d in domains])
    ax.set_yscale("log")
    ax.set_xlabel("domain")
    ax.set_ylabel("test perplexity (log scale)")
    ax.set_title("Measured perplexity per domain (ticks: before fine-tuning)")
    if names:
        ax.legend(fontsize=8, frameon=False, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return ax
