"""`specplan run`: train, specialize and evaluate one strategy on one domain; store it."""

from __future__ import annotations

import argparse
import json

from planner.cli.commands._common import add_json, add_storage, fmt_number, parse_params
from planner.cli.launch import add_processes


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--strategy", required=True,
                        help="strategy name or paper alias (see `specplan strategies`)")
    parser.add_argument("--domain", required=True,
                        help="biomedical | legal | news | NAME=PATH (your own files)")
    parser.add_argument("--scale", default="tiny", help="tiny | demo | paper (default: tiny)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--domain-tokens", type=int, default=None,
                        help="in-domain training tokens to use (default: the scale's)")
    parser.add_argument("--param", action="append", metavar="KEY=VALUE",
                        help="a strategy parameter, e.g. --param selection=best_loss")
    parser.add_argument("--root", default=None,
                        help="folder for artifacts, checkpoints and models (default: .specplan)")
    parser.add_argument("--force", action="store_true", help="redo a finished run")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    add_storage(parser)
    add_processes(parser)
    add_json(parser)


def run(args: argparse.Namespace) -> int:
    from planner.experiments.runner import RunPlan, run_plan
    from strategies.machinery.scales import get_scale
    from strategies.registry import strategy_registry

    name = strategy_registry.canonical(args.strategy)
    get_scale(args.scale)  # validate before any work
    plan = RunPlan(strategies=[name], domains=[args.domain], scale=args.scale, seed=args.seed,
                   params={name: parse_params(args.param)}, n_domain_tokens=args.domain_tokens,
                   storage=args.storage, root=args.root, force=args.force,
                   progress=not args.quiet)
    records = run_plan(plan)
    if args.json:
        print(json.dumps(records, indent=2, default=repr))
        return 0
    for r in records:
        before = fmt_number(r["test_ppl_before_finetune"])
        print(f"{r['strategy']} on {r['domain']} ({r['scale']}): test perplexity "
              f"{r['test_ppl']:.2f} (before fine-tuning: {before}); "
              f"pretraining {r['pretraining_flops']:.3g} FLOPs, specialization "
              f"{r['specialization_flops']:.3g} FLOPs, {r['inference_params']:,} params; "
              f"model saved to {r['model_path']}")
    return 0
