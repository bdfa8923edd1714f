"""A domain's cluster statistics and measured runs shift the paper's average predictions.

The paper's Table 8 is a macro-average over nine Pile domains. Its App. E (Figs. 12-13,
per-domain results) says the average is "mostly consistent" per domain, except that
**neither SLM-mix nor SLM-pn beats SLM on wikipedia or openwebtext2**, the two domains
with the highest cluster-histogram entropy (Table 10). This module turns that into an
explicit, documented adjustment of each strategy's edge over SLM for one domain, and a
wrapper (`DomainAdjustedModel`) that applies it around any performance model's public
``predict`` (delegate, then adjust), so the planner's own model stays untouched.

**The statistic.** A domain's cluster histogram against k = 16 k-means clusters of the
generic corpus (the paper's mixture k, App. D.2; the smallest k of Table 10), summarised
by its *normalized entropy* h = H / ln k (0: one cluster, 1: uniform). At k = 16 the
paper's domains give (Table 10 / ln 16):

    stackexchange .14  arxiv .15  freelaw .36  pubmed .39  opensubtitles .42
    europarl .53  gutenberg .57 | wikipedia .62  openwebtext2 .79   (c4 itself .98)

The top-cluster share (Table 9) does not separate the two groups (pubmed .54, europarl
.53 and gutenberg .54 kept the edge; wikipedia, .58, lost it), so the adjustment uses h.

**Who is adjusted.** The planner names no strategy (issue 16): each declares its part in
its `strategies.base.PlanningPrior`. The baseline the edges are measured against is the
registered strategy that declares ``baseline=True`` (the paper's SLM); a strategy's
``domain_edge`` (`strategies.base.DomainEdge`) says where its edge is read
(``reference_gpuh``: Table 8's 400-GPUh row for SLM-mix, SLM-pn and LLM; 130 GPUh per
domain for SLM-is, Table 3 / Fig. 4, against an SLM pretrained with the same compute), how
the domain's statistics scale it (``sensitivity``) and on what evidence (``source``).

**The adjustment** (log-perplexity; ``e`` = the paper-average edge of a strategy over the
baseline at its reference point, negative = better than the baseline):

- strategies that declare ``sensitivity="cluster_experts"`` (SLM-mix, SLM-pn): the
  domain's edge is ``m(h) x e`` with
  ``m = 9/7`` for ``h <= H_KEEP`` (the seven domains that keep the edge carry the whole
  nine-domain average: assumed equal, as "mostly consistent" says), ``m = 0`` for
  ``h >= H_LOSE`` ("neither beats SLM" read as a tie; the band reaches the other side),
  linear in between. ``H_KEEP`` = gutenberg's .566 (the most diffuse domain that kept the
  edge, Table 10); ``H_LOSE`` = 0.6, the report's diffuse-warning threshold, which lies
  inside the bracket the paper allows (.566 - .624, wikipedia): so a domain the report
  warns about is predicted with no edge, by construction.
- ``sensitivity="cluster_resampling"`` (SLM-is): resampling the generic corpus to the
  domain's histogram
  (§2.4) changes nothing when the histogram is the generic one (h = 1 at k = 16 for a
  generic-like domain): ``m = (1 - h) / (1 - h_avg)``, clipped to [0, 9/7], with
  ``h_avg`` the nine domains' mean (0.45). **An assumption** (the paper reports no
  per-domain SLM-is numbers in its text), stated as such, with a wide band.
- ``sensitivity=None`` (LLM): no domain adjustment (the paper gives no per-domain
  evidence), but measured runs on the domain shift it (below).
- A strategy that declares no ``domain_edge``: untouched.

**Bands.** The adjustment adds a log-sd ``sigma_domain`` to the prediction's band, as
wide as the evidence is weak: ``|e| / 2`` where the paper's domains agree with the
average (figure-read "mostly consistent", not quantified), ``|e| x 9/7`` (the whole
edge) between and beyond the two groups, and the same again outside the range of the
paper's domains (h < .14 or h > .79). The importance-sampling assumption always carries
``|e| x 9/7``. A domain with no usable statistics (too few documents, none embeddable)
keeps the paper's average (m = 1) with ``|e| x 9/7`` and says why.

**How many documents** (`min_documents`, `entropy_bias`). A histogram of n documents over
k clusters occupies at most n clusters, so its normalized entropy is at most ln n / ln k
and its top share at least 1/n: below n = k it cannot read uniform whatever the text
(5 documents at k = 16: h <= ln 5 / ln 16 = .58, under the diffuse threshold .6; the
demo's `legal` has 5). So the minimum is **n >= k** documents (16 at the paper's k):
fewer, and the statistics are unusable (the paper's average, one reason line naming the
domain, the count and the minimum). Above it, the plug-in entropy still reads low by about
(k - 1) / (2 n) nats (Miller-Madow's first-order bias), (k - 1) / (2 n ln k) in h: .17 at
n = k = 16, under .058 (the paper's gap between gutenberg, .566, and wikipedia, .624) only
from n = 47. The bias points one way: a domain read diffuse from few documents is, if
anything, more diffuse; one read concentrated may not be. So when h + bias crosses
``H_KEEP``, a domain read concentrated gets the whole-edge band ``|e| x 9/7`` and the
reason says so.

**Measured evidence.** When the store holds runs on the domain at a small scale (several
seeds, converged), the measured gain ``g`` of a strategy that declares a ``domain_edge``
over the baseline (mean over seeds of ln ppl_s - ln ppl_baseline, standard error ``se``)
shifts the domain's edge by

    w (g - m e),   w = sigma_domain^2 / (sigma_domain^2 + se^2 + TRANSFER_SIGMA^2)

(the Gaussian update of the domain's edge by one noisy observation of it), and the band's
domain part shrinks to ``sqrt(1 - w) sigma_domain``. ``TRANSFER_SIGMA`` is how far a
small-scale gain moves at a larger scale, set from ``benchmarks/bench_transfer.py``.

Importing this module never imports torch.

Example:
    >>> prior = domain_prior(ClusterStats.from_histogram("flat", [1 / 16] * 16))
    >>> prior.multiplier["mixture"], prior.diffuse
    (0.0, True)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from planner.performance.perfmodel import Prediction
    from strategies.base import DomainEdge

__all__ = [
    "Adjustment",
    "DEFAULT_REFERENCE_GPUH",
    "DIFFUSE_NORMALIZED_ENTROPY",
    "PAPER_K",
    "TRANSFER_SIGMA",
    "ClusterStats",
    "DomainAdjustedModel",
    "DomainPrior",
    "MeasuredGain",
    "SetAdjustedModel",
    "baseline_strategy",
    "cluster_experts",
    "domain_edges",
    "domain_prior",
    "entropy_bias",
    "measured_gains",
    "min_documents",
    "paper_domain_stats",
    "sensitive_to",
    "spends_per_domain",
]

#: k of the generic clustering the statistics are taken against: the paper's mixture
#: (App. D.2, Table 1) and the smallest k of Table 10.
PAPER_K = 16
#: The report's diffuse threshold (normalized entropy; `planner.reports.clusters`), and the
#: point where the prior removes the cluster experts' edge (see the module docstring).
DIFFUSE_NORMALIZED_ENTROPY = 0.6
#: Log-sd of a small-scale gain (ln ppl_s - ln ppl_small) as a predictor of the same gain at
#: a larger scale: the RMS transfer error measured by `benchmarks/bench_transfer.py`, `tiny`
#: (3 seeds) -> `demo` (2 seeds), biomedical / legal / news x mixture / hypernetwork /
#: importance_sampling (9 pairs; RMS 0.061; 0.021 once each strategy's mean gain is
#: removed; 2026-11-30, shared 2-core machine; docs/domain-advice.md). Measured one scale
#: step below the paper's: the jump from `demo` to 126M models is not measured, so this
#: understates the uncertainty there.
TRANSFER_SIGMA = 0.061
#: Seed-to-seed log-sd assumed for a gain measured on one seed only (no spread to read).
SINGLE_SEED_SIGMA = 0.05
#: Compute where the paper-average edge is read for a strategy that declares no
#: `DomainEdge.reference_gpuh` (Table 8's 400-GPUh row).
DEFAULT_REFERENCE_GPUH = 400.0
_Z90 = 1.645  # the performance model's bands are ~90%: ppl x exp(+-1.645 sigma)


# ---------------------------------------------------------------------------- declarations
def domain_edges() -> dict[str, DomainEdge]:
    """Registered strategy -> the `DomainEdge` its planning prior declares (only those
    that declare one): those with a sensitivity first, then those that only measured
    runs shift, each in registry order. A strategy whose class cannot be loaded is left
    out."""
    from planner.performance.perfdata import planning_prior
    from strategies.registry import list_strategies

    out: dict[str, DomainEdge] = {}
    for name in list_strategies():
        try:
            edge = planning_prior(name).domain_edge
        except KeyError:
            continue
        if edge is not None:
            out[name] = edge
    return dict(sorted(out.items(), key=lambda item: item[1].sensitivity is None))


def sensitive_to(sensitivity: str) -> tuple[str, ...]:
    """Registered strategies whose `DomainEdge.sensitivity` is `sensitivity`."""
    return tuple(s for s, e in domain_edges().items() if e.sensitivity == sensitivity)


def cluster_experts() -> tuple[str, ...]:
    """The strategies that declare ``sensitivity="cluster_experts"`` (SLM-mix, SLM-pn):
    no edge over the baseline on a diffuse domain."""
    return sensitive_to("cluster_experts")


def baseline_strategy() -> str | None:
    """The registered strategy that declares ``PlanningPrior(baseline=True)`` (the paper's
    SLM): the first in registry order (the conformance suite allows one); None if none."""
    from planner.performance.perfdata import planning_prior
    from strategies.registry import list_strategies

    for name in list_strategies():
        try:
            if planning_prior(name).baseline:
                return name
        except KeyError:
            continue
    return None


def spends_per_domain(strategy: str) -> bool:
    """The strategy spends its compute per domain, with no shared pretraining (its prior's
    `compute_axis` is ``specialization``, as SLM-is): its edge is read at per-domain GPUh."""
    from planner.performance.perfdata import compute_axis

    try:
        return compute_axis(strategy) == "specialization"
    except KeyError:
        return False


def __getattr__(name: str) -> Any:
    """The former module constants, read from the registry's declarations (compatibility:
    `CLUSTER_EXPERTS`, `PRIOR_STRATEGIES`, `EVIDENCE_STRATEGIES`, `REFERENCE_GPUH`)."""
    if name == "CLUSTER_EXPERTS":
        return cluster_experts()
    if name == "PRIOR_STRATEGIES":
        return tuple(s for s, e in domain_edges().items() if e.sensitivity is not None)
    if name == "EVIDENCE_STRATEGIES":
        return tuple(domain_edges())
    if name == "REFERENCE_GPUH":
        return {s: e.reference_gpuh for s, e in domain_edges().items()}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ---------------------------------------------------------------------------- statistics
def min_documents(k: int) -> int:
    """The fewest documents a k-cluster histogram's statistics are used from: k (module
    docstring, "How many documents": below k the normalized entropy is capped at
    ln n / ln k < 1 by the sample size alone)."""
    return max(2, int(k))


def entropy_bias(k: int, n_docs: int) -> float:
    """How low the plug-in entropy of `n_docs` documents over `k` clusters reads, to first
    order (Miller-Madow: (k - 1) / (2 n) nats), in normalized units (/ ln k)."""
    if k < 2 or n_docs < 1:
        return math.inf
    return (k - 1) / (2.0 * n_docs * math.log(k))


@dataclass(frozen=True, kw_only=True)
class ClusterStats:
    """A domain's cluster histogram against the generic clustering (Tables 9-10).

    Args:
        domain: its name.
        k: number of generic clusters.
        histogram: k shares summing to 1 (empty for the paper's domains: not published).
        entropy: nats (Table 10).
        top_share: the most frequent cluster's share (Table 9).
        n_docs: documents assigned (None: unknown).
        n_tokens: the domain's train tokens (project tokenizer; None: not counted).
        source: where the numbers come from, in words.
        fallback: why there are no usable statistics ("" when there are).
    """

    domain: str
    k: int
    histogram: tuple[float, ...] = ()
    entropy: float = math.nan
    top_share: float = math.nan
    n_docs: int | None = None
    n_tokens: int | None = None
    source: str = ""
    fallback: str = ""

    @property
    def normalized_entropy(self) -> float:
        """H / ln k: 0 for one cluster, 1 for a uniform histogram."""
        return self.entropy / math.log(self.k) if self.k > 1 else math.nan

    @property
    def usable(self) -> bool:
        return not self.fallback and math.isfinite(self.entropy) and self.k > 1

    @classmethod
    def from_histogram(cls, domain: str, histogram: Sequence[float], *, source: str = "",
                       n_docs: int | None = None, n_tokens: int | None = None,
                       ) -> ClusterStats:
        """Statistics of a histogram (normalized here; entropy in nats)."""
        total = float(sum(histogram))
        if len(histogram) < 2 or not total > 0 or not all(math.isfinite(x) and x >= 0
                                                          for x in histogram):
            return cls.unavailable(domain, f"its cluster histogram is unusable "
                                           f"({len(histogram)} clusters)", n_tokens=n_tokens)
        k, need = len(histogram), min_documents(len(histogram))
        if n_docs is not None and n_docs < need:
            return cls.unavailable(
                domain, f"{n_docs} document(s) for a k={k} histogram, fewer than the minimum "
                        f"{need} (one per cluster: with {n_docs} the normalized entropy "
                        f"cannot exceed {_h_cap(n_docs, k):.2f})"
                        + (f"; {source}" if source else ""), n_tokens=n_tokens, n_docs=n_docs)
        p = [x / total for x in histogram]
        ent = -sum(x * math.log(x) for x in p if x > 0)
        return cls(domain=domain, k=len(p), histogram=tuple(p), entropy=ent,
                   top_share=max(p), n_docs=n_docs, n_tokens=n_tokens, source=source)

    @classmethod
    def unavailable(cls, domain: str, why: str, *, n_tokens: int | None = None,
                    n_docs: int | None = None) -> ClusterStats:
        """No statistics: the prior falls back to the paper's average and says `why`."""
        return cls(domain=domain, k=PAPER_K, n_tokens=n_tokens, n_docs=n_docs, fallback=why)

    def to_dict(self) -> dict[str, Any]:
        return {"domain": self.domain, "k": self.k, "entropy": _finite(self.entropy),
                "normalized_entropy": _finite(self.normalized_entropy),
                "top_share": _finite(self.top_share), "histogram": list(self.histogram),
                "n_docs": self.n_docs, "n_tokens": self.n_tokens, "source": self.source,
                "fallback": self.fallback}


def _h_cap(n_docs: int, k: int) -> float:
    """The largest normalized entropy `n_docs` documents can give over `k` clusters."""
    return math.log(max(1, min(n_docs, k))) / math.log(k) if k > 1 else math.nan


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


@lru_cache(maxsize=1)
def paper_domain_stats() -> dict[str, ClusterStats]:
    """The paper's nine domains (and c4) at k = 16: Table 10 entropy, Table 9 top share."""
    from planner.reference import read_records

    top = {r["domain"]: float(r["k16"]) for r in read_records("table9")}
    return {r["domain"]: ClusterStats(domain=r["domain"], k=PAPER_K, entropy=float(r["k16"]),
                                      top_share=top[r["domain"]],
                                      source="paper, Tables 9-10 (k = 16)")
            for r in read_records("table10")}


#: The paper's domains where SLM-mix / SLM-pn do not beat SLM (App. E).
_LOSING = ("wikipedia", "openwebtext2")


@lru_cache(maxsize=1)
def _anchors() -> dict[str, float]:
    """H_KEEP, H_LOSE_EVIDENCE, the range and the mean of the nine domains' h (k = 16)."""
    stats = {d: s.normalized_entropy for d, s in paper_domain_stats().items() if d != "c4"}
    keep = [h for d, h in stats.items() if d not in _LOSING]
    lose = [stats[d] for d in _LOSING]
    return {"keep": max(keep), "lose_evidence": min(lose), "lo": min(stats.values()),
            "hi": max(stats.values()), "mean": sum(stats.values()) / len(stats),
            "full": len(stats) / len(keep)}


# ---------------------------------------------------------------------------- the prior
@dataclass(frozen=True, kw_only=True)
class DomainPrior:
    """How one domain's statistics scale each strategy's edge over SLM.

    Args:
        stats: the statistics it was built from.
        multiplier: strategy -> m (the domain's edge = m x the paper-average edge).
        sigma_factor: strategy -> extra log-sd of the band, in units of |edge|.
        diffuse: the domain is diffuse (h >= DIFFUSE_NORMALIZED_ENTROPY).
        reasons: strategy -> one line saying what moved it and on what evidence.
    """

    stats: ClusterStats
    multiplier: Mapping[str, float]
    sigma_factor: Mapping[str, float]
    diffuse: bool
    reasons: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"stats": self.stats.to_dict(), "multiplier": dict(self.multiplier),
                "sigma_factor": dict(self.sigma_factor), "diffuse": self.diffuse,
                "reasons": dict(self.reasons)}


def domain_prior(stats: ClusterStats) -> DomainPrior:
    """The domain's adjustment of every strategy that declares a domain sensitivity
    (`strategies.base.DomainEdge`; see the module docstring for every number and its
    source)."""
    a = _anchors()
    full = a["full"]
    sensitivity = {s: e.sensitivity for s, e in domain_edges().items()
                   if e.sensitivity is not None}
    if not stats.usable:
        why = (f"no cluster statistics for {stats.domain!r} ({stats.fallback}): the paper's "
               "nine-domain average, with a band as wide as the whole edge")
        return DomainPrior(stats=stats, multiplier={s: 1.0 for s in sensitivity},
                           sigma_factor={s: full for s in sensitivity}, diffuse=False,
                           reasons={s: why for s in sensitivity})
    h = stats.normalized_entropy
    keep, lose = a["keep"], DIFFUSE_NORMALIZED_ENTROPY
    if h <= keep:
        m_exp = full
    elif h >= lose:
        m_exp = 0.0
    else:
        m_exp = full * (lose - h) / (lose - keep)
    outside = h < a["lo"] or h > a["hi"]
    sig_exp = (0.5 if h <= keep else full) + (full if outside else 0.0)
    bias = entropy_bias(stats.k, stats.n_docs) if stats.n_docs else 0.0
    few = h < lose and h + bias > keep  # read concentrated; few documents may hide diffuse
    if few and h <= keep:
        sig_exp += full - 0.5
    where = (f"normalized entropy {h:.2f} at k={stats.k} (top cluster {stats.top_share:.0%})")
    if h >= lose:
        why_exp = (f"{where}: diffuse, as wikipedia (.62) and openwebtext2 (.79), where "
                   "neither SLM-mix nor SLM-pn beat SLM (App. E, Table 10): no edge over "
                   "SLM predicted")
    elif h <= keep:
        why_exp = (f"{where}: concentrated like the seven Pile domains where cluster experts "
                   "kept the paper's edge (h <= .57, Table 10): edge x 9/7")
    else:
        why_exp = (f"{where}: between gutenberg (.57, kept the edge) and the diffuse "
                   f"threshold ({lose}): edge x {m_exp:.2f}, wide band")
    if outside:
        why_exp += (f"; outside the paper's domains' range ({a['lo']:.2f}-{a['hi']:.2f}), "
                    "band widened")
    if few:
        why_exp += (f"; from {stats.n_docs} documents the entropy reads low by about "
                    f"{bias:.2f} (Miller-Madow, (k - 1) / (2 n ln k)): h could be "
                    f"{h + bias:.2f}, band as wide as the whole edge")
    m_is = min(full, max(0.0, (1.0 - h) / (1.0 - a["mean"])))
    why_is = (f"{where}: importance sampling's edge x {m_is:.2f} = (1 - h) / (1 - "
              f"{a['mean']:.2f}, the paper domains' mean): an assumption (resampling to a "
              "generic-like histogram changes nothing; no per-domain SLM-is numbers in the "
              "paper's text), wide band")
    by_kind = {"cluster_experts": (m_exp, sig_exp, why_exp),
               "cluster_resampling": (m_is, full + (full if outside else 0.0), why_is)}
    return DomainPrior(
        stats=stats,
        multiplier={s: by_kind[k][0] for s, k in sensitivity.items()},
        sigma_factor={s: by_kind[k][1] for s, k in sensitivity.items()},
        diffuse=h >= lose,
        reasons={s: by_kind[k][2] for s, k in sensitivity.items()})


# ---------------------------------------------------------------------------- evidence
@dataclass(frozen=True, kw_only=True)
class MeasuredGain:
    """A strategy's measured gain over the baseline (`small`) on one domain at one scale.

    Args:
        strategy, domain, scale: what was measured.
        gain: mean over seeds of ln ppl_strategy - ln ppl_baseline (negative: better).
        se: its standard error (log units).
        n_seeds: seeds with both runs.
        n_excluded: runs left out as not converged.
        seed_sd_assumed: True when one seed left no spread to read (``SINGLE_SEED_SIGMA``).
    """

    strategy: str
    domain: str
    scale: str
    gain: float
    se: float
    n_seeds: int
    n_excluded: int = 0
    seed_sd_assumed: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"strategy": self.strategy, "domain": self.domain, "scale": self.scale,
                "gain": self.gain, "se": self.se, "n_seeds": self.n_seeds,
                "n_excluded": self.n_excluded, "seed_sd_assumed": self.seed_sd_assumed}


def _converged(rec: Mapping[str, Any]) -> bool:
    """False only when the run says it did not converge (column or ``info``)."""
    value = rec.get("converged")
    if value is None or (isinstance(value, float) and math.isnan(value)):
        info = rec.get("info")
        value = info.get("converged") if isinstance(info, Mapping) else None
    return value is not False and value != 0


_SCALE_ORDER = ("tiny", "demo", "study", "paper")


def measured_gains(runs: pd.DataFrame | Iterable[Mapping[str, Any]] | None, domain: str,
                   ) -> dict[str, MeasuredGain]:
    """Each strategy's measured gain over the baseline (`baseline_strategy`) on `domain`,
    at the largest non-paper scale that has both (seeds paired; runs flagged not converged
    left out). Empty without runs or without a declared baseline."""
    if runs is None:
        return {}
    baseline = baseline_strategy()
    if baseline is None:
        return {}
    records = (runs.to_dict("records") if hasattr(runs, "to_dict") else list(runs))
    by: dict[tuple[str, str], dict[int, float]] = {}
    excluded: dict[tuple[str, str], int] = {}
    for r in records:
        if r.get("domain") != domain or r.get("scale") in (None, "paper"):
            continue
        ppl = r.get("test_ppl")
        if ppl is None or not math.isfinite(float(ppl)) or float(ppl) <= 0:
            continue
        key = (str(r["scale"]), str(r["strategy"]))
        if not _converged(r):
            excluded[key] = excluded.get(key, 0) + 1
            continue
        seed = int(r.get("seed") or 0)
        by.setdefault(key, {})[seed] = math.log(float(ppl))
    scales = sorted({s for s, name in by if name == baseline},
                    key=lambda s: (_SCALE_ORDER.index(s) if s in _SCALE_ORDER else -1, s))
    out: dict[str, MeasuredGain] = {}
    for scale in reversed(scales):
        base = by[(scale, baseline)]
        for (sc, name), per_seed in by.items():
            if sc != scale or name == baseline or name in out:
                continue
            diffs = [v - base[s] for s, v in per_seed.items() if s in base]
            if not diffs:
                continue
            mean = sum(diffs) / len(diffs)
            if len(diffs) > 1:
                sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / (len(diffs) - 1))
                se, assumed = sd / math.sqrt(len(diffs)), False
            else:
                se, assumed = SINGLE_SEED_SIGMA, True
            out[name] = MeasuredGain(strategy=name, domain=domain, scale=scale, gain=mean,
                                     se=se, n_seeds=len(diffs),
                                     n_excluded=excluded.get((sc, name), 0),
                                     seed_sd_assumed=assumed)
    return out


# ---------------------------------------------------------------------------- wrappers
@dataclass(frozen=True, kw_only=True)
class Adjustment:
    """What the wrapper did to one strategy's prediction on one domain (log units)."""

    strategy: str
    paper_edge: float
    multiplier: float
    prior_shift: float
    evidence_shift: float
    evidence_weight: float
    sigma_domain: float
    measured: MeasuredGain | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"strategy": self.strategy, "paper_edge": self.paper_edge,
                "multiplier": self.multiplier, "prior_shift": self.prior_shift,
                "evidence_shift": self.evidence_shift,
                "evidence_weight": self.evidence_weight, "sigma_domain": self.sigma_domain,
                "measured": self.measured.to_dict() if self.measured else None}


class DomainAdjustedModel:
    """A fitted performance model, its paper-scale predictions adjusted for one domain.

    Delegates every attribute to `base`; `predict` calls ``base.predict`` and adds the
    domain's log-perplexity shift and band (module docstring). Predictions at other
    scales pass through unchanged (runs there carry their own domain offsets).

    Args:
        base: a fitted `planner.performance.perfmodel.PerformanceModel` (or anything with
            its ``predict`` / ``predict_gpuh`` interface).
        prior: the domain's `DomainPrior`.
        gains: measured gains on the domain (`measured_gains`), or None.
        transfer_sigma: log-sd of a small-scale gain as a predictor at paper scale.
    """

    def __init__(self, base: Any, prior: DomainPrior, *,
                 gains: Mapping[str, MeasuredGain] | None = None,
                 transfer_sigma: float = TRANSFER_SIGMA) -> None:
        self.base = base
        self.prior = prior
        self.gains = dict(gains or {})
        self.transfer_sigma = transfer_sigma
        self.baseline = baseline_strategy()
        self.declared = domain_edges()  # the strategies the domain may shift
        self._edges: dict[tuple[float, float], float] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.base, name)

    @property
    def domain(self) -> str:
        return self.prior.stats.domain

    def reference_gpuh(self, strategy: str) -> float:
        """Where `strategy`'s paper-average edge is read (`DomainEdge.reference_gpuh`)."""
        edge = self.declared.get(strategy)
        return edge.reference_gpuh if edge is not None else DEFAULT_REFERENCE_GPUH

    def paper_edge(self, strategy: str, n_domain_tokens: float) -> float:
        """The paper-average edge ln ppl_s - ln ppl_baseline at the reference compute
        (`reference_gpuh`; shown in reports)."""
        gpuh = self.reference_gpuh(strategy)
        key = "specialization_gpuh" if spends_per_domain(strategy) else "pretraining_gpuh"
        y = self.base.predict_gpuh(strategy, n_domain_tokens=n_domain_tokens,
                                   **{key: gpuh}).ppl
        return math.log(y) - self._small(gpuh, n_domain_tokens)

    def _small(self, gpuh: float, n_domain_tokens: float) -> float:
        """ln ppl of the baseline (SLM) pretrained with `gpuh` A100 GPU-hours (memoized)."""
        if self.baseline is None:
            raise ValueError("no registered strategy declares PlanningPrior(baseline=True)")
        key = (round(gpuh, 9), float(n_domain_tokens))
        if key not in self._edges:
            self._edges[key] = math.log(self.base.predict_gpuh(
                self.baseline, pretraining_gpuh=gpuh, n_domain_tokens=n_domain_tokens).ppl)
        return self._edges[key]

    def adjustment(self, strategy: str, n_domain_tokens: float, *, ppl: float,
                   gpuh: float) -> Adjustment | None:
        """The shift of `strategy`'s prediction `ppl` at `gpuh` A100 GPU-hours of its own
        compute (pretraining; per-domain for importance sampling) on this domain; None
        when untouched. The edge is against SLM pretrained with the same GPU-hours
        (Table 8 compares at fixed pretraining cost). Only strategies that declare a
        `DomainEdge` are touched; one with no sensitivity only by a measured gain."""
        measured = self.gains.get(strategy)
        edge = self.declared.get(strategy)
        if self.baseline is None or edge is None or (edge.sensitivity is None
                                                     and measured is None):
            return None
        e = min(0.0, math.log(ppl) - self._small(gpuh, n_domain_tokens))  # only a gain moves
        m = self.prior.multiplier.get(strategy, 1.0)
        sig = self.prior.sigma_factor.get(strategy, 0.5) * abs(e)
        prior_shift = (m - 1.0) * e
        ev_shift, w = 0.0, 0.0
        if measured is not None:
            noise = measured.se ** 2 + self.transfer_sigma ** 2
            w = sig * sig / (sig * sig + noise) if sig > 0 else 0.0
            ev_shift = w * (measured.gain - m * e)
            sig = math.sqrt(1.0 - w) * sig
        return Adjustment(strategy=strategy, paper_edge=e, multiplier=m,
                          prior_shift=prior_shift, evidence_shift=ev_shift,
                          evidence_weight=w, sigma_domain=sig, measured=measured)

    def reference_adjustment(self, strategy: str, n_domain_tokens: float,
                             ) -> Adjustment | None:
        """`adjustment` at the strategy's reference compute (`reference_gpuh`); None for a
        strategy that declares no `DomainEdge`."""
        if strategy not in self.declared or self.baseline is None:
            return None
        gpuh = self.reference_gpuh(strategy)
        ppl = math.exp(self.paper_edge(strategy, n_domain_tokens)
                       + self._small(gpuh, n_domain_tokens))
        return self.adjustment(strategy, n_domain_tokens, ppl=ppl, gpuh=gpuh)

    def predict(self, strategy: str, *, n_domain_tokens: float, scale: str = "paper",
                pretraining_flops: float = 0.0, specialization_flops: float = 0.0,
                **kwargs: Any) -> Prediction:
        """``base.predict``, shifted and widened for this domain (paper scale)."""
        from planner.performance.perfmodel import reference_flops

        p = self.base.predict(strategy, n_domain_tokens=n_domain_tokens, scale=scale,
                              pretraining_flops=pretraining_flops,
                              specialization_flops=specialization_flops, **kwargs)
        if scale != "paper" or strategy not in self.declared:
            return p
        if spends_per_domain(strategy):
            gpuh = specialization_flops / reference_flops(strategy, 1.0, "specialization")
        else:
            gpuh = pretraining_flops / reference_flops(strategy, 1.0)
        return self._apply(p, strategy, n_domain_tokens, gpuh)

    def predict_gpuh(self, strategy: str, *, n_domain_tokens: float,
                     pretraining_gpuh: float = 0.0, specialization_gpuh: float = 0.0,
                     **kwargs: Any) -> Prediction:
        p = self.base.predict_gpuh(strategy, n_domain_tokens=n_domain_tokens,
                                   pretraining_gpuh=pretraining_gpuh,
                                   specialization_gpuh=specialization_gpuh, **kwargs)
        if strategy not in self.declared:
            return p
        gpuh = specialization_gpuh if spends_per_domain(strategy) else pretraining_gpuh
        return self._apply(p, strategy, n_domain_tokens, gpuh)

    def _apply(self, p: Prediction, strategy: str, n_domain_tokens: float, gpuh: float,
               ) -> Prediction:
        if not gpuh > 0:
            return p
        adj = self.adjustment(strategy, n_domain_tokens, ppl=p.ppl, gpuh=gpuh)
        if adj is None:
            return p
        return _shifted(p, adj.prior_shift + adj.evidence_shift, adj.sigma_domain,
                        _note(self.domain, adj))


def _note(domain: str, adj: Adjustment) -> str:
    text = (f"domain {domain!r}: edge over SLM at equal compute {adj.paper_edge:+.3f} "
            f"(log ppl) x {adj.multiplier:.2f}")
    if adj.measured is not None:
        g = adj.measured
        text += (f"; measured {g.gain:+.3f} +- {g.se:.3f} over {g.n_seeds} seed(s) at "
                 f"scale {g.scale!r}, counted {adj.evidence_weight:.0%}")
    return text


def _shifted(p: Prediction, shift: float, sigma: float, note: str) -> Prediction:
    """`p` moved by `shift` (log ppl) with `sigma` (log-sd) added to its band."""
    f = math.exp(shift)
    ppl = p.ppl * f
    lo_s = math.log(p.ppl / p.low) / _Z90 if p.low > 0 else 0.0
    hi_s = math.log(p.high / p.ppl) / _Z90 if p.ppl > 0 else 0.0
    lo = ppl * math.exp(-_Z90 * math.hypot(lo_s, sigma))
    hi = ppl * math.exp(_Z90 * math.hypot(hi_s, sigma))
    return replace(p, ppl=ppl, low=lo, high=hi, notes=(*p.notes, note),
                   basis=p.basis + "; adjusted for the domain (docs/domain-advice.md)")


class SetAdjustedModel:
    """One shared plan for several domains: the macro-average (mean log perplexity, as the
    paper's Table 8) of each domain's adjusted prediction; bands averaged in log-sd
    (domains' errors treated as fully correlated: conservative)."""

    def __init__(self, members: Sequence[DomainAdjustedModel]) -> None:
        if not members:
            raise ValueError("SetAdjustedModel needs at least one domain")
        self.members = list(members)
        self.base = self.members[0].base

    def __getattr__(self, name: str) -> Any:
        return getattr(self.base, name)

    def predict(self, strategy: str, **kwargs: Any) -> Prediction:
        return _average([m.predict(strategy, **kwargs) for m in self.members])

    def predict_gpuh(self, strategy: str, **kwargs: Any) -> Prediction:
        return _average([m.predict_gpuh(strategy, **kwargs) for m in self.members])


def _average(ps: Sequence[Prediction]) -> Prediction:
    n = len(ps)
    y = sum(math.log(p.ppl) for p in ps) / n
    lo = sum(math.log(p.low) for p in ps) / n
    hi = sum(math.log(p.high) for p in ps) / n
    notes = tuple(dict.fromkeys(x for p in ps for x in p.notes))
    return replace(ps[0], ppl=math.exp(y), low=math.exp(lo), high=math.exp(hi),
                   extrapolating=any(p.extrapolating for p in ps), notes=notes)
