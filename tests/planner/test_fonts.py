"""Case 3 of the bad-input issue: a domain named in any script renders in the figures and
the PDF (Noto Sans CJK as matplotlib's fallback font), and long names are cut visibly."""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

import matplotlib
import pandas as pd
import pytest

from planner.reports.fonts import SANS, display_width, pad, shorten, use_wide_fonts

JP = "契約書 (日本語)"
LONG = "長い名前のドメイン" * 8  # 72 characters, 144 columns
OTHER_SCRIPTS = ["Ελληνικά", "Русский", "한국어 계약", "中文合同", "עברית", "Tiếng Việt"]


@pytest.mark.parametrize(("text", "width", "expected"), [
    ("news", 10, "news"), ("abcdefghij", 5, "abcd…"), ("契約書契約書", 5, "契約…"),
    ("契約書", 6, "契約書"), ("a", 1, "a"), ("ab", 1, "…"),
])
def test_shorten_by_display_width(text: str, width: int, expected: str) -> None:
    out = shorten(text, width)
    assert out == expected and display_width(out) <= width


def test_pad_counts_wide_characters_twice() -> None:
    assert pad("契約", 6) == "契約  " and pad("ab", 4, right=True) == "  ab"


def _glyph_warnings(caught: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in caught if "missing from font" in str(w.message)]


def test_case3_names_in_other_scripts_draw_without_missing_glyphs() -> None:
    import matplotlib.pyplot as plt

    from planner.reports.plots import plot_runs

    assert use_wide_fonts() == SANS  # the CJK font is installed (a declared dependency)
    frame = pd.DataFrame([{"domain": d, "strategy": "small", "test_ppl": 10.0 + i,
                           "test_ppl_before_finetune": 12.0 + i}
                          for i, d in enumerate([JP, LONG, *OTHER_SCRIPTS])])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ax = plot_runs(frame)
        ax.figure.canvas.draw()
    plt.close(ax.figure)
    assert _glyph_warnings(caught) == []
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels[0] == JP
    assert labels[1].endswith("…") and display_width(labels[1]) <= 40  # cut, visibly


def test_case3_pdf_report_renders_a_japanese_domain(
        tmp_path: Path, make_run_record: Any, reference_model: Any) -> None:
    from planner.reports.pdf import write_pdf
    from planner.reports.report import build_report

    rows = [make_run_record(s, d, p) for s, p in (("small", 180.0), ("large", 150.0))
            for d in (JP, LONG, "news")]
    report = build_report(runs=pd.DataFrame(rows), model=reference_model, n_points=2,
                          loo=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with matplotlib.rc_context({"pdf.compression": 0}):  # readable font resources
            pdf = write_pdf(report, tmp_path / "report.pdf")
    assert _glyph_warnings(caught) == []
    data = pdf.read_bytes()
    fonts = set(re.findall(rb"/BaseFont /[A-Z]{6}\+([A-Za-z0-9-]+)", data))
    assert b"NotoSansCJKjp-Regular" in fonts  # figures: the CJK glyphs come from Noto
    assert b"NotoSansMonoCJKjp-Regular" in fonts  # tables (fixed width) too
    assert b"/ellipsis" in data  # the long name is cut with a visible "…" in the tables


def test_text_tables_align_names_in_any_script() -> None:
    """`specplan runs`: columns by display width, long names cut with "…", FLOPs in
    engineering form (was ``1e+12``)."""
    from planner.cli.commands.runs import format_runs

    frame = pd.DataFrame([{"datetime": "2026-01-01T00:00:00", "scale": "tiny",
                           "strategy": "small", "domain": d, "seed": 0, "test_ppl": 10.0,
                           "test_ppl_before_finetune": 12.0, "pretraining_flops": 1e12,
                           "specialization_flops": 2e9, "inference_params": 60000,
                           "wall_s": 3.0, "run_key": "0123456789abcdef"}
                          for d in (JP, LONG, "news")])
    lines = format_runs(frame).splitlines()[2:]
    assert len({display_width(line) for line in lines}) == 1, lines
    assert "…" in lines[1] and JP in lines[0]
    assert "1.0e12" in lines[0] and "e+" not in "".join(lines)
