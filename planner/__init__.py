"""specplan's planner: which specialization method fits my budget?

The rooms, each a subpackage with its own public API (`__all__`), in the order data flows:

    reference     the paper's published numbers (CSV files beside their loader)
    costing       budgets with units, accelerators, a plan's cost (Eq. 1), the default scenario
    performance   the performance model: predicted perplexity per strategy, with a band
    search        candidate configurations, the Optuna optimizer, the `Recommendation`
    experiments   the runner, the results store (Optuna storage), the demo
    reports       the report's frames, figures, HTML (jinja2), PDF and CSV
    cli           the `specplan` command (`planner.cli.main`); no library module imports it

Every public name of those rooms is also importable from here (``from planner import
recommend, default_budget``), lazily (PEP 562): ``import planner`` imports no room, and the
planning names (costing, reference, performance, search) never import torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from planner.costing import (
        BUCKETS,
        DEFAULT_SCENARIO,
        Accelerator,
        BucketCost,
        Budget,
        ComputeBudget,
        CostModel,
        InferenceBudget,
        PlanCost,
        UtilizationCurve,
        default_budget,
        efficiency_factors,
        format_amount,
        format_params,
        get_accelerator,
        list_accelerators,
        measure_cpu_flops,
        parse_compute_budget,
        parse_count,
        parse_inference_budget,
        parse_positive_float,
        parse_tokens,
        utilization_curves,
    )
    from planner.exceptions import (
        BudgetError,
        CostModelWarning,
        InfeasibleBudgetError,
        NotFittedError,
        ReferenceDataError,
        RunsFrameError,
        SpecplanError,
    )
    from planner.experiments import (
        DEFAULT_STORAGE,
        RUN_COLUMNS,
        DemoConfig,
        DemoResult,
        RunPlan,
        StorageError,
        add_run,
        export_runs,
        find_run,
        load_runs,
        open_study,
        run_demo,
        run_one,
        run_plan,
    )
    from planner.performance import (
        FIT_COLUMNS,
        TABLE_STRATEGIES,
        PerformanceModel,
        PooledFit,
        Prediction,
        flops_from_gpuh,
        leave_one_out_table8,
        reference_flops,
    )
    from planner.reference import (
        DOMAIN_TOKEN_COLUMNS,
        REFERENCE_DIR,
        SOURCES,
        TABLES,
        figure_fact,
        load_table,
        perplexity_observations,
        read_records,
        table8_long,
    )
    from planner.reports import (
        DIFFUSE_MIN_K,
        DIFFUSE_NORMALIZED_ENTROPY,
        DIFFUSE_TOP_SHARE,
        FORMATS,
        WHAT_IFS,
        FigureSpec,
        Report,
        budget_curves,
        build_report,
        cluster_histograms,
        cluster_notes,
        cluster_table,
        decision_map,
        domain_costs,
        fmt_number,
        format_cell,
        json_cells,
        measured_domain_costs,
        measured_vs_predicted,
        paper_name,
        plot_budget_curves,
        plot_cluster_histograms,
        plot_cost_over_domains,
        plot_decision_map,
        plot_measured_vs_predicted,
        plot_runs,
        provenance_table,
        recommendation_table,
        render_html,
        runs_table,
        sensitivity,
        strategy_colors,
        strategy_order,
        strategy_summary,
        write_html,
        write_pdf,
        write_report,
        write_tables,
    )
    from planner.search import (
        DEFAULT_TRIALS,
        Candidate,
        Knob,
        PlanContext,
        Recommendation,
        RunnerUp,
        SearchResult,
        eligible_strategies,
        pareto_front,
    )
    from planner.search.recommend import (
        recommend,
    )

#: public name -> the room (subpackage) that exports it
_EXPORTS = {
    "BudgetError": "planner.exceptions", "CostModelWarning": "planner.exceptions",
    "InfeasibleBudgetError": "planner.exceptions", "NotFittedError": "planner.exceptions",
    "ReferenceDataError": "planner.exceptions", "RunsFrameError": "planner.exceptions",
    "SpecplanError": "planner.exceptions",
    "Accelerator": "planner.costing", "BUCKETS": "planner.costing",
    "BucketCost": "planner.costing", "Budget": "planner.costing",
    "ComputeBudget": "planner.costing", "CostModel": "planner.costing",
    "DEFAULT_SCENARIO": "planner.costing", "InferenceBudget": "planner.costing",
    "PlanCost": "planner.costing", "UtilizationCurve": "planner.costing",
    "default_budget": "planner.costing", "efficiency_factors": "planner.costing",
    "format_amount": "planner.costing", "format_params": "planner.costing",
    "get_accelerator": "planner.costing", "list_accelerators": "planner.costing",
    "measure_cpu_flops": "planner.costing", "parse_compute_budget": "planner.costing",
    "parse_count": "planner.costing", "parse_inference_budget": "planner.costing",
    "parse_positive_float": "planner.costing", "parse_tokens": "planner.costing",
    "utilization_curves": "planner.costing",
    "DOMAIN_TOKEN_COLUMNS": "planner.reference", "REFERENCE_DIR": "planner.reference",
    "SOURCES": "planner.reference", "TABLES": "planner.reference",
    "figure_fact": "planner.reference", "load_table": "planner.reference",
    "perplexity_observations": "planner.reference", "read_records": "planner.reference",
    "table8_long": "planner.reference",
    "FIT_COLUMNS": "planner.performance", "PerformanceModel": "planner.performance",
    "PooledFit": "planner.performance", "Prediction": "planner.performance",
    "TABLE_STRATEGIES": "planner.performance", "flops_from_gpuh": "planner.performance",
    "leave_one_out_table8": "planner.performance", "reference_flops": "planner.performance",
    "Candidate": "planner.search", "DEFAULT_TRIALS": "planner.search", "Knob": "planner.search",
    "PlanContext": "planner.search", "Recommendation": "planner.search",
    "RunnerUp": "planner.search", "SearchResult": "planner.search",
    "eligible_strategies": "planner.search", "pareto_front": "planner.search",
    "DEFAULT_STORAGE": "planner.experiments", "DemoConfig": "planner.experiments",
    "DemoResult": "planner.experiments", "RUN_COLUMNS": "planner.experiments",
    "RunPlan": "planner.experiments", "StorageError": "planner.experiments",
    "add_run": "planner.experiments", "export_runs": "planner.experiments",
    "find_run": "planner.experiments", "load_runs": "planner.experiments",
    "open_study": "planner.experiments", "run_demo": "planner.experiments",
    "run_one": "planner.experiments", "run_plan": "planner.experiments",
    "DIFFUSE_MIN_K": "planner.reports", "DIFFUSE_NORMALIZED_ENTROPY": "planner.reports",
    "DIFFUSE_TOP_SHARE": "planner.reports", "FORMATS": "planner.reports",
    "FigureSpec": "planner.reports", "Report": "planner.reports", "WHAT_IFS": "planner.reports",
    "budget_curves": "planner.reports", "build_report": "planner.reports",
    "cluster_histograms": "planner.reports", "cluster_notes": "planner.reports",
    "cluster_table": "planner.reports", "decision_map": "planner.reports",
    "domain_costs": "planner.reports", "fmt_number": "planner.reports",
    "format_cell": "planner.reports", "json_cells": "planner.reports",
    "measured_domain_costs": "planner.reports", "measured_vs_predicted": "planner.reports",
    "paper_name": "planner.reports", "plot_budget_curves": "planner.reports",
    "plot_cluster_histograms": "planner.reports", "plot_cost_over_domains": "planner.reports",
    "plot_decision_map": "planner.reports", "plot_measured_vs_predicted": "planner.reports",
    "plot_runs": "planner.reports", "provenance_table": "planner.reports",
    "recommendation_table": "planner.reports", "render_html": "planner.reports",
    "runs_table": "planner.reports", "sensitivity": "planner.reports",
    "strategy_colors": "planner.reports", "strategy_order": "planner.reports",
    "strategy_summary": "planner.reports", "write_html": "planner.reports",
    "write_pdf": "planner.reports", "write_report": "planner.reports",
    "write_tables": "planner.reports",
    "recommend": "planner.search.recommend",
}

__all__ = ["Accelerator", "BUCKETS", "BucketCost", "Budget", "BudgetError", "Candidate",
    "ComputeBudget", "CostModel", "CostModelWarning", "DEFAULT_SCENARIO", "DEFAULT_STORAGE",
    "DEFAULT_TRIALS", "DIFFUSE_MIN_K", "DIFFUSE_NORMALIZED_ENTROPY", "DIFFUSE_TOP_SHARE",
    "DOMAIN_TOKEN_COLUMNS", "DemoConfig", "DemoResult", "FIT_COLUMNS", "FORMATS", "FigureSpec",
    "InfeasibleBudgetError", "InferenceBudget", "Knob", "NotFittedError", "PerformanceModel",
    "PlanContext", "PlanCost", "PooledFit", "Prediction", "REFERENCE_DIR", "RUN_COLUMNS",
    "Recommendation", "ReferenceDataError", "Report", "RunPlan", "RunnerUp", "RunsFrameError",
    "SOURCES", "SearchResult", "SpecplanError", "StorageError", "TABLES", "TABLE_STRATEGIES",
    "UtilizationCurve", "WHAT_IFS", "add_run", "budget_curves", "build_report",
    "cluster_histograms", "cluster_notes", "cluster_table", "decision_map", "default_budget",
    "domain_costs", "efficiency_factors", "eligible_strategies", "export_runs", "figure_fact",
    "find_run", "flops_from_gpuh", "fmt_number", "format_amount", "format_cell", "format_params",
    "get_accelerator", "json_cells", "leave_one_out_table8", "list_accelerators", "load_runs",
    "load_table", "measure_cpu_flops", "measured_domain_costs", "measured_vs_predicted",
    "open_study", "paper_name", "pareto_front", "parse_compute_budget", "parse_count",
    "parse_inference_budget", "parse_positive_float", "parse_tokens", "perplexity_observations",
    "plot_budget_curves", "plot_cluster_histograms", "plot_cost_over_domains", "plot_decision_map",
    "plot_measured_vs_predicted", "plot_runs", "provenance_table", "read_records", "recommend",
    "recommendation_table", "reference_flops", "render_html", "run_demo", "run_one", "run_plan",
    "runs_table", "sensitivity", "strategy_colors", "strategy_order", "strategy_summary",
    "table8_long", "utilization_curves", "write_html", "write_pdf", "write_report", "write_tables"]

def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
