"""Candidates: one strategy with one configuration, costed, predicted and checked.

`PlanContext` turns the optimizer's knobs (how much of the pretraining budget to spend,
the teacher's share, the number of experts, ...) into a configuration a user can run:
token counts for the strategy's `estimate_cost`, the cost per bucket on the user's
accelerator (`planner.costing.costs`), the predicted perplexity
(`planner.performance.perfmodel`), and how far
each budget is overshot.

Fine-tuning is not a knob: every strategy fine-tunes with early stopping, and at the
paper's scale its cost per domain is Table 3's (e.g. 0.07 GPUh for SLM at 8M tokens,
interpolated log-log in the domain size), which the strategy's `estimate_cost` is
calibrated to; at other scales it is the strategy's own default schedule.

Pretraining is a knob, capped by what the performance model has measured: compute beyond
the largest measured budget buys no predicted gain, so it is never spent.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, TypedDict

from domains.errors import SpecplanError
from strategies.mixture import SELECTIONS  # Table 5

if TYPE_CHECKING:
    from planner.costing.budget import Budget, ComputeBudget
    from planner.costing.costs import CostModel, PlanCost
    from planner.performance.perfmodel import PerformanceModel, Prediction
    from strategies.base import Cost, Strategy
    from strategies.machinery.scales import Scale

__all__ = ["Candidate", "Knob", "PlanContext"]

_PROBE = 1e9  # tokens used to probe estimate_cost's (linear) FLOPs per token
MIXTURE_EXPERTS = (16, 64)  # the expert counts with numbers (Table 8, Table 5)


class _PretrainTokens(TypedDict, total=False):
    """`n_pretrain_tokens` for `Strategy.estimate_cost`, if set (else its default)."""

    n_pretrain_tokens: float


@dataclass(frozen=True, slots=True)
class Knob:
    """One dimension of a strategy's search space (planner side)."""

    name: str
    kind: str  # "float" or "categorical"
    choices: tuple[Any, ...]  # (low, high) for floats


@dataclass(frozen=True, kw_only=True)
class Candidate:
    """A costed, predicted configuration of one strategy.

    Args:
        strategy: canonical name.
        knobs: the optimizer's values that produced it.
        config: what to run (model, tokens, GPU-hours per part, strategy parameters).
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
    """Table 3's specialization limits: strategy -> [(domain tokens, A100 GPUh)]."""
    from planner.reference import read_records

    out: dict[str, list[tuple[float, float]]] = {}
    for r in read_records("table3"):
        if r["bucket"] == "specialization":
            out.setdefault(r["strategy"], []).append((r["n_domain_tokens"], r["max_gpuh"]))
    # SLM-is's 130 GPUh covers its importance-sampled pretraining; its fine-tune is an SLM's
    out["importance_sampling"] = out["small"]
    return out


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
        self.unavailable: dict[str, str] = {}

    # ------------------------------------------------------------------ strategies
    def strategy(self, name: str, **params: Any) -> Strategy | None:
        """An instance at the plan's scale (None if its class cannot load, or rejects
        `params`)."""
        key = (name, tuple(sorted(params.items())))
        if key in self._objs:
            return self._objs[key]
        if name in self.unavailable or key in self._rejected:
            return None
        from strategies.registry import get_strategy_class

        try:
            obj = get_strategy_class(name)(scale=self.scale_name, **params)
            obj.estimate_cost(n_domain_tokens=self.budget.n_domain_tokens)
        except SpecplanError as err:
            if params:  # a value the class does not take: the planner handles that knob
                self._rejected.add(key)
            else:
                self.unavailable[name] = str(err)
            return None
        self._objs[key] = obj
        return obj

    def class_params(self, name: str, knobs: Mapping[str, Any]) -> dict[str, Any]:
        """The knobs the strategy's class takes itself (`n_experts` -> `n_clusters`);
        a knob the class lacks, or a value it rejects, stays planner-side."""
        accepted = obj_params(self.strategy(name))
        out: dict[str, Any] = {}
        for knob, value in knobs.items():
            for param in _CLASS_PARAM.get(knob, (knob,)):
                if param in accepted and self.strategy(name, **{param: value}) is not None:
                    out[param] = value
                    break
        return out

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
        """The planner's knobs for a strategy."""
        knobs = []
        if name not in ("small_nopt", "importance_sampling"):
            knobs.append(Knob("pretraining_fraction", "float", (0.05, 1.0)))
        if name in ("distillation", "distillation_sequences"):
            knobs.append(Knob("teacher_share", "float", (0.1, 0.9)))
        if name == "importance_sampling":
            knobs.append(Knob("is_fraction", "float", (0.05, 1.0)))
        if name == "mixture":
            experts = MIXTURE_EXPERTS if self.scale_name == "paper" else (self.scale.n_clusters,)
            knobs.append(Knob("n_experts", "categorical", experts))
            knobs.append(Knob("selection", "categorical", SELECTIONS))
        if name == "hypernetwork":
            # Fig. 7: 32 experts give the best cost-to-perplexity trade-off (paper scale)
            experts = (int(_fact("pn_k_main")),) if self.scale_name == "paper" else \
                (self.scale.n_clusters,)
            knobs.append(Knob("n_experts", "categorical", experts))
        return knobs

    def default_points(self, name: str, *, fractions: tuple[float, ...] = (1.0,),
                       ) -> list[dict[str, Any]]:
        """Knob values evaluated before the search (every discrete choice, full budgets)."""
        points: list[dict[str, Any]] = [{}]
        for knob in self.space(name):
            if knob.kind == "categorical":
                values: tuple[Any, ...] = knob.choices
            elif knob.name == "teacher_share":
                values = (0.3, 0.5, 0.7)
            else:
                values = fractions
            points = [{**p, knob.name: v} for p in points for v in values]
        return points

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
            "teacher_pretraining": _teacher_pretraining(p1.components),
        }
        self._probes[key] = out
        return out

    def finetune_tokens(self, name: str, **params: Any) -> float | None:
        """Fine-tuning tokens per domain so the A100 cost matches Table 3 (paper scale).

        Table 3 is the cost of one early-stopped fine-tune with the paper's default expert
        selection, so the calibration ignores `selection` (fine-tuning all k experts then
        costs k times as much, as the strategy's own `estimate_cost` charges it).
        """
        params = {k: v for k, v in params.items() if k not in _SPECIALIZATION_KNOBS}
        key = (name, tuple(sorted(params.items())))
        if key not in self._ft_tokens:
            self._ft_tokens[key] = self._finetune_tokens(name, **params)
        return self._ft_tokens[key]

    def _finetune_tokens(self, name: str, **params: Any) -> float | None:
        limits = _finetune_limits().get(name)
        if self.scale_name != "paper" or limits is None:
            return None
        target = _interp_loglog(limits, float(self.budget.n_domain_tokens))
        obj = self.strategy(name, **params)
        assert obj is not None
        extra: _PretrainTokens = {"n_pretrain_tokens": 1} if name == "importance_sampling" else {}
        d = self.budget.n_domain_tokens
        g0 = self._a100.plan_cost(name, obj.estimate_cost(
            n_domain_tokens=d, n_specialize_tokens=0, **extra)).specialization.gpu_hours
        g1 = self._a100.plan_cost(name, obj.estimate_cost(
            n_domain_tokens=d, n_specialize_tokens=_PROBE, **extra)).specialization.gpu_hours
        if g1 <= g0:
            return None
        return max(0.0, (target - g0) / (g1 - g0) * _PROBE)

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

    def _total_allowance(self, name: str, knobs: Mapping[str, Any], params: Mapping[str, Any],
                         ft_tokens: float | None, size: float) -> float:
        """The share of the pretraining budget (of the per-domain budget, for importance
        sampling) that ``--total-budget`` leaves once N domains are specialized (Eq. 1)."""
        total = self.budget.total
        if total is None:
            return 1.0
        n = self.budget.n_domains
        obj = self.strategy(name, **params)
        assert obj is not None
        if name == "importance_sampling":
            spec = self._in_unit(self.budget.specialization, total.unit, n_params=size,
                                 efficiency=self.cost_model.efficiency(name, "specialization"))
            return min(1.0, max(1e-6, total.amount / n / spec))
        base = obj.estimate_cost(n_domain_tokens=self.budget.n_domain_tokens,
                                 n_specialize_tokens=ft_tokens, n_pretrain_tokens=1)
        base = self._adjust(name, base, knobs, teacher_flops=0.0, extra_spec=0.0,
                            probe=self.probe(name, **params), params=params)
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
        bucket = "specialization" if name == "importance_sampling" else "pretraining"
        owner = "small" if part == "student" else name
        return flops_from_gpuh(owner, bucket, gpuh, self.scale_name)

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, name: str, knobs: Mapping[str, Any]) -> Candidate:
        """Cost, predict and check one configuration."""
        if self.strategy(name) is None:
            raise SpecplanError(f"strategy {name!r} is unavailable: {self.unavailable[name]}")
        params = self.class_params(name, knobs)
        obj = self.strategy(name, **params)
        if obj is None:
            raise SpecplanError(f"strategy {name!r} rejects {params}: {self.unavailable[name]}")
        probe = self.probe(name, **params)
        d = self.budget.n_domain_tokens
        inference = self.inference_of(name)
        assert inference is not None  # None only when the strategy is unavailable (above)
        size, _ = inference
        large = self.scale.large.n_params
        ft_tokens = self.finetune_tokens(name, **params)
        config: dict[str, Any] = {"model": "large" if name == "large" else "small",
                                  "inference_params": size}
        teacher_flops = 0.0
        extra_spec = 0.0
        pre_tokens: float | None = None
        pre_kwargs: _PretrainTokens = {}
        f = float(knobs.get("pretraining_fraction", 1.0))
        lam = self._total_allowance(name, knobs, params, ft_tokens, size)
        if name in ("distillation", "distillation_sequences"):
            share = float(knobs["teacher_share"])
            t_cap = min(lam * share * self._budget_flops("pretraining", n_params=large,
                                                         strategy=name, teacher=True),
                        self.useful_flops(name, "teacher"))
            s_cap = min(lam * (1 - share) * self._budget_flops("pretraining", n_params=size,
                                                               strategy="small"),
                        self.useful_flops(name, "student"))
            teacher_flops = f * t_cap
            pre_tokens = f * s_cap / probe["pre_per_token"]
        elif name == "importance_sampling":
            ft_flops = (ft_tokens or 0.0) * probe["spec_per_token"]
            room = min(lam * self._budget_flops("specialization", n_params=size,
                                                strategy=name),
                       self.useful_flops(name)) - ft_flops
            extra_spec = max(0.0, room) * float(knobs["is_fraction"])
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
        cost = self._adjust(name, cost, knobs, teacher_flops=teacher_flops,
                            extra_spec=extra_spec, probe=probe, params=params)
        plan_cost = self.cost_model.plan_cost(name, cost, n_domains=self.budget.n_domains)
        prediction = self.model.predict(
            name, n_domain_tokens=d, pretraining_flops=cost.pretraining_flops,
            specialization_flops=cost.specialization_flops,
            teacher_pretraining_flops=_teacher_pretraining(cost.components),
            n_experts=knobs.get("n_experts") if self.scale_name == "paper" else None,
            selection=knobs.get("selection"), scale=self.scale_name)
        config.update(self._describe(name, cost, plan_cost, knobs, pre_kwargs, ft_tokens,
                                     params))
        violations, overshoot = self._check(plan_cost)
        return Candidate(strategy=name, knobs=dict(knobs), config=config, cost=plan_cost,
                         prediction=prediction, violations=violations, overshoot=overshoot)

    def _adjust(self, name: str, cost: Cost, knobs: Mapping[str, Any], *, teacher_flops: float,
                extra_spec: float, probe: dict[str, float], params: Mapping[str, Any]) -> Cost:
        """Planner-side parts the strategy's defaults do not express."""
        comps = dict(cost.components)
        pre, spec, pre_params = cost.pretraining_flops, cost.specialization_flops, \
            cost.pretraining_params
        if name in ("distillation", "distillation_sequences") and probe["teacher_pretraining"]:
            # the teacher's pretraining is a knob here: replace the strategy's default
            keys = [k for k in comps if _is_teacher_pretraining(k)]
            pre = pre - sum(comps[k] for k in keys) + teacher_flops
            for k in keys:
                comps[k] = 0.0
            comps[keys[0]] = teacher_flops
        if extra_spec > 0:
            spec += extra_spec
            comps["importance_sampled_pretraining"] = extra_spec
        if name == "mixture":
            n_experts = int(knobs.get("n_experts", 16))
            if "n_experts" not in params and "n_clusters" not in params:
                pre_params = n_experts * cost.inference_params
            if knobs.get("selection") == "finetune_all" and "selection" not in params:
                ft = comps.get("finetune", spec)
                spec += (n_experts - 1) * ft
                comps["finetune_all_experts"] = n_experts * ft
        return replace(cost, pretraining_flops=pre, specialization_flops=spec,
                       pretraining_params=pre_params, components=comps)

    def _describe(self, name: str, cost: Cost, plan_cost: PlanCost, knobs: Mapping[str, Any],
                  pre_kwargs: _PretrainTokens, ft_tokens: float | None,
                  params: Mapping[str, Any]) -> dict[str, Any]:
        cm = self.cost_model
        out: dict[str, Any] = {}
        if "n_pretrain_tokens" in pre_kwargs and name != "importance_sampling":
            out["n_pretrain_tokens"] = float(pre_kwargs["n_pretrain_tokens"])
        out["pretraining_gpu_hours"] = plan_cost.pretraining.gpu_hours
        teacher = _teacher_pretraining(cost.components)
        if teacher:
            out["teacher_pretraining_gpu_hours"] = cm.price(
                teacher, n_params=self.scale.large.n_params).gpu_hours
            out["student_pretraining_gpu_hours"] = (plan_cost.pretraining.gpu_hours
                                                    - out["teacher_pretraining_gpu_hours"])
        if name == "importance_sampling":
            is_flops = cost.components.get("importance_sampled_pretraining")
            if is_flops is None and "n_pretrain_tokens" in pre_kwargs:
                is_flops = pre_kwargs["n_pretrain_tokens"] * self.probe(name, **params)[
                    "spec_per_pretrain_token"]
            out["importance_sampled_pretraining_gpu_hours_per_domain"] = cm.price(
                is_flops or 0.0, n_params=cost.inference_params).gpu_hours
            out["n_clusters"] = int(_fact("is_k_main"))
        if ft_tokens is not None:
            out["finetune_tokens_per_domain"] = ft_tokens
        out["specialization_gpu_hours_per_domain"] = plan_cost.specialization.gpu_hours
        if "n_experts" in knobs:
            out["n_experts"] = int(knobs["n_experts"])
        if "selection" in knobs:
            out["selection"] = knobs["selection"]
        out["pretraining_params"] = plan_cost.pretraining_params
        accepted = obj_params(self.strategy(name))
        out["strategy_params"] = dict(params)
        if "n_pretrain_tokens" in accepted and "n_pretrain_tokens" in out:
            out["strategy_params"]["n_pretrain_tokens"] = int(out["n_pretrain_tokens"])
        default_teacher = self.probe(name, **params)["teacher_pretraining"]
        if teacher and "teacher_pretrain_tokens" in accepted and default_teacher > 0:
            per_token = default_teacher / self.scale.large_pretrain_tokens
            out["strategy_params"]["teacher_pretrain_tokens"] = int(teacher / per_token)
        return out

    def _check(self, cost: PlanCost) -> tuple[dict[str, float], dict[str, float]]:
        violations, overshoot = {}, {}
        for name, budget in self.budget.compute_budgets().items():
            short = budget.shortfall(cost.bucket(name))
            if short > budget.amount * 1e-9:
                violations[name] = short
                overshoot[name] = short / budget.amount
        return violations, overshoot


#: knobs that change how a domain is specialized, not what one fine-tune costs
_SPECIALIZATION_KNOBS = frozenset({"selection"})
#: planner knob -> the class parameters that may carry it, in order of preference
_CLASS_PARAM: dict[str, tuple[str, ...]] = {"n_experts": ("n_clusters", "n_experts"),
                                            "selection": ("selection",)}


def obj_params(obj: Strategy | None) -> set[str]:
    return set(obj._param_names()) if obj is not None else set()


def _is_teacher_pretraining(key: str) -> bool:
    k = key.lower()
    return "teacher" in k and "pretrain" in k and not k.endswith(("_usd", "_tokens"))


def _teacher_pretraining(components: Mapping[str, float]) -> float:
    return float(sum(v for k, v in components.items() if _is_teacher_pretraining(k)))


@functools.cache
def _fact(fact_id: str) -> float:
    from planner.reference import figure_fact

    return float(figure_fact(fact_id)["value"])
