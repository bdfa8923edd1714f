"""`specplan demo` end to end at the tiny scale: runs stored, recommendation printed,
report written; a second run reuses everything; a failing strategy loses nobody else's
runs."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from planner.cli import main  # noqa: E402


def _args(tmp: Path, root: Path, *extra: str) -> list[str]:
    return ["demo", "--quick", "--domains", "news",
            "--storage", f"sqlite:///{tmp / 'runs.db'}", "--root", str(root),
            "--out", str(tmp / "report"), "--format", "html", "--grid", "2", "--quiet",
            "--seeds", "0", *extra]


def test_demo_runs_stores_recommends_reports_then_reuses(
        tmp_path: Path, capfd: pytest.CaptureFixture, torch_threads: None) -> None:
    from planner.experiments.store import load_runs

    args = _args(tmp_path, tmp_path / "root", "--strategies", "small_nopt", "--workers", "1")
    assert main(args) == 0
    out = capfd.readouterr().out
    assert "[1/1] small_nopt on news: test perplexity" in out
    assert "Recommendation for the default scenario" in out
    assert "recommendation: " in out and "Report: " in out
    assert (tmp_path / "report" / "report.html").exists()
    runs = load_runs(f"sqlite:///{tmp_path / 'runs.db'}")
    assert list(runs.strategy) == ["small_nopt"] and set(runs.scale) == {"tiny"}

    assert main(args) == 0
    out = capfd.readouterr().out
    assert "reused the stored run" in out and "0 runs trained, 1 reused" in out
    assert len(load_runs(f"sqlite:///{tmp_path / 'runs.db'}")) == 1  # nothing redone


def test_demo_in_two_worker_processes(tmp_path: Path, capfd: pytest.CaptureFixture,
                                      tiny_ws) -> None:  # type: ignore[no-untyped-def]
    """The default path of `make demo`: the runs queued in the store and pulled by two
    spawned local workers (in the default run, ~25 s: the path every new user takes
    first)."""
    from planner.experiments.store import load_runs

    root = tiny_ws.root  # the session's tiny artifacts: `small`'s pretraining is shared
    assert main(_args(tmp_path, root, "--strategies", "small_nopt,small",
                      "--workers", "2")) == 0
    out = capfd.readouterr().out
    assert "2 local worker(s)" in out
    lines = out.splitlines()
    for run in ("[1/2] small_nopt on news: test perplexity", "[2/2] small on news: test "
                "perplexity"):
        assert any(line.startswith("[w") and run in line for line in lines), run
    assert (tmp_path / "report" / "report.html").exists()
    runs = load_runs(f"sqlite:///{tmp_path / 'runs.db'}")
    assert sorted(runs.strategy) == ["small", "small_nopt"]
    assert set(runs.tries) == {1} and runs.worker.notna().all()
    # everything stored: the rerun starts no worker and trains nothing
    assert main(_args(tmp_path, root, "--strategies", "small_nopt,small", "--workers", "2",
                      "--no-report")) == 0
    out = capfd.readouterr().out
    assert "0 runs trained, 2 reused" in out and "[w1]" not in out


def test_workers_prefer_the_strategy_family_they_ran_last(tmp_path: Path) -> None:
    """Strategies sharing pretraining artifacts are one family; a worker claims a run of
    the family it ran last, then one of a family no other worker runs."""
    from planner.experiments.store import open_study
    from planner.experiments.worker import RunSpec, Worker, enqueue, family_of

    assert family_of("large") == family_of("distillation") == family_of("small")
    assert family_of("hypernetwork") == family_of("importance_sampling") == family_of("mixture")
    assert family_of("small") != family_of("mixture") != family_of("small_nopt")
    assert family_of("third_party") == "third_party"
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    study = open_study(url)
    order = ["small", "mixture", "large", "hypernetwork", "small_nopt"]
    enqueue(study, url, [RunSpec(strategy=n, domain="news", scale="tiny", seed=0,
                                 run_key=n, root=str(tmp_path)) for n in order])
    first, second = Worker(url), Worker(url)

    def claim(worker: Worker) -> str:
        trial = worker._claim(study)
        name = str(trial.user_attrs["run_key"])
        worker._last_family = family_of(name)
        return name

    assert claim(first) == "small"
    assert claim(second) == "mixture"  # `small`'s family is running: another one
    assert claim(first) == "large" and claim(second) == "hypernetwork"
    assert claim(first) == "small_nopt" and first._claim(study) is None


def test_a_failing_strategy_keeps_the_others(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             torch_threads: None) -> None:
    from planner.experiments.demo import DemoConfig, run_demo
    from planner.experiments.store import load_runs
    from strategies.small import SmallStrategy

    def boom(self, ws):  # type: ignore[no-untyped-def]
        raise RuntimeError("simulated crash")

    monkeypatch.setattr(SmallStrategy, "pretrain", boom)
    lines: list[str] = []
    storage = f"sqlite:///{tmp_path / 'runs.db'}"
    result = run_demo(DemoConfig(scale="tiny", strategies=["small", "small_nopt"],
                                 domains=["news"], storage=storage, root=tmp_path / "root",
                                 out=None, progress=False, grid_points=2, workers=1,
                                 seeds=(0,)),
                      echo=lines.append)
    assert [r["strategy"] for r in result.records] == ["small_nopt"]
    assert len(result.failures) == 1 and "simulated crash" in result.failures[0]
    assert (tmp_path / "root" / "logs" / "small-news.log").read_text().count("RuntimeError")
    assert list(load_runs(storage).strategy) == ["small_nopt"]
    assert any("FAILED" in line for line in lines)
    assert result.report is not None and result.report.recommendation is not None


def test_demo_bad_input_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["demo", "--scale", "huge"]) == 2
    assert main(["demo", "--quick", "--format", "docx"]) == 2
    assert main(["demo", "--quick", "--domains", "nosuch", "--storage",
                 f"sqlite:///{tmp_path / 'x.db'}", "--root", str(tmp_path)]) == 2
    assert main(["demo", "--quick", "--workers", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 4 and all(e.startswith("specplan demo: error:") for e in err)
