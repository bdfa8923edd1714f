"""Benchmark: cold start of the planning commands (a fresh interpreter each time).

    python benchmarks/bench_cli.py [--repeats 5]

The planning paths (`recommend`, `strategies`, `runs`) must answer in well under a second
and never import torch; this measures the wall time of each, start-up included, and says
whether torch was imported. The test suite checks the "no torch" part; the time is
measured here, not asserted.

The first call of each command writes the bytecode caches (``__pycache__``, as an installed
package has them; ``PYTHONDONTWRITEBYTECODE`` is dropped for the children) and is not timed.
Besides the wall time, each call's CPU time (user + system, from `resource.getrusage`) is
reported: on a shared machine the wall time includes waiting for a core, the CPU time does
not.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_PROBE = "import sys\nfrom planner.cli import main\nrc = main({argv!r})\n" \
         "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH', file=sys.stderr)\n" \
         "sys.exit(rc)\n"


_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _cpu_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cold(argv: list[str]) -> tuple[float, float, bool]:
    """One fresh interpreter: (wall s, CPU s, torch not imported)."""
    cpu0 = _cpu_children()
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _PROBE.format(argv=argv)],
                          capture_output=True, text=True, env=_ENV)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {proc.stderr.strip()[-500:]}")
    return wall, _cpu_children() - cpu0, proc.stderr.strip().endswith("NO-TORCH")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = f"sqlite:///{Path(tmp) / 'empty.db'}"
        commands = {
            "recommend": ["recommend", "--pretraining-budget", "400gpuh",
                          "--specialization-budget", "2gpuh", "--inference-budget", "126M",
                          "--domain-tokens", "8M", "--domains", "7"],
            "strategies": ["strategies"],
            "runs": ["runs", "--storage", store],
        }
        print(f"{'command':<12} {'median s':>9} {'min s':>7} {'cpu median s':>13} "
              f"{'cpu min s':>10}  torch imported")
        for name, argv in commands.items():
            cold(argv)  # warm the OS file cache and write the bytecode once
            times, cpus, clean = [], [], True
            for _ in range(args.repeats):
                t, cpu, ok = cold(argv)
                times.append(t)
                cpus.append(cpu)
                clean &= ok
            print(f"{name:<12} {statistics.median(times):>9.2f} {min(times):>7.2f} "
                  f"{statistics.median(cpus):>13.2f} {min(cpus):>10.2f}  "
                  f"{'no' if clean else 'YES'}")


if __name__ == "__main__":
    main()
