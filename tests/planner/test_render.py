"""planner.reports (html, pdf, render) and `specplan report`: a self-contained HTML file, a
PDF with every figure, and user-supplied names escaped."""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from planner.performance.perfmodel import PerformanceModel  # noqa: E402
from planner.reports import Report, build_report, render_html, write_report  # noqa: E402
from planner.reports.figures import figures  # noqa: E402


@pytest.fixture(scope="module")
def model() -> PerformanceModel:
    return PerformanceModel().fit()


@pytest.fixture(scope="module")
def report(runs_frame: pd.DataFrame, model: PerformanceModel) -> Report:
    return build_report(runs=runs_frame, model=model, n_points=3, loo=False,
                        title="test <report> & co")


@pytest.fixture(scope="module")
def written(report: Report, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The report written once in both formats (figures are the slow part)."""
    paths = write_report(report, tmp_path_factory.mktemp("report"))
    return {p.suffix[1:]: p for p in paths}


@pytest.fixture
def no_figures(monkeypatch: pytest.MonkeyPatch) -> None:
    """For tests about text and plumbing: skip drawing the figures."""
    import planner.reports.figures

    monkeypatch.setattr(planner.reports.figures, "figures", lambda report: [])


def test_html_is_self_contained_with_every_figure(report: Report,
                                                  written: dict[str, Path]) -> None:
    text = written["html"].read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    images = re.findall(r"<img [^>]*src='([^']*)'", text)
    assert len(images) == len(figures(report)) >= 7
    assert all(src.startswith("data:image/png;base64,") for src in images)
    # nothing is fetched: no external scripts, styles, images or fonts
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)
    assert "<script" not in text and "@import" not in text
    for heading in ("Decision map", "Perplexity vs budget", "Cost over N domains",
                    "Measured runs", "Domain clusters", "Performance model check",
                    "Data provenance"):
        assert f"<h2>{heading}</h2>" in text
    assert "Recommended: " in text


def test_user_names_are_escaped(written: dict[str, Path], html_domain: str) -> None:
    text = written["html"].read_text(encoding="utf-8")
    assert "&lt;b&gt;x&lt;/b&gt;" in text
    assert html_domain not in text  # never raw, anywhere (tables, notes, alt texts)
    assert "test &lt;report&gt; &amp; co" in text and "<report>" not in text


def test_pdf_has_text_pages_and_every_figure(report: Report,
                                            written: dict[str, Path]) -> None:
    assert sorted(written) == ["html", "pdf"]
    data = written["pdf"].read_bytes()
    assert data.startswith(b"%PDF")
    n_pages = len(re.findall(rb"/Type\s*/Page\b", data))
    assert n_pages >= len(figures(report)) + 5  # figures + recommendation and table pages


def test_write_report_bad_format(report: Report, tmp_path: Path) -> None:
    from domains.errors import SpecplanError

    with pytest.raises(SpecplanError, match="unknown format"):
        write_report(report, tmp_path, formats=("docx",))


def test_empty_storage_still_reports(model: PerformanceModel, no_figures: None) -> None:
    empty = build_report(runs=pd.DataFrame(columns=["run_key", "scale", "test_ppl"]),
                         model=model, n_points=2, loo=False)
    text = render_html(empty)
    assert "No measured runs" in text and "Recommended: " in text


def test_cli_report_escapes_an_html_domain_from_the_store(
        tmp_path: Path, make_run_record, html_domain: str, capsys: pytest.CaptureFixture,
        no_figures: None) -> None:
    from planner.cli import main
    from planner.experiments.store import add_run, open_study

    url = f"sqlite:///{tmp_path / 'runs.db'}"
    study = open_study(url)
    for strategy, ppl in (("small", 120.0), ("large", 100.0)):
        for domain in ("news", html_domain):
            add_run(study, make_run_record(strategy, domain, ppl))
    out = tmp_path / "rep"
    assert main(["report", "--storage", url, "--out", str(out), "--format", "html",
                 "--grid", "2", "--domains", "3"]) == 0
    printed = capsys.readouterr().out
    assert "4 measured strategy x domain results" in printed
    text = (out / "report.html").read_text(encoding="utf-8")
    assert "&lt;b&gt;x&lt;/b&gt;" in text and html_domain not in text
    assert "<dt>domains</dt><dd>3</dd>" in text


def test_cli_report_bad_input_is_one_line(tmp_path: Path,
                                          capsys: pytest.CaptureFixture) -> None:
    from planner.cli import main

    url = f"sqlite:///{tmp_path / 'none.db'}"
    assert main(["report", "--storage", url, "--out", str(tmp_path), "--format", "docx"]) == 2
    assert main(["report", "--storage", url, "--out", str(tmp_path),
                 "--pretraining-budget", "-4gpuh"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("specplan report: error:") for line in err)
    assert "--pretraining-budget" in err[1]


def test_reporting_never_imports_torch() -> None:
    """`specplan report` plans and draws: no torch, no transformers (a fresh interpreter)."""
    import subprocess
    import sys

    code = (
        "import sys, matplotlib; matplotlib.use('Agg'); import pandas as pd\n"
        "from planner.reports import build_report, render_html\n"
        "r = build_report(runs=pd.DataFrame(columns=['run_key', 'scale', 'test_ppl']),\n"
        "                 n_points=2, loo=False)\n"
        "assert 'Recommended: ' in render_html(r)\n"
        "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_csv_tables_hold_every_frame(report: Report, tmp_path: Path,
                                     html_domain: str) -> None:
    import json

    paths = write_report(report, tmp_path, formats=("csv",))
    names = {p.stem for p in paths}
    assert names == set(report.frames()) and not (tmp_path / "report.html").exists()
    runs = pd.read_csv(tmp_path / "tables" / "runs.csv")
    assert len(runs) == len(report.runs) and html_domain in set(runs["domain"])
    hist = pd.read_csv(tmp_path / "tables" / "cluster_histograms.csv")
    assert len(hist) == len(report.cluster_histograms)
    clusters = pd.read_csv(tmp_path / "tables" / "clusters.csv")
    assert len(clusters) == len(report.clusters) > 0
    first = json.loads(clusters["histogram"].iloc[0])  # a list cell, as JSON
    assert len(first) == 8 and abs(sum(first) - 1.0) < 1e-9
