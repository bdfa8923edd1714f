"""The performance model: predicted perplexity per strategy as a function of pretraining
compute, specialization compute and domain tokens, fitted from the paper's tables and the
user's runs, with an uncertainty band. No torch."""

from planner.performance.perfdata import FIT_COLUMNS, flops_from_gpuh, reference_flops
from planner.performance.perffit import PooledFit
from planner.performance.perfmodel import (
    PerformanceModel,
    Prediction,
    leave_one_out_table8,
)

__all__ = ["FIT_COLUMNS", "PerformanceModel", "PooledFit", "Prediction",
           "flops_from_gpuh", "leave_one_out_table8", "reference_flops"]
