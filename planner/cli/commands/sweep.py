"""`specplan sweep`: several strategies on several domains, stored as one Optuna study."""

from __future__ import annotations

import argparse

from domains.errors import SpecplanError
from planner.cli.commands._common import add_storage, split_list
from planner.cli.launch import add_processes


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--strategies", default="all",
                        help="comma-separated names, or `all` (default)")
    parser.add_argument("--domains", default="biomedical,legal,news",
                        help="comma-separated domains (NAME=PATH allowed)")
    parser.add_argument("--scale", default="tiny")
    parser.add_argument("--seeds", default="0", help="comma-separated seeds (repeats)")
    parser.add_argument("--domain-tokens", type=int, default=None)
    parser.add_argument("--root", default=None)
    parser.add_argument("--force", action="store_true")
    parser.add_argument("--quiet", action="store_true")
    add_storage(parser)
    add_processes(parser)


def run(args: argparse.Namespace) -> int:
    from planner.experiments.runner import RunPlan, run_plan
    from strategies.machinery.scales import get_scale
    from strategies.registry import list_strategies, strategy_registry

    get_scale(args.scale)
    names = (list_strategies(available_only=True) if args.strategies == "all"
             else [strategy_registry.canonical(s) for s in split_list(args.strategies)])
    try:
        seeds = [int(s) for s in split_list(args.seeds)]
    except ValueError:
        raise SpecplanError(f"--seeds {args.seeds!r}: expected comma-separated integers") from None
    total = 0
    for seed in seeds:
        plan = RunPlan(strategies=names, domains=split_list(args.domains), scale=args.scale,
                       seed=seed, n_domain_tokens=args.domain_tokens, storage=args.storage,
                       root=args.root, force=args.force, progress=not args.quiet)
        total += len(run_plan(plan))
    print(f"{total} runs stored in {args.storage or 'sqlite:///specplan.db'}")
    return 0
