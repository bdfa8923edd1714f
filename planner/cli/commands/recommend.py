"""`specplan recommend`: which strategy fits my budgets? No training: the paper's tables
(and your measured runs, with ``--storage``) -> performance model -> optimizer.

    specplan recommend --pretraining-budget 400gpuh --specialization-budget 2gpuh \\
                       --inference-budget 126M --domain-tokens 8M --domains 7

Budgets are parsed here (`planner.costing.budget`); each invalid value is reported as one line
naming its flag, with exit status 2. Importing this module never imports torch.
"""

from __future__ import annotations

import argparse

from planner.cli.budget_flags import add_budget_arguments, budget_from_args


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = """\
examples (the paper's decision rules, Fig. 1):
  specplan recommend --pretraining-budget 650gpuh --specialization-budget 2gpuh \\
                     --inference-budget 1B --domain-tokens 8M            # -> large
  specplan recommend --pretraining-budget 400gpuh --specialization-budget 150gpuh \\
                     --inference-budget 126M --domain-tokens 8M          # -> importance_sampling
  specplan recommend --pretraining-budget 650gpuh --specialization-budget 0.5gpuh \\
                     --inference-budget 126M --domain-tokens 8M --domains 50  # -> mixture / PN
"""
    add_budget_arguments(parser)
    s = parser.add_argument_group("search")
    s.add_argument("--storage", default=None, metavar="URL",
                   help="Optuna storage URL of measured runs to fit on as well "
                        "(e.g. sqlite:///specplan.db); default: the paper's tables only")
    s.add_argument("--scale", default="paper",
                   help="model pair: paper (126M / 771M, default) or a scale with runs in "
                        "--storage (tiny, demo)")
    s.add_argument("--strategies", default=None, metavar="LIST",
                   help="comma-separated strategies to consider (default: all)")
    s.add_argument("--seed", default="0", metavar="N", help="optimizer seed (default 0)")
    s.add_argument("--trials", default=None, metavar="N",
                   help="sampled trials after every strategy's defaults (default 12)")
    s.add_argument("--pareto", action="store_true",
                   help="also minimize total cost and print the Pareto frontier")
    d = parser.add_argument_group("your domains (docs/domain-advice.md)")
    d.add_argument("--domain", action="append", default=None, metavar="NAME|NAME=PATH",
                   help="advise per domain and for the set: a built-in name, NAME=PATH for "
                        "your files, or a domain in --storage; repeatable. Reads each "
                        "domain's cluster statistics (stored, cached, or computed once)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def _int(text: str, flag: str, minimum: int, maximum: int) -> int:
    from planner.costing.numbers import parse_number

    return int(parse_number(text, flag=flag, integer=True, minimum=minimum, maximum=maximum))


def run(args: argparse.Namespace) -> int:
    from planner.search.optimizer import DEFAULT_TRIALS
    from planner.search.recommend import recommend

    budget = budget_from_args(args)
    from planner.costing.numbers import INT32_SEED_MAX

    seed = _int(args.seed, "--seed", 0, INT32_SEED_MAX)
    trials = (DEFAULT_TRIALS if args.trials is None
              else _int(args.trials, "--trials", 0, 100_000))
    strategies = ([s.strip() for s in args.strategies.split(",") if s.strip()]
                  if args.strategies else None)
    if strategies is not None:
        from strategies.registry import strategy_registry

        strategies = [strategy_registry.canonical(s) for s in strategies]
    if args.domain:
        return _run_domains(args, budget, seed=seed, trials=trials, strategies=strategies)
    rec = recommend(budget, storage=args.storage, seed=seed, n_trials=trials,
                    scale=args.scale, strategies=strategies,
                    objectives="ppl+cost" if args.pareto else "ppl")
    if args.json:
        from planner.cli.commands._common import emit_json

        emit_json(rec.to_dict())
    else:
        print(rec.format())
    return 0


def _run_domains(args: argparse.Namespace, budget: object, *, seed: int, trials: int,
                 strategies: list[str] | None) -> int:
    """`--domain`: per-domain answers (`planner.search.per_domain.advise`)."""
    from domains.errors import SpecplanError
    from planner.search.per_domain import advise

    if args.scale != "paper":
        raise SpecplanError(f"--domain: per-domain advice is made at the paper scale; drop "
                            f"--scale {args.scale}")
    if args.pareto:
        raise SpecplanError("--domain: --pareto is not supported with per-domain advice")
    advice = advise(budget, args.domain, storage=args.storage, seed=seed,  # type: ignore[arg-type]
                    n_trials=trials, strategies=strategies, progress=not args.json)
    if args.json:
        from planner.cli.commands._common import emit_json

        emit_json(advice.to_dict())
    else:
        print(advice.format())
    return 0
