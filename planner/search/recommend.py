"""The recommendation: which strategy fits the budgets, what it costs, and why.

    >>> from planner.costing.budget import Budget
    >>> from planner.search.recommend import recommend
    >>> budget = Budget.from_strings(pretraining="650gpuh", specialization="2gpuh",
    ...                              inference="1B", domain_tokens="8M")
    >>> recommend(budget).strategy
    'large'

`recommend` fits the performance model (reference tables + measured runs, if given),
runs the optimizer, and returns a frozen `Recommendation`: the strategy and configuration,
predicted perplexity with its band, the cost per bucket (FLOPs, GPU-hours, dollars) and
over N domains, the runners-up with their margins, and the reasons in plain words. When no
strategy fits, it raises `InfeasibleBudgetError` naming the budget that is short, by how
much, and the cheapest option.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from planner.costing.budget import format_amount, format_params
from planner.costing.numbers import format_number
from planner.exceptions import InfeasibleBudgetError
from planner.search.optimizer import DEFAULT_TRIALS, SearchResult, search

if TYPE_CHECKING:
    import pandas as pd

    from planner.costing.budget import Budget
    from planner.costing.costs import PlanCost
    from planner.performance.perfmodel import PerformanceModel
    from planner.search.candidates import Candidate

__all__ = ["Recommendation", "RunnerUp", "economical_choice", "load_runs", "paper_name",
           "recommend"]



@dataclass(frozen=True, kw_only=True)
class RunnerUp:
    """A strategy that lost, and by how much.

    Args:
        strategy: canonical name.
        predicted_ppl: its best predicted perplexity.
        margin_ppl: predicted_ppl minus the winner's (positive: worse).
        margin_pct: the same, in percent of the winner's.
        feasible: whether its best configuration fits every budget.
        reason: one line: the margin, or the budget it overshoots and by how much.
        total: its cost over the N domains.
    """

    strategy: str
    predicted_ppl: float
    margin_ppl: float
    margin_pct: float
    feasible: bool
    reason: str
    total: Mapping[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"strategy": self.strategy, "paper_name": paper_name(self.strategy),
                "predicted_ppl": self.predicted_ppl, "margin_ppl": self.margin_ppl,
                "margin_pct": self.margin_pct, "feasible": self.feasible,
                "reason": self.reason, "total": dict(self.total)}


@dataclass(frozen=True, kw_only=True)
class Recommendation:
    """The chosen strategy for a budget, with its cost, its competitors and the reasons.

    Args:
        strategy: canonical name (`hypernetwork`, ...); `paper_name` is the paper's.
        configuration: what to run (model, tokens, GPU-hours per part, strategy params).
        predicted_ppl, interval: predicted test perplexity and its ~90% band.
        confidence: ``high`` (fitted on tables), ``medium`` (runs), ``low`` (figure-derived).
        extrapolating: the prediction lies outside the fitted range.
        cost: cost per bucket on the plan's accelerator, and over N domains.
        runners_up: the other strategies, best first.
        excluded: strategies not searched, and why.
        reasons: the decision in plain words.
        budget: the budgets it answers.
        pareto: the perplexity-vs-total-cost frontier (multi-objective mode).
        economical_choice: a strategy predicted within the winner's band that costs at
            most half as much over the N domains (Eq. 1): its name, predicted perplexity,
            total and share of the winner's total; None when there is none.
    """

    strategy: str
    paper_name: str
    configuration: Mapping[str, Any]
    predicted_ppl: float
    interval: tuple[float, float]
    confidence: str
    extrapolating: bool
    basis: str
    cost: PlanCost
    runners_up: tuple[RunnerUp, ...]
    excluded: Mapping[str, str]
    reasons: tuple[str, ...]
    budget: Budget
    accelerator: str
    price_per_hour: float
    scale: str
    seed: int
    n_trials: int
    n_runs: int = 0
    pareto: tuple[Mapping[str, Any], ...] = ()
    economical_choice: Mapping[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (what ``specplan recommend --json`` prints)."""
        b = self.budget
        return {
            "strategy": self.strategy,
            "paper_name": self.paper_name,
            "configuration": _jsonable(dict(self.configuration)),
            "predicted_ppl": self.predicted_ppl,
            "interval": list(self.interval),
            "confidence": self.confidence,
            "extrapolating": self.extrapolating,
            "basis": self.basis,
            "cost": self.cost.to_dict(),
            "runners_up": [r.to_dict() for r in self.runners_up],
            "excluded": dict(self.excluded),
            "reasons": list(self.reasons),
            "budget": {
                "pretraining": {b.pretraining.unit: b.pretraining.amount},
                "specialization_per_domain": {b.specialization.unit: b.specialization.amount},
                "total": None if b.total is None else {b.total.unit: b.total.amount},
                "inference": ({"max_params": b.inference.max_params}
                              if b.inference.max_params is not None else
                              {"max_flops_per_token": b.inference.max_flops_per_token}),
                "n_domain_tokens": b.n_domain_tokens,
                "n_domains": b.n_domains,
            },
            "accelerator": self.accelerator,
            "price_per_hour": self.price_per_hour,
            "scale": self.scale,
            "seed": self.seed,
            "n_trials": self.n_trials,
            "n_runs": self.n_runs,
            "pareto": [_jsonable(dict(p)) for p in self.pareto],
            "n_domains": b.n_domains,
            "total_over_domains": self.cost.total.to_dict(),
            "economical_choice": (None if self.economical_choice is None
                                  else _jsonable(dict(self.economical_choice))),
        }

    def format(self) -> str:
        """A short human-readable report (what ``specplan recommend`` prints)."""
        b = self.budget
        c = self.cost
        lo, hi = self.interval
        unit = b.pretraining.unit
        lines = [
            f"recommendation: {self.strategy} ({self.paper_name})",
            f"  predicted perplexity {self.predicted_ppl:.2f} (90% band {lo:.2f}-{hi:.2f}; "
            f"{self.confidence} confidence{'; extrapolating' if self.extrapolating else ''})",
            f"  budgets: pretraining {b.pretraining}, specialization {b.specialization} per "
            f"domain, inference {b.inference}, {format_params(b.n_domain_tokens)} domain tokens, "
            f"{b.n_domains} domain{'s' if b.n_domains > 1 else ''}"
            + (f", total {b.total}" if b.total is not None else "")
            + f" ({self.accelerator} at ${self.price_per_hour:g}/h)",
            "  configuration:",
        ]
        for key, value in self.configuration.items():
            if key == "strategy_params" and not value:
                continue
            lines.append(f"    {key}: {_fmt_value(key, value)}")
        lines.append(f"  cost on {self.accelerator}:")
        n = f"{b.n_domains} domain{'s' if b.n_domains > 1 else ''}"
        for label, bucket in (("pretraining (once)", c.pretraining),
                              ("specialization per domain", c.specialization),
                              (f"total over {n}", c.total),
                              ("serving 1B tokens", c.inference_per_1b_tokens)):
            lines.append(f"    {label + ':':<27}{_fmt_bucket(bucket)}")
        if self.runners_up:
            lines.append("  runners-up:")
            for r in self.runners_up:
                lines.append(f"    {r.strategy:<23} {r.predicted_ppl:7.2f}  {r.reason}")
        for name, why in self.excluded.items():
            lines.append(f"  not considered: {name}: {why}")
        if self.reasons:
            lines.append("  why:")
            lines += [f"    - {r}" for r in self.reasons]
        if self.pareto:
            lines.append(f"  perplexity vs total cost ({_UNIT_WORD[unit]}), Pareto frontier:")
            for p in self.pareto:
                lines.append(f"    {p['strategy']:<23} {p['predicted_ppl']:7.2f}  "
                             f"{format_amount(p['total'][unit], unit)}")
        return "\n".join(lines)


_UNIT_WORD = {"flops": "FLOPs", "gpu_hours": "GPU-hours", "usd": "dollars"}


def _fmt_bucket(bc: Any) -> str:
    return (f"{format_amount(bc.flops, 'flops'):>14}  "
            f"{format_amount(bc.gpu_hours, 'gpu_hours'):>13}  "
            f"{format_amount(bc.usd, 'usd'):>9}")


def _fmt_value(key: str, value: Any) -> str:
    if isinstance(value, float):
        if "tokens" in key:
            return format_params(value)
        if "gpu_hours" in key:
            return format_amount(value, "gpu_hours")
        return format_number(value)
    if key.endswith("_params") and isinstance(value, int):
        return format_params(value)
    return str(value)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (int, float, str, bool)) or obj is None:
        return obj
    return repr(obj)


# ------------------------------------------------------------------------------ runs
def load_runs(storage: str) -> pd.DataFrame:
    """Measured runs from an Optuna storage URL (`planner.experiments.store.load_runs`, lazily)."""
    from domains.errors import SpecplanError

    try:
        from planner.experiments.store import load_runs as _load
    except ImportError as err:  # the results store ships separately in some checkouts
        raise SpecplanError(f"--storage: the results store is not available ({err})") from err
    return _load(storage)


# ------------------------------------------------------------------------------ recommend
def recommend(budget: Budget, *, runs: Any = None, storage: str | None = None,
              model: PerformanceModel | None = None, seed: int = 0,
              n_trials: int = DEFAULT_TRIALS, scale: str = "paper",
              strategies: list[str] | None = None, objectives: str = "ppl",
              ) -> Recommendation:
    """Recommend a strategy and configuration for `budget`.

    Args:
        budget: the budgets (`planner.costing.budget.Budget`).
        runs: measured runs (a frame with `planner.performance.perfmodel.RUN_COLUMNS`).
        storage: an Optuna storage URL to read runs from (ignored when `runs` is given).
        model: a fitted performance model (default: fitted here on tables + runs).
        seed: the optimizer's seed (same inputs and seed, same recommendation).
        n_trials: sampled trials after the enqueued defaults.
        scale: ``paper`` (126M / 771M, the reference tables) or a scale with runs.
        strategies: restrict the candidates (names or aliases).
        objectives: ``ppl``, or ``ppl+cost`` to also return the Pareto frontier.

    Raises:
        InfeasibleBudgetError: no strategy fits; says which budget is short and by how much.
        BudgetError: the inference cap is below the smallest model at this scale, or the
            seed is outside 0 to 2**32 - 1.
    """
    from planner.performance.perfmodel import PerformanceModel
    from planner.search.candidates import PlanContext
    from strategies.machinery.scales import get_scale

    get_scale(scale)  # an unknown scale is a user error, named before anything is loaded
    _check_seed(seed)
    if runs is None and storage:
        runs = load_runs(storage)
    n_runs = 0 if runs is None else len(runs)
    if model is None:
        model = PerformanceModel().fit(runs)
    if scale not in model.scales():
        from domains.errors import SpecplanError

        raise SpecplanError(
            f"--scale {scale}: no measured runs at this scale to plan from (the reference "
            f"tables are paper-scale); measure some with `specplan sweep --scale {scale}` "
            "and pass --storage")
    ctx = PlanContext(budget, model, scale=scale)
    _check_inference_cap(ctx)
    result = search(budget, model, seed=seed, n_trials=n_trials, scale=scale,
                    strategies=strategies, objectives=objectives, ctx=ctx)
    best = result.best()
    if best is None:
        raise _infeasible(result, budget)
    return Recommendation(
        strategy=best.strategy,
        paper_name=paper_name(best.strategy),
        configuration=dict(best.config),
        predicted_ppl=best.ppl,
        interval=(best.prediction.low, best.prediction.high),
        confidence=best.prediction.confidence,
        extrapolating=best.prediction.extrapolating,
        basis=best.prediction.basis,
        cost=best.cost,
        runners_up=tuple(_runners_up(result, best, budget)),
        excluded=dict(result.excluded),
        reasons=tuple(_reasons(result, best, budget, ctx)),
        budget=budget,
        accelerator=ctx.cost_model.accelerator.name,
        price_per_hour=ctx.cost_model.price_per_hour,
        scale=scale,
        seed=seed,
        n_trials=result.n_trials,
        n_runs=n_runs,
        pareto=tuple(_pareto_rows(result, budget)) if objectives == "ppl+cost" else (),
        economical_choice=_economical_row(result, best),
    )


#: the seeds the optimizer's sampler accepts (numpy's legacy seeding: 32 bits)
SEED_RANGE = (0, 2**32 - 1)


def _check_seed(seed: int) -> None:
    """A seed outside what the sampler takes is a user error naming ``--seed``."""
    from planner.exceptions import BudgetError

    if isinstance(seed, bool) or not isinstance(seed, int) or \
            not SEED_RANGE[0] <= seed <= SEED_RANGE[1]:
        raise BudgetError(f"--seed: must be an integer from {SEED_RANGE[0]} to "
                          f"{SEED_RANGE[1]} (2**32 - 1), got {seed!r}")


def _economical_row(result: SearchResult, best: Candidate) -> dict[str, Any] | None:
    eco = economical_choice(result, best)
    if eco is None:
        return None
    return {"strategy": eco.strategy, "paper_name": paper_name(eco.strategy),
            "predicted_ppl": eco.ppl, "interval": [eco.prediction.low, eco.prediction.high],
            "total": eco.cost.total.to_dict(),
            "share_of_winner_total": eco.cost.total.gpu_hours / best.cost.total.gpu_hours}


def _check_inference_cap(ctx: Any) -> None:
    """A cap below the smallest model specplan can build is a budget error (flag named)."""
    from planner.exceptions import BudgetError

    spec = ctx.scale.small
    from strategies.machinery.flops import forward_flops_per_token

    n, fpt = spec.n_params, forward_flops_per_token(spec)
    if not ctx.budget.inference.allows(n_params=n, flops_per_token=fpt):
        what = (f"{format_params(n)} parameters" if ctx.budget.inference.max_params is not None
                else f"{format_number(fpt)} FLOPs/token")
        raise BudgetError(
            f"--inference-budget: {ctx.budget.inference} is below the smallest model "
            f"specplan can plan at the {ctx.scale_name!r} scale (the small model: {what})")


def _pareto_rows(result: SearchResult, budget: Budget) -> list[dict[str, Any]]:
    return [{"strategy": c.strategy, "predicted_ppl": c.ppl, "knobs": dict(c.knobs),
             "total": c.cost.total.to_dict()} for c in result.pareto]


def _shortfall_text(c: Candidate, budget: Budget) -> str:
    parts = []
    for name, short in c.violations.items():
        b = budget.compute_budgets()[name]
        need = b.amount + short
        per = " per domain" if name == "specialization" else ""
        parts.append(f"{format_amount(need, b.unit)}{per} for {name} "
                     f"({format_amount(short, b.unit)} over the budget)")
    return "needs " + " and ".join(parts)


def _runners_up(result: SearchResult, best: Candidate, budget: Budget) -> list[RunnerUp]:
    feasible = result.best_per_strategy(feasible_only=True)
    anyway = result.best_per_strategy(feasible_only=False)
    out = []
    for name, c in anyway.items():
        if name == best.strategy:
            continue
        c = feasible.get(name, c)
        margin = c.ppl - best.ppl
        pct = 100.0 * margin / best.ppl
        if c.feasible:
            reason = f"{margin:+.2f} PPL ({pct:+.1f}%)"
            if c.prediction.extrapolating:
                reason += "; extrapolated"
        else:
            reason = f"does not fit: {_shortfall_text(c, budget)}"
        out.append(RunnerUp(strategy=name, predicted_ppl=c.ppl, margin_ppl=margin,
                            margin_pct=pct, feasible=c.feasible, reason=reason,
                            total=c.cost.total.to_dict()))
    out.sort(key=lambda r: (not r.feasible, r.predicted_ppl, r.strategy))
    return out


def _infeasible(result: SearchResult, budget: Budget) -> InfeasibleBudgetError:
    per = result.best_per_strategy(feasible_only=False)
    if not per:
        excluded = "; ".join(f"{k}: {v}" for k, v in result.excluded.items())
        return InfeasibleBudgetError(f"no strategy can be considered ({excluded})")
    cheapest = min(per.values(), key=lambda c: (max(c.overshoot.values()), c.strategy))
    short = dict(cheapest.violations)
    names = ", ".join(f"--{k}-budget" for k in short)
    return InfeasibleBudgetError(
        f"no strategy fits the budgets: {names} too small. The cheapest option, "
        f"`{cheapest.strategy}`, {_shortfall_text(cheapest, budget)}",
        short=short, cheapest=cheapest.strategy)


# ------------------------------------------------------------------------------ reasons
def _gpuh(x: float) -> str:
    return format_amount(x, "gpu_hours")


def _axis(name: str) -> str:
    from planner.performance.perfdata import compute_axis

    try:
        return compute_axis(name)
    except KeyError:
        return "pretraining"


def paper_name(strategy: str) -> str:
    """The paper's name a strategy declares (`Strategy.paper_name`; "" if unavailable)."""
    from domains.errors import SpecplanError
    from strategies.registry import get_strategy_class

    try:
        return get_strategy_class(strategy).paper_name
    except SpecplanError:
        return ""


def economical_choice(result: SearchResult, best: Candidate) -> Candidate | None:
    """A feasible candidate predicted within the winner's band that costs at most half as
    much over the N domains (Eq. 1): the cheapest such one, or None."""
    limit = 0.5 * best.cost.total.gpu_hours
    cheaper = [c for c in result.best_per_strategy(feasible_only=True).values()
               if c.strategy != best.strategy and c.ppl <= best.prediction.high
               and c.cost.total.gpu_hours <= limit]
    return min(cheaper, key=lambda c: (c.cost.total.gpu_hours, c.ppl, c.strategy),
               default=None)


def _reasons(result: SearchResult, best: Candidate, budget: Budget, ctx: Any) -> list[str]:
    reasons = []
    per = result.best_per_strategy(feasible_only=True)
    lo, hi = best.prediction.low, best.prediction.high
    reasons.append(
        f"`{best.strategy}` has the lowest predicted perplexity, {best.ppl:.2f} "
        f"({lo:.2f}-{hi:.2f}), among the strategies that fit every budget")
    for _name, why in result.excluded.items():
        if why.startswith("inference cap"):
            reasons.append(why)
    reasons += _reason_serving(per, best)
    reasons += _reason_domains(result, per, best, budget)
    reasons += _reason_per_domain(per, best, budget, ctx)
    reasons += _reason_teacher(per, best)
    reasons += _reason_pretraining_used(best, budget, ctx)
    reasons += _reason_finetune(best)
    for note in best.prediction.notes:
        if "fine-tuned for" in note or "outside the fitted range" in note:
            continue
        reasons.append(note)
    if best.prediction.confidence == "low":
        reasons.append(f"low-confidence prediction: {best.prediction.basis}")
    if best.prediction.extrapolating:
        notes = "; ".join(n for n in best.prediction.notes if "outside the fitted range" in n)
        reasons.append("the prediction extrapolates beyond the measured range"
                       + (f" ({notes})" if notes else ""))
    return reasons


def _reason_serving(per: dict[str, Candidate], best: Candidate) -> list[str]:
    """When the winner serves a larger model than the smallest feasible alternative."""
    smaller = [c for c in per.values() if c.cost.inference_params < best.cost.inference_params]
    if not smaller:
        return []
    other = min(smaller, key=lambda c: (c.cost.inference_params, c.ppl, c.strategy))
    serve = best.cost.inference_per_1b_tokens.gpu_hours
    ratio = serve / other.cost.inference_per_1b_tokens.gpu_hours
    return [f"the inference cap admits `{best.strategy}` "
            f"({format_params(best.cost.inference_params)} parameters), "
            f"{other.ppl - best.ppl:.2f} PPL better than the best smaller model "
            f"(`{other.strategy}`); it costs {ratio:.1f}x more to serve ({_gpuh(serve)} per "
            f"1B tokens vs {_gpuh(other.cost.inference_per_1b_tokens.gpu_hours)})"]


def _reason_domains(result: SearchResult, per: dict[str, Candidate], best: Candidate,
                    budget: Budget) -> list[str]:
    """The total over N domains (Eq. 1), and the economical choice if there is one."""
    n = budget.n_domains
    total = best.cost.total.gpu_hours
    out = [f"over {n} domain{'s' if n != 1 else ''} (Eq. 1: pretraining + N x "
           f"specialization) `{best.strategy}` costs {_gpuh(total)} "
           f"({_gpuh(best.cost.pretraining.gpu_hours)} + {n} x "
           f"{_gpuh(best.cost.specialization.gpu_hours)})"]
    eco = economical_choice(result, best)
    if eco is not None:
        out.append(
            f"economical choice: `{eco.strategy}` is predicted {eco.ppl:.2f} PPL, within the "
            f"winner's band ({best.prediction.low:.2f}-{best.prediction.high:.2f}), for "
            f"{_gpuh(eco.cost.total.gpu_hours)} over {n} domain{'s' if n != 1 else ''} "
            f"({eco.cost.total.gpu_hours / total:.0%} of the winner's total)")
    return out


def _reason_per_domain(per: dict[str, Candidate], best: Candidate, budget: Budget,
                       ctx: Any) -> list[str]:
    """Strategies that pretrain per domain (all their compute after the domain is known)."""
    out: list[str] = []
    n = budget.n_domains
    for c in per.values():
        if _axis(c.strategy) != "specialization":
            continue
        spec = c.cost.specialization.gpu_hours
        if c.strategy == best.strategy:
            out.append(f"the per-domain budget pays for `{c.strategy}`'s per-domain "
                       f"pretraining ({_gpuh(spec)} per domain); nothing is shared, so its "
                       f"cost grows with the number of domains ({_gpuh(c.cost.total.gpu_hours)}"
                       f" for {n})")
            continue
        margin = c.ppl - best.ppl
        top = ctx.model.compute_range(c.strategy, scale=ctx.scale_name)[1]
        if margin > 0:
            out.append(f"`{c.strategy}` reaches {c.ppl:.2f} PPL ({margin:+.2f}) with "
                       f"{_gpuh(spec)} per domain (its curve is measured up to {_gpuh(top)} "
                       f"per domain, A100-equivalent); over {n} domain{'s' if n != 1 else ''}"
                       f" it costs {_gpuh(c.cost.total.gpu_hours)}")
    return out


def _reason_teacher(per: dict[str, Candidate], best: Candidate) -> list[str]:
    out = []
    for c in per.values():
        if _axis(c.strategy) != "student" or c.strategy == best.strategy:
            continue
        t = c.config.get("teacher_pretraining_gpu_hours")
        s = c.config.get("student_pretraining_gpu_hours")
        split = (f" (best split: teacher {_gpuh(t)} + student {_gpuh(s)})"
                 if t is not None and s is not None else "")
        out.append(f"`{c.strategy}`'s teacher pretraining counts against the pretraining "
                   f"budget{split}: predicted {c.ppl:.2f} PPL, {c.ppl - best.ppl:+.2f} vs "
                   f"`{best.strategy}`")
    return out


def _reason_pretraining_used(best: Candidate, budget: Budget, ctx: Any) -> list[str]:
    used = best.config.get("pretraining_gpu_hours", 0.0)
    if _axis(best.strategy) in ("specialization", "none") or used <= 0:
        return []
    cm = ctx.cost_model
    eff = cm.efficiency(best.strategy, "pretraining")
    flops = cm.flops_for(budget.pretraining, n_params=best.cost.inference_params,
                         efficiency=eff)
    available = cm.price(flops, n_params=best.cost.inference_params, efficiency=eff).gpu_hours
    if used >= 0.97 * available:
        return []
    top = ctx.model.compute_range(best.strategy, scale=ctx.scale_name)[1]
    where = ("the paper measured" if ctx.scale_name == "paper"
             else f"the stored {ctx.scale_name}-scale runs measured")
    return [f"only {_gpuh(used)} of the pretraining budget is used: {where} "
            f"`{best.strategy}` up to {_gpuh(top)} (A100-equivalent), and no gain is "
            "assumed beyond"]


def _reason_finetune(best: Candidate) -> list[str]:
    f = float(best.config.get("finetune_fraction", 1.0))
    if f >= 0.999:
        return []
    note = next((n for n in best.prediction.notes if "fine-tuned for" in n), "")
    return [f"the per-domain budget buys {f:.0%} of an early-stopped fine-tune; "
            f"{note or 'the prediction is moved along the fine-tuning curve'}"]
