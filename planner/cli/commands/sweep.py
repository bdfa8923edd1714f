"""`specplan sweep`: strategies x domains x seeds, queued in the results store and run by
workers that pull them (this process, `--workers N` local processes, or `specplan worker`
on other machines with `--workers 0`).

    specplan sweep --strategies small,small_nopt --domains news,legal --seeds 0,1,2
    specplan sweep ... --storage postgresql://me@db.lab/specplan --workers 0
"""

from __future__ import annotations

import argparse

from domains.errors import SpecplanError
from planner.cli.commands._common import (
    add_files_options,
    add_json,
    add_seeds,
    add_storage,
    count_arg,
    domain_refs,
    emit_json,
    parse_params,
    seeds_of,
    split_list,
    tokens_arg,
)
from planner.cli.commands.worker import add_fault_options, fault_settings
from planner.cli.launch import add_data_options, add_processes


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = __doc__.split("\n\n", 1)[1]
    parser.add_argument("--strategies", default="all",
                        help="comma-separated names, or `all` (default)")
    parser.add_argument("--domains", default="biomedical,legal,news",
                        help="comma-separated domains (NAME=PATH allowed)")
    parser.add_argument("--scale", default="tiny")
    add_seeds(parser)
    parser.add_argument("--domain-tokens", type=tokens_arg(), default=None)
    parser.add_argument("--param", action="append", metavar="STRATEGY.KEY=VALUE",
                        help="a strategy parameter, e.g. --param small.finetune_lr=0.001")
    parser.add_argument("--root", default=None,
                        help="artifacts, checkpoints and models (default: .specplan); "
                             "shared storage lets a retry resume another worker's run")
    parser.add_argument("--workers", type=count_arg("--workers", minimum=0, maximum=4096),
                        default=1, metavar="N",
                        help="local workers: 1 (default) runs in this process, N > 1 spawns "
                             "N processes, 0 only queues the runs for `specplan worker`")
    add_fault_options(parser)
    parser.add_argument("--force", action="store_true", help="redo finished runs")
    parser.add_argument("--quiet", action="store_true")
    add_files_options(parser)
    add_storage(parser)
    add_processes(parser)
    add_data_options(parser)
    add_json(parser)


def strategy_params(items: list[str] | None, names: list[str]) -> dict[str, dict[str, object]]:
    """``STRATEGY.KEY=VALUE`` items -> {strategy: {key: value}}; a bare ``KEY=VALUE``
    applies to every strategy."""
    out: dict[str, dict[str, object]] = {n: {} for n in names}
    for key, value in parse_params(items).items():
        target, dot, param = key.rpartition(".")
        if dot and target not in out:
            raise SpecplanError(f"--param {key}={value}: {target!r} is not a swept strategy "
                                f"({', '.join(names)})")
        for n in ([target] if dot else names):
            out[n][param] = value
    return out


def run(args: argparse.Namespace) -> int:
    from planner.experiments.runner import RunPlan, run_plan
    from planner.experiments.store import DEFAULT_STORAGE, display_url
    from strategies.machinery.scales import get_scale
    from strategies.registry import list_strategies, strategy_registry

    get_scale(args.scale)
    names = (list_strategies(available_only=True) if args.strategies == "all"
             else [strategy_registry.canonical(s) for s in split_list(args.strategies)])
    seeds = seeds_of(args)
    domains = domain_refs(split_list(args.domains), args)  # files options ride along
    faults = fault_settings(args)
    plan = RunPlan(strategies=names, domains=domains, scale=args.scale,
                   seeds=seeds, params=strategy_params(args.param, names),
                   n_domain_tokens=args.domain_tokens, storage=args.storage, root=args.root,
                   force=args.force, progress=not args.quiet, workers=args.workers, faults=faults)
    records = run_plan(plan)
    url = display_url(args.storage or DEFAULT_STORAGE)
    total = len(names) * len(domains) * len(seeds)
    if args.json:
        emit_json({"storage": url, "n_runs": len(records), "runs": records})
    elif args.workers == 0:
        print(f"{total} runs planned, {len(records)} already stored; the others are queued "
              f"in {url}: start `specplan worker --storage URL` where they should run")
    else:
        print(f"{len(records)} of {total} runs stored in {url}")
    return 0 if len(records) == total or args.workers == 0 else 1
