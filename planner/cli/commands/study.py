"""`specplan study`: do the paper's orderings hold at this scale? (see `planner.experiments.study`)

    specplan study                         # the study preset: tiny scale, 3 domains, seeds 0,1,2
    specplan study --seeds 0,1 --workers 1
    specplan study --claims-only           # the claim table from the runs already stored

An interrupted study resumes: every finished run is in the results store and is reused.
"""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING, Any

from planner.cli.commands._common import (
    add_json,
    add_seeds,
    add_storage,
    emit_json,
    seeds_of,
    split_list,
)

if TYPE_CHECKING:
    from planner.experiments.study import RunSpec, StudyConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from planner.experiments.study import StudyConfig

    d = StudyConfig()
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = __doc__.split("\n\n", 1)[1]
    add_seeds(parser, default=tuple(d.seeds))
    parser.add_argument("--domains", default=",".join(d.domains), metavar="LIST",
                        help="comma-separated domains (default: biomedical,legal,news)")
    parser.add_argument("--workers", type=int, default=None, metavar="N",
                        help="processes running runs side by side (default: 2, or 1 on a "
                             "single core)")
    parser.add_argument("--root", default=str(d.root), metavar="DIR",
                        help="artifacts, checkpoints and models (default: .specplan/)")
    parser.add_argument("--out", default=None, metavar="FILE",
                        help="also write the claim table (Markdown) to FILE")
    parser.add_argument("--report", default=None, metavar="DIR",
                        help="also write an HTML report of the study's runs with the claim "
                             "table as a section")
    parser.add_argument("--claims-only", action="store_true",
                        help="train nothing: the claims from the runs already stored")
    add_storage(parser)
    add_json(parser)


def run(args: argparse.Namespace) -> int:
    from domains.errors import SpecplanError
    from planner.experiments.study import StudyConfig, claims, format_claims, run_study

    seeds = seeds_of(args)
    domains = split_list(args.domains)
    if not domains:
        raise SpecplanError("--domains: give at least one domain")
    if args.workers is not None and args.workers < 1:
        raise SpecplanError(f"--workers: must be at least 1, got {args.workers}")
    workers = args.workers if args.workers is not None else min(2, os.cpu_count() or 1)
    cfg = StudyConfig(domains=domains, seeds=seeds, storage=args.storage, root=args.root,
                      workers=workers, progress=not args.json)
    failures: list[str] = []
    if args.claims_only:
        pairs, wall = _stored(cfg), 0.0
    else:
        pairs, failures, wall = run_study(cfg, echo=(lambda _: None) if args.json else print)
    table = claims(pairs, cfg)
    text = format_claims(table, pairs=pairs)
    if args.out:
        from pathlib import Path

        Path(args.out).write_text(text + "\n", encoding="utf-8")
    if args.report and pairs:
        from planner.experiments.study import write_study_report

        paths = write_study_report(pairs, table, cfg, args.report)
        if not args.json:
            print("Report: " + ", ".join(str(p) for p in paths))
    if args.json:
        emit_json({"wall_s": wall, "runs": len(pairs), "failures": failures,
                   "claims": [c.__dict__ for c in table]})
    else:
        print(f"\n{len(pairs)} runs ({len(failures)} failed) in {wall:.0f} s\n")
        print(text)
    return 0 if not failures else 1


def _stored(cfg: StudyConfig) -> list[tuple[RunSpec, dict[str, Any]]]:
    """(spec, record) pairs of the study's runs that are already in the store."""
    from domains import get_domain
    from planner.experiments.runner import run_key
    from planner.experiments.store import find_run, open_study
    from planner.experiments.study import plan_runs
    from strategies.machinery.scales import get_scale
    from strategies.registry import create_strategy

    study = open_study(cfg.storage)
    scale = get_scale(cfg.scale)
    out: list[tuple[RunSpec, dict[str, Any]]] = []
    domains = {d: get_domain(d) for d in cfg.domains}
    for spec in plan_runs(cfg):
        s = create_strategy(spec.strategy, scale=cfg.scale, seed=spec.seed, **dict(spec.params))
        rec = find_run(study, run_key(s, domains[spec.domain], scale.name, spec.n_domain_tokens,
                                      spec.seed))
        if rec is not None:
            out.append((spec, rec))
    return out
