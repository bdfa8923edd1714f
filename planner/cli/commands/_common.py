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
import json
import math
import re
from collections.abc import Callable
from typing import Any

from domains.errors import SpecplanError
from planner.costing.numbers import (
    INT32_SEED_MAX,
    FlagValueError,
    NumberError,
    int_list_arg,
    number_arg,
    parse_number,
)

#: The largest count a ``count_arg`` accepts unless told otherwise (workers, threads, grid
#: points, trials, clusters): far above any machine, small enough to fail fast on a typo.
MAX_COUNT = 1_000_000


def seed_arg(flag: str = "--seed") -> Callable[[str], Any]:
    """``type=`` for a seed: an integer in [0, 2**32 - 1] (NumPy's seed range)."""
    return number_arg(flag, integer=True, minimum=0, maximum=INT32_SEED_MAX, si=False)


def seeds_arg(flag: str = "--seeds") -> Callable[[str], list[int]]:
    """``type=`` for a list of seeds: ``0,1,2`` or ``0 1 2`` -> ``[0, 1, 2]``."""
    return int_list_arg(flag, minimum=0, maximum=INT32_SEED_MAX)


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


def add_storage(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--storage", default=None, metavar="URL",
                        help="Optuna storage URL of the results store "
                             "(default: sqlite:///specplan.db; PostgreSQL URLs work too)")


def add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="machine-readable output")


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


def fmt_number(value: Any, spec: str = ".2f", missing: str = "n/a") -> str:
    """`value` formatted with `spec`, or `missing` when it is absent, NaN or not a number
    (a stored run's optional measurement)."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        return missing
    return missing if math.isnan(x) else format(x, spec)
