"""The report's data: pandas DataFrames for decision-makers, nothing drawn here.

`build_report` gathers everything `specplan report` and `specplan demo` show:

- ``runs``: measured runs, one row per strategy x domain (test perplexity before and after
  fine-tuning, FLOPs per bucket, parameters served, wall time);
- ``summary``: per strategy, the macro-average perplexity over domains (the paper's §3.2
  convention: mean per-token NLL per domain, averaged over domains, exponentiated);
- ``recommendation``: the winner for the budget, its runners-up and the strategies excluded;
- ``decision_map``: the best strategy over a grid of pretraining x specialization budgets at
  the user's inference cap and data size (the paper's Figure 1);
- ``budget_curves``: each strategy's best predicted perplexity as one budget varies;
- ``domain_costs``: the total cost over N domains, pretraining + N x specialization (Eq. 1),
  predicted at the plan's scale and measured on the runs;
- ``clusters`` / ``cluster_histograms``: each domain's cluster histogram, entropy and top
  share (Tables 9-10), with a warning for diffuse domains (§5.3: neither SLM-mix nor SLM-pn
  beats SLM on the two highest-entropy domains);
- ``measured_vs_predicted``: the performance model against the runs (leave-one-out) and
  against the paper's Table 8 (leave-one-out);
- ``provenance``: each domain's source, licence and provenance.

`planner.reports.plots` draws these frames and `planner.reports.render` writes them as HTML
and PDF.
Importing this module never imports torch (pandas, numpy and the planner only).

Example:
    >>> from planner.reports.report import default_budget, decision_map
    >>> from planner.performance.perfmodel import PerformanceModel
    >>> grid = decision_map(default_budget(), PerformanceModel().fit(), n_points=3)
    >>> len(grid), "large" in set(grid["strategy"])  # 3 x 3 budgets; the 126M cap excludes it
    (9, False)
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from planner.costing.budget import Budget
    from planner.performance.perfmodel import PerformanceModel
    from planner.search.recommend import Recommendation

__all__ = [
    "DEFAULT_SCENARIO",
    "DIFFUSE_MIN_K",
    "DIFFUSE_NORMALIZED_ENTROPY",
    "DIFFUSE_TOP_SHARE",
    "Report",
    "budget_curves",
    "build_report",
    "cluster_histograms",
    "cluster_table",
    "decision_map",
    "default_budget",
    "domain_costs",
    "measured_domain_costs",
    "measured_vs_predicted",
    "provenance_table",
    "recommendation_table",
    "runs_table",
    "sensitivity",
    "strategy_summary",
]

#: The default budget scenario of `specplan demo` and `specplan report` (README "The main
#: job"): the paper's setting. A 126M serving cap, 8M in-domain tokens per domain, seven
#: domains sharing 400 A100 GPU-hours of pretraining, 2 GPU-hours each to specialize.
DEFAULT_SCENARIO: dict[str, str] = {
    "pretraining": "400gpuh",
    "specialization": "2gpuh",
    "inference": "126M",
    "domain_tokens": "8M",
    "domains": "7",
    "accelerator": "A100",
}

#: A domain is flagged diffuse when its histogram's entropy is at least this share of the
#: maximum (ln k) *and* ...  At k = 16 the paper's Table 10 gives wikipedia 1.73 / ln 16 =
#: 0.62 and openwebtext2 0.79 (the two domains where mixtures and PN lose to SLM, §5.3)
#: against 0.15-0.57 for the other Pile domains, and c4 itself 0.98.
DIFFUSE_NORMALIZED_ENTROPY = 0.6
#: ... its most frequent cluster holds less than this share of its documents (Table 9 at
#: k = 16: wikipedia .58, openwebtext2 .35). With few clusters the entropy share alone
#: flags too much: at k = 4 a domain with 65% of its documents in one cluster still has
#: 70% of the maximum entropy, yet one expert covers most of it.
DIFFUSE_TOP_SHARE = 0.6
#: ... and only with at least this many clusters: the paper's evidence is at k = 16 and
#: above, and at k = 4 its Table 9 does not separate the diffuse domains (wikipedia .71,
#: openwebtext2 .53 against freelaw .48, europarl .52).
DIFFUSE_MIN_K = 8

_PAPER_NAMES = {"small": "SLM", "small_nopt": "SLM-nopt", "large": "LLM",
                "distillation": "SLM-d", "mixture": "SLM-mix", "hypernetwork": "SLM-pn",
                "importance_sampling": "SLM-is", "distillation_sequences": "SLM-d (sequences)"}
_MAX_LOO_RUNS = 80  # leave-one-out refits above this many runs would be slow: in-sample


def default_budget(**overrides: str) -> Budget:
    """The default scenario as a `Budget` (keys of `DEFAULT_SCENARIO` may be overridden)."""
    from planner.costing.budget import Budget

    return Budget.from_strings(**{**DEFAULT_SCENARIO, **overrides})


def strategy_order(names: Iterable[str]) -> list[str]:
    """Registry order (small, small_nopt, large, ...), then any others alphabetically."""
    from strategies.registry import strategy_registry

    known = strategy_registry.names()
    names = list(dict.fromkeys(names))
    return ([n for n in known if n in names]
            + sorted(n for n in names if n not in known))


def _paper_name(strategy: str) -> str:
    return _PAPER_NAMES.get(strategy, "")


# ------------------------------------------------------------------------------ runs
def runs_table(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per scale x strategy x domain: measured perplexity and cost per bucket.

    Repeated runs (seeds) are averaged: perplexity as exp(mean NLL), FLOPs and wall time as
    means; ``test_ppl_min`` / ``test_ppl_max`` are the spread over the seeds (``seeds``),
    ``seed_ppl`` maps each seed to its perplexity (mean over its runs), and
    ``converged`` counts the runs whose fine-tune converged (``"3/3"``; its best step was
    not its last; empty for runs stored before fine-tunes were recorded).
    ``finetune_gain_pct`` is how much fine-tuning lowered the test perplexity;
    ``within_cap`` says whether the served model fits the scale's inference cap (the small
    model's parameter count, as in the paper).

    Args:
        runs: the results store's frame (`planner.experiments.store.load_runs`).
    """
    cols = ["scale", "strategy", "paper_name", "domain", "n_runs", "test_ppl",
            "test_ppl_min", "test_ppl_max", "seeds", "seed_ppl", "converged",
            "test_ppl_before_finetune", "finetune_gain_pct", "pretraining_flops",
            "specialization_flops", "inference_params", "pretraining_params",
            "inference_flops_per_token", "within_cap", "wall_s"]
    if runs is None or len(runs) == 0:
        return pd.DataFrame(columns=cols)
    frame = runs.copy()
    frame = frame[pd.to_numeric(frame["test_ppl"], errors="coerce").notna()]
    if len(frame) == 0:
        return pd.DataFrame(columns=cols)
    num = ["test_ppl", "test_nll", "test_ppl_before_finetune", "pretraining_flops",
           "specialization_flops", "inference_params", "pretraining_params",
           "inference_flops_per_token", "wall_s"]
    for c in num:
        frame[c] = pd.to_numeric(frame[c], errors="coerce") if c in frame else np.nan
    nll = np.where(frame["test_nll"].notna(), frame["test_nll"], np.log(frame["test_ppl"]))
    frame = frame.assign(_nll=nll, _nll_before=np.log(frame["test_ppl_before_finetune"]))
    rows = []
    for (scale, strategy, domain), g in frame.groupby(["scale", "strategy", "domain"],
                                                      sort=False):
        after = float(np.exp(g["_nll"].mean()))
        before = float(np.exp(g["_nll_before"].mean())) if g["_nll_before"].notna().any() \
            else float("nan")
        seeds = pd.to_numeric(g["seed"], errors="coerce") if "seed" in g else None
        per_seed = (g.assign(_seed=seeds).groupby("_seed")["_nll"].mean()
                    if seeds is not None and seeds.notna().all() else g["_nll"])
        seed_ppl = ({int(k): float(np.exp(v)) for k, v in per_seed.items()}
                    if seeds is not None and seeds.notna().all() else {})
        conv = g["converged"].dropna() if "converged" in g else pd.Series(dtype=object)
        rows.append({
            "scale": scale, "strategy": strategy, "paper_name": _paper_name(strategy),
            "domain": domain, "n_runs": len(g), "test_ppl": after,
            "test_ppl_min": float(np.exp(per_seed.min())),
            "test_ppl_max": float(np.exp(per_seed.max())),
            "seeds": ",".join(str(k) for k in sorted(seed_ppl)),
            "seed_ppl": seed_ppl,
            "converged": (f"{int(conv.astype(bool).sum())}/{len(g)}" if len(conv) else ""),
            "test_ppl_before_finetune": before,
            "finetune_gain_pct": 100.0 * (before - after) / before if before > 0 else np.nan,
            "pretraining_flops": g["pretraining_flops"].mean(),
            "specialization_flops": g["specialization_flops"].mean(),
            "inference_params": int(g["inference_params"].max()),
            "pretraining_params": g["pretraining_params"].max(),
            "inference_flops_per_token": g["inference_flops_per_token"].mean(),
            "within_cap": _within_cap(str(scale), int(g["inference_params"].max())),
            "wall_s": g["wall_s"].mean(),
        })
    out = pd.DataFrame(rows, columns=cols)
    order = {s: i for i, s in enumerate(strategy_order(out["strategy"]))}
    domains = {d: i for i, d in enumerate(dict.fromkeys(out["domain"]))}
    out = out.assign(_s=out["strategy"].map(order), _d=out["domain"].map(domains))
    return out.sort_values(["scale", "_s", "_d"]).drop(columns=["_s", "_d"]).reset_index(
        drop=True)


def _within_cap(scale: str, n_params: int) -> bool | None:
    """The paper's inference cap is the small model: a served model may not exceed it."""
    from domains.errors import SpecplanError
    from strategies.machinery.scales import get_scale

    try:
        cap = get_scale(scale).small.n_params
    except SpecplanError:
        return None
    return n_params <= cap


def strategy_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per scale x strategy: macro-average perplexity over its domains, and costs.

    ``macro_ppl`` = exp(mean over domains of log perplexity): the paper's macro-average
    (§3.2), every domain weighing the same. ``rank`` orders the strategies within the
    inference cap by it (those over the cap get no rank). With several seeds,
    ``macro_ppl_min`` / ``macro_ppl_max`` are the spread of the per-seed macro-averages
    (seeds run on every domain; ``n_seeds``), and ``within_noise`` says whether the
    strategy's min-max interval overlaps the rank-1 strategy's (so their order is not
    established by these seeds; the rank-1 row itself is left empty).
    """
    cols = ["scale", "strategy", "paper_name", "n_domains", "macro_ppl", "macro_ppl_min",
            "macro_ppl_max", "n_seeds", "within_noise",
            "macro_ppl_before_finetune", "pretraining_flops", "specialization_flops",
            "inference_params", "within_cap", "wall_s", "rank"]
    if len(table) == 0:
        return pd.DataFrame(columns=cols)
    rows = []
    for (scale, strategy), g in table.groupby(["scale", "strategy"], sort=False):
        before = g["test_ppl_before_finetune"]
        lo, hi, n_seeds = _macro_spread(g)
        rows.append({
            "scale": scale, "strategy": strategy, "paper_name": _paper_name(strategy),
            "n_domains": len(g), "macro_ppl": float(np.exp(np.log(g["test_ppl"]).mean())),
            "macro_ppl_min": lo, "macro_ppl_max": hi, "n_seeds": n_seeds,
            "macro_ppl_before_finetune": (float(np.exp(np.log(before).mean()))
                                          if before.notna().all() else np.nan),
            # the shared bucket is paid once; the per-domain bucket is a mean over domains
            "pretraining_flops": g["pretraining_flops"].max(),
            "specialization_flops": g["specialization_flops"].mean(),
            "inference_params": int(g["inference_params"].max()),
            "within_cap": bool(g["within_cap"].all()) if g["within_cap"].notna().all()
            else None,
            "wall_s": g["wall_s"].sum(),
        })
    out = pd.DataFrame(rows)
    out["rank"] = pd.array([pd.NA] * len(out), dtype="Int64")
    out["within_noise"] = pd.array([None] * len(out), dtype=object)
    for scale, g in out.groupby("scale"):
        capped = g[g["within_cap"].fillna(True).astype(bool)].sort_values("macro_ppl")
        for r, idx in enumerate(capped.index, start=1):
            out.loc[idx, "rank"] = r
        if len(capped) and capped["n_seeds"].iloc[0] > 1:
            best = capped.iloc[0]
            for idx in capped.index[1:]:
                row = out.loc[idx]
                if row["n_seeds"] > 1:
                    out.at[idx, "within_noise"] = bool(
                        row["macro_ppl_min"] <= best["macro_ppl_max"])
    return out[cols].reset_index(drop=True)


def _macro_spread(g: pd.DataFrame) -> tuple[float, float, int]:
    """(min, max, number) of the per-seed macro-averages over the seeds that ran on every
    domain of `g` (one `runs_table` group); (nan, nan, 0) when no seed ran on all."""
    maps = [m for m in g["seed_ppl"]] if "seed_ppl" in g else []
    if not maps or not all(isinstance(m, dict) and m for m in maps):
        return float("nan"), float("nan"), 0
    common = set.intersection(*(set(m) for m in maps))
    if not common:
        return float("nan"), float("nan"), 0
    macros = [float(np.exp(np.mean([np.log(m[k]) for m in maps]))) for k in sorted(common)]
    return min(macros), max(macros), len(macros)


def measured_domain_costs(table: pd.DataFrame,
                          n_domains: Sequence[int] = (1, 3, 7, 20, 50)) -> pd.DataFrame:
    """Measured FLOPs over N domains per strategy: pretraining + N x mean specialization."""
    cols = ["scale", "strategy", "n_domains", "pretraining", "specialization_per_domain",
            "total", "unit"]
    summary = strategy_summary(table)
    rows = [{"scale": r.scale, "strategy": r.strategy, "n_domains": int(n),
             "pretraining": float(r.pretraining_flops),
             "specialization_per_domain": float(r.specialization_flops),
             "total": float(r.pretraining_flops) + n * float(r.specialization_flops),
             "unit": "flops"}
            for r in summary.itertuples() for n in n_domains]
    return pd.DataFrame(rows, columns=cols)


# ------------------------------------------------------------------------------ planning
def recommendation_table(rec: Recommendation) -> pd.DataFrame:
    """The winner, the runners-up (best first) and the strategies not considered.

    Costs are in the pretraining budget's unit; ``total`` is over the budget's N domains.
    """
    unit = rec.budget.pretraining.unit
    cost = rec.cost
    rows = [{
        "rank": 1, "strategy": rec.strategy, "paper_name": rec.paper_name,
        "predicted_ppl": rec.predicted_ppl, "low": rec.interval[0], "high": rec.interval[1],
        "margin_ppl": 0.0, "feasible": True, "status": "recommended",
        "pretraining": cost.pretraining.in_unit(unit),
        "specialization_per_domain": cost.specialization.in_unit(unit),
        "total": cost.total.in_unit(unit), "unit": unit,
        "reason": f"lowest predicted perplexity ({rec.confidence} confidence)",
    }]
    for i, r in enumerate(rec.runners_up, start=2):
        rows.append({
            "rank": i, "strategy": r.strategy, "paper_name": _paper_name(r.strategy),
            "predicted_ppl": r.predicted_ppl, "low": np.nan, "high": np.nan,
            "margin_ppl": r.margin_ppl, "feasible": r.feasible,
            "status": "runner-up" if r.feasible else "over budget",
            "pretraining": np.nan, "specialization_per_domain": np.nan,
            "total": _total_in(r.total, unit), "unit": unit, "reason": r.reason,
        })
    for name, why in rec.excluded.items():
        rows.append({"rank": pd.NA, "strategy": name, "paper_name": _paper_name(name),
                     "predicted_ppl": np.nan, "low": np.nan, "high": np.nan,
                     "margin_ppl": np.nan, "feasible": False, "status": "not considered",
                     "pretraining": np.nan, "specialization_per_domain": np.nan,
                     "total": np.nan, "unit": unit, "reason": why})
    return pd.DataFrame(rows)


def _total_in(total: Mapping[str, Any], unit: str) -> float:
    value = total.get(unit) if isinstance(total, Mapping) else None
    return float(value) if value is not None else np.nan


def _with_budgets(budget: Budget, *, pretraining: float | None = None,
                  specialization: float | None = None) -> Budget:
    """`budget` with its pretraining / specialization amounts replaced (same units)."""
    from planner.costing.budget import ComputeBudget

    def bucket(old: ComputeBudget, amount: float | None) -> ComputeBudget:
        return old if amount is None else ComputeBudget(**{old.unit: float(amount)})

    return dataclasses.replace(budget, pretraining=bucket(budget.pretraining, pretraining),
                               specialization=bucket(budget.specialization, specialization))


def _grid(center: float, low_factor: float, high_factor: float, n: int) -> np.ndarray:
    return np.geomspace(center * low_factor, center * high_factor, n)


def decision_map(budget: Budget, model: PerformanceModel, *,
                 pretraining: Sequence[float] | None = None,
                 specialization: Sequence[float] | None = None, n_points: int = 12,
                 scale: str = "paper", strategies: list[str] | None = None,
                 seed: int = 0) -> pd.DataFrame:
    """The best strategy over a pretraining x specialization budget grid (Figure 1).

    The inference cap, domain data size, number of domains, accelerator and any total
    budget stay the user's. Each point evaluates every strategy's enqueued configurations
    (the optimizer with ``n_trials=0``: full-budget and every discrete choice), which is
    what the recommendation starts from.

    Args:
        budget: the user's budgets (the grid is centred on its two compute budgets).
        model: a fitted performance model.
        pretraining, specialization: grid values in the budgets' units (default: log
            grids from /40 to x4 and from /100 to x100 of the user's budgets).
        n_points: points per axis of the default grids.

    Returns:
        One row per grid point: ``pretraining_budget``, ``specialization_budget``, ``unit``
        (of each), ``strategy`` (``none`` when nothing fits), ``predicted_ppl``,
        ``runner_up``, ``margin_ppl``, ``n_feasible``, ``feasible``.
    """
    from planner.search.optimizer import search

    pre = (np.asarray(pretraining, float) if pretraining is not None
           else _grid(budget.pretraining.amount, 1 / 40, 4, n_points))
    spec = (np.asarray(specialization, float) if specialization is not None
            else _grid(budget.specialization.amount, 1 / 100, 100, n_points))
    rows = []
    for p in pre:
        for s in spec:
            result = search(_with_budgets(budget, pretraining=p, specialization=s), model,
                            seed=seed, n_trials=0, scale=scale, strategies=strategies)
            best = result.best_per_strategy()
            ranked = sorted(best.values(), key=lambda c: c.sort_key())
            win = ranked[0] if ranked else None
            second = ranked[1] if len(ranked) > 1 else None
            rows.append({
                "pretraining_budget": float(p), "specialization_budget": float(s),
                "pretraining_unit": budget.pretraining.unit,
                "specialization_unit": budget.specialization.unit,
                "strategy": win.strategy if win else "none",
                "predicted_ppl": win.ppl if win else np.nan,
                "runner_up": second.strategy if second else "",
                "margin_ppl": (second.ppl - win.ppl) if (win and second) else np.nan,
                "n_feasible": len(ranked), "feasible": win is not None,
            })
    return pd.DataFrame(rows)


def budget_curves(budget: Budget, model: PerformanceModel, *,
                  axes: Sequence[str] = ("pretraining", "specialization"),
                  n_points: int = 12, scale: str = "paper",
                  strategies: list[str] | None = None, seed: int = 0) -> pd.DataFrame:
    """Each strategy's best predicted perplexity as one budget varies, the others fixed.

    Returns:
        One row per (axis, budget value, feasible strategy): ``axis``, ``budget``,
        ``unit``, ``strategy``, ``predicted_ppl``, ``low``, ``high``, ``extrapolating``.
        A strategy is absent at budgets it cannot fit.
    """
    from planner.search.optimizer import search

    spans = {"pretraining": (1 / 40, 4), "specialization": (1 / 100, 100)}
    rows = []
    for axis in axes:
        amount = getattr(budget, axis).amount
        for value in _grid(amount, *spans[axis], n_points):
            result = search(_with_budgets(budget, **{axis: value}), model, seed=seed,
                            n_trials=0, scale=scale, strategies=strategies)
            for name, c in result.best_per_strategy().items():
                rows.append({"axis": axis, "budget": float(value),
                             "unit": getattr(budget, axis).unit, "strategy": name,
                             "predicted_ppl": c.ppl, "low": c.prediction.low,
                             "high": c.prediction.high,
                             "extrapolating": c.prediction.extrapolating})
    return pd.DataFrame(rows, columns=["axis", "budget", "unit", "strategy", "predicted_ppl",
                                       "low", "high", "extrapolating"])


def domain_costs(budget: Budget, model: PerformanceModel, *,
                 n_domains: Sequence[int] = (1, 2, 5, 7, 10, 20, 50, 100),
                 scale: str = "paper", strategies: list[str] | None = None,
                 seed: int = 0) -> pd.DataFrame:
    """Total cost over N domains of each strategy's best configuration (Eq. 1).

    Each strategy's configuration is the one searched for the user's budget (feasible if
    it has one, else its least overshooting), so a strategy with per-domain pretraining
    (importance sampling) grows linearly with N while shared ones stay flat.

    Returns:
        ``strategy``, ``n_domains``, ``pretraining``, ``specialization_per_domain``,
        ``total``, ``unit`` (the pretraining budget's), ``feasible`` (at the user's budget).
    """
    from planner.search.optimizer import search

    unit = budget.pretraining.unit
    result = search(budget, model, seed=seed, n_trials=0, scale=scale, strategies=strategies)
    rows = []
    for name, c in result.best_per_strategy(feasible_only=False).items():
        pre = c.cost.pretraining.in_unit(unit)
        per = c.cost.specialization.in_unit(unit)
        for n in n_domains:
            rows.append({"strategy": name, "n_domains": int(n), "pretraining": pre,
                         "specialization_per_domain": per, "total": pre + n * per,
                         "unit": unit, "feasible": c.feasible})
    out = pd.DataFrame(rows, columns=["strategy", "n_domains", "pretraining",
                                      "specialization_per_domain", "total", "unit",
                                      "feasible"])
    order = {s: i for i, s in enumerate(strategy_order(out["strategy"]))}
    return out.assign(_s=out["strategy"].map(order)).sort_values(
        ["_s", "n_domains"]).drop(columns="_s").reset_index(drop=True)


#: `sensitivity`'s default what-ifs: each budget varied alone around the default scenario
WHAT_IFS: dict[str, tuple[str, ...]] = {
    "pretraining": ("25gpuh", "100gpuh", "400gpuh", "650gpuh", "1000gpuh"),
    "specialization": ("0.05gpuh", "0.5gpuh", "2gpuh", "20gpuh", "150gpuh"),
    "inference": ("126M", "400M", "1B"),
    "domain_tokens": ("1M", "8M", "64M"),
    "domains": ("1", "2", "7", "20", "50"),
}


def sensitivity(budget_strings: Mapping[str, str] | None = None,
                model: PerformanceModel | None = None, *,
                what_ifs: Mapping[str, Sequence[str]] | None = None, scale: str = "paper",
                seed: int = 0) -> pd.DataFrame:
    """How the best strategy moves when one budget changes and the others stay.

    Args:
        budget_strings: the base scenario as `Budget.from_strings` keywords (default:
            `DEFAULT_SCENARIO`); ``domains`` is N.
        model: a fitted performance model (default: the reference tables).
        what_ifs: variable -> values to try (default: `WHAT_IFS`).

    Returns:
        One row per (variable, value): ``variable``, ``value``, ``strategy`` (``none``
        when nothing fits), ``predicted_ppl``, ``runner_up``, ``margin_ppl``,
        ``total`` (over N domains, in the pretraining budget's unit), ``unit``.
        Like `decision_map`, each point scores every strategy's enqueued configurations.
    """
    from planner.costing.budget import Budget
    from planner.performance.perfmodel import PerformanceModel
    from planner.search.optimizer import search

    base = {**DEFAULT_SCENARIO, **(budget_strings or {})}
    model = model or PerformanceModel().fit()
    rows = []
    for variable, values in (what_ifs or WHAT_IFS).items():
        for value in values:
            b = Budget.from_strings(**{**base, variable: value})
            best = sorted(search(b, model, seed=seed, n_trials=0, scale=scale)
                          .best_per_strategy().values(), key=lambda c: c.sort_key())
            win = best[0] if best else None
            unit = b.pretraining.unit
            rows.append({
                "variable": variable, "value": value,
                "strategy": win.strategy if win else "none",
                "predicted_ppl": win.ppl if win else np.nan,
                "runner_up": best[1].strategy if len(best) > 1 else "",
                "margin_ppl": best[1].ppl - win.ppl if len(best) > 1 and win else np.nan,
                "total": win.cost.total.in_unit(unit) if win else np.nan, "unit": unit})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------ clusters
def _info(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def cluster_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Each domain's cluster statistics, as recorded by the runs that cluster (one row per
    scale x domain x k; the first run that recorded it).

    Columns: ``scale``, ``domain``, ``k``, ``strategy`` (that recorded it), ``entropy``
    (nats), ``normalized_entropy`` (entropy / ln k, 1 = uniform), ``top_share``,
    ``histogram`` (list of k shares), ``diffuse`` and ``warning``.
    """
    cols = ["scale", "domain", "k", "strategy", "entropy", "normalized_entropy",
            "top_share", "histogram", "diffuse", "warning"]
    rows, seen = [], set()
    if runs is not None and len(runs):
        for rec in runs.to_dict("records"):
            info = _info(rec.get("info"))
            hist = info.get("cluster_histogram")
            if not isinstance(hist, (list, tuple)) or len(hist) < 2:
                continue
            p = np.asarray(hist, dtype=float)
            if not np.isfinite(p).all() or p.sum() <= 0:
                continue
            p = p / p.sum()
            k = len(p)
            key = (rec.get("scale"), rec.get("domain"), k)
            if key in seen:
                continue
            seen.add(key)
            nz = p[p > 0]
            ent = float(-(nz * np.log(nz)).sum())  # nats, as Table 10
            norm = ent / math.log(k)
            top = float(p.max())
            diffuse = (k >= DIFFUSE_MIN_K and norm >= DIFFUSE_NORMALIZED_ENTROPY
                       and top < DIFFUSE_TOP_SHARE)
            rows.append({"scale": key[0], "domain": key[1], "k": k,
                         "strategy": rec.get("strategy"), "entropy": ent,
                         "normalized_entropy": norm, "top_share": top,
                         "histogram": p.tolist(), "diffuse": diffuse,
                         "warning": _diffuse_warning(str(key[1]), k, ent, norm, top)
                         if diffuse else ""})
    return pd.DataFrame(rows, columns=cols)


def _diffuse_warning(domain: str, k: int, ent: float, norm: float, top: float) -> str:
    return (f"domain {domain!r} is diffuse at k={k}: entropy {ent:.2f} nats "
            f"({norm:.0%} of the maximum), top cluster {top:.0%} of its documents. "
            "Mixtures and projected networks condition on one cluster: on the paper's two "
            "most diffuse domains (wikipedia, openwebtext2) neither beat a plain SLM "
            "(§5.3, Table 10); prefer small or importance_sampling.")


def _cluster_notes(clusters: pd.DataFrame) -> list[str]:
    """At most one diffuse-domain warning per scale x domain, judged on the finest
    histogram recorded (the largest k: e.g. importance sampling's 16 clusters rather than
    the mixture's 4 experts at the demo scale)."""
    notes = []
    for _, g in clusters.groupby(["scale", "domain"], sort=False):
        row = g.sort_values("k").iloc[-1]
        if row["diffuse"]:
            notes.append(row["warning"])
    return notes


def cluster_histograms(clusters: pd.DataFrame) -> pd.DataFrame:
    """`cluster_table`'s histograms in long form: scale, domain, k, cluster, share."""
    rows = [{"scale": r.scale, "domain": r.domain, "k": r.k, "cluster": i, "share": float(s)}
            for r in clusters.itertuples() for i, s in enumerate(r.histogram)]
    return pd.DataFrame(rows, columns=["scale", "domain", "k", "cluster", "share"])


# ------------------------------------------------------------------------------ model check
def _predict_run(model: PerformanceModel, rec: Mapping[str, Any]) -> Any:
    comps = _info(rec.get("cost_components"))
    teacher = sum(float(v) for k, v in comps.items() if "teacher" in k and "pretrain" in k)
    params = _info(rec.get("params"))
    info = _info(rec.get("info"))
    n_exp = params.get("n_experts") or params.get("n_clusters") or info.get("n_experts")
    return model.predict(
        str(rec["strategy"]), n_domain_tokens=float(rec["n_domain_tokens"]),
        pretraining_flops=float(rec.get("pretraining_flops") or 0.0),
        specialization_flops=float(rec.get("specialization_flops") or 0.0),
        teacher_pretraining_flops=teacher,
        n_experts=int(n_exp) if n_exp and rec["strategy"] == "mixture" else None,
        selection=params.get("selection") if rec["strategy"] == "mixture" else None,
        scale=str(rec["scale"]), domain=str(rec.get("domain") or "") or None)


def measured_vs_predicted(runs: pd.DataFrame | None, *, loo: bool = True,
                          include_reference: bool = True) -> pd.DataFrame:
    """The performance model's predictions against measurements.

    - Your runs: each run is predicted by the model fitted on the reference tables and
      every *other* run (leave-one-out), so the check is honest; above 80 runs the
      refits would be slow and the prediction is in-sample (``method`` says
      which).
    - The paper's Table 8: `planner.performance.perfmodel.leave_one_out_table8` (each row held
    out).

    Returns:
        ``source``, ``method``, ``scale``, ``strategy``, ``domain``, ``n_domain_tokens``,
        ``measured``, ``predicted``, ``low``, ``high``, ``in_band``, ``error_pct``.
    """
    from planner.performance.perfmodel import PerformanceModel, leave_one_out_table8

    cols = ["source", "method", "scale", "strategy", "domain", "n_domain_tokens",
            "measured", "predicted", "low", "high", "in_band", "error_pct"]
    rows = []
    if runs is not None and len(runs):
        runs = runs[pd.to_numeric(runs["test_ppl"], errors="coerce").notna()].reset_index(
            drop=True)
        records = runs.to_dict("records")
        use_loo = loo and 1 < len(records) <= _MAX_LOO_RUNS
        full = None if use_loo else PerformanceModel().fit(runs)
        for i, rec in enumerate(records):
            model = PerformanceModel().fit(runs.drop(index=i)) if full is None else full
            try:
                p = _predict_run(model, rec)
            except (KeyError, ValueError, AttributeError):
                continue  # no model for this strategy / scale without the held-out run
            measured = float(rec["test_ppl"])
            rows.append({"source": "your runs",
                         "method": "leave-one-out" if use_loo else "in-sample",
                         "scale": rec["scale"], "strategy": rec["strategy"],
                         "domain": rec.get("domain"),
                         "n_domain_tokens": float(rec["n_domain_tokens"]),
                         "measured": measured, "predicted": p.ppl, "low": p.low,
                         "high": p.high, "in_band": p.low <= measured <= p.high,
                         "error_pct": 100.0 * (p.ppl - measured) / measured})
    if include_reference:
        for r in leave_one_out_table8():
            rows.append({"source": "paper Table 8", "method": "leave-one-out",
                         "scale": "paper", "strategy": r["strategy"],
                         "domain": f"Pile macro-average, {r['pretraining_gpuh']:g} GPUh",
                         "n_domain_tokens": float(r["n_domain_tokens"]),
                         "measured": float(r["observed"]), "predicted": float(r["predicted"]),
                         "low": np.nan, "high": np.nan, "in_band": None,
                         "error_pct": 100.0 * (r["predicted"] - r["observed"]) / r["observed"]})
    return pd.DataFrame(rows, columns=cols)


# ------------------------------------------------------------------------------ provenance
def provenance_table(domains: Iterable[Any], runs: pd.DataFrame | None = None
                     ) -> pd.DataFrame:
    """Where each domain's text comes from: source, licence, provenance, documents.

    Args:
        domains: `domains.Domain` objects, or names. A name is described by the data card
            its latest run in `runs` stored (``data``: source, licence, provenance,
            documents), else, for a built-in name, by `domains.get_domain`; any other name
            (runs from before data cards were stored) gets a row saying so.
        runs: stored runs (`planner.experiments.store.load_runs`), optional.
    """
    from domains.errors import SpecplanError

    cards = _data_cards(runs)
    rows = []
    for d in domains:
        if isinstance(d, str) and d in cards:
            rows.append({"domain": d, **{k: str(cards[d].get(k, "")) for k in _CARD}})
            continue
        if isinstance(d, str):
            try:
                from domains import get_domain

                d = get_domain(d)
            except SpecplanError:
                rows.append({"domain": d, "source": "files (user data)", "licence": "unknown",
                             "provenance": "user-supplied files; the path is not recorded "
                                           "with the runs", "description": "",
                             "documents": ""})
                continue
        try:
            card = d.card()
        except SpecplanError as err:
            card = {"source": d.source, "licence": d.licence, "provenance": d.provenance,
                    "description": d.description, "documents": f"unreadable: {err}"}
        rows.append({"domain": d.name, **{k: card[k] for k in _CARD}})
    return pd.DataFrame(rows, columns=["domain", *_CARD])


# the data card's fields shown in the provenance table (`domains.Domain.card`)
_CARD = ("source", "licence", "provenance", "description", "documents")


def _data_cards(runs: pd.DataFrame | None) -> dict[str, Mapping[str, Any]]:
    """domain -> the ``data`` card of its latest run that stored one."""
    if runs is None or "data" not in runs.columns or len(runs) == 0:
        return {}
    order = (runs.sort_values("datetime", na_position="first", kind="stable")
             if "datetime" in runs.columns else runs)
    return {str(dom): card for dom, card in zip(order["domain"], order["data"], strict=True)
            if isinstance(card, Mapping)}


# ------------------------------------------------------------------------------ the report
@dataclass
class Report:
    """Everything the HTML and PDF renderers show (frames, the recommendation, notes).

    Attributes:
        title: the report's title.
        generated: when it was built (local time, ISO format).
        storage: where the runs came from (None: given directly).
        budget: the budget scenario the recommendation answers.
        recommendation: the `Recommendation` (None when nothing fits: see ``notes``).
        runs, summary, recommendation_frame, decision_map, budget_curves, domain_costs,
        measured_domain_costs, clusters, cluster_histograms, measured_vs_predicted,
        provenance: the frames (see the module docstring).
        claims: `specplan study`'s claim table (claim, paper, measured, verdict, seeds);
            empty unless the study built the report.
        notes: warnings in plain words (diffuse domains, budgets that do not fit, ...).
        recommendation_text: the recommendation as `specplan recommend` prints it.
    """

    title: str
    generated: str
    storage: str | None
    budget: Budget
    recommendation: Recommendation | None
    runs: pd.DataFrame
    summary: pd.DataFrame
    recommendation_frame: pd.DataFrame
    decision_map: pd.DataFrame
    budget_curves: pd.DataFrame
    domain_costs: pd.DataFrame
    measured_domain_costs: pd.DataFrame
    clusters: pd.DataFrame
    cluster_histograms: pd.DataFrame
    measured_vs_predicted: pd.DataFrame
    provenance: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    recommendation_text: str = ""
    # the paper's orderings claim by claim (`planner.experiments.study.claims_frame`)
    claims: pd.DataFrame = field(default_factory=pd.DataFrame)

    def frames(self) -> dict[str, pd.DataFrame]:
        """Every frame by name (e.g. to export them as CSV)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if isinstance(getattr(self, f.name), pd.DataFrame)}


def build_report(*, runs: pd.DataFrame | None = None, storage: str | None = None,
                 budget: Budget | None = None, scales: Sequence[str] | None = None,
                 domains: Iterable[Any] | None = None, model: PerformanceModel | None = None,
                 title: str = "specplan report", n_points: int = 12, seed: int = 0,
                 loo: bool = True) -> Report:
    """Gather every frame of the report.

    Args:
        runs: measured runs (`planner.experiments.store.load_runs`); default: read from `storage`.
        storage: Optuna storage URL of the results store (when `runs` is not given).
        budget: the scenario to recommend for (default: `DEFAULT_SCENARIO`).
        scales: keep only runs at these scales (default: all).
        domains: `Domain` objects or names for the provenance table (default: the runs').
        model: a fitted performance model (default: fitted on the reference tables and the
            runs).
        n_points: points per axis of the decision map and the budget curves.
        loo: leave-one-out predictions for the measured-vs-predicted check.
    """
    from domains.errors import SpecplanError
    from planner.performance.perfmodel import PerformanceModel
    from planner.search.recommend import recommend

    if runs is None:
        from planner.experiments.store import load_runs

        runs = load_runs(storage)
    if scales:
        runs = runs[runs["scale"].isin(list(scales))].reset_index(drop=True)
    budget = budget or default_budget()
    notes: list[str] = []
    model = model or PerformanceModel().fit(runs if len(runs) else None)
    rec, text = None, ""
    try:
        rec = recommend(budget, runs=runs, model=model, seed=seed)
        text = rec.format()
    except SpecplanError as err:
        notes.append(f"No strategy fits the budget: {err}")
    table = runs_table(runs)
    clusters = cluster_table(runs)
    notes += _cluster_notes(clusters)
    for r in table.itertuples():
        if r.finetune_gain_pct == r.finetune_gain_pct and r.finetune_gain_pct < 0:
            notes.append(f"{r.strategy} on {r.domain!r}: fine-tuning did not lower the test "
                         "perplexity (early stopping kept the pretrained weights' level)")
    return Report(
        title=title, generated=time.strftime("%Y-%m-%d %H:%M:%S"), storage=storage,
        budget=budget, recommendation=rec, runs=table, summary=strategy_summary(table),
        recommendation_frame=recommendation_table(rec) if rec is not None
        else pd.DataFrame(),
        decision_map=decision_map(budget, model, n_points=n_points, seed=seed),
        budget_curves=budget_curves(budget, model, n_points=n_points, seed=seed),
        domain_costs=domain_costs(budget, model, seed=seed),
        measured_domain_costs=measured_domain_costs(table),
        clusters=clusters, cluster_histograms=cluster_histograms(clusters),
        measured_vs_predicted=measured_vs_predicted(runs, loo=loo),
        provenance=provenance_table(domains if domains is not None
                                    else list(dict.fromkeys(table["domain"])), runs),
        notes=notes, recommendation_text=text,
    )
