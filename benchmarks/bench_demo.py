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
    print(json.dumps({"cmd": args.cmd, "wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
                      "cpus": os.cpu_count(), "load_before": load_before,
                      "load_after": os.getloadavg(), "cold_cache": args.cold_cache,
                      "returncode": proc.returncode}))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return proc.returncode


if __name__ == "__main__":
    raise SystemExit(main())
