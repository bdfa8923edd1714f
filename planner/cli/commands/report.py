"""`specplan report`: the HTML / PDF report for decision-makers, from the stored runs.

    specplan report --out report/                          # default scenario, every run
    specplan report --storage sqlite:///specplan.db --out report/ --format html \\
                    --pretraining-budget 650gpuh --specialization-budget 0.5gpuh --domains 50

The budget flags are those of `specplan recommend`, all optional: any left out takes the
default scenario's value (400 GPUh, 2 GPUh, 126M, 8M tokens, 7 domains, A100).
"""

from __future__ import annotations

import argparse

from planner.cli.budget_flags import add_budget_arguments, budget_from_args
from planner.cli.commands._common import add_storage, count_arg, emit_json, seed_arg, split_list
from planner.costing.scenario import DEFAULT_SCENARIO


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = __doc__.split("\n\n", 1)[1]
    parser.add_argument("--out", default="report", metavar="DIR",
                        help="folder for report.html / report.pdf (default: report/)")
    parser.add_argument("--format", default="html,pdf", metavar="LIST",
                        help="comma-separated: html, pdf, csv (tables/*.csv: every "
                             "table behind the report; default: html,pdf)")
    parser.add_argument("--scales", default=None, metavar="LIST",
                        help="only runs at these scales (default: every run)")
    parser.add_argument("--title", default="specplan report")
    parser.add_argument("--grid", default=12, type=count_arg("--grid", minimum=2, maximum=1000),
                        metavar="N",
                        help="points per axis of the decision map and budget curves")
    parser.add_argument("--seed", default=0, type=seed_arg(), help="optimizer seed")
    parser.add_argument("--json", action="store_true",
                        help="print the written paths and the recommendation as JSON")
    parser.add_argument("--domain", action="append", default=None, metavar="NAME|NAME=PATH",
                        help="per-domain advice for these domains (default: the domains in "
                             "the results store); repeatable (docs/domain-advice.md)")
    add_storage(parser)
    add_budget_arguments(parser, defaults=DEFAULT_SCENARIO)


def run(args: argparse.Namespace) -> int:
    from domains.errors import SpecplanError
    from planner.experiments.store import load_runs
    from planner.reports.render import FORMATS, write_report
    from planner.reports.report import build_report

    formats = split_list(args.format)
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise SpecplanError(f"--format {args.format!r}: choose from {', '.join(FORMATS)}")
    if args.grid < 2:
        raise SpecplanError(f"--grid: must be at least 2, got {args.grid}")
    budget = budget_from_args(args, defaults=DEFAULT_SCENARIO)

    runs = load_runs(args.storage)
    if args.domain:  # an unknown name fails here, in one line, before any work
        from planner.search.per_domain import resolve_domains

        resolve_domains(args.domain, runs)
    report = build_report(runs=runs, storage=args.storage, budget=budget, title=args.title,
                          scales=split_list(args.scales) if args.scales else None,
                          n_points=args.grid, seed=args.seed)
    from planner.reports.domain_advice import (
        PAPER_AVERAGE_LABEL,
        advice_for_runs,
        attach_advice,
        headline_text,
        write_advice,
    )

    if args.scales:
        runs = runs[runs["scale"].isin(split_list(args.scales))].reset_index(drop=True)
    advice, why = advice_for_runs(budget, runs, args.domain, seed=args.seed,
                                  compute=bool(args.domain))
    attach_advice(report, advice, why if args.domain else "")  # the headline (issue 18)
    paths = write_report(report, args.out, formats=formats) + write_advice(advice, args.out)
    rec = report.recommendation
    if args.json:
        head = advice.set_recommendation if advice is not None else rec
        emit_json({"paths": [str(p) for p in paths], "n_results": len(report.runs),
                   "headline": None if head is None else {
                       "strategy": head.strategy, "predicted_ppl": head.predicted_ppl,
                       "basis": "your domains (domain_advice)" if advice is not None
                       else PAPER_AVERAGE_LABEL},
                   "recommendation": rec.to_dict() if rec is not None else None,
                   "notes": report.notes,
                   "domain_advice": advice.to_dict() if advice is not None else None})
        return 0
    if advice is not None:
        for line in headline_text(advice):
            print(line)
    elif rec is not None:
        print(f"recommendation: {rec.strategy} ({rec.paper_name}), predicted perplexity "
              f"{rec.predicted_ppl:.2f} (the {PAPER_AVERAGE_LABEL})")
    for note in report.notes:
        print(f"warning: {note}")
    print(f"{len(report.runs)} measured strategy x domain results; wrote "
          + ", ".join(str(p) for p in paths))
    return 0
