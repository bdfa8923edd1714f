"""`specplan demo`: the main job on the embedded default data (see `planner.experiments.demo`).

    specplan demo                      # every strategy on biomedical, legal, news (demo scale)
    specplan demo --quick              # the same at the `tiny` scale: a minute or two
    specplan demo --strategies small,importance_sampling --domains news

A second `specplan demo` reuses every finished run from the results store and only
rebuilds the recommendation and the report.
"""

from __future__ import annotations

import argparse
import os

from planner.cli.commands._common import (
    add_files_options,
    add_json,
    add_seeds,
    add_storage,
    count_arg,
    domain_refs,
    emit_json,
    seeds_of,
    split_list,
)
from planner.cli.commands.worker import add_fault_options, fault_settings
from planner.cli.launch import add_processes


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from planner.experiments.demo import DEFAULT_DOMAINS, DEFAULT_OUT, DEFAULT_ROOT, DemoConfig

    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = __doc__.split("\n\n", 1)[1]
    parser.add_argument("--scale", default=None,
                        help="model/compute preset: demo (default), tiny, paper (a GPU)")
    parser.add_argument("--quick", action="store_true",
                        help="the `tiny` scale: every strategy in a minute or two")
    parser.add_argument("--domains", default=",".join(DEFAULT_DOMAINS), metavar="LIST",
                        help="comma-separated domains; NAME=PATH for your own files")
    parser.add_argument("--strategies", default="all", metavar="LIST",
                        help="comma-separated strategies or paper aliases (default: all)")
    parser.add_argument("--out", default=DEFAULT_OUT, metavar="DIR",
                        help="report folder (default: report/)")
    parser.add_argument("--format", default="html,pdf", metavar="LIST",
                        help="report formats: html, pdf, csv (default: html,pdf)")
    parser.add_argument("--no-report", action="store_true", help="skip the report")
    parser.add_argument("--root", default=DEFAULT_ROOT, metavar="DIR",
                        help="artifacts, checkpoints and models (default: .specplan/)")
    add_seeds(parser, default=tuple(DemoConfig.seeds))
    parser.add_argument("--threads", type=count_arg("--threads", minimum=0, maximum=4096),
                        default=1, metavar="N",
                        help="torch threads for training (default 1: fastest for the "
                             "demo's small models on a shared 2-core CPU; 0: every core)")
    parser.add_argument("--workers", type=count_arg("--workers", maximum=4096), default=None,
                        metavar="N",
                        help="local worker processes pulling the queued runs (default: "
                             "2, or 1 on a single core)")
    parser.add_argument("--grid", type=count_arg("--grid", minimum=2, maximum=1000),
                        default=12, metavar="N",
                        help="points per axis of the report's decision map (default 12)")
    add_fault_options(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    add_files_options(parser)
    add_storage(parser)
    add_processes(parser)
    add_json(parser)


def run(args: argparse.Namespace) -> int:
    from domains.errors import SpecplanError
    from planner.experiments.demo import DemoConfig, run_demo
    from strategies.machinery.scales import get_scale

    if args.quick and args.scale not in (None, "tiny"):
        raise SpecplanError("--quick runs the `tiny` scale; drop --scale or --quick")
    scale = "tiny" if args.quick else (args.scale or "demo")
    get_scale(scale)  # validate before any work
    if args.grid < 2:
        raise SpecplanError(f"--grid: must be at least 2, got {args.grid}")
    if args.workers is not None and args.workers < 1:
        raise SpecplanError(f"--workers: must be at least 1, got {args.workers}")
    workers = args.workers if args.workers is not None else min(2, os.cpu_count() or 1)
    domains = domain_refs(split_list(args.domains), args)
    if not domains:
        raise SpecplanError("--domains: give at least one domain")
    strategies = None if args.strategies == "all" else split_list(args.strategies)
    formats = split_list(args.format)
    from planner.reports.render import FORMATS

    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise SpecplanError(f"--format {args.format!r}: choose from {', '.join(FORMATS)}")
    cfg = DemoConfig(scale=scale, domains=domains, strategies=strategies,
                     storage=args.storage, root=args.root,
                     out=None if args.no_report else args.out,
                     formats=formats, seeds=seeds_of(args),
                     progress=not args.quiet, grid_points=args.grid, workers=workers,
                     faults=fault_settings(args),
                     threads=None if args.threads == 0 else args.threads)
    result = run_demo(cfg)
    if args.json:
        rec = result.report.recommendation if result.report is not None else None
        emit_json({"records": result.records, "failures": result.failures,
                   "reused": result.reused, "paths": [str(p) for p in result.paths],
                   "recommendation": rec.to_dict() if rec is not None else None,
                   "domain_advice": advice.to_dict() if (advice := getattr(
                       result.report, "advice", None)) is not None else None,
                   "timings": result.timings})
    return 0 if not result.failures else 1
