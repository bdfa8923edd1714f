"""Reports for decision-makers: the tables (pandas frames, one module per section), the
figures (matplotlib) and their rendering to HTML (jinja2 templates), PDF and CSV.

    runs, planning, clusters, model_check, provenance   the sections' frames
    report                                              `build_report` -> `Report`
    plots, figures                                      the figures
    formatting, html, pdf, render                       text, the page, the PDF, the files

The names below are re-exported lazily (PEP 562): importing this package imports neither
pandas nor matplotlib. `figures.figures` is not re-exported: it would hide its module.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from planner.reports.clusters import (
        DIFFUSE_MIN_K,
        DIFFUSE_NORMALIZED_ENTROPY,
        DIFFUSE_TOP_SHARE,
        cluster_histograms,
        cluster_notes,
        cluster_table,
    )
    from planner.reports.common import paper_name, strategy_order
    from planner.reports.figures import FigureSpec
    from planner.reports.formatting import fmt_number, format_cell, json_cells
    from planner.reports.html import render_html, write_html
    from planner.reports.model_check import measured_vs_predicted
    from planner.reports.pdf import write_pdf
    from planner.reports.planning import (
        WHAT_IFS,
        budget_curves,
        decision_map,
        decision_map_domains,
        domain_costs,
        recommendation_table,
        sensitivity,
    )
    from planner.reports.plots import (
        plot_budget_curves,
        plot_cluster_histograms,
        plot_cost_over_domains,
        plot_decision_map,
        plot_decision_map_domains,
        plot_measured_vs_predicted,
        plot_runs,
        strategy_colors,
    )
    from planner.reports.provenance import provenance_table
    from planner.reports.render import FORMATS, write_report, write_tables
    from planner.reports.report import Report, build_report
    from planner.reports.runs import measured_domain_costs, runs_table, strategy_summary

#: public name -> the module of this package that defines it
_EXPORTS = {
    "DIFFUSE_MIN_K": "clusters", "DIFFUSE_NORMALIZED_ENTROPY": "clusters",
    "DIFFUSE_TOP_SHARE": "clusters", "cluster_histograms": "clusters",
    "cluster_notes": "clusters", "cluster_table": "clusters",
    "paper_name": "common", "strategy_order": "common",
    "FigureSpec": "figures",
    "fmt_number": "formatting", "format_cell": "formatting", "json_cells": "formatting",
    "render_html": "html", "write_html": "html",
    "measured_vs_predicted": "model_check",
    "write_pdf": "pdf",
    "WHAT_IFS": "planning", "budget_curves": "planning", "decision_map": "planning",
    "decision_map_domains": "planning",
    "domain_costs": "planning", "recommendation_table": "planning", "sensitivity": "planning",
    "plot_budget_curves": "plots", "plot_cluster_histograms": "plots",
    "plot_cost_over_domains": "plots", "plot_decision_map": "plots",
    "plot_decision_map_domains": "plots",
    "plot_measured_vs_predicted": "plots", "plot_runs": "plots", "strategy_colors": "plots",
    "provenance_table": "provenance",
    "FORMATS": "render", "write_report": "render", "write_tables": "render",
    "Report": "report", "build_report": "report",
    "measured_domain_costs": "runs", "runs_table": "runs", "strategy_summary": "runs",
}

__all__ = ["DIFFUSE_MIN_K", "DIFFUSE_NORMALIZED_ENTROPY", "DIFFUSE_TOP_SHARE", "FORMATS",
    "FigureSpec", "Report", "WHAT_IFS", "budget_curves", "build_report", "cluster_histograms",
    "cluster_notes", "cluster_table", "decision_map", "decision_map_domains", "domain_costs",
    "fmt_number", "format_cell",
    "json_cells", "measured_domain_costs", "measured_vs_predicted", "paper_name",
    "plot_budget_curves",
    "plot_cluster_histograms", "plot_cost_over_domains", "plot_decision_map",
    "plot_decision_map_domains",
    "plot_measured_vs_predicted", "plot_runs", "provenance_table", "recommendation_table",
    "render_html", "runs_table", "sensitivity", "strategy_colors", "strategy_order",
    "strategy_summary", "write_html", "write_pdf", "write_report", "write_tables"]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
