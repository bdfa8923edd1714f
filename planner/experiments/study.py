"""`specplan study`: the paper's orderings, claim by claim, at small scale with seeds.

    >>> from planner.experiments.study import StudyConfig, plan_runs
    >>> len(plan_runs(StudyConfig()))  # the `study` preset: 3 domains x 3 seeds
    126

The `study` preset (`StudyConfig` defaults) runs at the `tiny` scale on biomedical, legal
and news with seeds 0, 1, 2:

- **main**: small, small_nopt, large, distillation, importance_sampling, hypernetwork and
  mixture with the scale's 16,384 domain tokens;
- **data size**: small, hypernetwork and mixture again with 8,192 domain tokens (does the
  pn/mix gain over SLM shrink with data?). 8,192 is the smallest power of two at which
  every packaged domain supplies the 5 training documents a cluster histogram needs
  (`strategies.machinery.clustering.MIN_HISTOGRAM_DOCS`): legal's documents are long, 3
  of them start within its first 4,096 `tiny` tokens and 5 within 8,192;
- **budget**: small and mixture with half and twice the generic pretraining tokens (three
  budgets with the main runs).

Every run is stored in the results store as it finishes (`planner.experiments.runner.
run_one`), so an interrupted study resumes and reuses every finished run. `claims` turns
the stored runs into the claim table: for each of the paper's findings, what the paper
reports, what was measured (per-seed macro-average perplexity, mean and min-max over the
seeds) and a verdict: ``reproduced``, ``not reproduced`` or ``within noise`` (the min-max
intervals of the two sides overlap).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

__all__ = ["Claim", "RunSpec", "StudyConfig", "claims", "claims_frame", "compute_rows",
           "format_claims",
           "plan_runs", "run_study", "write_study_report"]

# in the order they run: the cheap baselines first, importance sampling (which embeds the
# whole generic corpus on a cold cache) last
MAIN = ("small", "small_nopt", "large", "mixture", "distillation", "hypernetwork",
        "importance_sampling")
SIZE_STRATEGIES = ("small", "hypernetwork", "mixture")
BUDGET_STRATEGIES = ("small", "mixture")
#: the paper's small model sees 360-1,440 generic tokens per parameter (Table 8's SLM
#: rows: 100-400 GPUh; issue 12), the mixture's experts each see 1/16 of the total
PAPER_TOKENS_PER_PARAM = (360.0, 1440.0)


@dataclass
class StudyConfig:
    """What `run_study` runs (defaults: the `study` preset).

    Args:
        scale: model/compute preset (``tiny``).
        domains: the domains compared.
        seeds: one run per seed for every strategy x domain.
        small_domain_tokens: the second, smaller domain-data size (the scale's default is
            the first).
        budget_factors: generic pretraining budgets for the budget sweep, as multiples of
            the scale's `pretrain_tokens` (1.0 is the main runs).
        storage: results store URL (None: ``sqlite:///specplan.db``).
        root: artifacts and saved models.
        workers: processes running runs side by side (one torch thread each).
        progress: per-run lines.
    """

    scale: str = "tiny"
    domains: Sequence[str] = ("biomedical", "legal", "news")
    seeds: Sequence[int] = (0, 1, 2)
    small_domain_tokens: int = 8_192
    budget_factors: Sequence[float] = (0.5, 1.0, 2.0)
    storage: str | None = None
    root: str | Path = ".specplan"
    workers: int = 2
    progress: bool = True


@dataclass(frozen=True)
class RunSpec:
    """One run of the study: a strategy with parameters on a domain, seed and data size."""

    part: str  # main | size | budget
    strategy: str
    domain: str
    seed: int
    n_domain_tokens: int
    params: tuple[tuple[str, Any], ...] = ()


@dataclass
class Claim:
    """One of the paper's findings, as measured here."""

    claim: str
    paper: str
    measured: str
    verdict: str  # reproduced | not reproduced | within noise | not measured
    seeds: str = ""
    note: str = ""
    numbers: dict[str, Any] = field(default_factory=dict)


def plan_runs(cfg: StudyConfig) -> list[RunSpec]:
    """Every run of the study, seeds interleaved (so parallel workers rarely wait for the
    same artifact)."""
    from strategies.machinery.scales import get_scale

    scale = get_scale(cfg.scale)
    big = scale.domain_train_tokens
    out: list[RunSpec] = []
    for name in MAIN:
        out += [RunSpec("main", name, d, s, big) for d in cfg.domains for s in cfg.seeds]
    for name in SIZE_STRATEGIES:
        out += [RunSpec("size", name, d, s, cfg.small_domain_tokens)
                for d in cfg.domains for s in cfg.seeds]
    for f in cfg.budget_factors:
        if f == 1.0:
            continue
        tokens = int(round(f * scale.pretrain_tokens))
        out += [RunSpec("budget", name, d, s, big, (("n_pretrain_tokens", tokens),))
                for name in BUDGET_STRATEGIES for d in cfg.domains for s in cfg.seeds]
    return out


# ------------------------------------------------------------------------------ running
def run_study(cfg: StudyConfig, echo: Callable[[str], None] = print,
              ) -> tuple[list[tuple[RunSpec, dict[str, Any]]], list[str], float]:
    """Run (or reuse) every run of `plan_runs(cfg)` through the one experiment loop (runs
    queued in the results store, pulled by `cfg.workers` local workers: the same path as
    `specplan run / sweep / demo`); returns ((spec, record) pairs, failures, wall seconds).
    Finished runs are stored as they finish, so an interrupted study resumes."""
    from planner.experiments import worker as queue
    from planner.experiments.demo import DemoConfig, prepare_shared

    t0 = time.perf_counter()
    specs = plan_runs(cfg)
    echo(f"specplan study: {len(specs)} runs ({len(cfg.domains)} domains x "
         f"{len(cfg.seeds)} seeds) at scale {cfg.scale!r}, {cfg.workers} worker(s)")
    queued = [queue.plan_runs([s.strategy], [s.domain], scale=cfg.scale, seeds=[s.seed],
                              params={s.strategy: dict(s.params)},
                              n_domain_tokens=s.n_domain_tokens, root=cfg.root)[0]
              for s in specs]
    queued = [replace(q, tag=f"[{i + 1}/{len(queued)}] {s.part}:")
              for i, (s, q) in enumerate(zip(specs, queued, strict=True))]
    shared = DemoConfig(scale=cfg.scale, domains=cfg.domains, storage=cfg.storage,
                        root=cfg.root)
    outcome = queue.run_queued(queued, storage=cfg.storage, workers=cfg.workers, threads=1,
                               progress=cfg.progress, echo=echo,
                               prepare=lambda: prepare_shared(shared))
    by_key = {str(r["run_key"]): r for r in outcome.records}
    done = [(s, by_key[q.run_key]) for s, q in zip(specs, queued, strict=True)
            if q.run_key in by_key]
    failures = [f"{label}: {error}" for label, error in outcome.failures]
    return done, failures, time.perf_counter() - t0


# ------------------------------------------------------------------------------ claims
def _per_seed_macro(pairs: Sequence[tuple[RunSpec, dict[str, Any]]], part: str,
                    strategy: str, domains: Sequence[str], *, n_domain_tokens: int | None = None,
                    params: tuple[tuple[str, Any], ...] = (),
                    key: str = "test_ppl") -> dict[int, float]:
    """seed -> macro-average (exp mean log over `domains`) of `key`, for the seeds that ran
    on every domain."""
    vals: dict[int, dict[str, float]] = {}
    for spec, rec in pairs:
        if (spec.part == part and spec.strategy == strategy and spec.params == params
                and (n_domain_tokens is None or spec.n_domain_tokens == n_domain_tokens)
                and spec.domain in domains and rec.get(key) is not None):
            vals.setdefault(spec.seed, {})[spec.domain] = float(rec[key])
    return {s: math.exp(sum(math.log(v[d]) for d in domains) / len(domains))
            for s, v in sorted(vals.items()) if all(d in v for d in domains)}


def _stat(seed_vals: dict[int, float]) -> str:
    if not seed_vals:
        return "n/a"
    v = list(seed_vals.values())
    return f"{sum(v) / len(v):.1f} [{min(v):.1f}-{max(v):.1f}]"


def _ahead(a: dict[int, float], b: dict[int, float]) -> str:
    """Verdict for "a has lower perplexity than b" from per-seed values: reproduced when
    a's max is below b's min, not reproduced when a's min is above b's max, else within
    noise (the min-max intervals overlap)."""
    if not a or not b:
        return "not measured"
    if max(a.values()) < min(b.values()):
        return "reproduced"
    if min(a.values()) > max(b.values()):
        return "not reproduced"
    return "within noise"


def _seeds(*maps: dict[int, float]) -> str:
    common = set.intersection(*(set(m) for m in maps)) if maps else set()
    return ",".join(str(s) for s in sorted(common))


def claims(pairs: Sequence[tuple[RunSpec, dict[str, Any]]], cfg: StudyConfig,
           ) -> list[Claim]:
    """The claim table from the study's (spec, record) pairs (see the module docstring)."""
    from strategies.machinery.scales import get_scale

    scale = get_scale(cfg.scale)
    doms = list(cfg.domains)
    big = scale.domain_train_tokens

    def m(name: str, part: str = "main", **kw: Any) -> dict[int, float]:
        return _per_seed_macro(pairs, part, name, doms, **kw)

    out: list[Claim] = []
    small, nopt, large = m("small"), m("small_nopt"), m("large")
    ratio = (sum(nopt.values()) / len(nopt)) / (sum(small.values()) / len(small)) \
        if small and nopt else float("nan")
    out.append(Claim(
        "SLM-nopt far behind SLM", "Table 4: 227.1 vs 18.2 PPL at 1M domain tokens",
        f"SLM-nopt {_stat(nopt)} vs SLM {_stat(small)} ({ratio:.2f}x)", _ahead(small, nopt),
        _seeds(small, nopt)))
    out.append(Claim(
        "LLM ahead of SLM", "Table 4: 14.4 vs 18.2 PPL (1M tokens)",
        f"LLM {_stat(large)} vs SLM {_stat(small)}", _ahead(large, small),
        _seeds(large, small)))
    # fine-tuning helps: every run, after vs before
    helped = [(spec, rec) for spec, rec in pairs
              if rec.get("test_ppl_before_finetune") is not None]
    worse = [f"{s.strategy}/{s.domain}/seed {s.seed}" for s, r in helped
             if float(r["test_ppl"]) >= float(r["test_ppl_before_finetune"])
             and s.strategy != "small_nopt"]
    n_with = len([1 for s, _ in helped if s.strategy != "small_nopt"])
    out.append(Claim(
        "fine-tuning always helps", "Table 4: every pretrained model improves with fine-tuning",
        f"{n_with - len(worse)} of {n_with} pretrained runs improved"
        + (f"; not: {', '.join(worse[:5])}" if worse else ""),
        "reproduced" if n_with and not worse else ("not reproduced" if worse
                                                   else "not measured"),
        ",".join(str(s) for s in cfg.seeds)))
    dist = m("distillation")
    out.append(Claim(
        "SLM-d ahead of SLM at equal student pretraining", "Fig. 5: SLM-d below SLM at 1M",
        f"SLM-d {_stat(dist)} vs SLM {_stat(small)}", _ahead(dist, small), _seeds(dist, small)))
    dist_pre = _mean_field(pairs, "main", "distillation", "pretraining_flops")
    small_pre = _mean_field(pairs, "main", "small", "pretraining_flops")
    small2 = m("small", "budget", params=(("n_pretrain_tokens",
                                            int(round(max(cfg.budget_factors)
                                                      * scale.pretrain_tokens))),))
    out.append(Claim(
        "SLM-d behind SLM once the teacher is counted",
        "§4.1: distillation brings little once teacher pretraining is counted",
        f"SLM-d pretraining (teacher + student) {dist_pre:.3g} FLOPs = "
        f"{dist_pre / small_pre:.1f}x SLM's {small_pre:.3g}; SLM with "
        f"{max(cfg.budget_factors):g}x pretraining ({max(cfg.budget_factors):g}x compute, still "
        f"less than SLM-d's): {_stat(small2)} vs SLM-d {_stat(dist)}"
        if small_pre and dist_pre else "n/a",
        _ahead(small2, dist), _seeds(small2, dist)))
    out += _is_claims(pairs, doms, small)
    out += _size_claims(pairs, doms, big, cfg.small_domain_tokens)
    out += _budget_claims(pairs, doms, cfg, scale)
    return out


def _mean_field(pairs: Sequence[tuple[RunSpec, dict[str, Any]]], part: str, strategy: str,
                key: str) -> float:
    vals = [float(r[key]) for s, r in pairs if s.part == part and s.strategy == strategy
            and r.get(key) is not None]
    return sum(vals) / len(vals) if vals else 0.0


def _is_claims(pairs: Sequence[tuple[RunSpec, dict[str, Any]]], doms: list[str],
               small: dict[int, float]) -> list[Claim]:
    out = []
    for d in doms:
        is_d = _per_seed_macro(pairs, "main", "importance_sampling", [d])
        small_d = _per_seed_macro(pairs, "main", "small", [d])
        shares = [float(r["info"].get("top_cluster_share", float("nan"))) for s, r in pairs
                  if s.part == "main" and s.strategy == "importance_sampling" and s.domain == d
                  and isinstance(r.get("info"), dict)]
        share = sum(shares) / len(shares) if shares else float("nan")
        verdict = _ahead(is_d, small_d)
        if verdict == "within noise":
            verdict = "reproduced (at SLM: within noise)"
        out.append(Claim(
            f"SLM-is at or ahead of SLM on {d}",
            "Fig. 4 / §4: SLM-is best at 1M tokens, most on concentrated domains",
            f"SLM-is {_stat(is_d)} vs SLM {_stat(small_d)}; top cluster share {share:.0%}",
            verdict, _seeds(is_d, small_d)))
    return out


def _size_claims(pairs: Sequence[tuple[RunSpec, dict[str, Any]]], doms: list[str], big: int,
                 small_size: int) -> list[Claim]:
    out = []
    # Table 8 at 400 GPUh, gain over SLM at 1M / 8M / 64M domain tokens:
    # pn 17.17 / 14.48 / 11.86, mix 17.56 / 14.42 / 11.84 vs SLM 18.22 / 14.80 / 12.00
    quoted = {"hypernetwork": "+5.8% / +2.2% / +1.2%", "mixture": "+3.6% / +2.6% / +1.3%"}
    for name, paper in (("hypernetwork", "SLM-pn"), ("mixture", "SLM-mix")):
        gains = {}
        # the domains where the small data size ran (a domain with fewer than 5 documents in
        # it has no cluster histogram: the clustered strategies refuse it)
        ran = [d for d in doms if any(sp.part == "size" and sp.strategy == name
                                      and sp.domain == d for sp, _ in pairs)]
        text = [f"on {', '.join(ran) or 'no domain'}"
                + ("" if len(ran) == len(doms) else
                   f" ({', '.join(d for d in doms if d not in ran)}: failed or not run at "
                   f"{small_size:,} tokens)")]
        for part, size in (("size", small_size), ("main", big)):
            a = _per_seed_macro(pairs, part, name, ran, n_domain_tokens=size)
            b = _per_seed_macro(pairs, part, "small", ran, n_domain_tokens=size)
            common = sorted(set(a) & set(b))
            g = {s: 100.0 * (b[s] - a[s]) / b[s] for s in common}
            gains[size] = g
            text.append(f"{size:,} tokens: gain {_gain(g)} ({_ahead(a, b)})")
        small_g, big_g = gains[small_size], gains[big]
        verdict = "not measured"
        if small_g and big_g:
            if max(big_g.values()) < min(small_g.values()):
                verdict = "reproduced"
            elif min(big_g.values()) > max(small_g.values()):
                verdict = "not reproduced"
            else:
                verdict = "within noise"
        out.append(Claim(
            f"{paper} gain over SLM shrinks with more domain data",
            f"Table 8 (400 GPUh): {quoted[name]} at 1M / 8M / 64M tokens",
            "; ".join(text), verdict, _seeds(small_g, big_g)))
    return out


def _gain(g: dict[int, float]) -> str:
    if not g:
        return "n/a"
    v = list(g.values())
    return f"{sum(v) / len(v):+.1f}% [{min(v):+.1f}..{max(v):+.1f}]"


def _budget_claims(pairs: Sequence[tuple[RunSpec, dict[str, Any]]], doms: list[str],
                   cfg: StudyConfig, scale: Any) -> list[Claim]:
    out = []
    curves: dict[str, list[tuple[float, dict[int, float]]]] = {}
    for name in BUDGET_STRATEGIES:
        for f in sorted(cfg.budget_factors):
            tokens = int(round(f * scale.pretrain_tokens))
            vals = (_per_seed_macro(pairs, "main", name, doms) if f == 1.0 else
                    _per_seed_macro(pairs, "budget", name, doms,
                                    params=(("n_pretrain_tokens", tokens),)))
            curves.setdefault(name, []).append((f, vals))
    n = scale.small.n_params
    for name, curve in curves.items():
        steps = [_ahead(curve[i + 1][1], curve[i][1]) for i in range(len(curve) - 1)]
        verdict = ("not measured" if not steps or "not measured" in steps
                   else "reproduced" if all(s == "reproduced" for s in steps)
                   else "not reproduced" if "not reproduced" in steps
                   else "within noise")
        desc = ", ".join(f"{f * scale.pretrain_tokens / n:.0f} tok/param: {_stat(v)}"
                         for f, v in curve)
        out.append(Claim(f"more pretraining helps {name}",
                         "Table 8: every method improves from 100 to 400 GPUh", desc, verdict,
                         ",".join(str(s) for s in cfg.seeds)))
    small_c, mix_c = dict(curves.get("small", [])), dict(curves.get("mixture", []))
    cross, verdicts = [], []
    for f in sorted(cfg.budget_factors):
        if f in small_c and f in mix_c:
            verdicts.append(_ahead(mix_c[f], small_c[f]))
            cross.append(f"{f * scale.pretrain_tokens / n:.0f} tok/param: mix {_stat(mix_c[f])}"
                         f" vs SLM {_stat(small_c[f])} ({verdicts[-1]})")
    # the crossing: the mixture ahead at the largest budget; none: behind at every budget
    if not verdicts or "not measured" in verdicts:
        cross_verdict = "not measured"
    elif verdicts[-1] == "reproduced":
        cross_verdict = "reproduced"
    elif all(v == "not reproduced" for v in verdicts):
        cross_verdict = "not reproduced"
    else:
        cross_verdict = "within noise"
    k = scale.n_clusters
    top = max(cfg.budget_factors) * scale.pretrain_tokens / n
    out.append(Claim(
        "SLM-mix crosses SLM as pretraining grows",
        "Table 8: SLM-mix behind SLM at 100 GPUh (19.82 vs 19.31), ahead from 200 GPUh",
        "; ".join(cross), cross_verdict,
        ",".join(str(s) for s in cfg.seeds),
        note=(f"At most {top:.0f} generic tokens per parameter here ({top / k:.0f} per "
              f"expert with k={k}); the paper's small model sees "
              f"{PAPER_TOKENS_PER_PARAM[0]:.0f}-{PAPER_TOKENS_PER_PARAM[1]:.0f}. A mixture "
              "expert sees 1/k of the data, so the regime where the mixture pays off is "
              f"{PAPER_TOKENS_PER_PARAM[0] / top:.0f}x or more beyond this scale.")))
    return out


def format_claims(table: Sequence[Claim], *, markdown: bool = True,
                  pairs: Sequence[tuple[RunSpec, dict[str, Any]]] | None = None) -> str:
    """The claim table as Markdown (claim | paper | measured | verdict | seeds); with the
    study's (spec, record) `pairs`, followed by the compute table (`compute_rows`): each
    strategy's pretraining FLOPs and tokens per parameter, so no claim is read without
    the compute behind it."""
    lines = ["| claim | paper | measured (mean [min-max] over seeds) | verdict | seeds |",
             "|---|---|---|---|---|"]
    for c in table:
        lines.append(f"| {c.claim} | {c.paper} | {c.measured} | **{c.verdict}** | {c.seeds} |")
    notes = [f"- {c.claim}: {c.note}" for c in table if c.note]
    out = lines + ([""] + notes if notes else [])
    rows = compute_rows(pairs) if pairs else []
    if rows:
        out += ["", "Compute behind the claims (mean over the runs of each row):", "",
                "| part | strategy | domain tokens | pretraining FLOPs | tokens / served param "
                "| converged | runs | CPU s per run |", "|---|---|---|---|---|---|---|---|"]
        out += [f"| {r['part']} | {r['strategy']}{r['variant']} | {r['n_domain_tokens']:,} | "
                f"{r['pretraining_flops']:.3g} | {r['tokens_per_param']:.2g} | "
                f"{r['converged']} | {r['runs']} | {r['cpu_s']} |" for r in rows]
    return "\n".join(out)


def compute_rows(pairs: Sequence[tuple[RunSpec, dict[str, Any]]]) -> list[dict[str, Any]]:
    """One row per study part x strategy x parameters x domain-data size: the mean
    pretraining FLOPs, the served model's generic pretraining tokens per parameter
    (`planner.reports.runs.pretraining_tokens_per_param`; a mixture: its expert's share;
    importance sampling: its per-domain pretraining, charged to specialization), the
    converged fine-tunes, the runs and their mean CPU seconds (``-`` for runs stored before
    CPU seconds were recorded)."""
    from planner.reports.runs import pretraining_tokens_per_param

    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for spec, rec in pairs:
        groups.setdefault((spec.part, spec.strategy, spec.params, spec.n_domain_tokens),
                          []).append(rec)
    rows = []
    for (part, strategy, params, tokens), recs in groups.items():
        cpu = [float(r["cpu_s"]) for r in recs if r.get("cpu_s") is not None]
        conv = [r.get("converged") for r in recs if r.get("converged") is not None]
        rows.append({
            "part": part, "strategy": strategy,
            "variant": "".join(f" ({k}={v:,})" if isinstance(v, int) else f" ({k}={v})"
                               for k, v in params),
            "n_domain_tokens": int(tokens),
            "pretraining_flops": sum(float(r.get("pretraining_flops") or 0.0) for r in recs)
            / len(recs),
            "tokens_per_param": sum(pretraining_tokens_per_param(r) for r in recs) / len(recs),
            "converged": f"{sum(bool(c) for c in conv)}/{len(recs)}" if conv else "-",
            "runs": len(recs),
            "cpu_s": f"{sum(cpu) / len(cpu):.0f}" if cpu else "-",
        })
    return rows


def claims_frame(table: Sequence[Claim]) -> Any:
    """The claim table as a pandas DataFrame (the report's ``claims`` frame)."""
    import pandas as pd

    return pd.DataFrame([{"claim": c.claim, "paper": c.paper, "measured": c.measured,
                          "verdict": c.verdict, "seeds": c.seeds, "note": c.note}
                         for c in table],
                        columns=["claim", "paper", "measured", "verdict", "seeds", "note"])


def write_study_report(pairs: Sequence[tuple[RunSpec, dict[str, Any]]], table: Sequence[Claim],
                       cfg: StudyConfig, out: str | Path) -> list[Path]:
    """An HTML report of the study's runs with the claim table as its own section."""
    import dataclasses

    import pandas as pd

    from planner.reports.render import write_report
    from planner.reports.report import build_report

    runs = pd.DataFrame([rec for _, rec in pairs])
    report = build_report(runs=runs, storage=cfg.storage, domains=list(cfg.domains),
                          title=f"specplan study: the paper's orderings at scale {cfg.scale!r}",
                          n_points=4)
    report = dataclasses.replace(report, claims=claims_frame(table),
                                 notes=report.notes + [f"{c.claim}: {c.note}" for c in table
                                                       if c.note])
    from planner.reports.domain_advice import advice_for_runs, attach_advice

    advice, _ = advice_for_runs(report.budget, runs, list(cfg.domains))  # issue 18: headline
    attach_advice(report, advice)
    return write_report(report, out, formats=["html"])
