"""`specplan sweep`: several strategies on several domains, stored as one Optuna study."""

from __future__ import annotations

import argparse

from planner.cli.commands._common import (
    add_files_options,
    add_json,
    add_storage,
    domain_refs,
    emit_json,
    seeds_arg,
    split_list,
    tokens_arg,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--strategies", default="all",
                        help="comma-separated names, or `all` (default)")
    parser.add_argument("--domains", default="biomedical,legal,news",
                        help="comma-separated domains (NAME=PATH allowed)")
    parser.add_argument("--scale", default="tiny")
    parser.add_argument("--seeds", type=seeds_arg(), default=[0],
                        help="comma-separated seeds (repeats)")
    parser.add_argument("--domain-tokens", type=tokens_arg(), default=None)
    parser.add_argument("--root", default=None)
    parser.add_argument("--force", action="store_true")
    parser.add_argument("--quiet", action="store_true")
    add_files_options(parser)
    add_storage(parser)
    add_json(parser)


def run(args: argparse.Namespace) -> int:
    from planner.experiments.runner import RunPlan, run_plan
    from strategies.machinery.scales import get_scale
    from strategies.registry import list_strategies, strategy_registry

    get_scale(args.scale)
    names = (list_strategies(available_only=True) if args.strategies == "all"
             else [strategy_registry.canonical(s) for s in split_list(args.strategies)])
    seeds = args.seeds
    domains = domain_refs(split_list(args.domains), args)  # files options ride along
    records: list[dict[str, object]] = []
    for seed in seeds:
        plan = RunPlan(strategies=names, domains=domains, scale=args.scale,
                       seed=seed, n_domain_tokens=args.domain_tokens, storage=args.storage,
                       root=args.root, force=args.force, progress=not args.quiet)
        records += run_plan(plan)
    storage = args.storage or "sqlite:///specplan.db"
    if args.json:
        emit_json({"storage": storage, "n_runs": len(records), "runs": records})
    else:
        print(f"{len(records)} runs stored in {storage}")
    return 0
