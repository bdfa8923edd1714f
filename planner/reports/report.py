"""The report's data: `build_report` gathers every section's frames into one `Report`.

The sections, each a module of this package (pandas frames, nothing drawn):

- `planner.reports.runs`: ``runs`` (one row per strategy x domain), ``summary`` (the
  macro-average per strategy, §3.2) and ``measured_domain_costs``;
- `planner.reports.planning`: ``recommendation_frame`` (the winner, its runners-up and the
  strategies excluded), ``decision_map`` (the paper's Figure 1), ``budget_curves`` and
  ``domain_costs`` (Eq. 1);
- `planner.reports.clusters`: ``clusters`` / ``cluster_histograms`` (Tables 9-10) and the
  diffuse-domain warnings (§5.3);
- `planner.reports.model_check`: ``measured_vs_predicted`` (leave-one-out);
- `planner.reports.provenance`: ``provenance``.

`planner.reports.plots` draws these frames; `planner.reports.html` and
`planner.reports.pdf` write them, `planner.reports.render.write_report` picks the formats.
Importing this module never imports torch.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from planner.costing.scenario import default_budget
from planner.reports.clusters import cluster_histograms, cluster_notes, cluster_table
from planner.reports.model_check import measured_vs_predicted
from planner.reports.planning import (
    budget_curves,
    decision_map,
    decision_map_domains,
    domain_costs,
    recommendation_table,
)
from planner.reports.provenance import provenance_table
from planner.reports.runs import (
    measured_domain_costs,
    measured_findings,
    runs_table,
    strategy_summary,
)

if TYPE_CHECKING:
    from planner.costing.budget import Budget
    from planner.performance.perfmodel import PerformanceModel
    from planner.search.recommend import Recommendation

__all__ = ["Report", "build_report"]


@dataclass
class Report:
    """Everything the HTML and PDF renderers show (frames, the recommendation, notes).

    Attributes:
        title: the report's title.
        generated: when it was built (local time, ISO format).
        storage: where the runs came from (None: given directly).
        budget: the budget scenario the recommendation answers.
        recommendation: the `Recommendation` (None when nothing fits: see ``notes``).
        runs, summary, recommendation_frame, decision_map, budget_curves, domain_costs,
        measured_domain_costs, clusters, cluster_histograms, measured_vs_predicted,
        provenance: the frames (see the module docstring).
        claims: `specplan study`'s claim table (claim, paper, measured, verdict, seeds);
            empty unless the study built the report.
        notes: warnings in plain words (diffuse domains, budgets that do not fit, ...).
        findings: what the measured runs show, in sentences built only from them
            (`planner.reports.runs.measured_findings`: best within the cap, within noise,
            equal compute or not, converged fine-tunes, tokens per parameter).
        recommendation_text: the recommendation as `specplan recommend` prints it.
        advice: the per-domain advice (`planner.search.per_domain.DomainAdvice`) when the
            report knows the user's domains: then the set's answer is the headline and
            ``recommendation`` (the paper's nine-domain average) is context
            (`planner.reports.domain_advice.attach_advice`); None otherwise.
        domain_advice: the advice per domain as a table
            (`planner.reports.domain_advice.advice_frame`; empty without advice).
    """

    title: str
    generated: str
    storage: str | None
    budget: Budget
    recommendation: Recommendation | None
    runs: pd.DataFrame
    summary: pd.DataFrame
    recommendation_frame: pd.DataFrame
    decision_map: pd.DataFrame
    budget_curves: pd.DataFrame
    domain_costs: pd.DataFrame
    measured_domain_costs: pd.DataFrame
    clusters: pd.DataFrame
    cluster_histograms: pd.DataFrame
    measured_vs_predicted: pd.DataFrame
    provenance: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    recommendation_text: str = ""
    findings: list[str] = field(default_factory=list)
    # the paper's orderings claim by claim (`planner.experiments.study.claims_frame`)
    claims: pd.DataFrame = field(default_factory=pd.DataFrame)
    decision_map_domains: pd.DataFrame = field(default_factory=pd.DataFrame)
    # issue 18: the headline for the user's domains (attach_advice)
    advice: Any = None
    domain_advice: pd.DataFrame = field(default_factory=pd.DataFrame)

    def frames(self) -> dict[str, pd.DataFrame]:
        """Every frame by name (e.g. to export them as CSV)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if isinstance(getattr(self, f.name), pd.DataFrame)}


def build_report(*, runs: pd.DataFrame, storage: str | None = None,
                 budget: Budget | None = None, scales: Sequence[str] | None = None,
                 domains: Iterable[Any] | None = None, model: PerformanceModel | None = None,
                 title: str = "specplan report", n_points: int = 12, seed: int = 0,
                 loo: bool = True) -> Report:
    """Gather every frame of the report.

    Args:
        runs: measured runs, a frame shaped like `planner.experiments.store.load_runs`'s
            (the caller reads the store: the report is a function of frames).
        storage: where the runs came from, shown in the report (None: given directly).
        budget: the scenario to recommend for (default:
            `planner.costing.scenario.default_budget()`).
        scales: keep only runs at these scales (default: all).
        domains: `Domain` objects or names for the provenance table (default: the runs').
        model: a fitted performance model (default: fitted on the reference tables and the
            runs).
        n_points: points per axis of the decision map and the budget curves.
        loo: leave-one-out predictions for the measured-vs-predicted check.
    """
    from domains.errors import SpecplanError
    from planner.performance.perfmodel import PerformanceModel
    from planner.reports.formatting import display_url
    from planner.search.recommend import recommend

    if scales:
        runs = runs[runs["scale"].isin(list(scales))].reset_index(drop=True)
    budget = budget or default_budget()
    notes: list[str] = []
    model = model or PerformanceModel().fit(runs if len(runs) else None)
    rec, text = None, ""
    try:
        rec = recommend(budget, runs=runs, model=model, seed=seed)
        text = rec.format()
    except SpecplanError as err:
        notes.append(f"No strategy fits the budget: {err}")
    table = runs_table(runs)
    summary = strategy_summary(table)
    clusters = cluster_table(runs)
    notes += cluster_notes(clusters)
    for r in table.itertuples():
        if r.finetune_gain_pct == r.finetune_gain_pct and r.finetune_gain_pct < 0:
            notes.append(f"{r.strategy} on {r.domain!r}: fine-tuning did not lower the test "
                         "perplexity (early stopping kept the pretrained weights' level)")
    return Report(
        title=title, generated=time.strftime("%Y-%m-%d %H:%M:%S"),
        storage=display_url(storage) if storage else storage,  # never print a password
        budget=budget, recommendation=rec, runs=table, summary=summary,
        findings=measured_findings(summary, table),
        recommendation_frame=recommendation_table(rec) if rec is not None
        else pd.DataFrame(),
        decision_map=decision_map(budget, model, n_points=n_points, seed=seed),
        budget_curves=budget_curves(budget, model, n_points=n_points, seed=seed),
        domain_costs=domain_costs(budget, model, seed=seed),
        measured_domain_costs=measured_domain_costs(table),
        clusters=clusters, cluster_histograms=cluster_histograms(clusters),
        measured_vs_predicted=measured_vs_predicted(runs, loo=loo),
        provenance=provenance_table(domains if domains is not None
                                    else list(dict.fromkeys(table["domain"])), runs),
        notes=notes, recommendation_text=text,
        decision_map_domains=decision_map_domains(budget, model, n_points=max(3, n_points // 2),
                                                  seed=seed),
    )
