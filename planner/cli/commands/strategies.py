"""`specplan strategies [--json]`: the strategies and how each is charged (no torch)."""

from __future__ import annotations

import argparse
from typing import Any, TypedDict

from planner.cli.commands._common import add_json, emit_json


class StrategyRow(TypedDict):
    """One strategy as listed by `specplan strategies` (and its `--json` output)."""

    name: str
    paper_name: str
    aliases: list[str]
    summary: str
    charging: dict[str, str]
    parameters: dict[str, Any]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_json(parser)


def describe_strategies() -> list[StrategyRow]:
    from strategies.registry import get_strategy_class, list_strategies, strategy_registry

    rows: list[StrategyRow] = []
    for name in list_strategies(available_only=True):
        cls = get_strategy_class(name)
        rows.append({
            "name": name, "paper_name": cls.paper_name,
            "aliases": strategy_registry.aliases_of(name), "summary": cls.summary,
            "charging": dict(cls.charging),
            "parameters": {k: v for k, v in cls().get_params().items()},
        })
    return rows


def run(args: argparse.Namespace) -> int:
    rows = describe_strategies()
    if args.json:
        emit_json(rows)
        return 0
    for r in rows:
        aliases = ", ".join(r["aliases"])
        print(f"{r['name']:<24} {r['paper_name']:<9} {r['summary']}")
        print(f"{'':<24} aliases: {aliases}")
        for bucket, how in r["charging"].items():
            print(f"{'':<24} {bucket + ':':<16} {how}")
    return 0
