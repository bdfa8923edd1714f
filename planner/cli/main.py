"""The `specplan` command line: one entry point, subcommands, `--json` for machines.

The CLI only parses and dispatches; the logic lives in importable functions. Each
subcommand module registers itself in `COMMANDS` with an `add_arguments(parser)` and a
`run(args) -> int`. Planning commands (`recommend`, `strategies`) never import torch.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import importlib.util
import os
import re
import sys
import warnings
from collections.abc import Sequence
from typing import Any

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
    "study": "planner.cli.commands.study",
    "worker": "planner.cli.commands.worker",
}

HELP: dict[str, str] = {
    "study": "the paper's orderings claim by claim at small scale, 3 seeds (tiny scale)",
    "demo": "run every strategy on biomedical, legal and news at demo scale, recommend, report",
    "domains": "list domains and sources with documents, tokens, licence and provenance",
    "strategies": "list the specialization strategies and how each is charged",
    "recommend": "recommend a strategy for given budgets (no training: reference data, your runs)",
    "run": "train, specialize and evaluate one strategy on one domain; store the run",
    "sweep": "queue strategies x domains x seeds in the results store; run them with workers",
    "report": "write the HTML/PDF report for decision-makers from the stored runs",
    "runs": "list the stored runs (filter by scale, strategy, domain); export them",
    "worker": "pull queued runs from a shared results store until none is left",
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
        # "--seed -1", "--domain-tokens -8M", "--grid -inf" reach the number parser (one line
        # naming the flag) instead of argparse's "expected one argument": a word starting
        # with "-" then a digit, ".", "inf" or "nan" is a value, never an option
        p._negative_number_matcher = _NEGATIVE_VALUE
        if only is not None and name != only and only in COMMANDS:
            continue  # not requested: leave its module (and its imports) alone
        module = importlib.import_module(mod)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


_NEGATIVE_VALUE = re.compile(r"^-(\d|\.\d|inf|nan)", re.IGNORECASE)
_WRITE_ERRNOS = {errno.ENOSPC, errno.EACCES, errno.EROFS, errno.EDQUOT, errno.EPERM,
                 errno.EFBIG, errno.ENAMETOOLONG}


def _store_write_error(err: BaseException) -> str | None:
    """One line for a results store that cannot be written (SQLite through SQLAlchemy and
    Optuna: a full disk, a read-only file), else None."""
    text = str(err)
    for needle, why in (("database or disk is full", "no space left on device"),
                        ("readonly database", "the database is read-only"),
                        ("unable to open database file", "cannot open the database file")):
        if needle in text:
            return (f"the results store cannot be written: {why}; finished runs are kept "
                    "(free space or use --storage to choose another store)")
    return None


def _show_input_warnings(command: str) -> Any:
    """Print `InputWarning`s as one ``specplan CMD: warning: ...`` line on stderr (not
    Python's ``file:line: InputWarning:`` form); returns the previous `showwarning`."""
    previous = warnings.showwarning

    def show(message: Warning | str, category: type[Warning], filename: str, lineno: int,
             file: Any = None, line: str | None = None) -> None:
        if category.__name__ == "InputWarning":
            print(f"specplan {command}: warning: {message}", file=sys.stderr)
        else:
            previous(message, category, filename, lineno, file, line)

    warnings.showwarning = show
    return previous


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    command = _requested_command(argv) or ""
    parser = build_parser(only=command or None)
    previous = _show_input_warnings(command)
    try:
        try:
            # a ``type=`` from planner.costing.numbers raises FlagValueError (not a
            # ValueError): one line naming the flag, no usage block
            args = parser.parse_args(argv)
        except SpecplanError as err:
            print(f"specplan {command}: error: {err}", file=sys.stderr)
            return 2
        if not getattr(args, "command", None):
            parser.print_help()
            return 0
        return _dispatch(args, argv)
    finally:
        warnings.showwarning = previous


def _dispatch(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from planner.cli.commands._common import json_stdout

    if os.environ.get("RANK", "0") != "0":  # under torchrun / accelerate launch: rank 0 reports
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - for the life of the process
    try:
        from planner.cli.launch import apply_data_options

        apply_data_options(args)  # env for this process and the ones it starts
        if getattr(args, "processes", None) is not None:
            from planner.cli.launch import relaunch

            if args.processes > 1 and "WORLD_SIZE" not in os.environ:
                return relaunch(argv, args.processes)  # the same command under torchrun
        with json_stdout(bool(getattr(args, "json", False))):
            return int(args._run(args) or 0)
    except SpecplanError as err:
        print(f"specplan {args.command}: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        # a write that did not go through domains.atomic (a library's own file): still one
        # line naming the path; other OS errors are bugs and keep their traceback
        if err.errno not in _WRITE_ERRNOS:
            raise
        from domains.atomic import WriteError

        where = err.filename or "a file"
        print(f"specplan {args.command}: error: {WriteError(where, err)}", file=sys.stderr)
        return 2
    except Exception as err:
        message = _store_write_error(err)
        if message is None:
            raise
        print(f"specplan {args.command}: error: {message}", file=sys.stderr)
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
