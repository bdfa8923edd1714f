"""The optimizer: Optuna searches strategies and their configurations under the budgets.

One ask/tell study per plan (optuna's seeded `TPESampler`): each trial picks a strategy
among those the inference cap allows, then that strategy's knobs (`PlanContext.space`:
share of the pretraining budget, teacher share, experts, expert selection, ...). A trial
is scored by the performance model (predicted perplexity); the budgets are constraints
(feasible iff every bucket's cost <= its budget; optuna's ``constraints_func``).

Every strategy's full-budget configuration, and every discrete choice, is enqueued first,
so the obvious candidates are always evaluated and a small trial count is enough; the
sampler then refines the continuous knobs. The same inputs and seed give the same trials
and the same answer in any process.

Multi-objective mode (``objectives="ppl+cost"``) minimizes predicted perplexity and total
cost over the N domains (Eq. 1, in the pretraining budget's unit) and returns the Pareto
frontier.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from planner.search.candidates import Candidate, PlanContext

if TYPE_CHECKING:
    from planner.costing.budget import Budget
    from planner.performance.perfmodel import PerformanceModel

__all__ = ["DEFAULT_TRIALS", "SearchResult", "eligible_strategies", "pareto_front", "search"]

#: sampler trials after the enqueued defaults: keeps `specplan recommend` well under a second
DEFAULT_TRIALS = 12
_PENALTY = 1e6  # perplexity told for a trial that cannot be evaluated


@dataclass(frozen=True, kw_only=True)
class SearchResult:
    """Everything the search evaluated.

    Args:
        candidates: every evaluated candidate, in trial order.
        excluded: strategy -> why it was not searched (inference cap, unavailable).
        n_trials: trials run (enqueued + sampled).
        seed: the sampler's seed.
        pareto: the perplexity-vs-total-cost frontier of the feasible candidates.
    """

    candidates: tuple[Candidate, ...]
    excluded: dict[str, str]
    n_trials: int
    seed: int
    pareto: tuple[Candidate, ...] = field(default_factory=tuple)

    def feasible(self) -> list[Candidate]:
        return sorted((c for c in self.candidates if c.feasible), key=Candidate.sort_key)

    def best(self) -> Candidate | None:
        feasible = self.feasible()
        return feasible[0] if feasible else None

    def best_per_strategy(self, *, feasible_only: bool = True) -> dict[str, Candidate]:
        """Each strategy's best candidate (feasible ones, or else the least overshooting)."""
        out: dict[str, Candidate] = {}
        for c in sorted(self.candidates, key=_rank_key):
            if feasible_only and not c.feasible:
                continue
            out.setdefault(c.strategy, c)
        return out


def _rank_key(c: Candidate) -> tuple[int, float, tuple[float, float, str]]:
    return (0 if c.feasible else 1, max(c.overshoot.values(), default=0.0), c.sort_key())


def eligible_strategies(ctx: PlanContext, strategies: list[str] | None = None,
                        ) -> tuple[list[str], dict[str, str]]:
    """Strategies the search may pick, and why the others are excluded."""
    from planner.costing.budget import format_params
    from strategies.registry import list_strategies, strategy_registry

    names = ([strategy_registry.canonical(s) for s in strategies] if strategies
             else list_strategies())
    eligible, excluded = [], {}
    cap = ctx.budget.inference
    for name in names:
        info = ctx.inference_of(name)
        if info is None:
            excluded[name] = f"unavailable ({ctx.unavailable.get(name, 'cannot be loaded')})"
            continue
        n_params, flops_per_token = info
        if not cap.allows(n_params=n_params, flops_per_token=flops_per_token):
            what = (f"{format_params(n_params)} parameters" if cap.max_params is not None
                    else f"{flops_per_token:.3g} FLOPs/token")
            excluded[name] = f"inference cap {cap} excludes `{name}` ({what})"
            continue
        try:
            ctx.model.compute_range(name, scale=ctx.scale_name)
        except (KeyError, ValueError) as err:
            excluded[name] = f"no performance model ({err})"
            continue
        eligible.append(name)
    return eligible, excluded


def search(budget: Budget, model: PerformanceModel, *, seed: int = 0,
           n_trials: int = DEFAULT_TRIALS, scale: str = "paper",
           strategies: list[str] | None = None, objectives: str = "ppl",
           ctx: PlanContext | None = None) -> SearchResult:
    """Search strategies and configurations for the lowest predicted perplexity.

    Args:
        budget: the budgets.
        model: a fitted `PerformanceModel`.
        seed: the sampler's seed (same seed, same answer).
        n_trials: sampled trials after the enqueued defaults.
        scale: the model pair (``paper``).
        strategies: restrict the search (names or aliases); default: all registered.
        objectives: ``ppl`` (single objective) or ``ppl+cost`` (Pareto frontier).
    """
    import optuna

    if objectives not in ("ppl", "ppl+cost"):
        raise ValueError(f"objectives must be 'ppl' or 'ppl+cost', got {objectives!r}")
    if n_trials < 0:
        raise ValueError(f"n_trials must be >= 0, got {n_trials}")
    ctx = ctx or PlanContext(budget, model, scale=scale)
    eligible, excluded = eligible_strategies(ctx, strategies)
    if not eligible:
        return SearchResult(candidates=(), excluded=excluded, n_trials=0, seed=seed)
    multi = objectives == "ppl+cost"
    cost_unit = budget.pretraining.unit
    fractions = (0.25, 0.5, 1.0) if multi else (1.0,)
    if n_trials == 0:  # only the enqueued defaults: no sampler needed (fast, for grids)
        cands = tuple(ctx.evaluate(name, point) for name in eligible
                      for point in ctx.default_points(name, fractions=fractions))
        return SearchResult(candidates=cands, excluded=excluded, n_trials=len(cands),
                            seed=seed, pareto=tuple(pareto_front(cands, unit=cost_unit)))

    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=8)
            study = optuna.create_study(
                sampler=sampler,
                directions=["minimize", "minimize"] if multi else ["minimize"])
            for name in eligible:
                for point in ctx.default_points(name, fractions=fractions):
                    study.enqueue_trial({"strategy": name,
                                         **{f"{name}.{k}": v for k, v in point.items()}})
            total = len(study.get_trials(deepcopy=False)) + n_trials
            candidates = []
            for _ in range(total):
                trial = study.ask()
                name = trial.suggest_categorical("strategy", eligible)
                knobs = _suggest(trial, ctx, name)
                cand = ctx.evaluate(name, knobs)
                candidates.append(cand)
                for key in budget.compute_budgets():  # feasible iff every value <= 0
                    trial.set_constraint(key, cand.overshoot.get(key, -1.0))
                ppl = cand.ppl if math.isfinite(cand.ppl) else _PENALTY
                values: Any = ([ppl, cand.cost.total.in_unit(cost_unit)]
                               if multi else ppl)
                study.tell(trial, values)
    finally:
        optuna.logging.set_verbosity(verbosity)
    cands = tuple(candidates)
    return SearchResult(candidates=cands, excluded=excluded, n_trials=len(cands), seed=seed,
                        pareto=tuple(pareto_front(cands, unit=cost_unit)))


def _suggest(trial: Any, ctx: PlanContext, name: str) -> dict[str, Any]:
    knobs: dict[str, Any] = {}
    for knob in ctx.space(name):
        key = f"{name}.{knob.name}"
        if knob.kind == "float":
            knobs[knob.name] = trial.suggest_float(key, *knob.choices)
        else:
            knobs[knob.name] = trial.suggest_categorical(key, list(knob.choices))
    return knobs


def pareto_front(candidates: tuple[Candidate, ...] | list[Candidate], *, unit: str = "gpu_hours",
                 ) -> list[Candidate]:
    """Feasible candidates no other beats on both perplexity and total cost, by cost."""
    feasible = sorted((c for c in candidates if c.feasible),
                      key=lambda c: (c.cost.total.in_unit(unit), c.ppl, c.strategy))
    front: list[Candidate] = []
    best = math.inf
    for c in feasible:
        if c.ppl < best - 1e-12:
            front.append(c)
            best = c.ppl
    return front
