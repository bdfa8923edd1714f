"""`specplan run`: train, specialize and evaluate one strategy on one domain; store it.

The run goes through the same queue as `specplan sweep` (queued in the results store,
then run by a worker in this process); `--seeds 0,1,2` makes one run per seed.
"""

from __future__ import annotations

import argparse

from planner.cli.commands._common import (
    add_files_options,
    add_json,
    add_seeds,
    add_storage,
    domain_refs,
    emit_json,
    fmt_number,
    parse_params,
    seeds_of,
    tokens_arg,
)
from planner.cli.launch import add_data_options, add_processes


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--strategy", required=True,
                        help="strategy name or paper alias (see `specplan strategies`)")
    parser.add_argument("--domain", required=True,
                        help="biomedical | legal | news | NAME=PATH (your own files)")
    parser.add_argument("--scale", default="tiny", help="tiny | demo | paper (default: tiny)")
    add_seeds(parser)
    parser.add_argument("--domain-tokens", type=tokens_arg(), default=None,
                        help="in-domain training tokens to use (default: the scale's)")
    parser.add_argument("--param", action="append", metavar="KEY=VALUE",
                        help="a strategy parameter, e.g. --param selection=best_loss")
    parser.add_argument("--root", default=None,
                        help="folder for artifacts, checkpoints and models (default: .specplan)")
    parser.add_argument("--force", action="store_true", help="redo a finished run")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    add_files_options(parser)
    add_storage(parser)
    add_processes(parser)
    add_data_options(parser)
    add_json(parser)


def run(args: argparse.Namespace) -> int:
    from planner.experiments.runner import RunPlan, run_plan
    from strategies.machinery.scales import get_scale
    from strategies.registry import strategy_registry

    name = strategy_registry.canonical(args.strategy)
    get_scale(args.scale)  # validate before any work
    domains = domain_refs([args.domain], args)  # --text-field & co. ride along NAME=PATH
    plan = RunPlan(strategies=[name], domains=domains, scale=args.scale,
                   seeds=seeds_of(args), params={name: parse_params(args.param)},
                   n_domain_tokens=args.domain_tokens, storage=args.storage, root=args.root,
                   force=args.force, progress=not args.quiet)
    records = run_plan(plan)
    if args.json:
        emit_json(records)
        return 0 if len(records) == len(plan.seeds) else 1
    from planner.experiments.runner import finetune_summary

    for r in records:
        before = fmt_number(r["test_ppl_before_finetune"])
        seed = f", seed {r['seed']}" if r["seed"] else ""
        print(f"{r['strategy']} on {r['domain']} ({r['scale']}{seed}): test "
              f"perplexity {r['test_ppl']:.2f} (before fine-tuning: {before}); "
              f"{finetune_summary(r)}; "
              f"pretraining {fmt_number(r['pretraining_flops'], 'eng')} FLOPs, specialization "
              f"{fmt_number(r['specialization_flops'], 'eng')} FLOPs, "
              f"{r['inference_params']:,} params; model saved to {r['model_path']}")
    return 0 if len(records) == len(plan.seeds) else 1
