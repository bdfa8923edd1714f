"""Wall and CPU time of `make demo` from a fresh clone (issue 12: at most 10 minutes on a
2-core machine, 3 seeds, converged fine-tunes).

    python benchmarks/bench_demo.py                 # clone, `make demo` (its own fresh .venv)
    python benchmarks/bench_demo.py --reuse-venv    # clone, run the demo with this interpreter
                                                    # (no install timed, nothing reinstalled)
    python benchmarks/bench_demo.py --cmd "python -m planner.cli demo --quick"

Clones the repository (``git clone --local``, so a fresh checkout with no `.venv`,
`.specplan/`, `specplan.db` or `report/`), runs the command there, and prints one JSON
line: wall seconds, CPU seconds of the command and its children (user + system, from
`resource.getrusage(RUSAGE_CHILDREN)`), the load average before and after (a shared machine
shows it), and the command's exit status. The user cache (tokenizer, embeddings;
`SPECPLAN_CACHE`) is kept unless `--cold-cache` points it at an empty folder.
A measurement, not a test: nothing here asserts a time.

On a shared machine the wall time says little; the runs' own CPU seconds do. After the
command, the clone's results store (``specplan.db``) is read and the JSON line also gets
``runs_cpu_s`` (the sum of every stored run's CPU seconds, `cpu_s` in its record: one
torch thread per worker, so a run's CPU seconds are its wall time on an idle core),
``runs_cpu_s_by_strategy`` and ``runs_cpu_s_by_phase`` (pretrain / specialize / evaluate),
and ``idle_wall_estimate_s``: the command's CPU seconds outside the runs (set-up,
tokenizer, corpora, embedding the generic corpus before the workers start, the report;
serial) plus the runs' CPU seconds divided by the workers (2 on a 2-core machine). That
estimate assumes the two workers stay busy until the end; the wall time on an idle
machine is the measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cmd", default=None,
                        help="command to time (default: `make demo`, which creates the "
                             "clone's own .venv: what a fresh clone on a fresh machine runs)")
    parser.add_argument("--reuse-venv", action="store_true",
                        help="time `python -m planner.cli demo` with this interpreter instead "
                             "(the clone on PYTHONPATH; no install, and this environment's "
                             "editable install is left pointing where it was)")
    parser.add_argument("--cold-cache", action="store_true",
                        help="an empty SPECPLAN_CACHE (tokenizer and embeddings rebuilt)")
    parser.add_argument("--keep", action="store_true", help="keep the clone")
    args = parser.parse_args(argv)
    if args.cmd is None:
        args.cmd = (f"{sys.executable} -m planner.cli demo" if args.reuse_venv else "make demo")
    work = Path(tempfile.mkdtemp(prefix="specplan-bench-"))
    clone = work / "clone"
    subprocess.run(["git", "clone", "--quiet", "--local", str(REPO), str(clone)], check=True)
    env = dict(os.environ)
    if args.reuse_venv:
        env["PYTHONPATH"] = str(clone)
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    if args.cold_cache:
        env["SPECPLAN_CACHE"] = str(work / "cache")
    load_before = os.getloadavg()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(args.cmd, shell=True, cwd=clone, env=env)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    out = {"cmd": args.cmd, "wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
           "cpus": os.cpu_count(), "load_before": load_before,
           "load_after": os.getloadavg(), "cold_cache": args.cold_cache,
           "returncode": proc.returncode}
    out.update(runs_cpu(clone / "specplan.db", cpu, workers=min(2, os.cpu_count() or 1)))
    print(json.dumps(out))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return proc.returncode


def runs_cpu(db: Path, total_cpu: float, workers: int) -> dict[str, object]:
    """CPU seconds of the stored runs (see the module docstring); empty without a store."""
    if not db.is_file():
        return {}
    import sqlite3
    from collections import defaultdict

    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = con.execute("SELECT a.trial_id, a.key, a.value_json FROM trial_user_attributes a "
                           "JOIN trials t ON t.trial_id = a.trial_id WHERE t.state = 'COMPLETE' "
                           "AND a.key IN ('strategy', 'cpu_s', 'phase_cpu_s')").fetchall()
    finally:
        con.close()
    trials: dict[int, dict[str, object]] = defaultdict(dict)
    for tid, key, value in rows:
        trials[tid][key] = json.loads(value)
    by_strategy: dict[str, float] = defaultdict(float)
    by_phase: dict[str, float] = defaultdict(float)
    for t in trials.values():
        if isinstance(t.get("cpu_s"), (int, float)):
            by_strategy[str(t.get("strategy"))] += float(t["cpu_s"])  # type: ignore[arg-type]
        for phase, value in dict(t.get("phase_cpu_s") or {}).items():  # type: ignore[call-overload]
            by_phase[phase] += float(value)
    runs = sum(by_strategy.values())
    return {"runs": len(trials), "runs_cpu_s": round(runs, 1),
            "runs_cpu_s_by_strategy": {k: round(v, 1) for k, v in sorted(by_strategy.items())},
            "runs_cpu_s_by_phase": {k: round(v, 1) for k, v in sorted(by_phase.items())},
            "idle_wall_estimate_s": round(max(0.0, total_cpu - runs) + runs / workers, 1)}


if __name__ == "__main__":
    raise SystemExit(main())
