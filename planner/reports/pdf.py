"""The report as a PDF for decision-makers: text pages (the budget scenario, the
recommendation, the tables), then one page per figure with its caption.

Drawn with matplotlib's `PdfPages` only (no other dependency); the figures are those of the
HTML page (`planner.reports.figures`).

    >>> from planner.reports.pdf import write_pdf       # doctest: +SKIP
    >>> write_pdf(report, "report/report.pdf")          # doctest: +SKIP
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

from domains.atomic import atomic_open
from planner.reports import figures as figures_module
from planner.reports.fonts import display_width, mono_families, pad, shorten, use_wide_fonts
from planner.reports.formatting import TABLE_COLUMNS, budget_items, table_headers, table_rows

if TYPE_CHECKING:
    import pandas as pd

    from planner.reports.report import Report

__all__ = ["write_pdf"]

_PAGE = (8.27, 11.69)  # A4 portrait, inches
_LINES_PER_PAGE = 70
_CHARS_PER_LINE = 112


def _text_pages(title: str, lines: list[str], *, wrap: bool = True) -> list[list[str]]:
    """Lines split into pages; prose is wrapped, tables are not (their font shrinks to
    fit the widest row instead, see `_draw_text_page`)."""
    wrapped: list[str] = []
    for line in lines:
        wrapped += (textwrap.wrap(line, _CHARS_PER_LINE, subsequent_indent="    ",
                                  replace_whitespace=False, drop_whitespace=False) or [""]
                    if wrap else [line])
    pages, n = [], _LINES_PER_PAGE - 3
    for i in range(0, max(1, len(wrapped)), n):
        pages.append([title if i == 0 else f"{title} (continued)", "", *wrapped[i:i + n]])
    return pages


def _text_table(frame: pd.DataFrame, name: str) -> list[str]:
    if frame is None or len(frame) == 0:
        return ["(no data)"]
    spec = TABLE_COLUMNS[name]
    heads = table_headers(frame, spec)
    rows = table_rows(frame, spec)
    # columns by display width (a CJK character takes two), long cells cut with "…"
    widths = [min(40, max(display_width(h), *(display_width(r[i]) for r in rows)))
              for i, h in enumerate(heads)]

    def line(cells: list[str]) -> str:
        return "  ".join(pad(shorten(c, w), w) for c, w in zip(cells, widths, strict=True))

    return [line(heads), "  ".join("-" * w for w in widths), *map(line, rows)]


def _advice_lines(report: Report) -> list[str]:
    """Below the "Advice for your domains" table: what moved each domain's answer (prior /
    measured, how much each counted) and why."""
    from planner.reports.domain_advice import moved_by

    lines: list[str] = []
    for d in report.advice.domains:
        lines += [*([""] if lines else []), f"{d.name}: {d.strategy}"]
        lines += [f"  - {m}" for m in moved_by(d)]
        lines += [f"  - why: {r}" for r in d.reasons]
    return lines


def _draw_text_page(pdf: Any, lines: list[str]) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=_PAGE)
    width = max((display_width(line) for line in lines[1:]), default=1)
    # a monospace glyph is ~0.6 em wide; keep the text within 80% of the page width
    size = min(6.6, 0.80 * _PAGE[0] * 72 / (0.6 * max(width, 1)))
    fig.text(0.06, 0.96, lines[0], fontsize=13, weight="bold", va="top")
    fig.text(0.06, 0.93, "\n".join(lines[1:]), family=mono_families(), fontsize=size,
             va="top")
    pdf.savefig(fig)


def write_pdf(report: Report, path: str | Path) -> Path:
    """The report as a PDF: text pages (recommendation, tables), then the figures."""
    from matplotlib.backends.backend_pdf import PdfPages
    from matplotlib.layout_engine import ConstrainedLayoutEngine

    use_wide_fonts()
    path = Path(path)
    intro = [f"Generated {report.generated}"
             + (f" from {report.storage}" if report.storage else ""), "",
             "Budget scenario:"]
    intro += [f"  {k}: {v}" for k, v in budget_items(report.budget)]
    if report.advice is not None:  # the per-domain answer heads the report (issue 18)
        from planner.reports.domain_advice import headline_text

        intro[1:1] = ["", *headline_text(report.advice)]
    intro += ["", *(report.recommendation_text.splitlines() or ["No strategy fits."])]
    if report.notes:
        intro += ["", "Warnings:", *(f"  - {n}" for n in report.notes)]
    pages = _text_pages(report.title, intro)
    if report.advice is not None:
        pages += _text_pages("Advice for your domains",
                             _text_table(report.domain_advice, "domain_advice"), wrap=False)
        pages += _text_pages("Advice for your domains: what moved it", _advice_lines(report))
    pages += _text_pages("Recommendation for your domains' set and runners-up"
                         if report.advice is not None else "Recommendation and runners-up",
                         _text_table(report.recommendation_frame, "recommendation_frame"),
                         wrap=False)
    for title, name in (("Measured runs: summary per strategy", "summary"),
                        ("Measured runs per domain", "runs"),
                        ("Domain clusters", "clusters"),
                        ("Performance model check (your runs, leave-one-out)",
                         "measured_vs_predicted"),
                        ("The paper's orderings at this scale (specplan study)", "claims"),
                        ("Data provenance", "provenance")):
        frame = getattr(report, name)
        if name == "claims" and not len(frame):
            continue
        if name == "measured_vs_predicted" and len(frame):
            frame = frame[frame["source"] == "your runs"]
        if name == "summary" and report.findings:  # the sentences, then the table
            pages += _text_pages("What the measured runs show", list(report.findings))
        pages += _text_pages(title, _text_table(frame, name), wrap=False)
    with atomic_open(path, "wb") as f, PdfPages(f) as pdf:
        for lines in pages:
            _draw_text_page(pdf, lines)
        for spec in figures_module.figures(report):
            fig = spec.draw()
            fig.suptitle(spec.title, fontsize=12, weight="bold")
            # keep the bottom strip free for the caption (constrained layout: rect)
            engine = fig.get_layout_engine()
            if not isinstance(engine, ConstrainedLayoutEngine):
                raise TypeError(f"figure {spec.key!r} must use constrained layout")
            engine.set(rect=(0, 0.09, 1, 0.91))
            fig.text(0.01, 0.01, textwrap.fill(spec.caption, 130), fontsize=7, va="bottom")
            pdf.savefig(fig)
        info = pdf.infodict()
        info["Title"] = report.title
        info["Subject"] = "specplan: which specialization method fits my budget?"
    return path

