"""Costing: budgets with units (FLOPs, GPU-hours, dollars), accelerators and their
throughputs, the analytic cost of a plan per bucket (the paper's Eq. 1 and Table 2) and the
default budget scenario. No torch."""

from planner.costing.accelerators import (
    Accelerator,
    get_accelerator,
    list_accelerators,
    measure_cpu_flops,
)
from planner.costing.budget import (
    Budget,
    ComputeBudget,
    InferenceBudget,
    format_amount,
    format_params,
    parse_compute_budget,
    parse_count,
    parse_inference_budget,
    parse_positive_float,
    parse_tokens,
)
from planner.costing.costs import (
    BUCKETS,
    BucketCost,
    CostModel,
    PlanCost,
    UtilizationCurve,
    efficiency_factors,
    utilization_curves,
)
from planner.costing.scenario import DEFAULT_SCENARIO, default_budget

__all__ = [
    "BUCKETS", "DEFAULT_SCENARIO", "Accelerator", "BucketCost", "Budget", "ComputeBudget",
    "CostModel", "InferenceBudget", "PlanCost", "UtilizationCurve", "default_budget",
    "efficiency_factors", "format_amount", "format_params", "get_accelerator",
    "list_accelerators", "measure_cpu_flops", "parse_compute_budget", "parse_count",
    "parse_inference_budget", "parse_positive_float", "parse_tokens", "utilization_curves",
]
