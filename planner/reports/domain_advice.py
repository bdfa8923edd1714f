"""Per-domain advice in reports and the demo (`planner.search.per_domain`): the report's
headline, its "Advice for your domains" section, and the diffuse-domain warnings made to
agree with the advice.

When the report knows the user's domains (`specplan report --domain`, the store's domains,
the demo's), `attach_advice` makes the set's answer (one shared pretraining serving N
domains, with each domain's choice where it differs) the report's headline; the paper's
nine-domain average stays as context, labelled as such. The warnings are the report's own
(`planner.reports.clusters.cluster_table`, the finest histogram per scale and domain); the
advice reads the same stored histogram by the same minimum of documents, and its prior
removes the cluster experts' edge on any domain the report calls diffuse
(`planner.performance.domain_prior`). A diffuse warning's generic "prefer ..." clause is
replaced by the domain's own advice (`advised_warning`), so no warning names a strategy
the advice does not give.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from domains.errors import SpecplanError
from planner.performance.domain_prior import cluster_experts
from planner.reports.clusters import NO_VERDICT, PREFER

if TYPE_CHECKING:
    import pandas as pd

    from planner.costing.budget import Budget
    from planner.reports.report import Report
    from planner.search.per_domain import DomainAdvice, DomainAnswer

__all__ = ["ADVICE_COLUMNS", "PAPER_AVERAGE_LABEL", "advice_for_runs", "advice_frame",
           "advice_payload", "advised_warning", "attach_advice", "differs_text",
           "demo_advice", "demo_text", "diffuse_warnings", "headline_text", "moved_by",
           "write_advice"]

#: How the paper-average answer is labelled wherever the per-domain answer heads a report.
PAPER_AVERAGE_LABEL = "paper's nine-domain average, before your domains' statistics"
#: Columns of `advice_frame` (the report's ``domain_advice`` table, tables/domain_advice.csv).
ADVICE_COLUMNS = ["domain", "n_tokens", "k", "n_docs", "normalized_entropy", "top_share",
                  "strategy", "predicted_ppl", "low", "high", "set_strategy", "differs",
                  "moved_by", "reasons", "fallback"]


def diffuse_warnings(runs: pd.DataFrame | None) -> dict[str, str]:
    """Domain -> the report's diffuse warning (finest histogram per scale and domain)."""
    from planner.reports.clusters import cluster_table

    clusters = cluster_table(runs) if runs is not None else None
    out: dict[str, str] = {}
    if clusters is None or not len(clusters):
        return out
    for (_, domain), g in clusters.groupby(["scale", "domain"], sort=False):
        row = g.sort_values("k").iloc[-1]
        if row["diffuse"]:
            out.setdefault(str(domain), str(row["warning"]))
    return out


def advice_for_runs(budget: Budget, runs: pd.DataFrame | None,
                    domains: Sequence[str] | None = None, *, seed: int = 0,
                    compute: bool = False) -> tuple[DomainAdvice | None, str]:
    """Advice for `domains` (default: the runs' domains); (None, why) when there is none.
    With `compute` False, cluster statistics come from the store or the cache only."""
    from planner.search.per_domain import advise

    names = list(domains) if domains else (
        list(dict.fromkeys(runs["domain"].dropna())) if runs is not None and len(runs) else [])
    if not names:
        return None, "no domains given and none in the results store"
    try:
        return advise(budget, names, runs=runs, seed=seed, compute=compute), ""
    except SpecplanError as err:
        return None, f"no per-domain advice: {err}"


def moved_by(answer: DomainAnswer) -> list[str]:
    """What moved the domain's predictions, per adjusted strategy at its reference compute:
    the paper-average edge over the baseline, the domain prior's multiplier, the measured
    gain and how much the prior and the measurement each counted; or why nothing did."""
    from planner.search.per_domain import edge_lines

    out = []
    if not answer.stats.usable:
        out.append(f"no cluster statistics ({answer.stats.fallback}): the paper's average")
    for line, (_, a) in zip(edge_lines(answer), answer.adjustments.items(), strict=True):
        w = a.evidence_weight
        out.append(line + (f" [counted: prior {1 - w:.0%}, measured {w:.0%}]"
                           if a.measured is not None else " [prior only: no measured runs]"))
    return out


def advice_frame(advice: DomainAdvice | None) -> pd.DataFrame:
    """One row per domain (`ADVICE_COLUMNS`): tokens, cluster statistics, the choice, its
    predicted perplexity and band, the set's choice, what moved it and why."""
    import pandas as pd

    rows = []
    for d in advice.domains if advice is not None else ():
        st = d.stats
        rows.append({
            "domain": d.name, "n_tokens": st.n_tokens, "k": st.k if st.usable else None,
            "n_docs": st.n_docs,
            "normalized_entropy": st.normalized_entropy if st.usable else math.nan,
            "top_share": st.top_share if st.usable else math.nan, "strategy": d.strategy,
            "predicted_ppl": d.predicted_ppl, "low": d.interval[0], "high": d.interval[1],
            "set_strategy": d.set_strategy, "differs": d.differs,
            "moved_by": "; ".join(moved_by(d)), "reasons": "; ".join(d.reasons),
            "fallback": st.fallback})
    return pd.DataFrame(rows, columns=ADVICE_COLUMNS)


def headline_text(advice: DomainAdvice) -> list[str]:
    """The report's headline in lines: the set's answer, each domain's choice where it
    differs, then the paper's average as labelled context."""
    s, b, p = advice.set_recommendation, advice.budget, advice.paper_average
    names = ", ".join(d.name for d in advice.domains)
    out = [f"Recommended for your domains: {s.strategy} ({s.paper_name}), one shared "
           f"pretraining serving {b.n_domains} domain(s), advised on {names}; predicted macro "
           f"perplexity {s.predicted_ppl:.2f} (90% band {s.interval[0]:.2f} to "
           f"{s.interval[1]:.2f})."]
    differ = [d for d in advice.domains if d.differs]
    if differ:
        out.append("Where a domain's own choice differs: "
                   + "; ".join(differs_text(d) for d in differ) + ".")
    else:
        out.append("Every domain's own choice is the set's.")
    out.append(f"Context, the {PAPER_AVERAGE_LABEL}: {p.strategy} ({p.paper_name}), "
               f"predicted {p.predicted_ppl:.2f}.")
    return out


def differs_text(d: DomainAnswer) -> str:
    """A domain whose own choice differs from the set's, in one phrase: both predictions,
    and whether the set's model serves it at no predicted loss."""
    from planner.search.per_domain import TIE

    text = f"{d.name}: {d.strategy} (predicted {d.predicted_ppl:.2f}"
    if d.set_strategy_ppl is not None:
        text += f"; the set's {d.set_strategy}: {d.set_strategy_ppl:.2f}"
        if d.set_strategy_ppl - d.predicted_ppl <= TIE * d.predicted_ppl:
            text += ", no worse: the shared model serves it at no predicted loss"
    return text + ")"


def advised_warning(warning: str, answer: DomainAnswer) -> str:
    """A diffuse warning with its generic "prefer ..." clause replaced by the domain's own
    advice (the advice has read the same histogram: module docstring)."""
    head = warning.rsplit(PREFER, 1)[0].rstrip("; ") if PREFER in warning else warning
    return (f"{head}. The advice for {answer.name!r}: {answer.strategy} (see \"Advice for "
            "your domains\").")


def _no_verdict(note: str, answer: DomainAnswer) -> str:
    """A few-documents note (`planner.reports.clusters`) ending with what the advice did:
    other statistics of the domain, or the paper's average."""
    head = note.split(NO_VERDICT, 1)[0]
    st = answer.stats
    did = (f"the advice reads other statistics ({st.source}): {answer.strategy}" if st.usable
           else f"the advice uses the paper's nine-domain average: {answer.strategy}")
    return f"{head}{NO_VERDICT} from it; {did}."


def _agreeing(notes: Sequence[str], advice: DomainAdvice) -> list[str]:
    out = []
    for note in notes:
        for d in advice.domains:
            if note.startswith(f"domain {d.name!r} is diffuse"):
                note = advised_warning(note, d)
            elif note.startswith(f"domain {d.name!r}: ") and NO_VERDICT in note:
                note = _no_verdict(note, d)
        out.append(note)
    return out


def attach_advice(report: Report, advice: DomainAdvice | None, why: str = "") -> None:
    """Make `advice` the report's headline (module docstring): the ``advice`` and
    ``domain_advice`` fields, the runners-up table and full text of the set's answer, and
    the diffuse warnings rewritten to the domains' advice. With no advice, `why` (if any)
    heads the warnings and the report keeps the paper-average headline."""
    from planner.reports.planning import recommendation_table

    if advice is None:
        if why:
            report.notes[:0] = [why]
        return
    report.advice = advice
    report.domain_advice = advice_frame(advice)
    report.recommendation_frame = recommendation_table(advice.set_recommendation)
    report.recommendation_text = advice.format()
    report.notes[:] = _agreeing(report.notes, advice)


def demo_text(advice: DomainAdvice | None, warnings: dict[str, str], fallback: str = "",
              ) -> str:
    """The demo's recommendation block: the set's choice, then each domain's advice, each
    diffuse warning printed beside the advice that answers it."""
    if advice is None:
        return fallback + "".join(f"\nwarning: {w}" for w in warnings.values())
    lines = [advice.format()]
    experts = cluster_experts()
    for d in advice.domains:
        if d.name in warnings:
            lines.append(f"warning: {advised_warning(warnings[d.name], d)}")
            same = ("the same as the set's choice" + (", for the reason above"
                                                      if d.strategy in experts else ""))
            lines.append(f"  -> advice for {d.name}: {d.strategy} (predicted "
                         f"{d.predicted_ppl:.2f}); "
                         + (f"the set's {advice.set_strategy} is kept for the other domains"
                            if d.differs else same))
    return "\n".join(lines)


def advice_payload(advice: DomainAdvice) -> dict[str, Any]:
    """JSON-ready advice (what the report writes to domain_advice.json)."""
    return advice.to_dict()


def write_advice(advice: DomainAdvice | None, out: str | Path) -> list[Path]:
    """``domain_advice.txt`` and ``domain_advice.json`` in `out` (nothing when None)."""
    import json

    if advice is None:
        return []
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / "domain_advice.txt", folder / "domain_advice.json"]
    for path, text in zip(paths, (advice.format() + "\n",
                                  json.dumps(advice_payload(advice), indent=2) + "\n")):
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)  # atomic: a reader never sees half a file
    return paths


def demo_advice(report: Report, budget: Budget, runs: pd.DataFrame | None,
                domains: Sequence[str], *, seed: int = 0) -> str:
    """What `specplan demo` prints for its recommendation: the per-domain advice with the
    report's diffuse warnings beside it; the advice also heads the report
    (`attach_advice`)."""
    advice, why = advice_for_runs(budget, runs, domains, seed=seed)
    fallback = (report.recommendation_text or "\n".join(report.notes[:1])) + (
        f"\n{why}" if why else "")
    attach_advice(report, advice, why)
    return demo_text(advice, diffuse_warnings(runs), fallback)
