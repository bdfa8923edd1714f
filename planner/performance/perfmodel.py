"""The performance model: predicted perplexity per strategy, with a band and a range check.

Every strategy declares how it is modelled at the paper's scale (its
`strategies.base.PlanningPrior`); this module is generic over those kinds and names no
strategy. The axes (`planner.performance.perfdata`) are ``u = ln(GPUh / 200)`` (the
compute that drives the strategy, in A100 GPU-hours at the paper's rates) and
``z = log2(n_domain_tokens / 8M) / 3`` (1M, 8M, 64M tokens are z = -1, 0, 1).

- ``reference`` strategies (the paper's SLM, SLM-mix, SLM-pn, LLM): per strategy
  ``ln ppl = a + b u + c z + d u z + e z^2``, fitted jointly by weighted least squares on
  Table 8 (and measured paper-scale runs), each strategy's compute slopes shrunk toward a
  shared slope (`planner.performance.perffit`). Leave-one-row-out gives each its band.
  Knobs the paper measured in other configurations (Table 5: 64 experts, the expert
  selection rules) shift the curve by the measured ratio, scaled down as the strategy's
  edge over its `like` shrinks with more domain data; a ratio measured in another
  configuration than the one planned is marked borrowed and lowers the confidence.
- ``specialization_curve`` (SLM-is): a curve in its own per-domain compute ``g``. It goes
  through the figure-derived perplexities at the paper's per-domain limit (Fig. 4 caption
  and §4.2: about 14.5 at 1M tokens, below SLM-mix at 8M and 64M, at 130 GPUh, Table 3)
  and falls below it with the shape of a data-limited scaling law,
  ``ln ppl(g) = ln ppl(130) + (|s| / beta) ((g / g0)^-beta - (130 / g0)^-beta)``: ``s`` is
  the SLM's own measured compute slope (Table 8, d ln ppl / d ln GPUh at ``g0`` = 100 GPUh,
  its lowest row) and ``beta = 0.28`` the data exponent of Hoffmann et al. (2022) (borrowed).
  Nothing is forced: where SLM-is stops paying off against a shared strategy over N domains
  (Eq. 1) comes out of these curves (`crossover_domains`).
- ``teacher_student`` (SLM-d): the SLM curve at the student's compute, gaining toward the
  mean of SLM-pn / SLM-mix as the teacher grows from 92 to 461 GPUh (Fig. 5).
- ``domain_only`` (SLM-nopt): Table 4 as a function of the data only; beyond its data it
  is never predicted to beat its `like` (training from scratch is not extrapolated into a
  win), and the notes say so.
- ``like`` (plug-ins): another strategy's prediction times ``exp(log_ppl_offset)``.

**Fine-tuning length** is an input: ``finetune_fraction`` in [0, 1] is the share of the
early-stopped fine-tune's cost that is spent. The perplexity moves from the untuned value
(Table 8's "no fine-tuning" column; Table 4 where Table 8 has no row; a uniform model over
the vocabulary for a strategy trained on the domain alone) to the early-stopped one:
``ln ppl(f) = ln ppl(1) + share(f) (ln ppl(0) - ln ppl(1))`` with
``share(f) = (1 - f) / (1 + f / phi)``; ``phi`` is the fraction of the early-stopped
fine-tune by which half the gain is reached: 0.02 by assumption (the paper gives the two
end points, not the curve), refitted from the validation curves measured runs record.

**Physical bounds**: every prediction is above 1 and non-increasing in the domain tokens
and in each compute budget. Beyond the data sizes it was fitted on, a curve continues from
its edge with its edge slope: rising toward the untuned value with less data (and never
above it), and falling with more data by at most one edge slope's worth per e-fold of
``z`` (a saturating continuation, so no data size predicts a perplexity below the floor).
Compute above the largest measured value is held at it. Any input outside the fitted
ranges sets the confidence to ``low``, widens the band with the distance, and the notes
name the input.

- **Other scales** (`tiny`, `demo`): runs at that scale are fitted alone (strategy
  intercepts, shared slopes, per-domain offsets); a strategy without runs there borrows its
  paper-scale ratio to a measured strategy, with a wider band.

Example:
    >>> from planner.performance.perfmodel import PerformanceModel
    >>> model = PerformanceModel().fit()
    >>> p = model.predict_gpuh("large", pretraining_gpuh=600, n_domain_tokens=1_000_000)
    >>> 14.0 < p.ppl < 15.0 and not p.extrapolating
    True
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from planner.exceptions import NotFittedError
from planner.performance.perfdata import (
    FIT_COLUMNS,
    LN8,
    Observation,
    axes,
    compute_axis,
    finetune_curves,
    gpuh_from_u,
    planning_prior,
    reference_flops,
    reference_observations,
    run_observations,
    to_u,
    to_z,
    tokens_from_z,
)
from planner.performance.perffit import PooledFit

if TYPE_CHECKING:
    import pandas as pd

    from strategies.base import PlanningPrior

__all__ = [
    "FINETUNE_HALF_GAIN",
    "FIT_COLUMNS",
    "PerformanceModel",
    "Prediction",
    "finetune_share",
    "leave_one_out_table8",
    "reference_flops",
]

_Z90 = 1.645  # bands are ~90% intervals: ppl x exp(+-1.645 sigma)
_SIGMA_FLOOR = 0.01
_FIGURE_SIGMA = 0.03  # extra log-sd for figure-derived models
_BORROWED_SIGMA = 0.02  # extra log-sd for a knob ratio measured in another configuration
_TRANSFER_SIGMA = 0.10  # extra log-sd for a strategy borrowed from another scale
#: fraction of the early-stopped fine-tune by which half of its log-perplexity gain is
#: reached (assumption: the paper gives the end points, not the curve; refitted from runs)
FINETUNE_HALF_GAIN = 0.02
#: the data exponent of the Chinchilla loss fit, L = E + A/N^a + B/D^beta (Hoffmann et al.
#: 2022, Table A3 / Eq. 10): the shape of SLM-is's curve below its anchor (borrowed)
DATA_EXPONENT = 0.28
#: e-folds of z (8x domain data) over which a curve's slope decays past its largest data
_SATURATION = 1.0
_LN_PPL_FLOOR = math.log(1.0 + 1e-6)  # ppl > 1 always
_CONFIDENCE_RANK = {"low": 0, "medium": 1, "high": 2}
#: the flags that set each axis (named in the notes when an input is out of range)
_FLAG = {"pretraining": "--pretraining-budget", "student": "--pretraining-budget",
         "specialization": "--specialization-budget", "none": "--domain-tokens"}


def finetune_share(f: float, phi: float = FINETUNE_HALF_GAIN) -> float:
    """Share of the fine-tuning gain still missing after a fraction `f` of the
    early-stopped fine-tune: 1 at f = 0, 0 at f = 1, half at f ~ phi (for small phi)."""
    f = min(max(float(f), 0.0), 1.0)
    return (1.0 - f) / (1.0 + f / phi)


@dataclass(frozen=True, slots=True, kw_only=True)
class Prediction:
    """A predicted test perplexity.

    Args:
        strategy: canonical name.
        ppl: point prediction (> 1).
        low, high: the ~90% band.
        extrapolating: an input lies outside the range the model was fitted on.
        confidence: ``high`` (fitted on table rows), ``medium`` (measured runs), ``low``
            (figure-derived, assumed, borrowed, or outside the fitted range).
        basis: what the prediction rests on, in words.
        notes: why it extrapolates (naming the input), and other caveats.
    """

    strategy: str
    ppl: float
    low: float
    high: float
    extrapolating: bool
    confidence: str
    basis: str
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"strategy": self.strategy, "ppl": self.ppl, "low": self.low,
                "high": self.high, "extrapolating": self.extrapolating,
                "confidence": self.confidence, "basis": self.basis, "notes": list(self.notes)}


@dataclass
class _Value:
    """A prediction on the log axis, before it becomes a `Prediction`."""

    y: float
    y_untuned: float  # ln ppl with no fine-tuning (the cap of every fine-tuned value)
    sigma: float
    confidence: str
    basis: str
    dist: dict[str, float]  # axis -> e-folds outside the fitted range
    notes: list[str]


@dataclass
class _Correction:
    """Measured runs' shift of a derived strategy: a shrunk mean residual."""

    offset: float = 0.0
    sigma: float | None = None
    n: int = 0


@dataclass
class _ScaleFit:
    """Runs at a non-paper scale: strategy intercepts, shared slopes, domain offsets."""

    scale: str
    coef: dict[str, float]
    slope_u: float
    slope_z: float
    domain_offset: dict[str, float]
    sigma: float
    u_range: tuple[float, float]
    z_range: tuple[float, float]
    n_obs: dict[str, int]


# ---------------------------------------------------------------------------- z profile
def _quad_profile(coef: tuple[float, float, float], z: float, lo: float, hi: float, *,
                  borrow_lo: float | None = None, borrow_hi: float | None = None,
                  ) -> tuple[float, float]:
    """A quadratic in z made physical: (y, e-folds of data outside [lo, hi]).

    Inside the range: its running minimum from `lo` (non-increasing in z). Below: the
    edge slope continued (never decreasing with less data). Above: the edge slope decaying
    over `_SATURATION` (a bounded further gain). An edge slope that is not negative is
    replaced by the borrowed one (`borrow_lo` / `borrow_hi`, another curve's slope).
    """
    c0, c1, c2 = coef

    def f(t: float) -> float:
        return c0 + c1 * t + c2 * t * t

    def slope(t: float) -> float:
        return c1 + 2.0 * c2 * t

    def env(t: float) -> float:
        cands = [f(lo), f(t)]
        if c2 > 0:
            v = -c1 / (2.0 * c2)
            if lo < v < t:
                cands.append(f(v))
        return min(cands)

    if z < lo:
        s = min(slope(lo), 0.0)
        if s > -1e-9 and borrow_lo is not None:
            s = min(borrow_lo, 0.0)
        return f(lo) + s * (z - lo), (lo - z) * LN8
    if z <= hi:
        return env(z), 0.0
    y_hi = env(hi)
    s = min(slope(hi), 0.0) if abs(y_hi - f(hi)) < 1e-12 else 0.0
    if s > -1e-9 and borrow_hi is not None:
        s = min(borrow_hi, 0.0)
    return y_hi + s * _SATURATION * (1.0 - math.exp(-(z - hi) / _SATURATION)), (z - hi) * LN8


def _quad_through(zs: list[float], ys: list[float]) -> tuple[float, float, float]:
    """Coefficients (c0, c1, c2) of the quadratic (or line, or constant) through points."""
    deg = min(2, len(zs) - 1)
    c = np.polyfit(np.asarray(zs), np.asarray(ys), deg)[::-1]
    c = np.pad(c, (0, 3 - len(c)))
    return float(c[0]), float(c[1]), float(c[2])


def _min_confidence(*levels: str) -> str:
    return min(levels, key=lambda c: _CONFIDENCE_RANK[c])


# ---------------------------------------------------------------------------- the model
class PerformanceModel:
    """Predicts a strategy's test perplexity from its compute, the domain data and the
    fine-tuning length.

    Args:
        slope_penalty: ridge strength pulling each reference strategy's compute slopes
            toward the shared slope (0: independent fits).
        use_reference: include the paper's tables (turn off to fit runs alone).
        finetune_half_gain: `phi` of the fine-tuning curve (None: refitted from runs'
            recorded validation curves when there are any, else `FINETUNE_HALF_GAIN`).

    Example:
        >>> m = PerformanceModel().fit()
        >>> m.predict_gpuh("importance_sampling", specialization_gpuh=130,
        ...                n_domain_tokens=1_000_000).confidence
        'low'
    """

    def __init__(self, *, slope_penalty: float = 0.3, use_reference: bool = True,
                 finetune_half_gain: float | None = None) -> None:
        self.slope_penalty = slope_penalty
        self.use_reference = use_reference
        self.finetune_half_gain = finetune_half_gain

    # ------------------------------------------------------------------ fitting
    def fit(self, runs: pd.DataFrame | Iterable[Mapping[str, Any]] | None = None,
            ) -> PerformanceModel:
        """Fit on the reference tables and (optionally) measured runs.

        Args:
            runs: a frame (or records) with `FIT_COLUMNS`; optional columns ``domain``,
                ``teacher_pretraining_flops``, ``n_experts``, ``selection``, ``weight``,
                ``params`` / ``info`` dicts, ``curve`` / ``best_step``. Runs at scale
                ``paper`` join the tables; runs at other scales get their own fit.

        Raises:
            NotFittedError: neither the tables nor paper-scale runs of a ``reference``
                strategy are available.
        """
        if runs is not None and not hasattr(runs, "columns"):
            runs = list(runs)
        run_obs = run_observations(runs)
        paper = ([*(reference_observations() if self.use_reference else [])]
                 + [o for scale, o in run_obs if scale == "paper"])
        self.obs_: dict[str, list[Observation]] = {"paper": paper}
        for scale, o in run_obs:
            if scale != "paper":
                self.obs_.setdefault(scale, []).append(o)
        table = [o for o in paper if _kind(o.strategy) == "reference"]
        if not table:
            raise NotFittedError("the performance model needs the reference tables or "
                                 "paper-scale runs of a strategy with a reference prior")
        self.pooled_ = PooledFit.fit(table, slope_penalty=self.slope_penalty)
        self.sigma_ = self._loo_sigma(table)
        self._fit_untuned()
        self._fit_finetune_curve(runs)
        self._fit_anchored(paper)
        self._fit_knob_effects()
        self._fit_corrections(paper)
        self.scale_fits_ = {scale: self._fit_scale(scale, obs)
                            for scale, obs in self.obs_.items() if scale != "paper" and obs}
        return self

    def _loo_sigma(self, table: list[Observation]) -> dict[str, float]:
        errs: dict[str, list[float]] = {}
        for group in sorted({o.group for o in table}):
            train = [o for o in table if o.group != group]
            test = [o for o in table if o.group == group]
            if not train or {o.strategy for o in test} - {o.strategy for o in train}:
                continue
            fit = PooledFit.fit(train, slope_penalty=self.slope_penalty)
            for o in test:
                errs.setdefault(o.strategy, []).append(fit.value(o.strategy, o.u, o.z)[0] - o.y)
        return {s: max(_SIGMA_FLOOR, float(np.sqrt(np.mean(np.square(errs.get(s, [0.05])))))
                       ) for s in self.pooled_.strategies}

    def _fit_untuned(self) -> None:
        """ln ppl before fine-tuning per reference strategy: Table 8's column (Table 4 for
        a strategy Table 8 lacks), as (mean ln ppl, mean u)."""
        from planner.reference import read_records

        rows: dict[str, list[tuple[float, float]]] = {}
        for r in read_records("table8"):
            if r.get("ppl_no_finetune") and r["strategy"] in self.pooled_.strategies:
                rows.setdefault(r["strategy"], []).append(
                    (math.log(r["ppl_no_finetune"]), to_u(r["pretraining_gpuh"])))
        for r in read_records("table4"):
            if r.get("ppl_no_finetune") and r["strategy"] in self.pooled_.strategies \
                    and r["strategy"] not in rows:
                rows[r["strategy"]] = [(math.log(r["ppl_no_finetune"]), to_u(400.0))]
        self.untuned_ = {s: (float(np.mean([y for y, _ in v])), float(np.mean([u for _, u in v])))
                         for s, v in rows.items()}

    def _fit_finetune_curve(self, runs: Any) -> None:
        self.finetune_phi_ = FINETUNE_HALF_GAIN
        self.finetune_phi_source_ = "assumption (half the gain in the first 2% of the " \
            "early-stopped fine-tune; the paper gives only the end points)"
        if self.finetune_half_gain is not None:
            self.finetune_phi_ = float(self.finetune_half_gain)
            self.finetune_phi_source_ = "given"
            return
        curves = finetune_curves(runs) if runs is not None else []
        points = [p for c in curves for p in c]
        if not points:
            return
        grid = np.logspace(-3, 0, 121)
        fs = np.array([f for f, _ in points])
        gs = np.array([g for _, g in points])
        errs = [float(np.sum(((1 - fs) / (1 + fs / phi) - gs) ** 2)) for phi in grid]
        self.finetune_phi_ = float(grid[int(np.argmin(errs))])
        self.finetune_phi_source_ = (f"refitted on {len(curves)} measured fine-tuning "
                                     f"validation curves ({len(points)} points)")

    def _fit_anchored(self, paper: list[Observation]) -> None:
        """Curves of the strategies whose reference rows are few (figure facts, Table 4):
        a quadratic in z through them, at their compute."""
        from planner.reference import perplexity_observations

        self.anchors_: dict[str, dict[str, Any]] = {}
        widths: dict[str, list[float]] = {}
        for r in perplexity_observations():
            if r.get("low") and r.get("high"):
                widths.setdefault(r["strategy"], []).append(
                    math.log(r["high"] / r["low"]) / (2 * _Z90))
        by_strategy: dict[str, list[Observation]] = {}
        for o in paper:
            if o.group.startswith("ref:") and _kind(o.strategy) in ("specialization_curve",
                                                                     "domain_only"):
                by_strategy.setdefault(o.strategy, []).append(o)
        for s, obs in by_strategy.items():
            zs = [o.z for o in obs]
            self.anchors_[s] = {
                "coef": _quad_through(zs, [o.y for o in obs]),
                "z_range": (min(zs), max(zs)), "u": max(o.u for o in obs),
                "sigma": float(np.hypot(max(widths.get(s, [0.0])), _FIGURE_SIGMA))}

    def _fit_knob_effects(self) -> None:
        """Measured configurations of reference strategies (e.g. Table 5) as log ratios."""
        from planner.reference import knob_measurements

        self.knob_rows_: dict[str, list[dict[str, Any]]] = {}
        for s in self.pooled_.strategies:
            rows = knob_measurements(s)
            if rows:
                self.knob_rows_[s] = [{**r, "u": to_u(r["pretraining_gpuh"]),
                                       "z": to_z(r["n_domain_tokens"]),
                                       "y": math.log(r["test_ppl"])} for r in rows]

    def _fit_corrections(self, paper: list[Observation]) -> None:
        self.corrections_: dict[str, _Correction] = {}
        by_strategy: dict[str, list[Observation]] = {}
        for o in paper:
            if not o.group.startswith("ref:") and _kind(o.strategy) != "reference":
                by_strategy.setdefault(o.strategy, []).append(o)
        for s, runs in by_strategy.items():
            try:
                prior_values = [self._value(s, o.u, o.z, o.u_teacher, {}, 1.0, corrected=False)
                                for o in runs]
            except KeyError:
                continue
            resid = [o.y - v.y for o, v in zip(runs, prior_values, strict=True)]
            n0 = 1.0  # prior pseudo-count: one run moves the model halfway
            prior = prior_values[0].sigma
            self.corrections_[s] = _Correction(
                offset=float(sum(resid) / (len(resid) + n0)),
                sigma=float(math.sqrt((n0 * prior**2 + sum(r * r for r in resid))
                                      / (n0 + len(resid)))),
                n=len(runs))

    def _fit_scale(self, scale: str, obs: list[Observation]) -> _ScaleFit:
        strategies = sorted({o.strategy for o in obs})
        domains = sorted({o.domain for o in obs})
        no_u = {s for s in strategies if _axis_or_none(s) == "none"}
        us = [o.u for o in obs if o.strategy not in no_u]
        zs = [o.z for o in obs]

        def varies(attr: str) -> bool:
            # a slope is identified only by variation within a strategy: across strategies
            # it would be confounded with their intercepts
            for s in strategies:
                vals = [getattr(o, attr) for o in obs if o.strategy == s
                        and not (attr == "u" and s in no_u)]
                if vals and max(vals) - min(vals) > 1e-9:
                    return True
            return False

        vary_u = varies("u")
        vary_z = varies("z")
        ncol = len(strategies) + 2 + max(0, len(domains) - 1)
        rows, ys = [], []
        for o in obs:
            r = np.zeros(ncol)
            r[strategies.index(o.strategy)] = 1.0
            if vary_u and o.strategy not in no_u:
                r[len(strategies)] = o.u
            if vary_z:
                r[len(strategies) + 1] = o.z
            d = domains.index(o.domain)
            if d > 0:
                r[len(strategies) + 1 + d] = 1.0
            rows.append(r * math.sqrt(o.w))
            ys.append(o.y * math.sqrt(o.w))
        ridge = np.eye(ncol) * 1e-3
        x = np.vstack(rows + list(ridge))
        y = np.concatenate([ys, np.zeros(ncol)])
        w, *_ = np.linalg.lstsq(x, y, rcond=None)
        # domain offsets relative to the first domain -> centred, so "no domain" = average
        raw = [0.0] + [float(v) for v in w[len(strategies) + 2:]]
        mean = float(np.mean(raw))
        coef = {s: float(w[i]) + mean for i, s in enumerate(strategies)}
        resid = np.asarray(ys) / np.sqrt([o.w for o in obs]) - \
            np.asarray(rows) @ w / np.sqrt([o.w for o in obs])
        dof = max(1, len(obs) - len(strategies) - 2)
        sigma = max(0.02, float(np.sqrt(np.sum(resid**2) / dof))) if len(obs) > ncol else 0.05
        # physical: more compute or more data never predicted to hurt
        slope_u = min(0.0, float(w[len(strategies)])) if vary_u else 0.0
        slope_z = min(0.0, float(w[len(strategies) + 1])) if vary_z else 0.0
        return _ScaleFit(scale=scale, coef=coef, slope_u=slope_u, slope_z=slope_z,
                         domain_offset={d: raw[i] - mean for i, d in enumerate(domains)},
                         sigma=sigma,
                         u_range=(min(us), max(us)) if us else (0.0, 0.0),
                         z_range=(min(zs), max(zs)),
                         n_obs={s: sum(o.strategy == s for o in obs) for s in strategies})

    # ------------------------------------------------------------------ curves
    def _reference_value(self, s: str, u: float, z: float) -> _Value:
        """A reference strategy's early-stopped curve, physical in u and z."""
        fit = self.pooled_
        c = fit.coef[s]
        u_lo, u_hi = fit.u_range[s]
        z_lo, z_hi = fit.z_range[s]
        u_eval = min(u, u_hi)
        coef = (float(c[0] + c[1] * u_eval), float(c[2] + c[3] * u_eval), float(c[4]))
        y, dz = _quad_profile(coef, z, z_lo, z_hi)
        dist = {"data": dz}
        notes = []
        if u > u_hi:
            dist["compute"] = u - u_hi
            notes.append("compute beyond the largest measured budget: no further gain assumed")
        elif u < u_lo:
            dist["compute"] = u_lo - u
        y_untuned = self._untuned(s, u_eval)
        basis_n = fit.n_obs[s]
        n_runs = sum(1 for o in self.obs_["paper"]
                     if o.strategy == s and not o.group.startswith("ref:"))
        basis = (f"fit on Table 8 ({basis_n - n_runs} points)"
                 + (f" and {n_runs} paper-scale runs" if n_runs else ""))
        return _Value(y=min(y, y_untuned), y_untuned=y_untuned, sigma=self.sigma_[s],
                      confidence=planning_prior(s).confidence, basis=basis, dist=dist,
                      notes=notes)

    def _untuned(self, s: str, u: float) -> float:
        """ln ppl of the pretrained model before fine-tuning, at compute u.

        The untuned value moves with compute as the strategy's curve does at its smallest
        data size (Table 8's column itself is noisy in compute: §4 calls it a poor
        predictor of the fine-tuned perplexity)."""
        base, u0 = self.untuned_.get(s, self.untuned_.get("", (math.inf, 0.0)))
        if not math.isfinite(base):
            return math.inf
        c = self.pooled_.coef[s]
        z_lo = self.pooled_.z_range[s][0]
        u_hi = self.pooled_.u_range[s][1]
        shift = (c[1] + c[3] * z_lo) * (min(u, u_hi) - min(u0, u_hi))
        return base + shift

    def _like_slope_z(self, like: str | None, u: float, z: float) -> float | None:
        if like is None or like not in self.pooled_.strategies:
            return None
        c = self.pooled_.coef[like]
        z_lo, z_hi = self.pooled_.z_range[like]
        zc = min(max(z, z_lo), z_hi)
        u_eval = min(u, self.pooled_.u_range[like][1])
        return float(c[2] + c[3] * u_eval + 2 * c[4] * zc)

    def _specialization_curve_value(self, s: str, prior: PlanningPrior, u: float,
                                    z: float) -> _Value:
        anchor = self.anchors_.get(s)
        like = prior.like or ""
        if anchor is None or like not in self.pooled_.strategies:
            raise KeyError(f"no performance model for strategy {s!r}: its prior needs "
                           f"figure facts and a reference curve of {like!r}")
        z_lo, z_hi = anchor["z_range"]
        u_anchor = anchor["u"]
        u0 = self.pooled_.u_range[like][0]  # the like's smallest measured compute
        y_a, dz = _quad_profile(anchor["coef"], z, z_lo, z_hi,
                                borrow_lo=self._like_slope_z(like, u0, z_lo),
                                borrow_hi=self._like_slope_z(like, u0, z_hi))
        c = self.pooled_.coef[like]
        zc = min(max(z, self.pooled_.z_range[like][0]), self.pooled_.z_range[like][1])
        slope = max(0.0, -(c[1] + c[3] * zc))  # |d ln ppl / d u| of the like at u0
        u_eval = min(u, u_anchor)
        rise = slope / DATA_EXPONENT * (math.exp(-DATA_EXPONENT * (u_eval - u0))
                                        - math.exp(-DATA_EXPONENT * (u_anchor - u0)))
        y = y_a + rise
        dist = {"data": dz}
        notes = []
        if u > u_anchor:
            dist["compute"] = u - u_anchor
            notes.append(f"per-domain compute beyond the paper's {gpuh_from_u(u_anchor):.0f} "
                         "GPUh: no further gain assumed")
        elif u < u0:
            dist["compute"] = u0 - u
        # never worse than the like pretrained on generic text with the same compute
        y = min(y, self._reference_value(like, u, z).y)
        # untuned: the like's pretrained model at its smallest measured compute, less
        # compute below the anchor costing what it costs the fine-tuned curve
        y_untuned = max(self._untuned(like, u0) + rise, y)
        return _Value(y=y, y_untuned=y_untuned,
                      sigma=float(np.hypot(anchor["sigma"], self.sigma_.get(like, 0.02))),
                      confidence=prior.confidence, basis=_basis(s, prior), dist=dist,
                      notes=notes)

    def _domain_only_value(self, s: str, prior: PlanningPrior, z: float) -> _Value:
        anchor = self.anchors_.get(s)
        if anchor is None:
            raise KeyError(f"no performance model for strategy {s!r}: no reference rows")
        z_lo, z_hi = anchor["z_range"]
        y, dz = _quad_profile(anchor["coef"], z, z_lo, z_hi)
        notes = []
        from strategies.machinery.scales import get_scale

        y_untuned = math.log(get_scale("paper").vocab_size)  # an untrained model: uniform
        like = prior.like
        if z > z_hi and like in self.pooled_.strategies:
            best_like = self._reference_value(like, self.pooled_.u_range[like][1], z).y
            notes.append(f"trained on the domain data only: beyond its measured data "
                         f"({tokens_from_z(z_hi):.3g} tokens) it is not extrapolated past "
                         f"`{like}` pretrained and fine-tuned on the same data")
            y = max(y, best_like)
        return _Value(y=min(y, y_untuned), y_untuned=y_untuned,
                      sigma=float(np.hypot(_FIGURE_SIGMA, 0.05)),
                      confidence=prior.confidence, basis=_basis(s, prior), dist={"data": dz},
                      notes=notes)

    def _teacher_student_value(self, s: str, prior: PlanningPrior, u: float, z: float,
                               u_teacher: float | None) -> _Value:
        from planner.reference import read_records

        like = prior.like or ""
        if like not in self.pooled_.strategies:
            raise KeyError(f"no performance model for strategy {s!r}: no curve of {like!r}")
        base = self._reference_value(like, u, z)
        facts_of = prior.facts_of or s
        facts = read_records("figures")
        ramp_pts = sorted(r["value"] for r in facts if r["strategy"] == facts_of
                          and r["quantity"] == "teacher_pretraining_gpuh")
        ratio = next((float(r["value"]) for r in facts if r["strategy"] == s
                      and r["quantity"] == "gain_vs_pn_mix"), 1.0)
        notes = list(base.notes)
        dist = dict(base.dist)
        gain = 0.0
        if u_teacher is None:
            notes.append("no teacher pretraining: no distillation gain")
        elif ramp_pts:
            lo, hi = to_u(ramp_pts[0]), to_u(ramp_pts[-1])
            ramp = min(1.0, max(0.0, (u_teacher - lo) / (hi - lo))) if hi > lo else 1.0
            toward = [self._reference_value(t, u, z).y for t in prior.gain_toward
                      if t in self.pooled_.strategies]
            if toward:
                gain = ratio * ramp * min(0.0, float(np.mean(toward)) - base.y)
        return _Value(y=base.y + gain, y_untuned=base.y_untuned,
                      sigma=float(np.hypot(self.sigma_.get(like, 0.02), _FIGURE_SIGMA)),
                      confidence=prior.confidence, basis=_basis(s, prior), dist=dist,
                      notes=notes)

    def _knob_adjustment(self, s: str, prior: PlanningPrior, u: float, z: float,
                         params: Mapping[str, Any]) -> tuple[float, bool, list[str]]:
        """ln ratio of a configuration to the fitted one, whether it is borrowed, notes.

        Raises:
            KeyError: a configuration the reference data does not measure.
        """
        knobs = {k: v for k, v in params.items() if k in prior.modelled}
        base = _baseline_config(s, prior)
        wanted = {**base, **knobs}
        if wanted == base:
            return 0.0, False, []
        rows = self.knob_rows_.get(s, [])

        def fitted(r: dict[str, Any]) -> float:
            return self._reference_value(s, r["u"], r["z"]).y

        exact = next((r for r in rows if {**base, **r["params"]} == wanted), None)
        if exact is not None:
            effect, at, borrowed = exact["y"] - fitted(exact), exact, False
        else:
            effect, at, borrowed = 0.0, None, False
            measured_in: dict[str, Any] = {}  # where a borrowed ratio was measured
            for k in (k for k in wanted if wanted[k] != base[k]):
                pair = None
                for r1 in rows:
                    p1 = {**base, **r1["params"]}
                    if p1.get(k) != wanted[k]:
                        continue
                    p0 = {**p1, k: base[k]}
                    r0 = next((r for r in rows if {**base, **r["params"]} == p0), None)
                    if r0 is not None:
                        pair = (r1["y"] - r0["y"], r1, p1)
                    elif p0 == base:
                        pair = (r1["y"] - fitted(r1), r1, p1)
                    if pair is not None:
                        break
                if pair is None:
                    raise KeyError(f"{s}: {k}={wanted[k]!r} is not measured in the "
                                   "reference data")
                effect += pair[0]
                at = pair[1]
                other = {j: pair[2].get(j) for j in wanted
                         if j != k and pair[2].get(j) != wanted[j]}
                borrowed |= bool(other)
                measured_in.update(other)
        assert at is not None
        scale = self._gap_scale(s, prior, at["u"], at["z"], z)
        what = ", ".join(f"{k}={v}" for k, v in knobs.items() if base.get(k) != v)
        borrowed_note = ""
        if borrowed:
            there = ", ".join(f"{j}={v}" for j, v in measured_in.items())
            here = ", ".join(f"{j}={wanted[j]}" for j in measured_in)
            borrowed_note = (f" (borrowed: measured with {there}, applied with {here}; "
                             "not measured in this configuration)")
        notes = [f"{what}: {at.get('source', 'reference')} ratio at "
                 f"{tokens_from_z(at['z']):.3g} tokens, scaled down with the domain data"
                 + borrowed_note]
        return effect * scale, borrowed, notes

    def _gap_scale(self, s: str, prior: PlanningPrior, u: float, z_at: float,
                   z: float) -> float:
        """How much of the strategy's edge over its `like` at z_at remains at z (0-1)."""
        like = prior.like
        if like is None or like not in self.pooled_.strategies:
            return 1.0

        def gap(t: float) -> float:
            return self._reference_value(like, u, t).y - self._reference_value(s, u, t).y

        g0 = gap(z_at)
        if g0 <= 0:
            return 1.0
        return max(0.0, min(1.0, gap(z) / g0))

    # ------------------------------------------------------------------ prediction
    def _check(self) -> None:
        if not hasattr(self, "pooled_"):
            raise NotFittedError("call PerformanceModel.fit() before predicting")

    def predict(self, strategy: str, *, n_domain_tokens: float, pretraining_flops: float = 0.0,
                specialization_flops: float = 0.0, teacher_pretraining_flops: float = 0.0,
                n_experts: int | None = None, selection: str | None = None,
                params: Mapping[str, Any] | None = None, finetune_fraction: float = 1.0,
                scale: str = "paper", domain: str | None = None) -> Prediction:
        """Predicted test perplexity for a strategy's compute (FLOPs) and data.

        Args:
            strategy: canonical name.
            n_domain_tokens: in-domain training tokens (> 0).
            pretraining_flops: the shared bucket (teacher included for a teacher-student).
            specialization_flops: the per-domain bucket.
            teacher_pretraining_flops: the part of `pretraining_flops` the teacher runs.
            n_experts, selection: shorthands for those `params`.
            params: strategy parameters the prior models (e.g. ``{"n_experts": 64}``).
            finetune_fraction: share of the early-stopped fine-tune's cost spent (0-1).
            scale: ``paper`` (reference tables + paper-scale runs) or a scale with runs.
            domain: for other scales, a measured domain's offset (None: their average).

        Raises:
            NotFittedError: before `fit`, or a scale without runs.
            KeyError: a strategy without a prior, or a configuration nobody measured.
        """
        self._check()
        u, u_t = axes(strategy, scale, pretraining_flops=pretraining_flops,
                      specialization_flops=specialization_flops,
                      teacher_pretraining_flops=teacher_pretraining_flops)
        knobs = _knobs(params, n_experts, selection)
        return self._predict_axes(strategy, u=u, u_teacher=u_t, z=to_z(n_domain_tokens),
                                  params=knobs, finetune_fraction=finetune_fraction,
                                  scale=scale, domain=domain)

    def predict_gpuh(self, strategy: str, *, n_domain_tokens: float,
                     pretraining_gpuh: float = 0.0, specialization_gpuh: float = 0.0,
                     teacher_pretraining_gpuh: float = 0.0, n_experts: int | None = None,
                     selection: str | None = None, params: Mapping[str, Any] | None = None,
                     finetune_fraction: float = 1.0) -> Prediction:
        """`predict` with compute in A100 GPU-hours at the paper's rates (paper scale)."""
        self._check()
        axis = compute_axis(strategy)
        student = max(pretraining_gpuh - teacher_pretraining_gpuh, 0.0)
        u = {"specialization": to_u(specialization_gpuh), "none": 0.0}.get(axis, to_u(student))
        u_t = to_u(teacher_pretraining_gpuh) if teacher_pretraining_gpuh > 0 else None
        knobs = _knobs(params, n_experts, selection)
        return self._predict_axes(strategy, u=u, u_teacher=u_t, z=to_z(n_domain_tokens),
                                  params=knobs, finetune_fraction=finetune_fraction,
                                  scale="paper")

    def _predict_axes(self, strategy: str, *, u: float, u_teacher: float | None, z: float,
                      params: Mapping[str, Any], finetune_fraction: float = 1.0,
                      scale: str = "paper", domain: str | None = None) -> Prediction:
        if scale != "paper":
            return self._predict_other_scale(strategy, u=u, u_teacher=u_teacher, z=z,
                                             params=params,
                                             finetune_fraction=finetune_fraction,
                                             scale=scale, domain=domain)
        v = self._value(strategy, u, z, u_teacher, params, finetune_fraction)
        return _make_prediction(strategy, v, compute_axis(strategy))

    def _value(self, s: str, u: float, z: float, u_teacher: float | None,
               params: Mapping[str, Any], finetune_fraction: float, *,
               corrected: bool = True, _seen: tuple[str, ...] = ()) -> _Value:
        """The paper-scale value of strategy `s` (early-stopped, then the fine-tune curve)."""
        prior = planning_prior(s)
        if prior.kind == "reference":
            if s not in self.pooled_.strategies:
                raise KeyError(f"no performance model for strategy {s!r}: no reference rows")
            v = self._reference_value(s, u, z)
            if prior.modelled:
                adj, borrowed, more = self._knob_adjustment(s, prior, u, z, params)
                v.y += adj
                v.notes += more
                if more:
                    v.sigma = float(np.hypot(v.sigma, _FIGURE_SIGMA / 2))
                if borrowed:
                    v.sigma = float(np.hypot(v.sigma, _BORROWED_SIGMA))
                    v.confidence = "low"
        elif prior.kind == "specialization_curve":
            v = self._specialization_curve_value(s, prior, u, z)
        elif prior.kind == "domain_only":
            v = self._domain_only_value(s, prior, z)
        elif prior.kind == "teacher_student":
            v = self._teacher_student_value(s, prior, u, z, u_teacher)
        else:  # like
            like = prior.like or ""
            if like in (*_seen, s):
                raise KeyError(f"no performance model for strategy {s!r}: its prior borrows "
                               "from itself")
            base = self._value(like, u, z, u_teacher, {}, 1.0, _seen=(*_seen, s))
            v = _Value(y=base.y + prior.log_ppl_offset,
                       y_untuned=base.y_untuned + max(0.0, prior.log_ppl_offset),
                       sigma=float(np.hypot(base.sigma, _FIGURE_SIGMA)),
                       confidence=_min_confidence(prior.confidence, base.confidence),
                       basis=_basis(s, prior), dist=base.dist, notes=list(base.notes))
        corr = self.corrections_.get(s) if corrected and prior.kind != "reference" else None
        if corr is not None:
            v.y += corr.offset
            v.sigma = corr.sigma or v.sigma
            v.basis += f"; shifted by {corr.n} paper-scale runs"
            v.confidence = "medium"
        self._apply_finetune(v, finetune_fraction)
        return v

    def _apply_finetune(self, v: _Value, finetune_fraction: float) -> None:
        """Move a value along the fine-tuning curve; keep it physical (ppl > 1)."""
        if finetune_fraction < 1.0 and math.isfinite(v.y_untuned):
            share = finetune_share(finetune_fraction, self.finetune_phi_)
            v.y += share * max(0.0, v.y_untuned - v.y)
            v.notes.append(f"fine-tuned for {finetune_fraction:.0%} of the early-stopped "
                           f"cost: {share:.0%} of the fine-tuning gain left unrealized "
                           f"(fine-tuning curve: {self.finetune_phi_source_})")
            v.sigma = float(np.hypot(v.sigma, 0.5 * share * max(0.0, v.y_untuned - v.y)))
        v.y = max(v.y, _LN_PPL_FLOOR)

    def _predict_other_scale(self, strategy: str, *, u: float, u_teacher: float | None,
                             z: float, params: Mapping[str, Any], finetune_fraction: float,
                             scale: str, domain: str | None) -> Prediction:
        fit = getattr(self, "scale_fits_", {}).get(scale)
        if fit is None:
            raise NotFittedError(f"no runs at scale {scale!r}: the performance model only "
                                 "knows the paper scale (reference tables) and scales with "
                                 "measured runs")
        notes: list[str] = []
        u_lo, u_hi = fit.u_range
        z_lo, z_hi = fit.z_range
        no_u = _axis_or_none(strategy) == "none"
        dist = {"compute": 0.0 if no_u else max(0.0, u - u_hi) + max(0.0, u_lo - u),
                "data": (max(0.0, z - z_hi) + max(0.0, z_lo - z)) * LN8}
        u_eval = min(u, u_hi)
        z_eval = z if z <= z_hi else z_hi + _SATURATION * (1 - math.exp(-(z - z_hi)
                                                                        / _SATURATION))
        offset = fit.domain_offset.get(domain, 0.0) if domain else 0.0
        if strategy in fit.coef:
            slope_u = 0.0 if no_u else fit.slope_u
            y = fit.coef[strategy] + slope_u * u_eval + fit.slope_z * z_eval + offset
            sigma, confidence = fit.sigma, "medium"
            basis = f"fit on {fit.n_obs[strategy]} runs at scale {scale!r}"
        else:
            anchor = sorted(fit.coef, key=lambda s: (_axis_or_none(s) == "none", s))[0]
            ratio = self._paper_ratio(strategy, anchor, z, params)
            slope_u = 0.0 if _axis_or_none(anchor) == "none" else fit.slope_u
            y = fit.coef[anchor] + slope_u * u_eval + fit.slope_z * z_eval + offset + ratio
            sigma = float(np.hypot(fit.sigma, _TRANSFER_SIGMA))
            confidence = "low"
            basis = (f"runs of {anchor!r} at scale {scale!r} x the paper-scale ratio "
                     f"{strategy}/{anchor}")
            notes.append(f"no runs of {strategy!r} at scale {scale!r}: borrowed from the paper")
        v = _Value(y=y, y_untuned=math.inf, sigma=sigma, confidence=confidence, basis=basis,
                   dist=dist, notes=notes)
        if finetune_fraction < 1.0:
            # the paper's untuned / early-stopped ratio, carried to this scale
            try:
                ref = self._value(strategy, to_u(400.0), min(max(z, -1.0), 1.0), to_u(461.0),
                                  {}, 1.0)
                v.y_untuned = y + max(0.0, ref.y_untuned - ref.y)
            except KeyError:
                v.y_untuned = math.inf
        self._apply_finetune(v, finetune_fraction)
        return _make_prediction(strategy, v, _axis_or_none(strategy))

    def _paper_ratio(self, strategy: str, anchor: str, z: float,
                     params: Mapping[str, Any]) -> float:
        """ln(ppl_s / ppl_anchor) at the paper's reference operating points."""
        zc = min(max(z, -1.0), 1.0)

        def at(s: str, knobs: Mapping[str, Any]) -> float:
            prior = planning_prior(s)
            if prior.kind == "specialization_curve" and s in self.anchors_:
                u = self.anchors_[s]["u"]
            else:
                u = to_u(400.0)
            u_t = to_u(461.0) if prior.kind == "teacher_student" else None
            return self._value(s, u, zc, u_t, knobs, 1.0).y

        return at(strategy, params) - at(anchor, {})

    def scales(self) -> list[str]:
        """Scales the model can predict at: ``paper`` plus every scale with runs."""
        self._check()
        return ["paper", *sorted(getattr(self, "scale_fits_", {}))]

    def compute_range(self, strategy: str, *, part: str = "pretraining", scale: str = "paper",
                      ) -> tuple[float, float]:
        """(lowest, highest) measured compute, in A100 GPU-hour equivalents.

        Args:
            part: ``pretraining`` (the strategy's own axis: per-domain compute for a
                specialization curve), ``student`` or ``teacher`` (teacher-student).

        Raises:
            KeyError: a strategy the model cannot predict.
        """
        self._check()
        if scale != "paper":
            fit = getattr(self, "scale_fits_", {}).get(scale)
            if fit is None:
                raise NotFittedError(f"no runs at scale {scale!r}")
            lo, hi = fit.u_range
            return gpuh_from_u(lo), gpuh_from_u(hi)
        prior = planning_prior(strategy)
        if prior.kind == "like":
            self._value(strategy, 0.0, 0.0, None, {}, 1.0)  # raises when unplannable
            return self.compute_range(prior.like or "", part=part)
        if prior.kind == "reference":
            if strategy not in self.pooled_.strategies:
                raise KeyError(f"no performance model for strategy {strategy!r}")
            lo, hi = self.pooled_.u_range[strategy]
        elif prior.kind == "specialization_curve":
            if strategy not in self.anchors_ or prior.like not in self.pooled_.strategies:
                raise KeyError(f"no performance model for strategy {strategy!r}")
            lo, hi = self.pooled_.u_range[prior.like][0], self.anchors_[strategy]["u"]
        elif prior.kind == "teacher_student":
            if prior.like not in self.pooled_.strategies:
                raise KeyError(f"no performance model for strategy {strategy!r}")
            if part == "teacher":
                from planner.reference import read_records

                pts = sorted(r["value"] for r in read_records("figures")
                             if r["strategy"] == (prior.facts_of or strategy)
                             and r["quantity"] == "teacher_pretraining_gpuh")
                if not pts:
                    raise KeyError(f"no teacher facts for strategy {strategy!r}")
                return float(pts[0]), float(pts[-1])
            lo, hi = self.pooled_.u_range[prior.like]
        else:  # domain_only
            if strategy not in self.anchors_:
                raise KeyError(f"no performance model for strategy {strategy!r}")
            return 0.0, 0.0
        return gpuh_from_u(lo), gpuh_from_u(hi)

    def crossover_domains(self, shared: str, per_domain: str, *, total_gpuh: float,
                          n_domain_tokens: float, max_domains: int = 1000) -> int | None:
        """The smallest N at which `shared` (its pretraining = the total budget) predicts a
        perplexity no worse than `per_domain` (total / N GPU-hours per domain; Eq. 1).

        The fine-tuning of the shared strategy is neglected (about one GPU-minute per
        domain, §1.2). None when `per_domain` still wins at `max_domains`. This is a check
        of the curves, not a constraint put into them.
        """
        self._check()
        shared_ppl = self.predict_gpuh(shared, pretraining_gpuh=total_gpuh,
                                       n_domain_tokens=n_domain_tokens).ppl
        for n in range(1, max_domains + 1):
            p = self.predict_gpuh(per_domain, specialization_gpuh=total_gpuh / n,
                                  n_domain_tokens=n_domain_tokens).ppl
            if shared_ppl <= p:
                return n
        return None

    # ------------------------------------------------------------------ reporting
    def describe(self) -> list[dict[str, Any]]:
        """Per plannable strategy at paper scale: kind, basis, confidence, points, band."""
        self._check()
        from strategies.registry import list_strategies

        out = []
        for s in list_strategies():
            try:
                prior = planning_prior(s)
                self.compute_range(s)
            except (KeyError, NotFittedError):
                continue
            corr = self.corrections_.get(s)
            if prior.kind == "reference":
                lo, hi = self.pooled_.u_range[s]
                out.append({"strategy": s, "kind": prior.kind,
                            "confidence": prior.confidence, "n_points": self.pooled_.n_obs[s],
                            "log_sigma": self.sigma_[s],
                            "pretraining_gpuh_range": (round(gpuh_from_u(lo), 1),
                                                       round(gpuh_from_u(hi), 1)),
                            "basis": "pooled log-linear fit (Table 8)"})
            else:
                sigma = self._value(s, to_u(130.0), 0.0, to_u(461.0), {}, 1.0).sigma
                out.append({"strategy": s, "kind": prior.kind,
                            "confidence": "medium" if corr else prior.confidence,
                            "n_points": corr.n if corr else 0,
                            "log_sigma": corr.sigma if corr and corr.sigma else sigma,
                            "pretraining_gpuh_range": None, "basis": _basis(s, prior)})
        return out


@functools.lru_cache(maxsize=64)
def _kind(strategy: str) -> str:
    try:
        return planning_prior(strategy).kind
    except KeyError:
        return ""


def _axis_or_none(strategy: str) -> str:
    try:
        return compute_axis(strategy)
    except KeyError:
        return "pretraining"


def _baseline_config(strategy: str, prior: PlanningPrior) -> dict[str, Any]:
    """The configuration the reference rows were measured in: the paper's main parameters,
    the class defaults for the rest of the modelled knobs."""
    return dict(_baseline_items(strategy))


@functools.lru_cache(maxsize=64)
def _baseline_items(strategy: str) -> tuple[tuple[str, Any], ...]:
    from strategies.registry import get_strategy_class

    prior = planning_prior(strategy)
    defaults = get_strategy_class(strategy)().get_params()
    return tuple((k, prior.paper_params.get(k, defaults.get(k))) for k in prior.modelled)


def _basis(strategy: str, prior: PlanningPrior) -> str:
    return f"{prior.kind} prior of `{strategy}`: {prior.source}"


def _make_prediction(strategy: str, v: _Value, axis: str) -> Prediction:
    dist = sum(v.dist.values())
    notes = list(v.notes)
    confidence = v.confidence
    if dist > 1e-9:
        names = []
        if v.dist.get("data", 0.0) > 1e-9:
            names.append("--domain-tokens")
        if v.dist.get("compute", 0.0) > 1e-9:
            names.append(_FLAG.get(axis, "--pretraining-budget"))
        notes.append(f"{' and '.join(names)} outside the fitted range "
                     f"({dist:.2f} e-folds): confidence low, band widened")
        confidence = "low"
    sigma_eff = v.sigma * (1.0 + dist)
    ppl = math.exp(v.y)
    return Prediction(strategy=strategy, ppl=ppl,
                      low=max(1.0 + 1e-6, ppl * math.exp(-_Z90 * sigma_eff)),
                      high=ppl * math.exp(_Z90 * sigma_eff), extrapolating=dist > 1e-9,
                      confidence=confidence, basis=v.basis,
                      notes=tuple(dict.fromkeys(notes)))


# ---------------------------------------------------------------------------- validation
def leave_one_out_table8(*, slope_penalty: float = 0.3) -> list[dict[str, Any]]:
    """Hold out each Table 8 row, refit on the rest, predict its 1M/8M/64M perplexities.

    Returns one record per (row, domain size): strategy, pretraining_gpuh,
    n_domain_tokens, observed, predicted, ape (absolute percentage error, in %).
    """
    from planner.reference import read_records

    table = [o for o in reference_observations() if _kind(o.strategy) == "reference"]
    gpuh = {f"ref:{r['strategy']}@{r['pretraining_gpuh']}": r["pretraining_gpuh"]
            for r in read_records("table8")}
    out = []
    for group in gpuh:
        fit = PooledFit.fit([o for o in table if o.group != group],
                            slope_penalty=slope_penalty)
        for o in (o for o in table if o.group == group):
            pred = math.exp(fit.value(o.strategy, o.u, o.z)[0])
            obs = math.exp(o.y)
            out.append({"strategy": o.strategy, "pretraining_gpuh": gpuh[group],
                        "n_domain_tokens": int(round(tokens_from_z(o.z))),
                        "observed": obs, "predicted": pred,
                        "ape": 100.0 * abs(pred - obs) / obs})
    return out


def _knobs(params: Mapping[str, Any] | None, n_experts: int | None,
           selection: str | None) -> dict[str, Any]:
    """`params` with the explicit ``n_experts`` / ``selection`` arguments laid over it."""
    knobs = dict(params or {})
    if n_experts is not None:
        knobs["n_experts"] = n_experts
    if selection is not None:
        knobs["selection"] = selection
    return knobs
