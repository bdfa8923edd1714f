"""Observations for the performance model: the paper's tables and measured runs, on one axis.

Every observation becomes ``(strategy, u, z, ln ppl)``:

- ``u = ln(GPUh / 200)``: the compute that drives the strategy's perplexity, in A100
  GPU-hours at the paper's rates (`planner.costing.costs`), whatever unit it came in (the
  tables give GPU-hours, runs give FLOPs). Which compute that is, the strategy declares in
  its `strategies.base.PlanningPrior` (`compute_axis`): the generic pretraining, the
  per-domain compute (all of it spent after the domain is known), the student's pretraining
  (a teacher's is ``u_teacher``), or none (trained on the domain data only);
- ``z = log2(n_domain_tokens / 8M) / 3``: 1M, 8M and 64M tokens are z = -1, 0, 1.

Runs come as a frame (or records) with `FIT_COLUMNS`, as `planner.experiments.store.load_runs`
gives them. A run may also carry its fine-tuning validation curve (``curve``: ``[(step,
valid_loss), ...]``) and ``best_step``; `finetune_curves` reads them when present and never
requires them. Importing this module never imports torch.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from planner.exceptions import RunsFrameError

if TYPE_CHECKING:
    from strategies.base import PlanningPrior

__all__ = [
    "LN8",
    "FIT_COLUMNS",
    "U_REF_GPUH",
    "Z_REF_TOKENS",
    "Observation",
    "compute_axis",
    "finetune_curves",
    "flops_from_gpuh",
    "gpuh_from_u",
    "planning_prior",
    "reference_flops",
    "reference_observations",
    "run_observations",
    "run_teacher_pretraining_flops",
    "to_u",
    "to_z",
    "tokens_from_z",
]

#: columns a runs frame must have (the results store's `load_runs` provides them)
FIT_COLUMNS = ("strategy", "scale", "pretraining_flops", "specialization_flops",
               "n_domain_tokens", "test_ppl")
#: optional run columns: domain, teacher_pretraining_flops, n_experts, selection, weight,
#: params (a dict that may hold n_experts / selection), info (may hold teacher FLOPs),
#: cost (a `Cost.to_dict()`), curve / best_step (the fine-tune's validation curve)

U_REF_GPUH = 200.0  # u = ln(GPUh / 200): centres Table 8's 100-600 GPUh
Z_REF_TOKENS = 8e6
LN8 = math.log(8.0)


def to_z(n_domain_tokens: float) -> float:
    """z = log2(tokens / 8M) / 3 (1M, 8M, 64M -> -1, 0, 1); tokens are floored at 1."""
    return math.log2(max(float(n_domain_tokens), 1.0) / Z_REF_TOKENS) / 3.0


def tokens_from_z(z: float) -> float:
    return Z_REF_TOKENS * 2.0 ** (3.0 * z)


def to_u(gpuh: float) -> float:
    """u = ln(GPUh / 200); GPU-hours are floored at 1e-12."""
    return math.log(max(float(gpuh), 1e-12) / U_REF_GPUH)


def gpuh_from_u(u: float) -> float:
    return U_REF_GPUH * math.exp(u)


@dataclass(frozen=True, slots=True)
class Observation:
    """One perplexity on the model's axes.

    Args:
        strategy: canonical name.
        u: compute axis (see the module docstring).
        z: data axis.
        y: ln perplexity.
        w: weight in the fit.
        group: leave-one-out group (a Table 8 row, a run).
        domain: the domain (``pile-macro-average`` for the paper's tables).
        u_teacher: the teacher's pretraining compute (teacher-student strategies).
        params: the strategy parameters the run used (knobs such as ``n_experts``).
    """

    strategy: str
    u: float
    z: float
    y: float
    w: float = 1.0
    group: str = ""
    domain: str = ""
    u_teacher: float | None = None
    params: tuple[tuple[str, Any], ...] = ()


# ---------------------------------------------------------------------------- priors
@functools.lru_cache(maxsize=64)
def planning_prior(strategy: str) -> PlanningPrior:
    """The strategy's declared planning prior (`Strategy.planning_prior`).

    Raises:
        KeyError: the strategy is not registered or its class cannot be loaded.
    """
    from domains.errors import SpecplanError
    from strategies.registry import get_strategy_class

    try:
        return get_strategy_class(strategy).planning_prior()
    except SpecplanError as err:
        raise KeyError(f"no performance model for strategy {strategy!r}: {err}") from None


def compute_axis(strategy: str, _seen: tuple[str, ...] = ()) -> str:
    """``pretraining``, ``specialization``, ``student`` or ``none`` (see the prior); a
    ``like`` prior uses the axis of the strategy it borrows from."""
    prior = planning_prior(strategy)
    if prior.kind == "like" and prior.like and prior.like not in (*_seen, strategy):
        return compute_axis(prior.like, (*_seen, strategy))
    return prior.compute_axis


@functools.lru_cache(maxsize=64)
def _served_params(strategy: str, scale: str) -> float:
    """Parameters of the model a strategy serves, at `scale` in its paper configuration."""
    from strategies.machinery.scales import get_scale
    from strategies.registry import get_strategy_class

    try:
        cls = get_strategy_class(strategy)
        params = {k: v for k, v in planning_prior(strategy).paper_params.items()
                  if k in cls._param_names()}
        return float(cls(scale=scale, **params).estimate_cost(
            n_domain_tokens=1e6).inference_params)
    except (KeyError, ValueError, TypeError):
        return float(get_scale(scale).small.n_params)


@functools.lru_cache(maxsize=64)
def _gpuh_per_flop(strategy: str, bucket: str, scale: str, teacher: bool = False) -> float:
    """A100 GPU-hours per FLOP for a strategy's bucket (the paper's rates)."""
    from planner.costing.costs import CostModel
    from strategies.machinery.scales import get_scale

    size = get_scale(scale).large.n_params if teacher else _served_params(strategy, scale)
    cm = CostModel("A100", scale=scale)
    eff = 1.0 if teacher else cm.efficiency(strategy, bucket)
    return cm.price(1e18, n_params=size, efficiency=eff).gpu_hours / 1e18


def flops_from_gpuh(strategy: str, bucket: str, gpuh: float, scale: str = "paper",
                    teacher: bool = False) -> float:
    """The FLOPs that `gpuh` A100 GPU-hours buy a strategy's bucket (or its teacher)."""
    return gpuh / _gpuh_per_flop(strategy, bucket, scale, teacher)


def reference_flops(strategy: str, gpuh: float, bucket: str = "pretraining") -> float:
    """The FLOPs that `gpuh` A100 GPU-hours buy a strategy at paper scale (for tests)."""
    return flops_from_gpuh(strategy, bucket, gpuh)


def axes(strategy: str, scale: str, *, pretraining_flops: float, specialization_flops: float,
         teacher_pretraining_flops: float = 0.0) -> tuple[float, float | None]:
    """(u, u_teacher) for a strategy: which compute drives its perplexity (its prior)."""
    axis = compute_axis(strategy)
    if axis == "specialization":
        return to_u(specialization_flops
                    * _gpuh_per_flop(strategy, "specialization", scale)), None
    if axis == "none":
        return 0.0, None
    if axis == "student":
        like = planning_prior(strategy).like or strategy
        student = max(pretraining_flops - teacher_pretraining_flops, 0.0)
        u_t = (to_u(teacher_pretraining_flops
                    * _gpuh_per_flop(strategy, "pretraining", scale, teacher=True))
               if teacher_pretraining_flops > 0 else None)
        return to_u(student * _gpuh_per_flop(like, "pretraining", scale)), u_t
    return to_u(pretraining_flops * _gpuh_per_flop(strategy, "pretraining", scale)), None


# ---------------------------------------------------------------------------- reference
def reference_observations() -> list[Observation]:
    """The paper's perplexities (`planner.reference.perplexity_observations`) on the axes."""
    from planner.reference import perplexity_observations

    out = []
    for r in perplexity_observations():
        s = r["strategy"]
        try:
            axis = compute_axis(s)
        except KeyError:  # a strategy of the reference data that is not installed
            continue
        if axis == "specialization":
            u = to_u(r["specialization_gpuh"])
        elif axis == "none":
            u = 0.0
        else:
            u = to_u(r["pretraining_gpuh"])
        out.append(Observation(strategy=s, u=u, z=to_z(r["n_domain_tokens"]),
                               y=math.log(r["test_ppl"]), group=f"ref:{r['row']}",
                               domain="pile-macro-average"))
    return out


# ---------------------------------------------------------------------------- runs
def _records(runs: Any) -> list[dict[str, Any]]:
    if runs is None:
        return []
    if hasattr(runs, "to_dict") and hasattr(runs, "columns"):
        missing = [c for c in FIT_COLUMNS if c not in runs.columns]
        if missing:
            raise RunsFrameError(f"runs frame lacks column(s) {', '.join(missing)}; needs "
                                 f"{', '.join(FIT_COLUMNS)}")
        return list(runs.to_dict("records"))
    return [dict(r) for r in runs]


def _is_nan(v: Any) -> bool:
    return isinstance(v, float) and math.isnan(v)


def _missing(v: Any) -> bool:
    return v is None or _is_nan(v)


def _nested(rec: Mapping[str, Any], key: str) -> Any:
    if not _missing(rec.get(key)):
        return rec[key]
    for holder in ("params", "info", "cost"):
        d = rec.get(holder)
        if isinstance(d, Mapping) and not _missing(d.get(key)):
            return d[key]
    return None


def run_teacher_pretraining_flops(rec: Mapping[str, Any]) -> float:
    """The teacher's share of a run's pretraining FLOPs (`Cost.teacher_pretraining_flops`).

    Runs stored before the typed field existed carry it as the component the strategy
    named (`strategies.base.LEGACY_TEACHER_PRETRAINING_COMPONENTS`).
    """
    from strategies.base import LEGACY_TEACHER_PRETRAINING_COMPONENTS

    value = _nested(rec, "teacher_pretraining_flops")
    if value is not None:
        return float(value)
    comps = _nested(rec, "cost_components") or _nested(rec, "components") or {}
    if not isinstance(comps, Mapping):
        return 0.0
    return float(sum(float(comps[k]) for k in LEGACY_TEACHER_PRETRAINING_COMPONENTS
                     if k in comps))


def _canonical(name: str) -> str:
    from strategies.registry import strategy_registry

    try:
        return strategy_registry.canonical(name)
    except KeyError:  # a strategy no longer registered: keep its runs under its name
        return name


def run_observations(runs: Any) -> list[tuple[str, Observation]]:
    """(scale, observation) for every run with a measured perplexity.

    Raises:
        RunsFrameError: a column is missing or a value is not a number.
    """
    out = []
    for i, rec in enumerate(_records(runs)):
        missing = [c for c in FIT_COLUMNS if c not in rec]
        if missing:
            raise RunsFrameError(f"run {i} lacks {', '.join(missing)}")
        if _missing(rec["test_ppl"]):
            continue  # a run without a measured perplexity (failed, or still running)
        try:
            ppl = float(rec["test_ppl"])
            pre = float(0.0 if _missing(rec["pretraining_flops"]) else rec["pretraining_flops"])
            spec = float(0.0 if _missing(rec["specialization_flops"])
                         else rec["specialization_flops"])
            tokens = float(rec["n_domain_tokens"])
        except (TypeError, ValueError) as err:
            raise RunsFrameError(f"run {i} has a non-numeric value: {err}") from None
        if not (math.isfinite(ppl) and ppl > 0 and tokens > 0):
            continue  # a failed or empty run carries no information
        strategy = _canonical(str(rec["strategy"]))
        try:
            u, u_t = axes(strategy, str(rec["scale"]), pretraining_flops=pre,
                          specialization_flops=spec,
                          teacher_pretraining_flops=run_teacher_pretraining_flops(rec))
        except KeyError:
            continue  # no prior to place the run on an axis: not plannable
        weight = _nested(rec, "weight")
        raw = rec.get("params")
        params: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
        knobs = {k: v for k, v in params.items() if isinstance(v, (int, str))}
        for key in ("n_experts", "n_clusters", "selection"):
            v = _nested(rec, key)
            if v is not None and key not in knobs:
                knobs[key] = int(v) if isinstance(v, float) and v.is_integer() else v
        out.append((str(rec["scale"]), Observation(
            strategy=strategy, u=u, z=to_z(tokens), y=math.log(ppl),
            w=float(weight) if weight is not None else 1.0, group=f"run:{i}",
            domain=str(rec.get("domain") or ""), u_teacher=u_t,
            params=tuple(sorted(knobs.items())))))
    return out


def finetune_curves(runs: Any) -> list[list[tuple[float, float]]]:
    """Fine-tune validation curves of runs, as (fraction of the best step, gain left).

    For a run with ``curve`` (``[(step, valid_loss), ...]``, or dicts with ``step`` and
    ``valid_loss`` / ``loss``) and ``best_step`` > 0, each point up to the best step
    becomes ``(step / best_step, (loss - best) / (first - best))``: 1 before fine-tuning,
    0 at the early-stopped step (the first evaluation stands in for the untuned model).
    Runs without a curve, or whose fine-tune did not converge (``converged`` False), are
    skipped; none of these fields is required.
    """
    out = []
    for rec in _records(runs):
        curve = _nested(rec, "curve")
        if curve is None:
            curve = _nested(rec, "valid_history")
        best_step = _nested(rec, "best_step")
        if not curve or _missing(best_step) or float(best_step) <= 0:
            continue
        if _nested(rec, "converged") is False:
            continue  # stopped by its budget, not by early stopping: no end point
        points = []
        for p in curve:
            if isinstance(p, Mapping):
                step, loss = p.get("step"), p.get("valid_loss", p.get("loss"))
            else:
                step, loss = p[0], p[1]
            if step is None or loss is None or not math.isfinite(float(loss)):
                continue
            points.append((float(step), float(loss)))
        points.sort()
        points = [p for p in points if p[0] <= float(best_step)]
        if len(points) < 3:
            continue
        first, best = points[0][1], min(loss for _, loss in points)
        if first - best <= 1e-9:
            continue
        out.append([(step / float(best_step), (loss - best) / (first - best))
                    for step, loss in points])
    return out
