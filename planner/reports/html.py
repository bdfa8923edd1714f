"""The report as one self-contained HTML page, from the jinja2 templates in
``planner/reports/templates/`` (package data).

The page has inline CSS and every figure embedded as a base64 PNG; it makes no network
request, so it can be mailed or opened offline. Autoescaping is on for every value, so text
that can come from the user or the runs (domain and strategy names, the storage URL,
provenance, notes) is never read as markup.

    >>> from planner.reports.html import write_html     # doctest: +SKIP
    >>> write_html(report, "report/report.html")        # doctest: +SKIP
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from domains.atomic import atomic_write_text
from planner.reports import figures as figures_module
from planner.reports.formatting import TABLE_COLUMNS, budget_items, table_headers, table_rows

if TYPE_CHECKING:
    import jinja2
    import pandas as pd

    from planner.reports.figures import FigureSpec
    from planner.reports.report import Report

__all__ = ["render_html", "write_html"]

#: (key, heading, figure keys or prefixes, table names) of the page's sections, in order
SECTIONS: tuple[tuple[str, str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("decision_map", "Decision map", ("decision_map", "decision_map_domains"), ()),
    ("curves", "Perplexity vs budget", ("curve_pretraining", "curve_specialization"), ()),
    ("costs", "Cost over N domains", ("domain_costs",), ()),
    ("runs", "Measured runs", ("runs_", "measured_costs_"), ("summary", "runs")),
    ("clusters", "Domain clusters", ("clusters",), ("clusters",)),
    ("model_check", "Performance model check", ("model_check",), ("measured_vs_predicted",)),
    ("claims", "The paper's orderings at this scale (specplan study)", (), ("claims",)),
    ("provenance", "Data provenance", (), ("provenance",)),
)


@dataclass
class HtmlTable:
    """One table as the template shows it: text cells, and what is above and below it."""

    headers: list[str]
    rows: list[list[str]]
    summary: str = ""   # a sentence above the table
    more: int = 0       # rows left out below it


@dataclass
class HtmlSection:
    """One ``<h2>`` section: its figures (PNG as base64) and tables."""

    key: str
    title: str
    empty: bool
    figures: list[dict[str, str]] = field(default_factory=list)
    tables: list[HtmlTable] = field(default_factory=list)


@cache
def _environment() -> jinja2.Environment:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("planner.reports", "templates"),
        autoescape=True, undefined=jinja2.StrictUndefined,
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)


def _table(frame: pd.DataFrame | None, name: str, *, limit: int | None = None,
           summary: str = "") -> HtmlTable:
    if frame is None or len(frame) == 0:
        return HtmlTable(headers=[], rows=[], summary=summary)
    spec = TABLE_COLUMNS[name]
    body = frame if limit is None else frame.head(limit)
    return HtmlTable(headers=table_headers(body, spec), rows=table_rows(body, spec),
                     summary=summary, more=max(0, len(frame) - len(body)))


def _section_table(report: Report, name: str) -> HtmlTable | None:
    frame = getattr(report, name)
    if name in ("clusters", "summary", "runs", "claims") and not len(frame):
        return None  # the section says so in words
    if name == "summary":  # what the runs show, in sentences built from them
        return _table(frame, name, summary=" ".join(report.findings))
    if name != "measured_vs_predicted" or not len(frame):
        return _table(frame, name)
    ref = frame[frame["source"] == "paper Table 8"]
    summary = (f"Paper Table 8, leave-one-out: mean absolute error "
               f"{ref['error_pct'].abs().mean():.1f}% over {len(ref)} points."
               if len(ref) else "")
    return _table(frame[frame["source"] == "your runs"], name, summary=summary)


def _figure(spec: FigureSpec) -> dict[str, str]:
    data = base64.b64encode(figures_module.png_bytes(spec.draw())).decode("ascii")
    return {"title": spec.title, "caption": spec.caption, "src": f"data:image/png;base64,{data}"}


def _sections(report: Report) -> list[HtmlSection]:
    figs = {f.key: f for f in figures_module.figures(report)}
    empty = {"runs": not len(report.runs), "clusters": not len(report.clusters),
             "claims": not len(report.claims)}
    out = []
    for key, title, fig_keys, tables in SECTIONS:
        section = HtmlSection(key=key, title=title, empty=empty.get(key, False))
        chosen = ([k for k in figs if k.startswith(fig_keys)] if key == "runs"
                  else [k for k in fig_keys if k in figs])
        section.figures = [_figure(figs[k]) for k in chosen]
        section.tables = [t for t in (_section_table(report, n) for n in tables)
                          if t is not None]
        out.append(section)
    return out


def _cost_text(rec: Any) -> dict[str, str]:
    from planner.costing.budget import format_amount

    if rec is None:
        return {}
    unit = rec.budget.pretraining.unit
    return {name: format_amount(getattr(rec.cost, name).in_unit(unit), unit)
            for name in ("pretraining", "specialization", "total")}


def _headline(report: Report) -> dict[str, Any] | None:
    """The per-domain headline (`planner.reports.domain_advice.attach_advice`): the set's
    answer, each domain's differing choice, the paper's average as labelled context."""
    from planner.reports.domain_advice import PAPER_AVERAGE_LABEL, differs_text

    advice = report.advice
    if advice is None:
        return None
    s, p = advice.set_recommendation, advice.paper_average
    return {
        "rec": s, "cost": _cost_text(s), "n_served": advice.budget.n_domains,
        "domains": [d.name for d in advice.domains],
        "differs": [differs_text(d) for d in advice.domains if d.differs],
        "reasons": list(advice.reasons),
        "context": {"label": PAPER_AVERAGE_LABEL, "rec": p}}


def _advice_rows(report: Report) -> list[dict[str, Any]]:
    """The "Advice for your domains" rows: text cells, what moved it, the reasons."""
    from planner.reports.domain_advice import moved_by

    advice = report.advice
    if advice is None or not len(report.domain_advice):
        return []
    spec = TABLE_COLUMNS["domain_advice"]
    cells = table_rows(report.domain_advice, spec)
    return [{"cells": row, "moved": moved_by(d), "reasons": list(d.reasons)}
            for row, d in zip(cells, advice.domains, strict=True)]


def render_html(report: Report) -> str:
    """The report as one self-contained HTML document (a string)."""
    context: dict[str, Any] = {
        "headline": _headline(report), "advice_rows": _advice_rows(report),
        "advice_headers": table_headers(report.domain_advice, TABLE_COLUMNS["domain_advice"])
        if len(report.domain_advice) else [],
        "report": report, "rec": report.recommendation,
        "cost": _cost_text(report.recommendation),
        "budget_items": budget_items(report.budget),
        "recommendation_table": _table(report.recommendation_frame, "recommendation_frame"),
        "sections": _sections(report),
    }
    return _environment().get_template("report.html.j2").render(context)


def write_html(report: Report, path: str | Path) -> Path:
    """Write `render_html` to `path` (UTF-8); returns the path."""
    path = Path(path)
    atomic_write_text(path, render_html(report))  # never a truncated report.html
    return path
