"""`specplan runs`: list, filter and export the results store (no torch)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from planner.cli import main
from planner.experiments.store import add_run, export_runs, load_runs, open_study


@pytest.fixture
def store(tmp_path: Path, make_run_record, html_domain: str) -> str:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    study = open_study(url)
    for i, (strategy, domain, ppl) in enumerate([
            ("small", "news", 120.0), ("importance_sampling", "news", 110.0),
            ("small", html_domain, 130.0), ("large", "legal", 90.0)]):
        rec = make_run_record(strategy, domain, ppl, scale="demo" if i == 3 else "tiny")
        rec["datetime"] = f"2026-01-0{i + 1}T00:00:00"
        rec["data"] = {"source": "files", "provenance": f"[files: /x/{i}]"}
        add_run(study, rec)
    return url


def _out(capsys: pytest.CaptureFixture[str]) -> str:
    return capsys.readouterr().out


def test_lists_every_run_oldest_first(store: str, capsys: pytest.CaptureFixture[str],
                                      html_domain: str) -> None:
    assert main(["runs", "--storage", store]) == 0
    lines = _out(capsys).splitlines()
    assert len(lines) == 2 + 4 and lines[0].startswith("when")
    assert [ln.split()[2] for ln in lines[2:]] == [
        "small", "importance_sampling", "small", "large"]
    assert "120.00" in lines[2] and html_domain in lines[4]


def test_filters_accept_paper_names(store: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runs", "--storage", store, "--strategy", "SLM-is,LLM", "--json"]) == 0
    rows = json.loads(_out(capsys))
    assert sorted(r["strategy"] for r in rows) == ["importance_sampling", "large"]
    assert main(["runs", "--storage", store, "--scale", "tiny", "--domain", "news",
                 "--json"]) == 0
    rows = json.loads(_out(capsys))
    assert sorted(r["strategy"] for r in rows) == ["importance_sampling", "small"]


@pytest.mark.parametrize("suffix", [".csv", ".json", ".parquet"])
def test_export_round_trips_nested_fields(store: str, tmp_path: Path, suffix: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / f"out{suffix}"
    assert main(["runs", "--storage", store, "--strategy", "small", "--export",
                 str(path)]) == 0
    assert _out(capsys).strip() == f"wrote 2 run(s) to {path}"
    if suffix == ".json":
        rows = json.loads(path.read_text(encoding="utf-8"))
        cards = [r["data"] for r in rows]
        params = [r["params"] for r in rows]
    else:
        frame = pd.read_csv(path) if suffix == ".csv" else pd.read_parquet(path)
        assert len(frame) == 2
        cards = [json.loads(v) for v in frame["data"]]
        params = [json.loads(v) for v in frame["params"]]
    assert [c["provenance"] for c in cards] == ["[files: /x/0]", "[files: /x/2]"]
    assert all(p["scale"] == "tiny" for p in params)


def test_export_all_runs_from_the_api(store: str, tmp_path: Path) -> None:
    assert export_runs(store, str(tmp_path / "all.csv")) == 4
    assert len(pd.read_csv(tmp_path / "all.csv")) == len(load_runs(store)) == 4


@pytest.mark.parametrize(("args", "message"), [
    (["--strategy", "smal"], "unknown strategy 'smal'. Did you mean: small"),
    (["--export", "runs.xlsx"], "unknown export format '.xlsx'"),
    (["--export", "{tmp}/a-file/runs.csv"], "cannot write"),
])
def test_bad_input_is_one_line(store: str, args: list[str], message: str, tmp_path: Path,
                               capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a-file").write_text("a file where a folder should be")
    args = [a.format(tmp=tmp_path) for a in args]
    assert main(["runs", "--storage", store, *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("specplan runs: error:") and message in err[0]


def test_empty_store_and_no_torch(tmp_path: Path) -> None:
    code = ("import sys\nfrom planner.cli import main\n"
            f"rc = main(['runs', '--storage', 'sqlite:///{tmp_path / 'none.db'}'])\n"
            "assert rc == 0 and 'torch' not in sys.modules, sorted(sys.modules)[:5]\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "no stored runs"
