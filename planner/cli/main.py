"""The `specplan` command line: one entry point, subcommands, `--json` for machines.

The CLI only parses and dispatches; the logic lives in importable functions. Each
subcommand module registers itself in `COMMANDS` with an `add_arguments(parser)` and a
`run(args) -> int`. Planning commands (`recommend`, `strategies`) never import torch.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
from collections.abc import Sequence

from domains.errors import SpecplanError

EPILOG = """\
quick start:
  specplan demo                                   # every strategy on biomedical, legal, news
  specplan domains                                # what data is available, with token counts
  specplan recommend --pretraining-budget 400gpuh --specialization-budget 2gpuh \\
                     --inference-budget 126M --domain-tokens 8M --domains 7
  specplan run --strategy small --domain biomedical --scale tiny
  specplan report --out report/
  specplan runs --export runs.csv                 # what the results store holds
"""

# name -> "module:Command class"; imported lazily so `specplan recommend` stays torch-free.
COMMANDS: dict[str, str] = {
    "demo": "planner.cli.commands.demo",
    "domains": "planner.cli.commands.domains",
    "strategies": "planner.cli.commands.strategies",
    "recommend": "planner.cli.commands.recommend",
    "run": "planner.cli.commands.run",
    "sweep": "planner.cli.commands.sweep",
    "report": "planner.cli.commands.report",
    "runs": "planner.cli.commands.runs",
}

HELP: dict[str, str] = {
    "demo": "run every strategy on biomedical, legal and news at demo scale, recommend, report",
    "domains": "list domains and sources with documents, tokens, licence and provenance",
    "strategies": "list the specialization strategies and how each is charged",
    "recommend": "recommend a strategy for given budgets (no training: reference data, your runs)",
    "run": "train, specialize and evaluate one strategy on one domain; store the run",
    "sweep": "run several strategies on several domains (an Optuna study of real runs)",
    "report": "write the HTML/PDF report for decision-makers from the stored runs",
    "runs": "list the stored runs (filter by scale, strategy, domain); export them",
}


def _available() -> dict[str, str]:
    mods: dict[str, str] = {}
    for name, mod in COMMANDS.items():
        spec = importlib.util.find_spec(mod)
        if spec is not None:
            mods[name] = mod
    return mods


def _requested_command(argv: Sequence[str]) -> str | None:
    """The subcommand named on the command line (the first non-option word), if any."""
    return next((a for a in argv if not a.startswith("-")), None)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser; with `only`, just that subcommand's module is imported (fast start)."""
    parser = argparse.ArgumentParser(
        prog="specplan",
        description="Which specialization method fits my budget? Plans small specialized "
        "language models under pretraining, specialization and inference budgets.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, mod in _available().items():
        p = sub.add_parser(name, help=HELP[name], description=HELP[name])
        if only is not None and name != only and only in COMMANDS:
            continue  # not requested: leave its module (and its imports) alone
        module = importlib.import_module(mod)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(only=_requested_command(argv))
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 0
    if os.environ.get("RANK", "0") != "0":  # under torchrun / accelerate launch: rank 0 reports
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - for the life of the process
    try:
        if getattr(args, "processes", None) is not None:
            from planner.cli.launch import parse_processes, relaunch

            n = parse_processes(args.processes)
            if n > 1 and "WORLD_SIZE" not in os.environ:
                return relaunch(argv, n)
        return int(args._run(args) or 0)
    except SpecplanError as err:
        print(f"specplan {args.command}: error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `specplan ... | head`: the reader left; not an error
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the final flush
        except OSError:
            pass
        return 0
    except KeyboardInterrupt:
        print(f"specplan {args.command}: interrupted; finished work is kept", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
