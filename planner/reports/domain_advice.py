"""Per-domain advice in reports and the demo: the lines that print it, next to the
diffuse-domain warnings they answer (`planner.search.per_domain`).

The warnings are the report's own (`planner.reports.report.cluster_table`, the finest
histogram per scale and domain); the advice reads the same stored histogram, and its
prior removes the cluster experts' edge on any domain the report calls diffuse
(`planner.performance.domain_prior`), so a warned domain is never advised a mixture or
projected network without a stated reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from domains.errors import SpecplanError
from planner.performance.domain_prior import cluster_experts

if TYPE_CHECKING:
    import pandas as pd

    from planner.costing.budget import Budget
    from planner.reports.report import Report
    from planner.search.per_domain import DomainAdvice

__all__ = ["advice_for_runs", "advice_lines", "advice_payload", "demo_advice", "demo_text",
           "diffuse_warnings", "write_advice"]


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


def advice_lines(advice: DomainAdvice) -> list[str]:
    """One line for the set, one per domain: the report's notes."""
    s = advice.set_recommendation
    out = [f"Per-domain advice: one shared {s.strategy} for the {len(advice.domains)} "
           f"domain(s) (predicted macro perplexity {s.predicted_ppl:.2f}); "
           + "; ".join(advice.reasons[:3])]
    for d in advice.domains:
        why = d.reasons[-1] if d.reasons else ""
        out.append(f"{d.name}: {d.strategy} (predicted {d.predicted_ppl:.2f})"
                   + (f": {why}" if why else ""))
    return out


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
            lines.append(f"warning: {warnings[d.name]}")
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
    report's diffuse warnings beside it; the advice also heads the report's notes."""
    advice, why = advice_for_runs(budget, runs, domains, seed=seed)
    if advice is not None:
        report.notes[:0] = advice_lines(advice)
    fallback = (report.recommendation_text or "\n".join(report.notes[:1])) + (
        f"\n{why}" if why else "")
    return demo_text(advice, diffuse_warnings(runs), fallback)
