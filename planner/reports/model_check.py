"""The model-check section: the performance model's predictions against measurements,
your runs (leave-one-out) and the paper's Table 8 (leave-one-out). pandas and numpy only;
no torch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from planner.reports.common import mapping_cell

if TYPE_CHECKING:
    from planner.performance.perfmodel import PerformanceModel

__all__ = ["MAX_LOO_RUNS", "measured_vs_predicted"]

#: leave-one-out refits above this many runs would be slow: the check is in-sample then
MAX_LOO_RUNS = 80


def _predict_run(model: PerformanceModel, rec: Mapping[str, Any]) -> Any:
    from planner.performance.perfdata import run_teacher_pretraining_flops

    teacher = run_teacher_pretraining_flops(rec)  # the typed field (or an old run's component)
    params = mapping_cell(rec.get("params"))
    info = mapping_cell(rec.get("info"))
    # the run's knobs, as the model reads them when it fits on runs (each strategy's prior
    # says which of them it models: `strategies.base.PlanningPrior`)
    knobs = {k: v for k, v in params.items() if isinstance(v, (int, str))}
    if info.get("n_experts") is not None and "n_experts" not in knobs:
        knobs["n_experts"] = int(info["n_experts"])
    return model.predict(
        str(rec["strategy"]), n_domain_tokens=float(rec["n_domain_tokens"]),
        pretraining_flops=float(rec.get("pretraining_flops") or 0.0),
        specialization_flops=float(rec.get("specialization_flops") or 0.0),
        teacher_pretraining_flops=teacher,
        params=knobs,
        scale=str(rec["scale"]), domain=str(rec.get("domain") or "") or None)


def measured_vs_predicted(runs: pd.DataFrame | None, *, loo: bool = True,
                          include_reference: bool = True) -> pd.DataFrame:
    """The performance model's predictions against measurements.

    - Your runs: each run is predicted by the model fitted on the reference tables and
      every *other* run (leave-one-out), so the check is honest; above 80 runs the
      refits would be slow and the prediction is in-sample (``method`` says
      which).
    - The paper's Table 8: `planner.performance.perfmodel.leave_one_out_table8` (each row held
    out).

    Returns:
        ``source``, ``method``, ``scale``, ``strategy``, ``domain``, ``n_domain_tokens``,
        ``measured``, ``predicted``, ``low``, ``high``, ``in_band``, ``error_pct``.
    """
    from planner.performance.perfmodel import PerformanceModel, leave_one_out_table8

    cols = ["source", "method", "scale", "strategy", "domain", "n_domain_tokens",
            "measured", "predicted", "low", "high", "in_band", "error_pct"]
    rows = []
    if runs is not None and len(runs):
        runs = runs[pd.to_numeric(runs["test_ppl"], errors="coerce").notna()].reset_index(
            drop=True)
        records = runs.to_dict("records")
        use_loo = loo and 1 < len(records) <= MAX_LOO_RUNS
        full = None if use_loo else PerformanceModel().fit(runs)
        for i, rec in enumerate(records):
            model = PerformanceModel().fit(runs.drop(index=i)) if full is None else full
            try:
                p = _predict_run(model, rec)
            except (KeyError, ValueError, AttributeError):
                continue  # no model for this strategy / scale without the held-out run
            measured = float(rec["test_ppl"])
            rows.append({"source": "your runs",
                         "method": "leave-one-out" if use_loo else "in-sample",
                         "scale": rec["scale"], "strategy": rec["strategy"],
                         "domain": rec.get("domain"),
                         "n_domain_tokens": float(rec["n_domain_tokens"]),
                         "measured": measured, "predicted": p.ppl, "low": p.low,
                         "high": p.high, "in_band": p.low <= measured <= p.high,
                         "error_pct": 100.0 * (p.ppl - measured) / measured})
    if include_reference:
        for r in leave_one_out_table8():
            rows.append({"source": "paper Table 8", "method": "leave-one-out",
                         "scale": "paper", "strategy": r["strategy"],
                         "domain": f"Pile macro-average, {r['pretraining_gpuh']:g} GPUh",
                         "n_domain_tokens": float(r["n_domain_tokens"]),
                         "measured": float(r["observed"]), "predicted": float(r["predicted"]),
                         "low": np.nan, "high": np.nan, "in_band": None,
                         "error_pct": 100.0 * (r["predicted"] - r["observed"]) / r["observed"]})
    return pd.DataFrame(rows, columns=cols)
