"""The cost model: FLOPs per bucket -> GPU-hours -> dollars, calibrated on Table 2.

Each strategy's `estimate_cost` gives FLOPs per bucket (pretraining, specialization per
domain, inference per token). Turning FLOPs into time needs the rate a model actually
reaches on the device, and that rate depends on the model: the paper's own throughputs
(Table 2, A100) imply about 31% model-FLOPs utilization (MFU) when training the 126M SLM
and 54% for the 771M LLM, because small matmuls keep a GPU less busy. So:

    seconds = FLOPs / (peak_flops x MFU(n_params, phase) x efficiency(strategy, bucket))

- ``MFU(n, phase)`` is interpolated linearly in log(n) between the SLM and LLM calibration
  points that Table 2 implies (``phase`` is ``train`` or ``inference``; serving has its
  own column). Outside that range it is held at the LLM's value above, and extrapolated
  (floored at 2%) below. The points are derived at import from
  ``planner/reference/table2_throughput.csv`` and the strategies' FLOP counts
  (`strategies.machinery.flops`), so they always agree with the FLOPs being converted.
- ``efficiency(strategy, bucket)`` is a strategy-specific factor for what Table 2 shows
  beyond model size: the projected network's pretraining runs at 3.6 GPUh per 1B tokens
  against 2.2 for a plain SLM of the same expert size (routing and projection overhead),
  so its factor is about 2.2 / 3.6 = 0.61. Every other row of Table 2 gives 1.
- ``cpu`` (this machine) uses its measured matmul rate with a flat 50% utilization: a
  documented assumption, not a calibration.

Dollars are GPU-hours x price per hour. Total over N domains is the paper's Eq. 1:
pretraining + N x specialization.

Example:
    >>> from planner.costing.costs import CostModel
    >>> round(CostModel("A100").gpu_hours_per_1b_tokens("small", "pretraining"), 2)
    2.2
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from planner.exceptions import BudgetError, ReferenceDataError
from planner.reference import CALIBRATION_STRATEGIES

if TYPE_CHECKING:
    from planner.costing.accelerators import Accelerator
    from planner.costing.budget import ComputeBudget
    from strategies.base import Cost, Strategy

__all__ = [
    "BUCKETS",
    "BucketCost",
    "CostModel",
    "PlanCost",
    "UtilizationCurve",
    "efficiency_factors",
    "utilization_curves",
]

BUCKETS = ("pretraining", "specialization", "total")
_PHASE_OF_TABLE2 = {"pretraining": "train", "specialization": "train", "inference": "inference"}
_MFU_FLOOR = 0.02
_CPU_UTILIZATION = 0.5
_SECONDS_PER_HOUR = 3600.0


@dataclass(frozen=True, slots=True, kw_only=True)
class BucketCost:
    """One bucket's cost in the three units the budgets use."""

    flops: float
    gpu_hours: float
    usd: float

    def __post_init__(self) -> None:
        for name in ("flops", "gpu_hours", "usd"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"BucketCost.{name} must be finite and >= 0, got {value!r}")

    def __add__(self, other: BucketCost) -> BucketCost:
        return BucketCost(flops=self.flops + other.flops,
                          gpu_hours=self.gpu_hours + other.gpu_hours, usd=self.usd + other.usd)

    def scaled(self, factor: float) -> BucketCost:
        return BucketCost(flops=self.flops * factor, gpu_hours=self.gpu_hours * factor,
                          usd=self.usd * factor)

    def in_unit(self, unit: str) -> float:
        """The cost in ``flops``, ``gpu_hours`` or ``usd``."""
        if unit not in ("flops", "gpu_hours", "usd"):
            raise KeyError(unit)
        return float(getattr(self, unit))

    def to_dict(self) -> dict[str, float]:
        return {"flops": self.flops, "gpu_hours": self.gpu_hours, "usd": self.usd}


ZERO = BucketCost(flops=0.0, gpu_hours=0.0, usd=0.0)


@dataclass(frozen=True, kw_only=True)
class PlanCost:
    """A strategy's cost per bucket on one accelerator, and over N domains.

    Args:
        strategy: canonical strategy name.
        pretraining: the shared bucket (paid once).
        specialization: the per-domain bucket.
        inference_per_1b_tokens: serving 1B tokens with the specialized model.
        inference_flops_per_token: forward FLOPs per served token.
        inference_params: parameters of the served model.
        pretraining_params: parameters trained in the pretraining phase.
        n_domains: N in Eq. 1.
        components: named FLOP parts (from the strategy), priced like their bucket.
    """

    strategy: str
    pretraining: BucketCost
    specialization: BucketCost
    inference_per_1b_tokens: BucketCost
    inference_flops_per_token: float
    inference_params: int
    pretraining_params: int
    n_domains: int = 1
    components: Mapping[str, float] = field(default_factory=dict)

    @property
    def total(self) -> BucketCost:
        """Pretraining + N x specialization (the paper's Eq. 1)."""
        return self.pretraining + self.specialization.scaled(self.n_domains)

    def bucket(self, name: str) -> BucketCost:
        if name == "total":
            return self.total
        if name in ("pretraining", "specialization"):
            return getattr(self, name)
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "pretraining": self.pretraining.to_dict(),
            "specialization_per_domain": self.specialization.to_dict(),
            "n_domains": self.n_domains,
            "total": self.total.to_dict(),
            "inference_per_1b_tokens": self.inference_per_1b_tokens.to_dict(),
            "inference_flops_per_token": self.inference_flops_per_token,
            "inference_params": self.inference_params,
            "pretraining_params": self.pretraining_params,
            "components_flops": dict(self.components),
        }


@dataclass(frozen=True, slots=True)
class UtilizationCurve:
    """MFU as a function of parameters, piecewise linear in log(n_params).

    Args:
        phase: ``train`` or ``inference``.
        points: (n_params, mfu) calibration points, sorted by n_params.
        source: where the points come from.
    """

    phase: str
    points: tuple[tuple[float, float], ...]
    source: str = ""

    def __call__(self, n_params: float) -> float:
        xs = [math.log(p) for p, _ in self.points]
        ys = [m for _, m in self.points]
        x = math.log(max(float(n_params), 1.0))
        if len(xs) == 1 or x >= xs[-1]:
            return ys[-1] if x >= xs[-1] else ys[0]
        if x <= xs[0]:  # small models: extrapolate the trend, floored
            slope = (ys[1] - ys[0]) / (xs[1] - xs[0])
            return max(_MFU_FLOOR, ys[0] + slope * (x - xs[0]))
        for (x0, y0), (x1, y1) in zip(zip(xs, ys), zip(xs[1:], ys[1:]), strict=False):
            if x <= x1:
                return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
        return ys[-1]  # pragma: no cover


def _paper_specs() -> tuple[Any, Any]:
    from strategies.machinery.scales import get_scale

    scale = get_scale("paper")
    return scale.small, scale.large


@functools.lru_cache(maxsize=1)
def _a100_peak() -> float:
    from planner.reference import read_records

    for row in read_records("accelerators"):
        if row["name"] == "A100":
            return float(row["peak_flops"])
    raise ReferenceDataError("accelerators.csv has no A100 row")  # pragma: no cover


def _table2() -> dict[tuple[str, str], float]:
    from planner.reference import read_records

    return {(r["strategy"], r["phase"]): float(r["gpuh_per_1b_tokens"])
            for r in read_records("table2") if r["gpuh_per_1b_tokens"] is not None}


@functools.lru_cache(maxsize=1)
def utilization_curves() -> dict[str, UtilizationCurve]:
    """The A100 MFU curves implied by Table 2's SLM and LLM rows (train and inference).

    MFU = FLOPs per token x 1e9 / (GPUh per 1B tokens x 3600 x peak), with the FLOPs per
    token of the paper-scale specs (`strategies.machinery.flops`).
    """
    from strategies.machinery.flops import forward_flops_per_token, n_params, train_flops_per_token

    table = _table2()
    peak = _a100_peak()
    curves = {}
    for phase, table_phase, per_token in (("train", "pretraining", train_flops_per_token),
                                          ("inference", "inference", forward_flops_per_token)):
        points = []
        for strategy, spec in zip(CALIBRATION_STRATEGIES, _paper_specs(), strict=True):
            gpuh = table[(strategy, table_phase)]
            mfu = per_token(spec) * 1e9 / (gpuh * _SECONDS_PER_HOUR * peak)
            points.append((float(n_params(spec)), mfu))
        curves[phase] = UtilizationCurve(
            phase=phase, points=tuple(sorted(points)),
            source=f"Table 2 ({table_phase}: "
                   + ", ".join(f"{s} {table[(s, table_phase)]}" for s in CALIBRATION_STRATEGIES)
                   + " GPUh per 1B tokens on A100)")
    return curves


def _strategy(name: str, **params: Any) -> Strategy | None:
    """A paper-scale instance in the paper's main configuration (its prior's
    `paper_params`, Tables 1 and 7), or None if unavailable."""
    from domains.errors import SpecplanError
    from strategies.registry import get_strategy_class

    try:
        cls = get_strategy_class(name)
        main = {k: v for k, v in cls.planning_prior().paper_params.items()
                if k in cls._param_names()}
        return cls(scale="paper", **{**main, **params})
    except (SpecplanError, ValueError):
        return None


def _probe_cost(strategy: Strategy, bucket: str, n_tokens: float) -> Cost:
    """`estimate_cost` with `n_tokens` pretraining tokens (`bucket == "pretraining"`) or
    fine-tuning tokens (any other bucket); 1M domain tokens."""
    if bucket == "pretraining":
        return strategy.estimate_cost(n_domain_tokens=1e6, n_pretrain_tokens=n_tokens)
    return strategy.estimate_cost(n_domain_tokens=1e6, n_specialize_tokens=n_tokens)


def _per_token_flops(strategy: Strategy | None, bucket: str, fallback: float) -> float:
    """FLOPs per token of a bucket, probed from `estimate_cost` (linear in tokens)."""
    if strategy is None:
        return fallback
    field_name = f"{bucket}_flops"
    lo = getattr(_probe_cost(strategy, bucket, 1e9), field_name)
    hi = getattr(_probe_cost(strategy, bucket, 2e9), field_name)
    per_token = (hi - lo) / 1e9
    return per_token if per_token > 0 else fallback


def _per_processed_token(strategy: Strategy | None, per_token: float,
                         expert_per_token: float) -> float:
    """FLOPs per token actually processed, for Table 2's per-token rates.

    A mixture may count `n_pretrain_tokens` per expert, so one unit of it costs k experts'
    worth of FLOPs; Table 2 counts processed tokens. When the probed rate is k times an
    expert's (k = the strategy's ``n_clusters`` / ``n_experts``), it is divided by k.
    """
    if strategy is None:
        return per_token
    k = getattr(strategy, "n_clusters", None) or getattr(strategy, "n_experts", None)
    ratio = per_token / expert_per_token
    if isinstance(k, int) and k >= 2 and abs(ratio - k) / k < 0.05:
        return per_token / k
    return per_token


@functools.lru_cache(maxsize=1)
def efficiency_factors() -> dict[tuple[str, str], float]:
    """(strategy, bucket) -> efficiency relative to the MFU curve, from Table 2.

    For each Table 2 row that is not the SLM or LLM calibration row:
    efficiency = implied FLOP/s / (peak x MFU(expert size)). The projected network's
    pretraining (3.6 vs 2.2 GPUh per 1B tokens) is the one factor far from 1. A strategy
    whose class cannot be loaded is costed as a plain SLM of the paper's expert size.
    """
    from strategies.machinery.flops import forward_flops_per_token, n_params, train_flops_per_token

    small, _ = _paper_specs()
    curves = utilization_curves()
    peak = _a100_peak()
    out: dict[tuple[str, str], float] = {}
    for (strategy_name, table_phase), gpuh in _table2().items():
        if strategy_name in CALIBRATION_STRATEGIES:
            continue
        phase = _PHASE_OF_TABLE2[table_phase]
        strategy = _strategy(strategy_name)
        if table_phase == "inference":
            per_token = (strategy.estimate_cost(n_domain_tokens=1e6).inference_flops_per_token
                         if strategy is not None else forward_flops_per_token(small))
        else:
            per_token = _per_processed_token(
                strategy, _per_token_flops(strategy, table_phase, train_flops_per_token(small)),
                train_flops_per_token(small))
        size = (strategy.estimate_cost(n_domain_tokens=1e6).inference_params
                if strategy is not None else n_params(small))
        achieved = per_token * 1e9 / (gpuh * _SECONDS_PER_HOUR)
        out[(strategy_name, table_phase)] = achieved / (peak * curves[phase](size))
    return out


class CostModel:
    """Prices FLOPs on one accelerator.

    Args:
        accelerator: ``A100`` (the paper's unit), ``H100``, ``cpu``, or an `Accelerator`.
        price_per_hour: USD per device-hour (default: the accelerator's).
        scale: the model pair strategies are costed at (``paper`` by default).

    Example:
        >>> cm = CostModel("A100")
        >>> round(cm.gpu_hours_per_1b_tokens("large", "inference"), 2)
        2.54
    """

    def __init__(self, accelerator: str | Accelerator = "A100", *,
                 price_per_hour: float | None = None, scale: str = "paper") -> None:
        from planner.costing.accelerators import Accelerator, get_accelerator

        self.accelerator = (accelerator if isinstance(accelerator, Accelerator)
                            else get_accelerator(accelerator))
        if price_per_hour is not None and not (math.isfinite(price_per_hour)
                                               and price_per_hour > 0):
            raise BudgetError(f"--price-per-hour: must be positive, got {price_per_hour!r}")
        self.price_per_hour = (self.accelerator.default_price_per_hour
                               if price_per_hour is None else float(price_per_hour))
        self.scale = scale

    # ------------------------------------------------------------------ rates
    def utilization(self, n_params: float, phase: str = "train") -> float:
        if self.accelerator.name == "cpu":
            return _CPU_UTILIZATION
        return utilization_curves()[phase](n_params)

    def efficiency(self, strategy: str, bucket: str) -> float:
        return efficiency_factors().get((strategy, bucket), 1.0)

    def flops_per_second(self, *, n_params: float, phase: str = "train",
                         efficiency: float = 1.0) -> float:
        return self.accelerator.peak_flops * self.utilization(n_params, phase) * efficiency

    def price(self, flops: float, *, n_params: float, phase: str = "train",
              efficiency: float = 1.0) -> BucketCost:
        """FLOPs run by a model of `n_params` -> FLOPs, GPU-hours and dollars."""
        hours = flops / self.flops_per_second(n_params=n_params, phase=phase,
                                              efficiency=efficiency) / _SECONDS_PER_HOUR
        return BucketCost(flops=float(flops), gpu_hours=hours, usd=hours * self.price_per_hour)

    def flops_for(self, budget: ComputeBudget, *, n_params: float, phase: str = "train",
                  efficiency: float = 1.0) -> float:
        """The FLOPs a budget buys for a model of `n_params` (its unit converted)."""
        if budget.unit == "flops":
            return budget.amount
        hours = (budget.amount if budget.unit == "gpu_hours"
                 else budget.amount / self.price_per_hour)
        return hours * _SECONDS_PER_HOUR * self.flops_per_second(
            n_params=n_params, phase=phase, efficiency=efficiency)

    def flops_for_gpu_hours(self, gpu_hours: float, *, n_params: float, phase: str = "train",
                            efficiency: float = 1.0) -> float:
        return gpu_hours * _SECONDS_PER_HOUR * self.flops_per_second(
            n_params=n_params, phase=phase, efficiency=efficiency)

    # ------------------------------------------------------------------ strategies
    def plan_cost(self, strategy: str, cost: Cost, *, n_domains: int = 1,
                  large_params: float | None = None) -> PlanCost:
        """Price a strategy's `Cost` on this accelerator.

        Each bucket runs at the served model's size, except the parts a teacher runs
        (`Cost.teacher_pretraining_flops`, `Cost.teacher_specialization_flops`), which run
        at the large model's size (`large_params`, default: the scale's large model).
        """
        if large_params is None:
            from strategies.machinery.scales import get_scale

            large_params = get_scale(self.scale).large.n_params
        size = cost.inference_params
        buckets = {}
        for bucket in ("pretraining", "specialization"):
            total = float(getattr(cost, f"{bucket}_flops"))
            teacher = min(float(getattr(cost, f"teacher_{bucket}_flops")), total)
            eff = self.efficiency(strategy, bucket)
            buckets[bucket] = (self.price(total - teacher, n_params=size, efficiency=eff)
                               + self.price(teacher, n_params=large_params))
        return PlanCost(
            strategy=strategy,
            pretraining=buckets["pretraining"],
            specialization=buckets["specialization"],
            inference_per_1b_tokens=self.price(cost.inference_flops_per_token * 1e9,
                                               n_params=size, phase="inference",
                                               efficiency=self.efficiency(strategy, "inference")),
            inference_flops_per_token=float(cost.inference_flops_per_token),
            inference_params=int(cost.inference_params),
            pretraining_params=int(cost.pretraining_params),
            n_domains=n_domains,
            components=dict(cost.components),
        )

    def gpu_hours_per_1b_tokens(self, strategy: str, phase: str) -> float:
        """GPU-hours to pretrain on / fine-tune on / serve 1B tokens (Table 2's unit)."""
        obj = _strategy(strategy)
        if obj is None:
            raise ReferenceDataError(f"strategy {strategy!r} cannot be loaded")
        if phase == "inference":
            cost = obj.estimate_cost(n_domain_tokens=1e6)
            return self.plan_cost(strategy, cost).inference_per_1b_tokens.gpu_hours
        from strategies.machinery.flops import train_flops_per_token

        size = obj.estimate_cost(n_domain_tokens=1e6).inference_params
        per_token = _per_processed_token(obj, _per_token_flops(obj, phase, 0.0),
                                         train_flops_per_token(_paper_specs()[0]))
        return self.price(per_token * 1e9, n_params=size,
                          efficiency=self.efficiency(strategy, phase)).gpu_hours

