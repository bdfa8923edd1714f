"""Observations for the performance model: the paper's tables and measured runs, on one axis.

Every observation becomes ``(strategy, u, z, ln ppl)``:

- ``u = ln(GPUh / 200)``: the strategy's compute in A100 GPU-hours at the paper's rates
  (`planner.costing.costs`), whatever unit it came in (the tables give GPU-hours, runs give FLOPs);
  the generic pretraining for most strategies, the per-domain compute for importance
  sampling, the student's pretraining for distillation (the teacher's is ``u_teacher``);
- ``z = log2(n_domain_tokens / 8M) / 3``: 1M, 8M and 64M tokens are z = -1, 0, 1.

Runs come as a frame (or records) with `FIT_COLUMNS`, as `planner.experiments.store.load_runs`
gives them. Importing this module never imports torch.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from planner.exceptions import RunsFrameError

__all__ = ["FIT_COLUMNS", "flops_from_gpuh", "reference_flops"]

#: columns a runs frame must have for the model to fit on it (a subset of the results
#: store's `planner.experiments.store.RUN_COLUMNS`, which `load_runs` provides)
FIT_COLUMNS = ("strategy", "scale", "pretraining_flops", "specialization_flops",
               "n_domain_tokens", "test_ppl")
#: optional run columns: domain, teacher_pretraining_flops, n_experts, selection, weight,
#: params (a dict that may hold n_experts / selection), info (may hold teacher FLOPs)

_U_REF_GPUH = 200.0  # u = ln(GPUh / 200): centres Table 8's 100-600 GPUh
_Z_REF_TOKENS = 8e6
_LN8 = math.log(8.0)


def _z(n_domain_tokens: float) -> float:
    return math.log2(float(n_domain_tokens) / _Z_REF_TOKENS) / 3.0


def _u(gpuh: float) -> float:
    return math.log(max(float(gpuh), 1e-12) / _U_REF_GPUH)


@dataclass(frozen=True, slots=True)
class _Obs:
    strategy: str
    u: float  # compute axis (student compute for distillation, per-domain for IS)
    z: float
    y: float  # ln ppl
    w: float = 1.0
    group: str = ""  # leave-one-out group (a Table 8 row, a run)
    domain: str = ""
    u_teacher: float | None = None
    n_experts: int | None = None
    selection: str | None = None



@functools.lru_cache(maxsize=16)
def _gpuh_per_flop(strategy: str, bucket: str, scale: str, teacher: bool = False) -> float:
    """A100 GPU-hours per FLOP for a strategy's bucket (the paper's rates)."""
    from planner.costing.costs import CostModel
    from strategies.machinery.scales import get_scale

    s = get_scale(scale)
    size = s.large.n_params if (teacher or strategy == "large") else s.small.n_params
    cm = CostModel("A100", scale=scale)
    eff = 1.0 if teacher else cm.efficiency(strategy, bucket)
    return cm.price(1e18, n_params=size, efficiency=eff).gpu_hours / 1e18


def flops_from_gpuh(strategy: str, bucket: str, gpuh: float, scale: str = "paper",
                    teacher: bool = False) -> float:
    """FLOPs that `gpuh` A100 GPU-hours buy for `strategy` in `bucket` (the paper's Table 2
    rates; ``teacher``: the distillation teacher's pretraining)."""
    return gpuh / _gpuh_per_flop(strategy, bucket, scale, teacher)


def _axes(strategy: str, scale: str, *, pretraining_flops: float, specialization_flops: float,
          teacher_pretraining_flops: float = 0.0) -> tuple[float, float | None]:
    """(u, u_teacher) for a strategy: which compute drives its perplexity."""
    if strategy == "importance_sampling":
        return _u(specialization_flops * _gpuh_per_flop(strategy, "specialization", scale)), None
    if strategy == "small_nopt":
        return 0.0, None
    if strategy in ("distillation", "distillation_sequences"):
        student = max(pretraining_flops - teacher_pretraining_flops, 0.0)
        u_t = (_u(teacher_pretraining_flops * _gpuh_per_flop(strategy, "pretraining", scale,
                                                               teacher=True))
               if teacher_pretraining_flops > 0 else None)
        return _u(student * _gpuh_per_flop("small", "pretraining", scale)), u_t
    return _u(pretraining_flops * _gpuh_per_flop(strategy, "pretraining", scale)), None

# ---------------------------------------------------------------------------- facts
@functools.lru_cache(maxsize=1)
def _facts() -> dict[str, dict[str, Any]]:
    from planner.reference import read_records

    return {r["id"]: r for r in read_records("figures")}


@functools.lru_cache(maxsize=1)
def _selection_table() -> dict[str, dict[str, Any]]:
    from planner.reference import read_records

    return {r["selection"]: r for r in read_records("table5")}


def _reference_obs() -> list[_Obs]:
    from planner.reference import perplexity_observations

    out = []
    for r in perplexity_observations():
        s = r["strategy"]
        if s == "importance_sampling":
            u = _u(r["specialization_gpuh"])
        elif s == "small_nopt":
            u = 0.0
        else:
            u = _u(r["pretraining_gpuh"])
        out.append(_Obs(strategy=s, u=u, z=_z(r["n_domain_tokens"]), y=math.log(r["test_ppl"]),
                        group=f"ref:{r['row']}", domain="pile-macro-average"))
    return out

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


def _nested(rec: Mapping[str, Any], key: str) -> Any:
    if rec.get(key) is not None and not _is_nan(rec.get(key)):
        return rec[key]
    for holder in ("params", "info"):
        d = rec.get(holder)
        if isinstance(d, Mapping) and d.get(key) is not None:
            return d[key]
    return None


def _is_nan(v: Any) -> bool:
    return isinstance(v, float) and math.isnan(v)


def _missing(v: Any) -> bool:
    return v is None or _is_nan(v)


def _runs_to_obs(runs: Any) -> list[tuple[str, _Obs]]:
    from strategies.registry import strategy_registry

    out = []
    for i, rec in enumerate(_records(runs)):
        missing = [c for c in FIT_COLUMNS if c not in rec]
        if missing:
            raise RunsFrameError(f"run {i} lacks {', '.join(missing)}")
        if rec["test_ppl"] is None or _is_nan(rec["test_ppl"]):
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
        try:
            strategy = strategy_registry.canonical(str(rec["strategy"]))
        except KeyError:  # a strategy no longer registered: keep its runs under its name
            strategy = str(rec["strategy"])
        scale = str(rec["scale"])
        teacher = float(_nested(rec, "teacher_pretraining_flops") or 0.0)
        if teacher == 0.0 and strategy.startswith("distillation"):
            # the runner stores `cost_components` (Cost.components); older frames: `components`
            comps = _nested(rec, "cost_components") or _nested(rec, "components") or {}
            teacher = float(sum(float(v) for k, v in comps.items()
                                if "teacher" in k and "pretrain" in k)
                            if isinstance(comps, Mapping) else 0.0)
        u, u_t = _axes(strategy, scale, pretraining_flops=pre, specialization_flops=spec,
                       teacher_pretraining_flops=teacher)
        weight = _nested(rec, "weight")
        n_exp = _nested(rec, "n_experts") or _nested(rec, "n_clusters")
        out.append((scale, _Obs(
            strategy=strategy, u=u, z=_z(tokens), y=math.log(ppl),
            w=float(weight) if weight is not None else 1.0, group=f"run:{i}",
            domain=str(rec.get("domain") or ""), u_teacher=u_t,
            n_experts=int(n_exp) if n_exp is not None else None,
            selection=_nested(rec, "selection"))))
    return out


def reference_flops(strategy: str, gpuh: float, bucket: str = "pretraining") -> float:
    """The FLOPs that `gpuh` A100 GPU-hours buy a strategy at paper scale (for tests)."""
    return flops_from_gpuh(strategy, bucket, gpuh)
