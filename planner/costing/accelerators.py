"""Accelerators: what one "GPU-hour" means, and what it costs.

A training budget in GPU-hours is tied to an accelerator: the paper's A100 (its unit
throughout, §3.1), an H100, or ``cpu`` (this machine, its rate measured once with a short
numpy matmul and cached). Each accelerator has a peak rate and a default hourly price; the
rate a model actually achieves is the peak times a model-size-dependent utilization (MFU)
calibrated on the paper's Table 2 (see `planner.costing.costs`). Peak rates and prices live in
``planner/reference/accelerators.csv`` with their sources.

Example:
    >>> from planner.costing.accelerators import get_accelerator
    >>> a100 = get_accelerator("a100")
    >>> a100.name, a100.peak_flops
    ('A100', 312000000000000.0)
"""

from __future__ import annotations

import math
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path

from planner.exceptions import BudgetError

__all__ = ["Accelerator", "get_accelerator", "list_accelerators", "measure_cpu_flops"]

_CPU_CACHE_FILE = "cpu_matmul_flops.json"
_CPU_CACHE_VERSION = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class Accelerator:
    """One device that training and serving are charged on.

    Args:
        name: ``A100``, ``H100`` or ``cpu``.
        peak_flops: peak dense rate in FLOP/s (BF16 tensor cores; for ``cpu`` the measured
            float32 matmul rate of this machine).
        default_price_per_hour: USD per device-hour when ``--price-per-hour`` is not given.
        source: where `peak_flops` comes from.
    """

    name: str
    peak_flops: float
    default_price_per_hour: float
    source: str = ""

    def __post_init__(self) -> None:
        for field_name in ("peak_flops", "default_price_per_hour"):
            value = getattr(self, field_name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise BudgetError(
                    f"Accelerator.{field_name} must be a positive finite number, got {value!r}"
                )


def _table() -> dict[str, dict[str, str]]:
    from planner.reference import read_records

    return {row["name"].lower(): row for row in read_records("accelerators")}


def list_accelerators() -> list[str]:
    """Names accepted by ``--accelerator`` (case-insensitive)."""
    return [row["name"] for row in _table().values()]


def get_accelerator(name: str, *, flag: str = "--accelerator") -> Accelerator:
    """The accelerator called `name` (case-insensitive); ``cpu`` is measured lazily.

    Raises:
        BudgetError: unknown name; the message names `flag` and the known accelerators.
    """
    table = _table()
    row = table.get(str(name).strip().lower())
    if row is None:
        raise BudgetError(
            f"{flag}: unknown accelerator {name!r}; choose one of: "
            f"{', '.join(r['name'] for r in table.values())}"
        )
    if row["name"] == "cpu":
        peak = measure_cpu_flops()
        source = f"measured: float32 numpy matmul on this machine ({peak / 1e9:.1f} GFLOP/s)"
    else:
        peak, source = float(row["peak_flops"]), row["peak_source"]
    return Accelerator(name=row["name"], peak_flops=peak,
                       default_price_per_hour=float(row["default_price_per_hour"]),
                       source=source)


def _cache_path() -> Path:
    try:
        from domains.cache import cache_dir

        return cache_dir() / _CPU_CACHE_FILE
    except ImportError:  # pragma: no cover - domains.cache ships with the project
        root = os.environ.get("SPECPLAN_CACHE") or os.path.join(
            os.path.expanduser("~"), ".cache", "specplan")
        Path(root).mkdir(parents=True, exist_ok=True)
        return Path(root) / _CPU_CACHE_FILE


def _machine_key() -> str:
    import numpy as np

    return "|".join([platform.node(), platform.machine(), str(os.cpu_count()),
                     np.__version__, str(_CPU_CACHE_VERSION)])


def measure_cpu_flops(*, use_cache: bool = True, size: int = 512, repeats: int = 5) -> float:
    """This machine's float32 matmul rate in FLOP/s, measured once and cached.

    A (size x size) @ (size x size) product costs 2 * size**3 FLOPs; the best of `repeats`
    timings (after one warm-up) is kept. Takes well under a second; the result is cached in
    ``$SPECPLAN_CACHE/cpu_matmul_flops.json`` keyed by host, CPU count and numpy version.
    """
    import json

    import numpy as np

    path = _cache_path()
    key = _machine_key()
    if use_cache:
        try:
            cached = json.loads(path.read_text())
            if cached.get("key") == key and cached.get("flops", 0) > 0:
                return float(cached["flops"])
        except (OSError, ValueError):
            pass
    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    a @ b  # warm-up (thread pool start, page faults)
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    flops = 2.0 * size**3 / max(best, 1e-9)
    if use_cache:
        from domains.atomic import atomic_write_text

        try:
            atomic_write_text(path, json.dumps({"key": key, "flops": flops, "size": size}))
        except OSError:  # a read-only or full cache is not an error: we just measure again
            pass
    return flops
