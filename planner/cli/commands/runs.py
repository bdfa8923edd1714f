"""`specplan runs`: what the results store holds, one line per run (with the worker,
``host:pid``, that ran it and in how many tries); export it.

    specplan runs                                   # every stored run
    specplan runs --scale demo --strategy small     # a filter (names or paper aliases)
    specplan runs --export runs.csv                 # or .parquet / .json, filtered the same

Reads the store only: no torch import, no training.
"""

from __future__ import annotations

import argparse
from typing import Any

from planner.cli.commands._common import add_json, add_storage, emit_json, fmt_number, split_list


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_storage(parser)
    parser.add_argument("--scale", default=None, metavar="LIST",
                        help="keep these scales (comma-separated)")
    parser.add_argument("--strategy", default=None, metavar="LIST",
                        help="keep these strategies (names or paper names, comma-separated)")
    parser.add_argument("--domain", default=None, metavar="LIST",
                        help="keep these domains (comma-separated)")
    parser.add_argument("--export", default=None, metavar="PATH",
                        help="also write the (filtered) runs to PATH: .csv, .parquet or .json")
    add_json(parser)


def select_runs(runs: Any, *, scales: list[str] | None = None,
                strategies: list[str] | None = None, domains: list[str] | None = None) -> Any:
    """The rows of `runs` (a `load_runs` frame) at these scales, strategies and domains
    (None: all). Strategy names may be aliases (``SLM-is``); unknown ones raise
    `UnknownStrategyError` (a `SpecplanError`)."""
    from strategies.registry import strategy_registry

    keep = runs
    if scales:
        keep = keep[keep["scale"].isin(scales)]
    if strategies:
        stored = set(runs["strategy"])
        # a stored name is kept as it is (a plug-in strategy no longer installed included);
        # otherwise the registry resolves aliases, or says "unknown strategy ... Did you mean"
        names = [n if n in stored else strategy_registry.canonical(n) for n in strategies]
        keep = keep[keep["strategy"].isin(names)]
    if domains:
        keep = keep[keep["domain"].isin(domains)]
    return keep.reset_index(drop=True)


def _converged(value: Any) -> str:
    """``yes`` / ``NO`` (the fine-tune's best step was its last) / ``-`` (not recorded)."""
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    return "yes" if bool(value) else "NO"


def format_runs(runs: Any) -> str:
    """The runs as a text table, oldest first: test perplexity before and after
    fine-tuning, whether the fine-tune converged, pretraining FLOPs and the served model's
    generic pretraining tokens per parameter (``tok/param``,
    `planner.reports.runs.pretraining_tokens_per_param`; the paper's small model: 360-1,440),
    specialization FLOPs, parameters served, wall and CPU seconds of the run."""
    from planner.reports.fonts import pad, shorten
    from planner.reports.runs import pretraining_tokens_per_param

    if len(runs) == 0:
        return "no stored runs"
    order = runs.sort_values("datetime", na_position="first", kind="stable")
    head = (f"{'when':<19}  {'scale':<6} {'strategy':<23} {'domain':<16} {'seed':>4} "
            f"{'test ppl':>9} {'before ft':>9} {'conv':>4} {'pretrain FLOPs':>14} "
            f"{'tok/param':>9} {'spec FLOPs':>10} {'params':>8} {'wall s':>7} {'cpu s':>6}  "
            f"{'run key':<16} {'tries':>5}  worker")
    lines = [head, "-" * len(head)]

    def num(value: Any, spec: str) -> str:
        return fmt_number(value, spec, missing="-")

    for r in order.to_dict(orient="records"):
        domain = str(r.get("domain") or "")
        domain = pad(shorten(domain, 16), 16)  # display width: a CJK character takes two
        lines.append(
            f"{str(r.get('datetime') or '-'):<19}  {str(r.get('scale')):<6} "
            f"{str(r.get('strategy')):<23} {domain} {num(r.get('seed'), '.0f'):>4} "
            f"{num(r.get('test_ppl'), '.2f'):>9} "
            f"{num(r.get('test_ppl_before_finetune'), '.2f'):>9} "
            f"{_converged(r.get('converged')):>4} "
            f"{num(r.get('pretraining_flops'), 'eng'):>14} "
            f"{num(pretraining_tokens_per_param(r), '.2g'):>9} "
            f"{num(r.get('specialization_flops'), 'eng'):>10} "
            f"{num(r.get('inference_params'), ',.0f'):>8} {num(r.get('wall_s'), '.0f'):>7} "
            f"{num(r.get('cpu_s'), '.0f'):>6}  "
            f"{str(r.get('run_key')):<16} {num(r.get('tries'), '.0f'):>5}  "
            f"{_text(r.get('worker'))}")
    return "\n".join(lines)


def _text(value: Any) -> str:
    """A stored text cell, or ``-`` where the run has none (runs stored before workers)."""
    return "-" if value is None or value != value else str(value)  # None or NaN


def run(args: argparse.Namespace) -> int:
    from planner.experiments.store import export_runs, load_runs

    runs = select_runs(
        load_runs(args.storage),
        scales=split_list(args.scale) if args.scale else None,
        strategies=split_list(args.strategy) if args.strategy else None,
        domains=split_list(args.domain) if args.domain else None)
    if args.export:
        n = export_runs(None, args.export, runs=runs)
        if not args.json:
            print(f"wrote {n} run(s) to {args.export}")
    if args.json:
        emit_json(runs.to_dict(orient="records"))
    elif not args.export:
        print(format_runs(runs))
    return 0
