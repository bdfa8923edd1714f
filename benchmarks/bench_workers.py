"""Benchmark: sweeps across workers, and what the results store costs per run.

    python benchmarks/bench_workers.py workers [--runs 8] [--repeats 1]
    python benchmarks/bench_workers.py store [--runs 50] [--postgres URL]

`workers`: the same `--runs` tiny runs (`small_nopt` on news, one per seed, the scale's
domain tokens) swept by 1 worker (in the sweep's process) and by 2 local worker
processes, each on a fresh store and artifact folder; prints the wall time of each
`specplan sweep` (start-up and the report of every run included) and their ratio.

`store`: the store's overhead per run, without training: queue `--runs` runs, then for
each the worker's own calls: fail stale trials, claim one (WAITING -> RUNNING), one
heartbeat, write a full run record (the runner's fields) and tell COMPLETE. On SQLite,
a journal file and PostgreSQL (`--postgres URL`, or a throwaway server from
`.ci/postgres`; skipped, saying why, where none starts). Prints the median and the
spread (min-max) per run.

Timings depend on the machine and its load; say which (and whether it was shared) when
you quote them.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def sweep_wall(workers: int, runs: int, folder: Path) -> float:
    """Wall seconds of one `specplan sweep` of `runs` tiny runs with `workers` workers."""
    seeds = ",".join(str(i) for i in range(runs))
    cmd = [sys.executable, "-m", "planner.cli", "sweep", "--strategies", "small_nopt",
           "--domains", "news", "--scale", "tiny", "--seeds", seeds, "--workers", str(workers),
           "--storage", f"sqlite:///{folder / 'runs.db'}", "--root", str(folder / "root"),
           "--quiet"]
    env = {**os.environ, "SPECPLAN_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"sweep with {workers} worker(s) failed: {proc.stderr[-1500:]}")
    return wall


def bench_workers(runs: int, repeats: int) -> None:
    walls: dict[int, list[float]] = {1: [], 2: []}
    for r in range(repeats):
        for workers in (1, 2):
            with tempfile.TemporaryDirectory() as tmp:
                walls[workers].append(sweep_wall(workers, runs, Path(tmp)))
                print(f"repeat {r + 1}: {workers} worker(s): {walls[workers][-1]:.1f} s",
                      flush=True)
    one, two = statistics.median(walls[1]), statistics.median(walls[2])
    print(f"{runs} tiny runs (small_nopt, news, seeds 0..{runs - 1}), {repeats} repeat(s), "
          f"{os.cpu_count()} CPUs: 1 worker {one:.1f} s, 2 workers {two:.1f} s "
          f"(median), ratio 1/2 = {one / two:.2f}")


def sample_record(i: int) -> dict[str, Any]:
    """A run record with the runner's fields and realistic nesting (made-up numbers)."""
    return {
        "run_key": f"bench{i:06d}", "strategy": "small", "paper_name": "SLM",
        "domain": "news", "source": "packaged", "scale": "tiny", "seed": i,
        "params": {"scale": "tiny", "seed": i, "n_pretrain_tokens": None, "finetune_lr": None},
        "n_domain_tokens": 65536, "pretraining_flops": 1.2e13, "specialization_flops": 3.1e9,
        "inference_flops_per_token": 1.2e5, "inference_params": 60288,
        "pretraining_params": 60288, "cost_components": {"pretrain": 1.2e13, "finetune": 3.1e9},
        "test_ppl": 100.0 + i, "test_nll": 4.6, "test_tokens": 8192,
        "test_ppl_before_finetune": 140.0, "wall_s": 12.3, "model_path": f"/x/models/{i}",
        "datetime": "2026-01-01T00:00:00",
        "versions": {"python": "3.11", "torch": "2.13.0", "optuna": "5.0.0"},
        "info": {"finetune": {"steps": 40, "best_step": 32, "tokens": 81920}},
        "data": {"name": "news", "documents": 1200, "license": "CC-BY-4.0"},
        "worker": "host:1234", "host": "host", "tries": 1,
    }


def store_overhead(url: str, runs: int, root: str) -> list[float]:
    """Seconds per run of the worker's store calls (no training)."""
    from planner.experiments.store import open_study
    from planner.experiments.worker import Faults, Heartbeat, RunSpec, Worker, enqueue
    from planner.experiments.worker import store_record as write

    study = open_study(url)
    specs = [RunSpec(strategy="small", domain="news", scale="tiny", seed=i,
                     run_key=f"bench{i:06d}", root=root) for i in range(runs)]
    enqueue(study, url, specs, Faults(60, 180, 3))
    worker = Worker(url, faults=Faults(60, 180, 3))
    study = open_study(url, create=False, heartbeat_interval=60, grace_period=180, max_retry=3)
    per_run = []
    for i in range(runs):
        t0 = time.perf_counter()
        worker._fail_stale(study)
        trial = worker._claim(study)
        assert trial is not None
        with Heartbeat(study._storage, trial._trial_id, 60):
            write(study, trial, sample_record(i))
        per_run.append(time.perf_counter() - t0)
    return per_run


def postgres_url(given: str | None, folder: Path) -> str | None:
    if given:
        return given
    started = subprocess.run([str(REPO / ".ci" / "postgres"), "start", str(folder)],
                             capture_output=True, text=True)
    if started.returncode != 0:
        print(f"PostgreSQL skipped: {started.stderr.strip()[-300:]}")
        return None
    return started.stdout.strip()


def bench_store(runs: int, given_pg: str | None) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="specplan-bench-"))
    pg_dir = Path(tempfile.mkdtemp(prefix="specplan-bench-pg-"))
    try:
        urls = {"sqlite": f"sqlite:///{tmp / 'runs.db'}",
                "journal": f"journal:///{tmp / 'runs.log'}"}
        pg = postgres_url(given_pg, pg_dir)
        if pg:
            urls["postgresql"] = pg
        for name, url in urls.items():
            times = store_overhead(url, runs, str(tmp))
            print(f"{name:<11} {runs} runs: claim + heartbeat + record + tell per run: median "
                  f"{statistics.median(times) * 1000:.1f} ms (min {min(times) * 1000:.1f}, "
                  f"max {max(times) * 1000:.1f})", flush=True)
    finally:
        if not given_pg:
            subprocess.run([str(REPO / ".ci" / "postgres"), "stop", str(pg_dir)],
                           capture_output=True)
        shutil.rmtree(pg_dir, ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    w = sub.add_parser("workers", help="1 vs 2 workers on the same tiny runs")
    w.add_argument("--runs", type=int, default=8)
    w.add_argument("--repeats", type=int, default=1)
    s = sub.add_parser("store", help="the store's overhead per run")
    s.add_argument("--runs", type=int, default=50)
    s.add_argument("--postgres", default=None, metavar="URL")
    args = parser.parse_args()
    if args.what == "workers":
        bench_workers(args.runs, args.repeats)
    else:
        bench_store(args.runs, args.postgres)


if __name__ == "__main__":
    main()
