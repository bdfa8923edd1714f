"""Argument helpers shared by the subcommands."""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

from domains.errors import SpecplanError


def add_storage(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--storage", default=None, metavar="URL",
                        help="Optuna storage URL of the results store (default: "
                             "sqlite:///specplan.db; postgresql://USER:PASSWORD@HOST/DB and "
                             "journal:///runs.log work too: docs/sweeps.md)")


def add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def parse_value(text: str) -> Any:
    """`3` -> 3, `0.5` -> 0.5, `true` -> True, `none` -> None, else the string."""
    low = text.strip().lower()
    if low in ("none", "null"):
        return None
    if low in ("true", "false"):
        return low == "true"
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_params(items: list[str] | None, flag: str = "--param") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SpecplanError(f"{flag} {item!r}: expected KEY=VALUE")
        out[key.strip()] = parse_value(value)
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
