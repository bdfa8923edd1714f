"""The planning section: the recommendation as a table, and how the best strategy moves
with the budgets (the paper's Figure 1 decision map, perplexity-vs-budget curves, cost over
N domains, one-variable what-ifs).

Every point runs the optimizer (`planner.search.optimizer.search`) on the performance
model; nothing is trained. pandas and numpy only; no torch.

Example:
    >>> from planner.costing.scenario import default_budget
    >>> from planner.performance.perfmodel import PerformanceModel
    >>> from planner.reports.planning import decision_map
    >>> grid = decision_map(default_budget(), PerformanceModel().fit(), n_points=3)
    >>> len(grid), "large" in set(grid["strategy"])  # 3 x 3 budgets; the 126M cap excludes it
    (9, False)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from planner.costing.scenario import DEFAULT_SCENARIO
from planner.reports.common import paper_name, strategy_order

if TYPE_CHECKING:
    from planner.costing.budget import Budget
    from planner.performance.perfmodel import PerformanceModel
    from planner.search.recommend import Recommendation

__all__ = ["WHAT_IFS", "budget_curves", "decision_map", "decision_map_domains",
"domain_costs", "recommendation_table",
           "sensitivity"]


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
            "rank": i, "strategy": r.strategy, "paper_name": paper_name(r.strategy),
            "predicted_ppl": r.predicted_ppl, "low": np.nan, "high": np.nan,
            "margin_ppl": r.margin_ppl, "feasible": r.feasible,
            "status": "runner-up" if r.feasible else "over budget",
            "pretraining": np.nan, "specialization_per_domain": np.nan,
            "total": _total_in(r.total, unit), "unit": unit, "reason": r.reason,
        })
    for name, why in rec.excluded.items():
        rows.append({"rank": pd.NA, "strategy": name, "paper_name": paper_name(name),
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


def decision_map_domains(budget: Budget, model: PerformanceModel, *,
                         domains: Sequence[int] | None = None,
                         totals: Sequence[float] | None = None, n_points: int = 12,
                         scale: str = "paper", strategies: list[str] | None = None,
                         seed: int = 0) -> pd.DataFrame:
    """The best strategy over the number of domains x a total budget (the paper's Fig. 6).

    Each point is a budget shared by N domains (Eq. 1): ``--total-budget`` T, the whole of
    it available to pretraining, and T / N to each domain's specialization. The inference
    cap, data size and accelerator stay the user's.

    Args:
        budget: the user's budgets (the total grid is centred on their total over N).
        model: a fitted performance model.
        domains: N values (default: 1 to 100, log-spaced).
        totals: total budgets in the pretraining budget's unit (default: a log grid from
            /10 to x10 of the user's pretraining budget).
        n_points: points per axis of the default grids.

    Returns:
        One row per point: ``n_domains``, ``total_budget``, ``unit``, ``strategy``
        (``none`` when nothing fits), ``predicted_ppl``, ``runner_up``, ``margin_ppl``.
    """
    from planner.costing.budget import ComputeBudget
    from planner.search.optimizer import search

    unit = budget.pretraining.unit
    ns = (list(domains) if domains is not None
          else sorted({int(round(v)) for v in np.geomspace(1, 100, n_points)}))
    ts = (np.asarray(totals, float) if totals is not None
          else _grid(budget.pretraining.amount, 1 / 10, 10, n_points))
    rows = []
    for n in ns:
        for t in ts:
            b = dataclasses.replace(
                budget, n_domains=int(n), total=ComputeBudget(**{unit: float(t)}),
                pretraining=ComputeBudget(**{unit: float(t)}),
                specialization=ComputeBudget(**{unit: float(t) / n}))
            ranked = sorted(search(b, model, seed=seed, n_trials=0, scale=scale,
                                   strategies=strategies).best_per_strategy().values(),
                            key=lambda c: c.sort_key())
            win = ranked[0] if ranked else None
            second = ranked[1] if len(ranked) > 1 else None
            rows.append({"n_domains": int(n), "total_budget": float(t), "unit": unit,
                         "strategy": win.strategy if win else "none",
                         "predicted_ppl": win.ppl if win else np.nan,
                         "runner_up": second.strategy if second else "",
                         "margin_ppl": (second.ppl - win.ppl) if (win and second) else np.nan})
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
            `planner.costing.scenario.DEFAULT_SCENARIO`); ``domains`` is N.
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

