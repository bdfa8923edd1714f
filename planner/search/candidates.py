"""Candidates: one strategy with one configuration, costed, predicted and checked.

`PlanContext` turns the optimizer's knobs into a configuration a user can run: token counts
for the strategy's `estimate_cost`, the cost per bucket on the user's accelerator
(`planner.costing.costs`), the predicted perplexity (`planner.performance.perfmodel`), and
how far each budget is overshot. It names no strategy: what it searches comes from each
strategy's declarations (`Strategy.search_space`, `Strategy.planning_prior`).

The knobs of a strategy:

- its compute, by the axis its prior declares: ``pretraining_fraction`` (share of the
  pretraining budget spent, capped by what the performance model has measured: compute
  beyond it buys no predicted gain), ``teacher_share`` (a teacher-student's split of it),
  or ``specialization_fraction`` (share of the per-domain budget spent on per-domain
  pretraining);
- ``finetune_fraction``: the length of the fine-tune, as a share of the early-stopped
  fine-tune's cost. At the paper's scale that cost is Table 3's limit (e.g. 0.07 GPUh for
  SLM at 8M tokens, interpolated log-log in the domain size), or the figure-derived
  early-stopped cost where it is lower (the LLM: Fig. 9, App. C); elsewhere the strategy's own
  schedule. A budget just below it buys a slightly shorter fine-tune and a slightly worse
  prediction (the fine-tuning curve), never an exclusion;
- the strategy parameters the paper measured (`PlanningPrior.modelled`, within the
  strategy's `search_space`), at the paper's scale only.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, TypedDict

from domains.errors import SpecplanError

if TYPE_CHECKING:
    from planner.costing.budget import Budget, ComputeBudget
    from planner.costing.costs import CostModel, PlanCost
    from planner.performance.perfmodel import PerformanceModel, Prediction
    from strategies.base import Cost, PlanningPrior, Strategy
    from strategies.machinery.scales import Scale

__all__ = ["Candidate", "Knob", "PlanContext", "FINETUNE_FRACTION_MIN"]

_PROBE = 1e9  # tokens used to probe estimate_cost's (linear) FLOPs per token
#: the shortest fine-tune searched, as a share of the early-stopped one
FINETUNE_FRACTION_MIN = 0.02


class _PretrainTokens(TypedDict, total=False):
    """`n_pretrain_tokens` for `Strategy.estimate_cost`, if set (else its default)."""

    n_pretrain_tokens: float


@dataclass(frozen=True, slots=True)
class Knob:
    """One dimension of a strategy's search space (planner side).

    Args:
        name: the knob (a planner knob or a strategy parameter).
        kind: ``float`` or ``categorical``.
        choices: (low, high) for floats; the values for categoricals.
        param: True when the knob is a strategy parameter (passed to the class).
    """

    name: str
    kind: str
    choices: tuple[Any, ...]
    param: bool = False


@dataclass(frozen=True, kw_only=True)
class Candidate:
    """A costed, predicted configuration of one strategy.

    Args:
        strategy: canonical name.
        knobs: the optimizer's values that produced it.
        config: what to run (tokens, GPU-hours per part, strategy parameters).
        cost: cost per bucket on the plan's accelerator.
        prediction: predicted test perplexity with its band.
        violations: budget name -> overshoot in that budget's unit (only overshot ones).
        overshoot: budget name -> overshoot / budget (relative, only overshot ones).
    """

    strategy: str
    knobs: Mapping[str, Any]
    config: Mapping[str, Any]
    cost: PlanCost
    prediction: Prediction
    violations: Mapping[str, float] = field(default_factory=dict)
    overshoot: Mapping[str, float] = field(default_factory=dict)

    @property
    def feasible(self) -> bool:
        return not self.violations

    @property
    def ppl(self) -> float:
        return self.prediction.ppl

    def sort_key(self) -> tuple[float, float, str]:
        """Lower perplexity first; then cheaper in total; then by name (deterministic)."""
        return (round(self.ppl, 9), round(self.cost.total.flops, -6), self.strategy)


def _interp_loglog(points: list[tuple[float, float]], x: float) -> float:
    pts = sorted(points)
    lx = math.log(x)
    xs = [math.log(p) for p, _ in pts]
    ys = [math.log(v) for _, v in pts]
    if len(pts) == 1:
        return pts[0][1]
    if lx <= xs[0]:
        i = 0
    elif lx >= xs[-1]:
        i = len(xs) - 2
    else:
        i = max(j for j in range(len(xs) - 1) if xs[j] <= lx)
    slope = (ys[i + 1] - ys[i]) / (xs[i + 1] - xs[i])
    return math.exp(ys[i] + slope * (lx - xs[i]))


@functools.lru_cache(maxsize=1)
def _finetune_limits() -> dict[str, list[tuple[float, float]]]:
    """The early-stopped fine-tune's A100 cost: strategy -> [(domain tokens, GPUh)].

    Table 3's specialization limits, except where ``figure_facts.csv`` bounds the
    early-stopped cost lower (``early_stopped_finetune_gpuh``): Table 3 gives the LLM's
    schedule caps, and App. C / Fig. 9 put its early-stopped fine-tunes below them.
    """
    from planner.reference import read_records

    out: dict[str, list[tuple[float, float]]] = {}
    for r in read_records("table3"):
        if r["bucket"] == "specialization":
            out.setdefault(r["strategy"], []).append((r["n_domain_tokens"], r["max_gpuh"]))
    early = {(r["strategy"], float(r["n_domain_tokens"])): float(r["value"])
             for r in read_records("figure_facts")
             if r["quantity"] == "early_stopped_finetune_gpuh"}
    for name, points in out.items():
        out[name] = [(d, min(g, early.get((name, float(d)), g))) for d, g in points]
    return out


def _prior(name: str) -> PlanningPrior:
    from planner.performance.perfdata import planning_prior

    return planning_prior(name)


def _axis(name: str) -> str:
    from planner.performance.perfdata import compute_axis

    return compute_axis(name)


class PlanContext:
    """Everything needed to evaluate candidates for one budget.

    Args:
        budget: the user's budgets.
        model: a fitted performance model.
        cost_model: prices on the plan's accelerator (default: from the budget).
        scale: the model pair (``paper``: 126M / 771M).
    """

    def __init__(self, budget: Budget, model: PerformanceModel, *,
                 cost_model: CostModel | None = None, scale: str = "paper") -> None:
        from planner.costing.costs import CostModel
        from strategies.machinery.scales import get_scale

        self.budget = budget
        self.model = model
        self.scale_name = scale
        self.scale: Scale = get_scale(scale)
        self.cost_model = cost_model or CostModel(budget.accelerator,
                                                  price_per_hour=budget.price_per_hour,
                                                  scale=scale)
        self._a100 = CostModel("A100", scale=scale)
        self._objs: dict[tuple[str, tuple[tuple[str, Any], ...]], Strategy] = {}
        self._probes: dict[tuple[str, tuple[tuple[str, Any], ...]], dict[str, float]] = {}
        self._inference: dict[str, tuple[int, float]] = {}
        self._rejected: set[tuple[str, tuple[tuple[str, Any], ...]]] = set()
        self._ft_tokens: dict[tuple[str, tuple[tuple[str, Any], ...]], float | None] = {}
        self._spaces: dict[str, list[Knob]] = {}
        self.unavailable: dict[str, str] = {}

    # ------------------------------------------------------------------ strategies
    def strategy(self, name: str, **params: Any) -> Strategy | None:
        """An instance at the plan's scale, in the paper's main configuration unless
        `params` say otherwise (None if its class cannot load, or rejects `params`)."""
        explicit = bool(params)
        if self.scale_name == "paper":
            try:
                params = {**_prior(name).paper_params, **params}
            except KeyError:
                pass
        key = (name, tuple(sorted(params.items())))
        if key in self._objs:
            return self._objs[key]
        if name in self.unavailable or key in self._rejected:
            return None
        from strategies.registry import get_strategy_class

        try:
            cls = get_strategy_class(name)
            params = {k: v for k, v in params.items() if k in cls._param_names()}
            obj = cls(scale=self.scale_name, **params)
            obj.estimate_cost(n_domain_tokens=self.budget.n_domain_tokens)
        except (SpecplanError, ValueError, TypeError) as err:
            if explicit:
                self._rejected.add(key)
            else:
                self.unavailable[name] = str(err)
            return None
        self._objs[key] = obj
        return obj

    def inference_of(self, name: str) -> tuple[int, float] | None:
        """(parameters, forward FLOPs per token) of the served model."""
        if name not in self._inference:
            obj = self.strategy(name)
            if obj is None:
                return None
            c = obj.estimate_cost(n_domain_tokens=self.budget.n_domain_tokens)
            self._inference[name] = (int(c.inference_params), float(c.inference_flops_per_token))
        return self._inference[name]

    def space(self, name: str) -> list[Knob]:
        """The knobs searched for a strategy (see the module docstring)."""
        if name in self._spaces:
            return self._spaces[name]
        axis = _axis(name)
        knobs = []
        if axis in ("pretraining", "student") and self._pretrain_per_token(name) > 0:
            knobs.append(Knob("pretraining_fraction", "float", (0.05, 1.0)))
        if axis == "student":
            knobs.append(Knob("teacher_share", "float", (0.1, 0.9)))
        if axis == "specialization":
            knobs.append(Knob("specialization_fraction", "float", (0.05, 1.0)))
        knobs.append(Knob("finetune_fraction", "float", (FINETUNE_FRACTION_MIN, 1.0)))
        if self.scale_name == "paper":
            knobs += self._param_knobs(name)
        self._spaces[name] = knobs
        return knobs

    def _pretrain_per_token(self, name: str) -> float:
        return self.probe(name)["pre_per_token"] if self.strategy(name) is not None else 0.0

    def _param_knobs(self, name: str) -> list[Knob]:
        """The strategy parameters the prior models, within the strategy's search space."""
        from strategies.registry import get_strategy_class

        prior = _prior(name)
        if not prior.modelled:
            return []
        space = get_strategy_class(name).search_space(scale=self.scale_name)
        knobs = []
        for param, values in prior.modelled.items():
            dist = space.get(param)
            kept = tuple(v for v in values if dist is None or _in_distribution(dist, v))
            if len(kept) > 1:
                knobs.append(Knob(param, "categorical", kept, param=True))
        return knobs

    def default_points(self, name: str, *, fractions: tuple[float, ...] = (1.0,),
                       ) -> list[dict[str, Any]]:
        """Knob values evaluated before the search (every discrete choice, full budgets,
        the early-stopped fine-tune and the longest one the per-domain budget affords)."""
        points: list[dict[str, Any]] = [{}]
        for knob in self.space(name):
            if knob.kind == "categorical":
                values: tuple[Any, ...] = knob.choices
            elif knob.name == "teacher_share":
                values = (0.3, 0.5, 0.7)
            elif knob.name == "finetune_fraction":
                values = tuple(sorted({1.0, self.affordable_finetune(name)}))
            else:
                values = fractions
            points = [{**p, knob.name: v} for p in points for v in values]
        return points

    def affordable_finetune(self, name: str) -> float:
        """The longest fine-tune (share of the early-stopped one) that the per-domain
        budget pays for, in [FINETUNE_FRACTION_MIN, 1]."""
        obj = self.strategy(name)
        if obj is None:
            return 1.0
        ft = self.finetune_tokens(name)
        d = self.budget.n_domain_tokens
        extra: _PretrainTokens = {"n_pretrain_tokens": 1} if _axis(name) == "specialization" \
            else {}
        full = self.cost_model.plan_cost(name, obj.estimate_cost(
            n_domain_tokens=d, n_specialize_tokens=ft, **extra)).specialization
        budget = self.budget.specialization
        have = self._in_unit(budget, "flops", n_params=obj.estimate_cost(
            n_domain_tokens=d).inference_params, efficiency=self.cost_model.efficiency(
            name, "specialization"))
        if full.flops <= 0:
            return 1.0
        return float(min(1.0, max(FINETUNE_FRACTION_MIN, 0.999 * have / full.flops)))

    # ------------------------------------------------------------------ probes
    def probe(self, name: str, **params: Any) -> dict[str, float]:
        """FLOPs per token of each bucket, and the teacher's default pretraining."""
        key = (name, tuple(sorted(params.items())))
        if key in self._probes:
            return self._probes[key]
        obj = self.strategy(name, **params)
        assert obj is not None
        d = self.budget.n_domain_tokens
        p1 = obj.estimate_cost(n_domain_tokens=d, n_pretrain_tokens=_PROBE)
        p2 = obj.estimate_cost(n_domain_tokens=d, n_pretrain_tokens=2 * _PROBE)
        s1 = obj.estimate_cost(n_domain_tokens=d, n_specialize_tokens=_PROBE)
        s2 = obj.estimate_cost(n_domain_tokens=d, n_specialize_tokens=2 * _PROBE)
        out = {
            "pre_per_token": (p2.pretraining_flops - p1.pretraining_flops) / _PROBE,
            "spec_per_pretrain_token": (p2.specialization_flops - p1.specialization_flops)
            / _PROBE,
            "spec_per_token": (s2.specialization_flops - s1.specialization_flops) / _PROBE,
            "teacher_pretraining": float(p1.teacher_pretraining_flops),
        }
        self._probes[key] = out
        return out

    def finetune_tokens(self, name: str, **params: Any) -> float | None:
        """Fine-tuning tokens per domain of the early-stopped fine-tune (paper scale: so
        its A100 cost matches Table 3; elsewhere None, the strategy's own schedule).

        Table 3 is the cost of one early-stopped fine-tune in the paper's main
        configuration, so the calibration ignores parameters that only change how a
        domain is specialized (fine-tuning several experts then costs that many times as
        much, as the strategy's own `estimate_cost` charges it).
        """
        from strategies.registry import get_strategy_class

        spec_only = get_strategy_class(name)._specialization_params
        params = {k: v for k, v in params.items() if k not in spec_only}
        key = (name, tuple(sorted(params.items())))
        if key not in self._ft_tokens:
            self._ft_tokens[key] = self._finetune_tokens(name, **params)
        return self._ft_tokens[key]

    def _finetune_tokens(self, name: str, **params: Any) -> float | None:
        limits = _finetune_limits().get(_prior(name).finetune_limits_of or name)
        if self.scale_name != "paper" or limits is None:
            return None
        target = _interp_loglog(limits, float(self.budget.n_domain_tokens))
        obj = self.strategy(name, **params)
        assert obj is not None
        extra: _PretrainTokens = {"n_pretrain_tokens": 1} if _axis(name) == "specialization" \
            else {}
        d = self.budget.n_domain_tokens
        g0 = self._a100.plan_cost(name, obj.estimate_cost(
            n_domain_tokens=d, n_specialize_tokens=0, **extra)).specialization.gpu_hours
        g1 = self._a100.plan_cost(name, obj.estimate_cost(
            n_domain_tokens=d, n_specialize_tokens=_PROBE, **extra)).specialization.gpu_hours
        if g1 <= g0:
            return None
        return max(0.0, (target - g0) / (g1 - g0) * _PROBE)

    def _default_finetune_tokens(self, name: str, obj: Strategy) -> float:
        """The strategy's own early-stopped schedule (other scales), probed."""
        from strategies.base import default_specialize_tokens

        return default_specialize_tokens(self.scale, self.budget.n_domain_tokens)

    # ------------------------------------------------------------------ caps
    def _budget_flops(self, bucket: str, *, n_params: float, strategy: str,
                      teacher: bool = False) -> float:
        budget = getattr(self.budget, bucket)
        eff = 1.0 if teacher else self.cost_model.efficiency(strategy, bucket)
        return self.cost_model.flops_for(budget, n_params=n_params, efficiency=eff)

    def _in_unit(self, budget: ComputeBudget, unit: str, *, n_params: float,
                 efficiency: float) -> float:
        if budget.unit == unit:
            return budget.amount
        flops = self.cost_model.flops_for(budget, n_params=n_params, efficiency=efficiency)
        return self.cost_model.price(flops, n_params=n_params,
                                     efficiency=efficiency).in_unit(unit)

    def _total_allowance(self, name: str, params: Mapping[str, Any], ft_tokens: float | None,
                         size: float) -> float:
        """The share of the pretraining budget (of the per-domain budget, for a strategy
        whose compute is per domain) that ``--total-budget`` leaves once N domains are
        specialized (Eq. 1)."""
        total = self.budget.total
        if total is None:
            return 1.0
        n = self.budget.n_domains
        obj = self.strategy(name, **params)
        assert obj is not None
        if _axis(name) == "specialization":
            spec = self._in_unit(self.budget.specialization, total.unit, n_params=size,
                                 efficiency=self.cost_model.efficiency(name, "specialization"))
            return min(1.0, max(1e-6, total.amount / n / spec))
        base = obj.estimate_cost(n_domain_tokens=self.budget.n_domain_tokens,
                                 n_specialize_tokens=ft_tokens, n_pretrain_tokens=1)
        base = _with_teacher(base, 0.0)
        spec = self.cost_model.plan_cost(name, base).specialization.in_unit(total.unit)
        eff = self.cost_model.efficiency(name, "pretraining")
        pre = self._in_unit(self.budget.pretraining, total.unit, n_params=size, efficiency=eff)
        return min(1.0, max(1e-6, (total.amount - n * spec) / pre))

    def useful_flops(self, name: str, part: str = "pretraining") -> float:
        """FLOPs beyond which the performance model predicts no gain."""
        from planner.performance.perfdata import flops_from_gpuh

        gpuh = self.model.compute_range(name, part=part, scale=self.scale_name)[1]
        if part == "teacher":
            return flops_from_gpuh(name, "pretraining", gpuh, self.scale_name, teacher=True)
        bucket = "specialization" if _axis(name) == "specialization" else "pretraining"
        owner = (_prior(name).like or name) if part == "student" else name
        return flops_from_gpuh(owner, bucket, gpuh, self.scale_name)

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, name: str, knobs: Mapping[str, Any]) -> Candidate:
        """Cost, predict and check one configuration.

        Raises:
            SpecplanError: the strategy cannot be loaded or rejects the parameters.
        """
        if self.strategy(name) is None:
            raise SpecplanError(f"strategy {name!r} is unavailable: {self.unavailable[name]}")
        params = {k.name: knobs[k.name] for k in self.space(name) if k.param and k.name in knobs}
        obj = self.strategy(name, **params)
        if obj is None:
            raise SpecplanError(f"strategy {name!r} rejects {params}")
        probe = self.probe(name, **params)
        d = self.budget.n_domain_tokens
        inference = self.inference_of(name)
        assert inference is not None  # None only when the strategy is unavailable (above)
        size, _ = inference
        large = self.scale.large.n_params
        axis = _axis(name)
        ft_full = self.finetune_tokens(name, **params)
        ft_fraction = float(knobs.get("finetune_fraction", 1.0))
        if ft_full is None:
            ft_full = self._default_finetune_tokens(name, obj)
        ft_tokens = ft_full * ft_fraction
        config: dict[str, Any] = {"inference_params": size}
        teacher_flops = 0.0
        extra_spec = 0.0
        pre_tokens: float | None = None
        pre_kwargs: _PretrainTokens = {}
        f = float(knobs.get("pretraining_fraction", 1.0))
        lam = self._total_allowance(name, params, ft_tokens, size)
        if axis == "student" and probe["teacher_pretraining"] > 0:
            share = float(knobs.get("teacher_share", 0.5))
            t_cap = min(lam * share * self._budget_flops("pretraining", n_params=large,
                                                         strategy=name, teacher=True),
                        self.useful_flops(name, "teacher"))
            like = _prior(name).like or name
            s_cap = min(lam * (1 - share) * self._budget_flops("pretraining", n_params=size,
                                                               strategy=like),
                        self.useful_flops(name, "student"))
            teacher_flops = f * t_cap
            pre_tokens = f * s_cap / probe["pre_per_token"]
        elif axis == "specialization":
            ft_flops = ft_tokens * probe["spec_per_token"]
            room = min(lam * self._budget_flops("specialization", n_params=size,
                                                strategy=name),
                       self.useful_flops(name)) - ft_flops
            extra_spec = max(0.0, room) * float(knobs.get("specialization_fraction", 1.0))
            if probe["spec_per_pretrain_token"] > 0:  # the strategy charges it itself
                pre_kwargs["n_pretrain_tokens"] = max(
                    1.0, extra_spec / probe["spec_per_pretrain_token"])
                extra_spec = 0.0
        elif probe["pre_per_token"] > 0:
            cap = min(lam * self._budget_flops("pretraining", n_params=size, strategy=name),
                      self.useful_flops(name))
            pre_tokens = f * cap / probe["pre_per_token"]
        if pre_tokens is not None:
            pre_kwargs["n_pretrain_tokens"] = max(1.0, pre_tokens)
        cost = obj.estimate_cost(n_domain_tokens=d, n_specialize_tokens=ft_tokens, **pre_kwargs)
        if axis == "student" and probe["teacher_pretraining"] > 0:
            cost = _with_teacher(cost, teacher_flops)
        if extra_spec > 0:
            cost = replace(cost, specialization_flops=cost.specialization_flops + extra_spec,
                           components={**cost.components, "per_domain_pretraining": extra_spec})
        plan_cost = self.cost_model.plan_cost(name, cost, n_domains=self.budget.n_domains)
        prediction = self.model.predict(
            name, n_domain_tokens=d, pretraining_flops=cost.pretraining_flops,
            specialization_flops=cost.specialization_flops,
            teacher_pretraining_flops=cost.teacher_pretraining_flops,
            params=params, finetune_fraction=ft_fraction, scale=self.scale_name)
        config.update(self._describe(name, cost, plan_cost, knobs, pre_kwargs, ft_tokens,
                                     params, axis))
        violations, overshoot = self._check(plan_cost)
        return Candidate(strategy=name, knobs=dict(knobs), config=config, cost=plan_cost,
                         prediction=prediction, violations=violations, overshoot=overshoot)

    def _describe(self, name: str, cost: Cost, plan_cost: PlanCost, knobs: Mapping[str, Any],
                  pre_kwargs: _PretrainTokens, ft_tokens: float,
                  params: Mapping[str, Any], axis: str) -> dict[str, Any]:
        cm = self.cost_model
        out: dict[str, Any] = {}
        if "n_pretrain_tokens" in pre_kwargs and axis != "specialization":
            out["n_pretrain_tokens"] = float(pre_kwargs["n_pretrain_tokens"])
        out["pretraining_gpu_hours"] = plan_cost.pretraining.gpu_hours
        if cost.teacher_pretraining_flops:
            out["teacher_pretraining_gpu_hours"] = cm.price(
                cost.teacher_pretraining_flops, n_params=self.scale.large.n_params).gpu_hours
            out["student_pretraining_gpu_hours"] = (plan_cost.pretraining.gpu_hours
                                                    - out["teacher_pretraining_gpu_hours"])
        if axis == "specialization":
            per_domain = cost.components.get("per_domain_pretraining")
            if per_domain is None and "n_pretrain_tokens" in pre_kwargs:
                per_domain = pre_kwargs["n_pretrain_tokens"] * self.probe(name, **params)[
                    "spec_per_pretrain_token"]
            out["per_domain_pretraining_gpu_hours"] = cm.price(
                per_domain or 0.0, n_params=cost.inference_params).gpu_hours
        out["finetune_tokens_per_domain"] = ft_tokens
        out["finetune_fraction"] = float(knobs.get("finetune_fraction", 1.0))
        out["specialization_gpu_hours_per_domain"] = plan_cost.specialization.gpu_hours
        out["pretraining_params"] = plan_cost.pretraining_params
        obj = self.strategy(name, **params)
        accepted = set(obj._param_names()) if obj is not None else set()
        shown = {**(_prior(name).paper_params if self.scale_name == "paper" else {}), **params}
        out["strategy_params"] = {k: v for k, v in shown.items() if k in accepted}
        if "n_pretrain_tokens" in accepted and "n_pretrain_tokens" in out:
            out["strategy_params"]["n_pretrain_tokens"] = int(out["n_pretrain_tokens"])
        default_teacher = self.probe(name, **params)["teacher_pretraining"]
        if cost.teacher_pretraining_flops and "teacher_pretrain_tokens" in accepted \
                and default_teacher > 0:
            per_token = default_teacher / self.scale.large_pretrain_tokens
            out["strategy_params"]["teacher_pretrain_tokens"] = int(
                cost.teacher_pretraining_flops / per_token)
        return out

    def _check(self, cost: PlanCost) -> tuple[dict[str, float], dict[str, float]]:
        violations, overshoot = {}, {}
        for name, budget in self.budget.compute_budgets().items():
            short = budget.shortfall(cost.bucket(name))
            if short > budget.amount * 1e-9:
                violations[name] = short
                overshoot[name] = short / budget.amount
        return violations, overshoot


def _with_teacher(cost: Cost, teacher_flops: float) -> Cost:
    """The cost with the teacher's pretraining set to `teacher_flops` (a planner knob)."""
    return replace(cost, pretraining_flops=cost.pretraining_flops
                   - cost.teacher_pretraining_flops + teacher_flops,
                   teacher_pretraining_flops=teacher_flops)


def _in_distribution(dist: Any, value: Any) -> bool:
    """Whether an optuna distribution contains `value` (duck-typed: no optuna import)."""
    choices = getattr(dist, "choices", None)
    if choices is not None:
        return value in choices
    low, high = getattr(dist, "low", None), getattr(dist, "high", None)
    if low is None or high is None:
        return True
    try:
        return bool(low <= value <= high)
    except TypeError:
        return False
