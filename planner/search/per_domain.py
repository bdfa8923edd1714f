"""Per-domain answers: a recommendation for each of the user's domains and for the set.

    >>> from planner.costing.scenario import default_budget
    >>> from planner.performance.domain_prior import ClusterStats
    >>> from planner.search.per_domain import advise
    >>> flat = ClusterStats.from_histogram("web", [1 / 16] * 16, source="example")
    >>> advice = advise(default_budget(), ["web"], stats={"web": flat})
    >>> advice.domains[0].strategy in ("mixture", "hypernetwork")
    False

For each domain (a built-in name, ``NAME=PATH`` for the user's files, or a domain that
only the results store knows) the answer reads:

- its train token count (project tokenizer) and its cluster statistics against the
  generic clustering at the paper's k (`planner.performance.domain_prior.PAPER_K`): from a
  stored run's histogram when the store has one (the report's diffuse warnings read the
  same one), else computed (`strategies.machinery.clustering.domain_cluster_table`, which
  embeds documents: torch) and cached on disk, so a second call is fast;
- the domain prior (`planner.performance.domain_prior.domain_prior`) and the measured
  gains of its stored runs (`measured_gains`), applied around the performance model by
  `DomainAdjustedModel`;
- `planner.search.recommend.recommend` with that model: the domain's own choice.

The set (one shared pretraining serving N domains) is recommended with the macro-average
of the domains' adjusted predictions (`SetAdjustedModel`); where a domain's own choice
differs, the answer says so and what following the set costs that domain. A domain whose
statistics are diffuse never gets a mixture or projected network over `small` unless its
predicted edge survives its band, and then the reason says so.

Bad input: an unknown domain name is one `SpecplanError` line (exit 2 in the CLI); a
domain with too few documents, or none that can be embedded, falls back to the paper's
average and says why.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from domains.errors import SpecplanError
from planner.costing.budget import format_amount
from planner.performance.domain_prior import (
    DEFAULT_REFERENCE_GPUH,
    PAPER_K,
    TRANSFER_SIGMA,
    Adjustment,
    ClusterStats,
    DomainAdjustedModel,
    DomainPrior,
    MeasuredGain,
    SetAdjustedModel,
    baseline_strategy,
    cluster_experts,
    domain_edges,
    domain_prior,
    measured_gains,
    min_documents,
    sensitive_to,
    spends_per_domain,
)

if TYPE_CHECKING:
    import pandas as pd

    from planner.costing.budget import Budget
    from planner.search.recommend import Recommendation

__all__ = ["DomainAdvice", "DomainAnswer", "advise", "cluster_statistics", "resolve_domains"]

#: Stored histograms with fewer clusters than this are not used (the report's
#: `DIFFUSE_MIN_K`: the paper's evidence is at k = 16 and above).
MIN_STORED_K = 8
#: A histogram needs at least this many documents (`min_documents`: one per cluster at
#: the paper's k).
MIN_DOCS = min_documents(PAPER_K)
#: Relative perplexity difference treated as a tie when comparing with the set's choice.
TIE = 0.005


# ------------------------------------------------------------------------------ domains
@dataclass(frozen=True)
class _DomainRef:
    name: str
    domain: Any = None  # a `domains.Domain`, or None for a store-only domain


def resolve_domains(specs: Sequence[str], runs: pd.DataFrame | None = None,
                    ) -> list[_DomainRef]:
    """Built-in names, ``NAME=PATH`` or names in the store's runs; else one-line error."""
    from domains import get_domain
    from domains.errors import DomainError

    stored = set() if runs is None or not len(runs) else set(runs["domain"].dropna())
    out: list[_DomainRef] = []
    for spec in specs:
        spec = spec.strip()
        if not spec:
            raise SpecplanError("--domain: empty domain name")
        if "=" not in spec and spec in stored:
            try:
                out.append(_DomainRef(spec, get_domain(spec)))
            except DomainError:
                out.append(_DomainRef(spec))  # known from stored runs only
            continue
        try:
            d = get_domain(spec)
        except DomainError as err:
            known = ", ".join(sorted(stored)) or "none"
            raise SpecplanError(f"--domain {spec}: {err} (domains in the results store: "
                                f"{known})") from None
        if "=" in spec:  # NAME=PATH: a missing path is bad input, not a domain without text
            from pathlib import Path

            path = Path(spec.split("=", 1)[1].strip()).expanduser()
            if not path.exists():
                raise SpecplanError(f"--domain {spec}: no such file or folder: {path}")
        out.append(_DomainRef(d.name, d))
    names = [r.name for r in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise SpecplanError(f"--domain: {', '.join(dup)} given twice")
    return out


# ------------------------------------------------------------------------------ statistics
def _stored_stats(name: str, runs: pd.DataFrame | None) -> ClusterStats | None:
    """The store's histogram for `name`: the largest k >= MIN_STORED_K drawn from enough
    documents (`min_documents`), else the largest k's fallback (too few documents, said
    in one line); None when no run recorded one. The report's diffuse warning judges the
    same histograms by the same minimum (`planner.reports.clusters.cluster_table`)."""
    if runs is None or not len(runs) or "info" not in runs:
        return None
    found: list[ClusterStats] = []
    for rec in runs[runs["domain"] == name].to_dict("records"):
        info = rec.get("info")
        hist = info.get("cluster_histogram") if isinstance(info, Mapping) else None
        if not isinstance(hist, (list, tuple)) or len(hist) < MIN_STORED_K:
            continue
        k = len(hist)
        hist = [float(x) for x in hist]
        n_docs = histogram_documents(info, hist)
        note = "" if k == PAPER_K else f"; thresholds calibrated at k={PAPER_K}"
        found.append(ClusterStats.from_histogram(
            name, hist, n_docs=n_docs,
            source=f"stored run ({rec.get('strategy')} at scale {rec.get('scale')!r}, "
                   f"k={k}, {n_docs if n_docs is not None else 'unknown'} documents{note})"))
    if not found:
        return None
    found.sort(key=lambda st: (st.usable, len(st.histogram) or st.k), reverse=True)
    return found[0]


def histogram_documents(info: Mapping[str, Any], hist: Sequence[float]) -> int | None:
    """How many domain documents a stored histogram was drawn from: the run's
    ``n_domain_docs`` when it recorded one, else the fewest counts that give its shares
    (`_implied_docs`: runs store shares, not counts)."""
    n = info.get("n_domain_docs")
    if isinstance(n, (int, float)) and not isinstance(n, bool) and n == n and n >= 1:
        return int(n)
    return _implied_docs(hist)


def _implied_docs(hist: Sequence[float], limit: int = 10_000) -> int | None:
    """The fewest documents whose counts give these shares (runs store shares, not counts);
    None when no n up to `limit` fits."""
    total = sum(hist)
    if not total > 0:
        return None
    p = [x / total for x in hist]
    for n in range(1, limit + 1):
        if all(abs(x * n - round(x * n)) < 1e-6 * n for x in p):
            return n
    return None


def _stats_cache_path(domain: Any) -> Any:
    from domains import get_domain
    from domains.cache import cache_dir, file_stem, stable_hash
    from strategies.machinery.clustering import (
        KMEANS_RECIPE,
        STATS_DOMAIN_DOCS,
        STATS_GENERIC_DOCS,
    )
    from strategies.machinery.embeddings import model_key

    key = stable_hash("domain-stats-v1", domain.fingerprint, get_domain("generic").fingerprint,
                      PAPER_K, STATS_GENERIC_DOCS, STATS_DOMAIN_DOCS, KMEANS_RECIPE,
                      model_key())
    return cache_dir("domain_stats") / f"{file_stem(domain.name)}-{key[:24]}.json"


def cluster_statistics(ref: _DomainRef, runs: pd.DataFrame | None = None, *,
                       compute: bool = True, progress: bool = False) -> ClusterStats:
    """The domain's token count and cluster statistics; a `ClusterStats.unavailable` with
    the reason when they cannot be had. Order: a stored histogram at the paper's k; then
    (with `compute`) the cache or a computation at the paper's k; then a stored histogram
    at another k >= MIN_STORED_K. Without `compute` a stored histogram comes first, as the
    report's diffuse warnings read it.

    Args:
        compute: embed and cluster when neither the store nor the cache has them (torch,
            minutes on a CPU the first time); False: stored or cached only, and the token
            count only when cached (what the demo and the report use).
    """
    stored = _stored_stats(ref.name, runs)
    if ref.domain is None:
        return stored or ClusterStats.unavailable(
            ref.name, "known only from stored runs, none of which recorded a cluster "
                      f"histogram with k >= {MIN_STORED_K}")
    n_tokens = _token_count(ref.domain, cached_only=not compute)
    if stored is not None and stored.usable and (stored.k == PAPER_K or not compute):
        return replace(stored, n_tokens=n_tokens)  # what the report's warning reads
    computed = _computed_stats(ref.domain, n_tokens, compute=compute, progress=progress)
    if computed.usable or stored is None:
        return computed  # the paper's k first when computing is allowed
    return replace(stored, n_tokens=n_tokens)


def _token_count(domain: Any, *, cached_only: bool = False) -> int | None:
    """The domain's train tokens (project tokenizer); with `cached_only`, only when the
    count is cached (`specplan domains`, an earlier `recommend --domain`)."""
    from domains.stats import cached_token_counts, token_counts

    try:
        counts = cached_token_counts(domain) if cached_only else token_counts(domain)
    except SpecplanError:
        return None
    return int(counts["train"]) if counts is not None else None


def _computed_stats(domain: Any, n_tokens: int | None, *, compute: bool, progress: bool,
                    ) -> ClusterStats:
    from domains.cache import read_json, write_json

    try:
        n_docs = len(domain.documents("train"))
        path = _stats_cache_path(domain)
    except SpecplanError as err:  # e.g. too few documents to split into train/valid/test
        return ClusterStats.unavailable(domain.name, str(err), n_tokens=n_tokens)
    cached = read_json(path)
    if isinstance(cached, dict) and "histogram" in cached:
        return ClusterStats.from_histogram(domain.name, cached["histogram"],
                                           n_docs=cached.get("n_docs"), n_tokens=n_tokens,
                                           source=cached.get("source", "computed (cached)"))
    if not compute:
        return ClusterStats.unavailable(
            domain.name, "no stored cluster histogram (runs of importance_sampling or "
                         "mixture record one; `specplan recommend --domain` computes it)",
            n_tokens=n_tokens)
    if n_docs < MIN_DOCS:
        return ClusterStats.unavailable(
            domain.name, f"{n_docs} training document(s), fewer than the minimum {MIN_DOCS} "
                         f"a k={PAPER_K} histogram needs (one per cluster)", n_tokens=n_tokens,
            n_docs=n_docs)
    from strategies.machinery.clustering import domain_cluster_table

    try:
        row = domain_cluster_table([domain], PAPER_K, progress=progress)[0]
    except (SpecplanError, ValueError, RuntimeError) as err:
        return ClusterStats.unavailable(
            domain.name, f"none of its documents could be embedded ({err})",
            n_tokens=n_tokens)
    source = (f"computed: {row['n_docs']} documents against {PAPER_K} k-means clusters of "
              "the generic corpus (all-MiniLM-L6-v2)")
    write_json(path, {"histogram": row["histogram"], "n_docs": row["n_docs"],
                      "source": source})
    return ClusterStats.from_histogram(domain.name, row["histogram"], n_docs=row["n_docs"],
                                       n_tokens=n_tokens, source=source)


# ------------------------------------------------------------------------------ answers
@dataclass(frozen=True, kw_only=True)
class DomainAnswer:
    """One domain's answer.

    Args:
        name: the domain.
        stats: its token count and cluster statistics.
        prior: the domain prior built from them.
        gains: measured gains over `small` from the store.
        adjustments: strategy -> what the domain did to its prediction.
        recommendation: the domain's own choice (before `strategy` overrides it).
        strategy: the advice for this domain.
        predicted_ppl: its predicted perplexity under `strategy` (paper scale).
        interval: the ~90% band of `predicted_ppl`.
        set_strategy_ppl: this domain's predicted perplexity under the set's strategy.
        reasons: what about this domain moved the answer.
    """

    name: str
    stats: ClusterStats
    prior: DomainPrior
    gains: Mapping[str, MeasuredGain]
    adjustments: Mapping[str, Adjustment]
    recommendation: Recommendation
    strategy: str
    predicted_ppl: float
    set_strategy_ppl: float | None
    reasons: tuple[str, ...]

    @property
    def differs(self) -> bool:
        return bool(self.set_strategy) and self.strategy != self.set_strategy

    set_strategy: str = ""
    interval: tuple[float, float] = (math.nan, math.nan)

    def to_dict(self) -> dict[str, Any]:
        return {"domain": self.name, "strategy": self.strategy,
                "predicted_ppl": self.predicted_ppl, "interval": list(self.interval),
                "set_strategy": self.set_strategy,
                "set_strategy_ppl": self.set_strategy_ppl, "differs": self.differs,
                "stats": self.stats.to_dict(), "diffuse": self.prior.diffuse,
                "adjustments": {k: v.to_dict() for k, v in self.adjustments.items()},
                "measured": {k: v.to_dict() for k, v in self.gains.items()},
                "reasons": list(self.reasons)}


@dataclass(frozen=True, kw_only=True)
class DomainAdvice:
    """The per-domain answers and the set's.

    Args:
        budget: the budgets answered (N raised to the number of domains if lower).
        set_recommendation: one shared plan for the set (macro-average of the domains).
        paper_average: the recommendation from the paper's nine-domain average alone.
        domains: one `DomainAnswer` per domain, in the order given.
        reasons: the set's reasons (which domains moved it, where choices differ).
        transfer_sigma: the transfer uncertainty used for measured gains (log-sd).
    """

    budget: Budget
    set_recommendation: Recommendation
    paper_average: Recommendation
    domains: tuple[DomainAnswer, ...]
    reasons: tuple[str, ...] = ()
    transfer_sigma: float = TRANSFER_SIGMA
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def set_strategy(self) -> str:
        return self.set_recommendation.strategy

    def to_dict(self) -> dict[str, Any]:
        return {"set": {"strategy": self.set_strategy,
                        "predicted_ppl": self.set_recommendation.predicted_ppl,
                        "interval": list(self.set_recommendation.interval),
                        "recommendation": self.set_recommendation.to_dict()},
                "paper_average": {"strategy": self.paper_average.strategy,
                                  "predicted_ppl": self.paper_average.predicted_ppl},
                "domains": [d.to_dict() for d in self.domains],
                "reasons": list(self.reasons), "notes": list(self.notes),
                "transfer_sigma": self.transfer_sigma}

    def format(self) -> str:
        """The advice as `specplan recommend --domain` prints it."""
        s = self.set_recommendation
        b = self.budget
        lines = [f"recommendation: {s.strategy} ({s.paper_name}) for the set of "
                 f"{len(self.domains)} domain(s) ({b.n_domains} served, one shared "
                 f"pretraining), predicted macro perplexity {s.predicted_ppl:.2f} "
                 f"({s.interval[0]:.2f}-{s.interval[1]:.2f})"]
        lines += [f"  - {r}" for r in self.reasons]
        for d in self.domains:
            st = d.stats
            head = f"{d.name}: {d.strategy}, predicted {d.predicted_ppl:.2f}"
            if all(math.isfinite(x) for x in d.interval):
                head += f" ({d.interval[0]:.2f}-{d.interval[1]:.2f})"
            if d.differs and d.set_strategy_ppl is not None:
                head += f" (the set's {d.set_strategy}: {d.set_strategy_ppl:.2f})"
            lines.append(head)
            tokens = f"{st.n_tokens:,} train tokens" if st.n_tokens else "token count n/a"
            if st.usable:
                lines.append(f"    {tokens}; k={st.k}: entropy {st.entropy:.2f} nats "
                             f"(normalized {st.normalized_entropy:.2f}), top cluster "
                             f"{st.top_share:.0%}; {st.source}")
            else:
                lines.append(f"    {tokens}; no cluster statistics: {st.fallback}")
            lines += [f"    - {r}" for r in d.reasons]
            lines += [f"    {line}" for line in edge_lines(d)]
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


def _pct(x: float) -> str:
    return f"{100 * math.expm1(x):+.1f}%"


def edge_lines(d: DomainAnswer) -> list[str]:
    """Per strategy, at its reference compute: the paper-average edge over the baseline
    (SLM), the domain prior's, the measured gain and how much it counted, the result."""
    out = []
    edges = domain_edges()
    base = baseline_strategy()
    for s, a in d.adjustments.items():
        per = " per domain" if spends_per_domain(s) else ""
        gpuh = edges[s].reference_gpuh if s in edges else DEFAULT_REFERENCE_GPUH
        text = (f"{s} vs {base} at {gpuh:g} GPUh{per}: paper average "
                f"{_pct(a.paper_edge)}, "
                f"this domain {_pct(a.multiplier * a.paper_edge)} (x{a.multiplier:.2f})")
        if a.measured is not None:
            g = a.measured
            text += (f"; measured {_pct(g.gain)} at scale {g.scale!r} ({g.n_seeds} seed(s)), "
                     f"counted {a.evidence_weight:.0%}")
        total = a.paper_edge + a.prior_shift + a.evidence_shift
        out.append(text + f" -> {_pct(total)}")
    return out


def _ppl_of(rec: Recommendation, strategy: str) -> float | None:
    if rec.strategy == strategy:
        return rec.predicted_ppl
    for r in rec.runners_up:
        if r.strategy == strategy and r.feasible:
            return r.predicted_ppl
    return None


def advise(budget: Budget, domains: Sequence[str], *, runs: pd.DataFrame | None = None,
           storage: str | None = None, stats: Mapping[str, ClusterStats] | None = None,
           seed: int = 0, n_trials: int | None = None, strategies: list[str] | None = None,
           transfer_sigma: float = TRANSFER_SIGMA, compute: bool = True,
           progress: bool = False) -> DomainAdvice:
    """Recommend per domain and for the set (module docstring).

    Args:
        budget: the budgets; N is raised to ``len(domains)`` when lower.
        domains: names, ``NAME=PATH`` or names of domains in the store.
        runs: measured runs (default: read from `storage`, if given).
        stats: precomputed statistics by domain name (skips resolving those domains).
        seed, n_trials, strategies: as `planner.search.recommend.recommend`.
        transfer_sigma: log-sd of a small-scale gain as a predictor at paper scale.
        compute: compute missing cluster statistics (`cluster_statistics`).

    Raises:
        SpecplanError: an unknown domain (one line); InfeasibleBudgetError: nothing fits.
    """
    from planner.performance.perfmodel import PerformanceModel
    from planner.search.optimizer import DEFAULT_TRIALS
    from planner.search.recommend import load_runs, recommend

    if not domains:
        raise SpecplanError("--domain: give at least one domain")
    if runs is None and storage:
        runs = load_runs(storage)
    stats = dict(stats or {})
    notes: list[str] = []
    if budget.n_domains < len(domains):
        notes.append(f"N raised from {budget.n_domains} to the {len(domains)} domains given")
        budget = replace(budget, n_domains=len(domains))
    refs = resolve_domains([d for d in domains if d not in stats], runs)
    by_name = {r.name: r for r in refs}
    names = [d if d in stats else _ref_name(d, refs) for d in domains]
    base = PerformanceModel().fit(runs if runs is not None and len(runs) else None)
    kw = {"seed": seed, "n_trials": DEFAULT_TRIALS if n_trials is None else n_trials,
          "strategies": strategies}
    models: list[DomainAdjustedModel] = []
    for name in names:
        st = stats.get(name) or cluster_statistics(by_name[name], runs, compute=compute,
                                                   progress=progress)
        models.append(DomainAdjustedModel(base, domain_prior(st),
                                          gains=measured_gains(runs, name),
                                          transfer_sigma=transfer_sigma))
    paper = recommend(budget, model=base, **kw)  # type: ignore[arg-type]
    set_rec = recommend(budget, model=SetAdjustedModel(models), **kw)  # type: ignore[arg-type]
    answers = tuple(_answer(m, recommend(budget, model=m, **kw),  # type: ignore[arg-type]
                            set_rec, budget, kw) for m in models)
    return DomainAdvice(budget=budget, set_recommendation=set_rec, paper_average=paper,
                        domains=answers, reasons=tuple(_set_reasons(set_rec, paper, answers)),
                        transfer_sigma=transfer_sigma, notes=tuple(notes))


def _ref_name(spec: str, refs: Sequence[_DomainRef]) -> str:
    name = spec.split("=", 1)[0].strip()
    return next((r.name for r in refs if r.name == name), name)


def _answer(model: DomainAdjustedModel, rec: Recommendation, set_rec: Recommendation,
            budget: Budget, kw: Mapping[str, Any]) -> DomainAnswer:
    prior = model.prior
    tokens = budget.n_domain_tokens
    base = model.baseline
    experts = cluster_experts()
    adjustments = {s: a for s in model.declared
                   if (a := model.reference_adjustment(s, tokens)) is not None}
    reasons: list[str] = []
    st = prior.stats
    if st.n_tokens is not None and st.n_tokens < tokens:
        reasons.append(f"the domain has {st.n_tokens / 1e6:.2g}M train tokens; the plan "
                       f"assumes --domain-tokens {tokens / 1e6:g}M (the cluster experts' "
                       "edge is larger with less data, Table 8)")
    if not st.usable:
        reasons.append(next(iter(prior.reasons.values()), "paper's average"))
    else:  # one line per sensitivity: its strategies share it
        reasons += ["cluster experts: " + prior.reasons[s] for s in experts[:1]
                    if s in prior.reasons]
        reasons += [prior.reasons[s] for s in sensitive_to("cluster_resampling")[:1]
                    if s in prior.reasons]
    for s, a in adjustments.items():
        if a.measured is None:
            continue
        g = a.measured
        spread = ("one seed: seed spread assumed" if g.seed_sd_assumed
                  else f"+- {g.se:.3f} over {g.n_seeds} seeds")
        excl = f", {g.n_excluded} unconverged run(s) left out" if g.n_excluded else ""
        reasons.append(
            f"measured at scale {g.scale!r}: {s} vs {base} {g.gain:+.3f} log ppl ({spread}"
            f"{excl}); counted {a.evidence_weight:.0%} against the paper-scale prior (transfer "
            f"uncertainty {model.transfer_sigma:.2f}): shifts {s} by "
            f"{100 * math.expm1(a.evidence_shift):+.1f}%")
    strategy, ppl, interval = rec.strategy, rec.predicted_ppl, rec.interval
    small = _ppl_of(rec, base) if base is not None else None
    if prior.diffuse and strategy in experts and base is not None and small is not None:
        if small <= rec.interval[1]:
            reasons.append(
                f"diffuse domain: {strategy}'s remaining predicted edge over {base} "
                f"({max(0.0, small - ppl):.2f} PPL) lies inside its band ({rec.interval[0]:.2f}-"
                f"{rec.interval[1]:.2f}); the paper saw none on its diffuse domains: {base}")
            strategy, ppl, interval = base, small, _band(model, budget, base, small, kw)
        else:
            reasons.append(
                f"diffuse domain, yet {strategy} stays ahead of {base} by {small - ppl:.2f} "
                f"PPL beyond its band ({rec.interval[0]:.2f}-{rec.interval[1]:.2f}): "
                "measured runs on this domain carry it")
    set_ppl = _ppl_of(rec, set_rec.strategy)
    if strategy != set_rec.strategy:
        if spends_per_domain(strategy):
            how = ("it needs no shared pretraining: it runs from this domain's "
                   f"{budget.specialization} specialization budget beside the set's model")
        elif spends_per_domain(set_rec.strategy):
            how = "the set spends per-domain budgets instead of a shared pretraining"
        else:
            how = (f"{strategy} needs its own generic pretraining, besides the set's "
                   f"{set_rec.strategy}: within the one shared budget, take the set's model")
        if set_ppl is not None and set_ppl - ppl <= TIE * ppl:
            reasons.append(f"differs from the set's {set_rec.strategy}, which is predicted no "
                           f"worse here ({set_ppl:.2f} vs {ppl:.2f}): if the set keeps it, it "
                           "serves this domain at no predicted loss")
        else:
            gap = f" (+{set_ppl - ppl:.2f} PPL)" if set_ppl is not None else ""
            reasons.append(f"differs from the set's {set_rec.strategy}{gap}: {how}")
    return DomainAnswer(name=model.domain, stats=st, prior=prior, gains=model.gains,
                        adjustments=adjustments, recommendation=rec, strategy=strategy,
                        predicted_ppl=ppl, set_strategy_ppl=set_ppl,
                        set_strategy=set_rec.strategy, reasons=tuple(reasons),
                        interval=interval)


def _band(model: DomainAdjustedModel, budget: Budget, strategy: str, ppl: float,
          kw: Mapping[str, Any]) -> tuple[float, float]:
    """The band of `strategy`'s prediction on the domain (its own best plan); NaN when it
    cannot be planned alone or plans to another perplexity than `ppl`."""
    from planner.search.recommend import recommend

    try:
        alone = recommend(budget, model=model, **{**kw, "strategies": [strategy]})  # type: ignore[arg-type]
    except SpecplanError:
        return (math.nan, math.nan)
    if not math.isclose(alone.predicted_ppl, ppl, rel_tol=TIE):
        return (math.nan, math.nan)
    return alone.interval


def _set_reasons(set_rec: Recommendation, paper: Recommendation,
                 answers: Sequence[DomainAnswer]) -> list[str]:
    out = []
    if set_rec.strategy != paper.strategy:
        out.append(f"the paper's nine-domain average would pick {paper.strategy} "
                   f"({paper.predicted_ppl:.2f}); these domains move it to {set_rec.strategy}")
    else:
        out.append(f"same as the paper's nine-domain average ({paper.strategy})")
    diffuse = [a.name for a in answers if a.prior.diffuse]
    if diffuse:
        out.append(f"diffuse domain(s) {', '.join(diffuse)}: no cluster-expert edge predicted "
                   "there (App. E, Table 10)")
    fallback = [a.name for a in answers if not a.stats.usable]
    if fallback:
        out.append(f"no cluster statistics for {', '.join(fallback)}: the paper's average "
                   "used there, with a wider band")
    differ = [f"{a.name}: {a.strategy}" for a in answers if a.differs]
    if differ:
        out.append("per-domain choice where it differs: " + "; ".join(differ))
    for r in set_rec.reasons[:1]:
        out.append(r)
    if set_rec.strategy in cluster_experts():
        out.append(f"pretraining {format_amount(set_rec.cost.pretraining.gpu_hours, 'gpu_hours')}"
                   " once, shared by every domain")
    return out
