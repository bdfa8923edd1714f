"""Experiments: the runner (one run = pretrain, specialize, evaluate), the results store
(an Optuna storage: one run, one trial) and the demo.

The names below are re-exported lazily (PEP 562): importing this package imports none of
its modules, so a planning path that only needs the store pays for nothing else.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from planner.experiments.demo import DemoConfig, DemoResult, run_demo
    from planner.experiments.runner import RunPlan, measure, run_key, run_plan
    from planner.experiments.store import (
        DEFAULT_STORAGE,
        RUN_COLUMNS,
        StorageError,
        add_run,
        export_runs,
        find_run,
        load_runs,
        open_study,
    )

#: public name -> the module of this package that defines it
_EXPORTS = {
    "DEFAULT_STORAGE": "store", "RUN_COLUMNS": "store", "StorageError": "store",
    "add_run": "store", "export_runs": "store", "find_run": "store",
    "load_runs": "store", "open_study": "store",
    "RunPlan": "runner", "measure": "runner", "run_key": "runner", "run_plan": "runner",
    "DemoConfig": "demo", "DemoResult": "demo", "run_demo": "demo",
}

__all__ = ["DEFAULT_STORAGE", "DemoConfig", "DemoResult", "RUN_COLUMNS", "RunPlan", "StorageError",
    "add_run", "export_runs", "find_run", "load_runs", "open_study", "run_demo",
    "measure", "run_key", "run_plan"]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
