"""Argument helpers shared by the subcommands.

Numbers: every numeric flag reads its value with `planner.costing.numbers` (one parser: the
same forms, ranges and one-line errors everywhere). Use the ``type=`` factories below, or
`planner.costing.numbers.number_arg` / `int_list_arg` directly for a new flag::

    parser.add_argument("--seed", type=seed_arg(), default=0)
    parser.add_argument("--seeds", type=seeds_arg(), default=[0])      # "0,1,2" -> [0, 1, 2]
    parser.add_argument("--workers", type=count_arg("--workers", minimum=1), default=None)
    parser.add_argument("--domain-tokens", type=tokens_arg(), default=None)   # "8M" -> 8000000
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import sys
from collections.abc import Callable, Iterator
from typing import Any, TextIO

from domains.errors import SpecplanError
from planner.costing.numbers import (
    INT32_SEED_MAX,
    FlagValueError,
    NumberError,
    int_list_arg,
    number_arg,
    parse_number,
)
from planner.reports.formatting import fmt_number

__all__ = [
    "FILES_OPTIONS",
    "MAX_COUNT",
    "add_files_options",
    "add_json",
    "add_seeds",
    "add_storage",
    "count_arg",
    "domain_refs",
    "emit_json",
    "files_options",
    "fmt_number",
    "json_stdout",
    "jsonable",
    "parse_params",
    "parse_value",
    "seed_arg",
    "seeds_of",
    "seeds_arg",
    "split_list",
    "tokens_arg",
]

#: The largest count a ``count_arg`` accepts unless told otherwise (workers, threads, grid
#: points, trials, clusters): far above any machine, small enough to fail fast on a typo.
MAX_COUNT = 1_000_000


def seed_arg(flag: str = "--seed") -> Callable[[str], Any]:
    """``type=`` for a seed: an integer in [0, 2**32 - 1] (NumPy's seed range)."""
    return number_arg(flag, integer=True, minimum=0, maximum=INT32_SEED_MAX, si=False)


def seeds_arg(flag: str = "--seeds") -> Callable[[str], list[int]]:
    """``type=`` for a list of seeds: ``0,1,2`` or ``0 1 2`` -> ``[0, 1, 2]``; a repeated
    seed is refused (each seed runs once)."""
    parse = int_list_arg(flag, minimum=0, maximum=INT32_SEED_MAX)

    def convert(text: str) -> list[int]:
        seeds = parse(text)
        if len([p for p in re.split(r"[,\s]+", str(text).strip()) if p]) > len(seeds):
            raise FlagValueError(f"{flag} {text!r}: a seed is repeated (each seed runs once)")
        return seeds

    return convert


def add_seeds(parser: argparse.ArgumentParser, default: tuple[int, ...] = (0,)) -> None:
    """``--seeds LIST`` (one run per seed) and ``--seed N`` (one seed), both read by the one
    number parser: empty, negative or non-integer values are one line naming the flag, exit 2.
    `seeds_of` reads them back."""
    text = ",".join(str(s) for s in default)
    parser.add_argument("--seeds", dest="seeds", type=seeds_arg("--seeds"), default=None,
                        metavar="LIST",
                        help=f"comma-separated seeds, one run each (default: {text})")
    parser.add_argument("--seed", dest="seed", type=seed_arg("--seed"), default=None,
                        metavar="N", help="a single seed (the same as --seeds N)")
    parser.set_defaults(default_seeds=list(default))


def seeds_of(args: argparse.Namespace) -> list[int]:
    """The seeds of `add_seeds`' flags, each once, in the order given.

    Raises:
        SpecplanError: both ``--seed`` and ``--seeds`` were given.
    """
    if args.seed is not None and args.seeds is not None:
        raise SpecplanError("--seed and --seeds: give one of them")
    seeds = [int(s) for s in ([args.seed] if args.seed is not None
                              else (args.seeds or args.default_seeds))]
    return seeds


def count_arg(flag: str, *, minimum: int = 1, maximum: int = MAX_COUNT,
              ) -> Callable[[str], Any]:
    """``type=`` for a whole count in [`minimum`, `maximum`] (``--workers``, ``--grid``)."""
    return number_arg(flag, integer=True, minimum=minimum, maximum=maximum, si=True)


def tokens_arg(flag: str = "--domain-tokens") -> Callable[[str], int]:
    """``type=`` for a token count: ``8M``, ``64e6``, ``8000000`` (see
    `planner.costing.budget.parse_tokens`)."""
    def convert(text: str) -> int:
        from planner.costing.budget import parse_tokens

        try:
            return parse_tokens(text, flag=flag)
        except NumberError as err:
            raise FlagValueError(str(err)) from None

    return convert


#: The ``files`` source's options as command-line flags: option name -> (flag, help). Every
#: keyword-only option of `domains.sources.files.FilesSource` except ``path`` (a test checks).
FILES_OPTIONS: dict[str, tuple[str, str]] = {
    "text_field": ("--text-field", "JSONL field / CSV or Parquet column holding the text "
                                   "(default: text)"),
    "label_field": ("--label-field", "optional JSONL field / CSV or Parquet column kept as "
                                     "each document's label"),
    "encoding": ("--encoding", "text encoding of the files (default: utf-8; e.g. utf-16, "
                               "latin-1, cp1252)"),
    "one_per_line": ("--one-per-line", "read .txt files as one document per non-blank line "
                                       "(default: one document per file)"),
    "licence": ("--licence", "the licence to report for the files (default: user-supplied)"),
}


def add_files_options(parser: argparse.ArgumentParser) -> None:
    """Add the ``files`` source's options (`FILES_OPTIONS`) for ``--domain NAME=PATH``.

    Every command that takes ``NAME=PATH`` domains calls this, and passes its domain names
    through `domain_refs`, so the options mean the same everywhere.
    """
    g = parser.add_argument_group("your own files (--domain NAME=PATH)")
    for name, (flag, text) in FILES_OPTIONS.items():
        if name == "one_per_line":
            g.add_argument(flag, dest=name, action="store_true", default=None, help=text)
        else:
            g.add_argument(flag, dest=name, default=None, metavar=name.split("_")[0].upper(),
                           help=text)


def files_options(args: argparse.Namespace) -> dict[str, Any]:
    """The ``files`` options given on the command line (unset ones left out)."""
    return {k: getattr(args, k) for k in FILES_OPTIONS if getattr(args, k, None) is not None}


def domain_refs(names: list[str], args: argparse.Namespace) -> list[str]:
    """`names` with the command line's ``files`` options attached to each ``NAME=PATH``
    (a `domains.DomainRef`, still a plain string to every caller); built-in names unchanged.
    """
    from domains import DomainRef

    opts = files_options(args)
    return [DomainRef(n, **opts) if opts and "=" in n else n for n in names]


def add_storage(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--storage", default=None, metavar="URL",
                        help="Optuna storage URL of the results store (default: "
                             "sqlite:///specplan.db; postgresql://USER:PASSWORD@HOST/DB and "
                             "journal:///runs.log work too: docs/sweeps.md)")


def add_json(parser: argparse.ArgumentParser) -> None:
    """``--json``: stdout holds exactly one JSON document (`emit_json`); everything else the
    command prints (progress, log lines, warnings) goes to stderr (`planner.cli.main`)."""
    parser.add_argument("--json", action="store_true",
                        help="machine-readable output: one JSON document on stdout, "
                             "progress and messages on stderr")


# the real stdout while a --json command runs with sys.stdout pointed at stderr
_JSON_OUT: list[TextIO] = []


def _is_fd1(stream: Any) -> bool:
    try:
        return bool(stream.fileno() == 1)
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation: a capture
        return False


@contextlib.contextmanager
def json_stdout(enabled: bool) -> Iterator[None]:
    """While `enabled`, ``print`` and every library writing to ``sys.stdout`` (tqdm.write,
    transformers) write to stderr; only `emit_json` reaches the real stdout.

    When stdout is the process's file descriptor 1, that descriptor is pointed at stderr
    too, so worker processes (which inherit it) and C libraries cannot reach the JSON
    stream either.
    """
    if not enabled:
        yield
        return
    saved_fd: int | None = None
    real: TextIO = sys.stdout
    if _is_fd1(sys.stdout):
        sys.stdout.flush()
        saved_fd = os.dup(1)
        os.dup2(2, 1)
        real = os.fdopen(os.dup(saved_fd), "w", encoding="utf-8")
    _JSON_OUT.append(real)
    previous, sys.stdout = sys.stdout, sys.stderr
    try:
        yield
    finally:
        sys.stdout = previous
        _JSON_OUT.pop()
        if saved_fd is not None:
            real.close()
            sys.stderr.flush()
            os.dup2(saved_fd, 1)
            os.close(saved_fd)


def jsonable(obj: Any) -> Any:
    """`obj` as strict JSON values: NaN and infinities -> None (JSON has neither; ``jq`` and
    most parsers reject Python's ``NaN``), tuples -> lists, numpy scalars -> numbers, paths
    and other objects -> their ``str``."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in obj]
    item = getattr(obj, "item", None)  # numpy / torch scalars
    if callable(item) and getattr(obj, "shape", None) == ():
        return jsonable(item())
    to_dict = getattr(obj, "to_dict", None)
    if callable(to_dict):
        return jsonable(to_dict())
    return str(obj)


def emit_json(obj: Any) -> None:
    """Write `obj` as the command's one JSON document to the real stdout (strict JSON: see
    `jsonable`)."""
    out = _JSON_OUT[-1] if _JSON_OUT else sys.stdout
    out.write(json.dumps(jsonable(obj), indent=2, ensure_ascii=False, allow_nan=False) + "\n")
    out.flush()


# a value that starts like a number (digits, a sign, a dot or comma before a digit, nan/inf)
_NUMERIC = re.compile(r"^\s*[+\-\u2212]?(?:[0-9]|[.,][0-9]|(?:nan|inf)(?![a-z_]))",
                      re.IGNORECASE)


def parse_value(text: str, flag: str = "--param") -> Any:
    """A ``--param`` value: ``3`` -> 3, ``0.5`` / ``0,5`` -> 0.5, ``8M`` -> 8000000,
    ``true`` -> True, ``none`` -> None, JSON lists and objects, else the string.

    Numbers go through `planner.costing.numbers.parse_number` (an integer stays an `int`);
    NaN, infinities, overflow and an ambiguous comma (``1,500``) raise `NumberError`
    naming `flag`.
    """
    low = text.strip().lower()
    if low in ("none", "null"):
        return None
    if low in ("true", "false"):
        return low == "true"
    if _NUMERIC.match(text):
        value = parse_number(text, flag=flag)
        whole = re.fullmatch(r"\s*[+\-\u2212]?[0-9][0-9_ ,.']*[kmgbtpe]?\s*", low) is not None
        if whole and value == math.floor(value) and abs(value) <= 2**53 and (
                "." not in low and not re.search(r",[0-9]{1,2}(?![0-9])", low)):
            return int(value)
        return value
    if low.startswith(("[", "{", '"')):
        try:
            return json.loads(text, parse_constant=_no_constant(flag))
        except ValueError:
            return text
    return text


def _no_constant(flag: str) -> Callable[[str], Any]:
    def refuse(name: str) -> Any:
        raise NumberError(f"{flag}: {name} is not a finite number")

    return refuse


def parse_params(items: list[str] | None, flag: str = "--param") -> dict[str, Any]:
    """``KEY=VALUE`` items -> a dict (values read by `parse_value`)."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SpecplanError(f"{flag} {item!r}: expected KEY=VALUE")
        out[key.strip()] = parse_value(value, flag=f"{flag} {key.strip()}")
    return out


def split_list(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]
