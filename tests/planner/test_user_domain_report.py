"""End to end: a user's ``--domain '<b>x</b>=PATH'`` is trained, stored and reported, and
its name reaches the HTML report escaped (the issue's acceptance case)."""

from __future__ import annotations

from pathlib import Path

import pytest

from planner.cli import main
from planner.experiments.store import load_runs


def test_html_domain_name_from_the_command_line_is_escaped_in_the_report(
        tmp_path: Path, news_domain, torch_threads: None,  # type: ignore[no-untyped-def]
        capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "my docs"
    folder.mkdir()
    docs = [doc for split in ("train", "valid", "test") for doc in news_domain.documents(split)]
    for i, doc in enumerate(docs):
        (folder / f"{i:04d}.txt").write_text(doc, encoding="utf-8")
    name = "<b>x</b>"
    url = f"sqlite:///{tmp_path / 'new folder' / 'runs.db'}"  # its folder is created
    assert main(["run", "--strategy", "small_nopt", "--domain", f"{name}={folder}",
                 "--scale", "tiny", "--domain-tokens", "4096",  # the escaping, not the fit
                 "--quiet", "--root", str(tmp_path / "root"), "--storage", url]) == 0
    printed = capsys.readouterr()
    assert f"small_nopt on {name} (tiny): test perplexity" in printed.out
    assert "Writing model shards" not in printed.err  # --quiet silences transformers' bars
    runs = load_runs(url)
    assert list(runs["domain"]) == [name] and list(runs["source"]) == ["files"]
    assert 1 < float(runs["test_ppl"].iloc[0]) < float(runs["test_ppl_before_finetune"].iloc[0])

    out = tmp_path / "report"
    assert main(["report", "--storage", url, "--out", str(out), "--format", "html",
                 "--grid", "2"]) == 0
    html = (out / "report.html").read_text(encoding="utf-8")
    assert name not in html and "<b>x" not in html
    assert html.count("&lt;b&gt;x&lt;/b&gt;") >= 2  # measured table and data sources at least
    # the run's data card says where the text came from, without reading the folder again
    card = runs["data"].iloc[0]
    assert card["source"] == "files" and f"[files: {folder.resolve()}]" in card["provenance"]
    n = [int(x.replace(",", "")) for x in card["documents"].split(" / ")]
    assert len(n) == 3 and 0 < sum(n) <= len(docs)
    assert f"[files: {folder.resolve()}]" in html and card["documents"] in html
    assert "the path is not recorded" not in html
