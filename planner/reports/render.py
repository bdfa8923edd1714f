"""Writes a `planner.reports.report.Report` in the formats asked for: ``report.html``
(`planner.reports.html`), ``report.pdf`` (`planner.reports.pdf`) and ``tables/*.csv``
(every frame behind the report, for a spreadsheet).

    >>> from planner.reports.render import write_report               # doctest: +SKIP
    >>> write_report(report, "report/", formats=("html", "pdf", "csv"))  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from domains.atomic import atomic_write_text

if TYPE_CHECKING:
    from planner.reports.report import Report

__all__ = ["DEFAULT_FORMATS", "FORMATS", "write_report", "write_tables"]

FORMATS = ("html", "pdf", "csv")
DEFAULT_FORMATS = ("html", "pdf")


def write_report(report: Report, out: str | Path, *,
                 formats: Sequence[str] = DEFAULT_FORMATS,
                 ) -> list[Path]:
    """Write ``report.html`` / ``report.pdf`` / ``tables/*.csv`` under the folder `out`
    (`formats`: any of ``html``, ``pdf``, ``csv``); returns the paths."""
    from domains.errors import SpecplanError

    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise SpecplanError(f"--format: unknown format(s) {', '.join(unknown)}; "
                            f"choose from {', '.join(FORMATS)}")
    out = Path(out)
    written = []
    if "html" in formats:
        from planner.reports.html import write_html

        written.append(write_html(report, out / "report.html"))
    if "pdf" in formats:
        from planner.reports.pdf import write_pdf

        written.append(write_pdf(report, out / "report.pdf"))
    if "csv" in formats:
        written.extend(write_tables(report, out / "tables"))
    return written


def write_tables(report: Report, folder: str | Path) -> list[Path]:
    """Every table of the report as ``<folder>/<name>.csv`` (the numbers behind the
    figures, for a spreadsheet); nested cells (lists, dicts) as JSON. Returns the paths."""
    from planner.reports.formatting import json_cells

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, frame in report.frames().items():
        path = folder / f"{name}.csv"
        atomic_write_text(path, json_cells(frame).to_csv(index=False))
        paths.append(path)
    return paths
