"""Benchmark: cold start of the planning commands (a fresh interpreter each time).

    python benchmarks/bench_cli.py [--repeats 5]

The planning paths (`recommend`, `strategies`, `runs`) must answer in well under a second
and never import torch; this measures the wall time of each, start-up included, and says
whether torch was imported. The test suite checks the "no torch" part; the time is
measured here, not asserted.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_PROBE = "import sys\nfrom planner.cli import main\nrc = main({argv!r})\n" \
         "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH', file=sys.stderr)\n" \
         "sys.exit(rc)\n"


def cold(argv: list[str]) -> tuple[float, bool]:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _PROBE.format(argv=argv)],
                          capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {proc.stderr.strip()[-500:]}")
    return wall, proc.stderr.strip().endswith("NO-TORCH")


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
        print(f"{'command':<12} {'median s':>9} {'min s':>7}  torch imported")
        for name, argv in commands.items():
            cold(argv)  # warm the OS file cache once
            times, clean = [], True
            for _ in range(args.repeats):
                t, ok = cold(argv)
                times.append(t)
                clean &= ok
            print(f"{name:<12} {statistics.median(times):>9.2f} {min(times):>7.2f}  "
                  f"{'no' if clean else 'YES'}")


if __name__ == "__main__":
    main()
