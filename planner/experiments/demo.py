"""The main job (`specplan demo`): every strategy on biomedical, legal and news, measured,
stored, modelled, recommended and reported, with no arguments and no network.

    >>> from planner.experiments.demo import DemoConfig, run_demo
    >>> cfg = DemoConfig(scale="tiny", strategies=["small"], domains=["news"])
    >>> result = run_demo(cfg)  # doctest: +SKIP

Steps:

1. run every available strategy on every domain at the ``demo`` scale, for every seed,
   through the queue that `specplan run` and `sweep` use (`planner.experiments.worker`):
   the runs are queued in the results store, the tokenizer and the tokenized corpora are
   built, and two local worker processes pull the runs, each preferring the strategy
   family it ran last (`Strategy.artifact_family`: strategies that share pretraining artifacts),
   over the same artifact folder, so the shared pretraining (small, large, projected
   network, clusters) is built once. Every finished run is stored at once in the results
   store (`planner.experiments.store`), so a second `specplan demo` reuses them and a
   failing strategy loses nobody else's runs;
2. fit the performance model on the reference tables and the measured runs;
3. recommend a strategy for the default budget scenario
   (`planner.costing.scenario.DEFAULT_SCENARIO`:
   400 A100 GPU-hours of pretraining, 2 GPU-hours of specialization per domain, a 126M
   serving cap, 8M domain tokens, 7 domains);
4. write the HTML and PDF report (`planner.reports.render`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from domains.errors import SpecplanError
from planner.experiments.worker import Faults

if TYPE_CHECKING:
    import pandas as pd

    from planner.costing.budget import Budget
    from planner.reports.report import Report

__all__ = ["DEFAULT_DOMAINS", "DemoConfig", "DemoResult",
           "format_measured", "measured_narrative", "run_demo"]

DEFAULT_DOMAINS = ("biomedical", "legal", "news")
DEFAULT_ROOT = ".specplan"
DEFAULT_OUT = "report"


@dataclass
class DemoConfig:
    """What `run_demo` does.

    Args:
        scale: the model/compute preset (``demo``; ``tiny`` for a quick look).
        domains: domain names (``NAME=PATH`` for your own files).
        strategies: strategy names or aliases (None: every available one).
        storage: results store URL (None: ``sqlite:///specplan.db``).
        root: artifacts, checkpoints and saved models.
        out: the report's folder (None: no report).
        formats: report formats (``html``, ``pdf``).
        budget: the scenario to recommend for (None: the default scenario).
        seeds: one run per seed (model init and data order); default 0, 1, 2: the
            tables give the mean and the min-max over them, and say which strategies are
            within noise.
        params: per-strategy parameter overrides (strategy -> {param: value}).
        progress: progress bars and per-run lines.
        grid_points: points per axis of the report's decision map and budget curves.
        threads: torch threads for training (None: `planner.experiments.runner.configure_threads`,
            i.e. every core; ``SPECPLAN_THREADS`` overrides both). One by default: the
            demo's models are small, and on a 2-core machine that is busy with anything
            else, two threads spin-wait for each other (measured under load: 14x the CPU
            time per step of one thread for the small model, 8x for the large).
        workers: local worker processes pulling the queued runs (one thread each); a
            worker prefers the strategy family it ran last (`Strategy.artifact_family`), and the
            workspace's artifact lock makes a second worker wait for a pretraining rather
            than train it twice; 1 runs everything in this process.
        faults: heartbeats and retries of the queue (`planner.experiments.worker.Faults`;
            None: the store's settings, else the defaults).
    """

    scale: str = "demo"
    domains: Sequence[str] = DEFAULT_DOMAINS
    strategies: Sequence[str] | None = None
    storage: str | None = None
    root: str | Path = DEFAULT_ROOT
    out: str | Path | None = DEFAULT_OUT
    formats: Sequence[str] = ("html", "pdf")
    budget: Budget | None = None
    seeds: Sequence[int] = (0, 1, 2)
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    progress: bool = True
    grid_points: int = 12
    threads: int | None = 1
    workers: int = 2
    faults: Faults | None = None


@dataclass
class DemoResult:
    """What the demo did: stored records, failures, the report and its files, timings."""

    records: list[dict[str, Any]]
    failures: list[str]
    reused: int
    report: Report | None
    paths: list[Path]
    timings: dict[str, float]


def _strategy_names(names: Sequence[str] | None) -> list[str]:
    from strategies.registry import list_strategies, strategy_registry

    if names is None:
        return list_strategies(available_only=True)
    return list(dict.fromkeys(strategy_registry.canonical(n) for n in names))


def run_measurements(cfg: DemoConfig, echo: Callable[[str], None] = print,
                     ) -> tuple[list[dict[str, Any]], list[str], int]:
    """Run (or reuse) every strategy on every domain for every seed; returns records,
    failures, reused.

    The runs go through the queue every command shares (`planner.experiments.worker`):
    queued in the results store, then pulled by ``cfg.workers`` local workers (this
    process for one). Shared work is done once: the tokenizer, the tokenized corpora and
    every pretraining artifact (a worker prefers the strategy family it ran last, see
    `Strategy.artifact_family`). A run that raises is logged under ``root/logs`` and skipped; the
    others go on.
    """
    from planner.experiments.store import DEFAULT_STORAGE, display_url
    from planner.experiments.worker import plan_runs, run_queued
    from strategies.machinery.scales import get_scale

    scale = get_scale(cfg.scale)
    names = _strategy_names(cfg.strategies)
    if not names:
        raise SpecplanError("no strategy is available to run")
    failures: list[str] = []

    def broken(name: str, err: BaseException) -> None:
        failures.append(f"{name}: cannot be created: {err}")
        echo(f"  [{name}] skipped: {err}")

    specs = plan_runs(names, list(cfg.domains), scale=scale.name, seeds=list(cfg.seeds),
                      params=cfg.params, root=cfg.root, on_error=broken)
    workers = max(1, min(int(cfg.workers), len(specs)))
    echo(f"specplan demo: {len(names)} strategies x {len(cfg.domains)} domains x "
         f"{len(cfg.seeds)} seed(s) at scale {scale.name!r} (small "
         f"{scale.small.n_params / 1e6:.2f}M / large {scale.large.n_params / 1e6:.2f}M "
         f"parameters, {scale.pretrain_tokens:,} generic pretraining tokens, "
         f"{scale.domain_train_tokens:,} domain tokens)")
    echo(f"  strategies: {', '.join(names)}")
    echo(f"  domains: {', '.join(cfg.domains)}; seeds: {', '.join(map(str, cfg.seeds))}")
    echo(f"  results store: {display_url(cfg.storage or DEFAULT_STORAGE)}; artifacts: "
         f"{Path(cfg.root)}/; {workers} local worker(s)")
    t0 = time.perf_counter()

    def prepare() -> None:
        prepare_shared(cfg)
        echo(f"  tokenizer and corpora ready in {time.perf_counter() - t0:.0f} s; starting "
             f"{workers} workers")

    outcome = run_queued(specs, storage=cfg.storage, workers=workers, faults=cfg.faults,
                         threads=cfg.threads,
                         progress=cfg.progress and workers == 1, echo=echo, prepare=prepare)
    failures += [f"{label}: {error}" for label, error in outcome.failures]
    return outcome.records, failures, outcome.reused


def prepare_shared(cfg: DemoConfig) -> None:
    """Build what every worker reads before any starts: the tokenizer, the tokenized
    splits of every domain and of the generic corpus."""
    from domains import get_domain
    from strategies.machinery.workspace import Workspace

    ws = Workspace(cfg.scale, root=Path(cfg.root), progress=False)
    for name in cfg.domains:
        domain = get_domain(name)
        for split in ("train", "valid", "test"):
            ws.corpus(domain, split)
    ws.corpus(ws.generic, "train")


def measured_narrative(summary: pd.DataFrame, table: pd.DataFrame,
                       scale: str | None = None) -> list[str]:
    """What the measurements say, in sentences built from them (never from expectations):
    `planner.reports.runs.measured_findings` (the report shows the same sentences). The
    best strategy within the inference cap and which are within noise of it, whether the
    compute was equal, how many fine-tunes converged, and the pretraining regime in tokens
    per parameter of each strategy's runs, against the paper's 360-1,440. `scale` (kept for
    callers) keeps only that scale's rows."""
    from planner.reports.runs import measured_findings

    if scale is not None and len(summary) and (summary["scale"] == scale).any():
        summary = summary[summary["scale"] == scale]
        table = table[table["scale"] == scale]
    return measured_findings(summary, table)


def format_measured(summary: pd.DataFrame, table: pd.DataFrame) -> str:
    """The measured results as a text table: perplexity per domain (mean over seeds),
    macro-average with its min-max over seeds, FLOPs per bucket, the served model's generic
    pretraining tokens per parameter (`planner.reports.runs.pretraining_tokens_per_param`),
    converged fine-tunes and the served model's size (what `specplan demo` prints); ``~``
    marks a strategy within noise of the best."""
    if len(table) == 0:
        return "no measured runs"
    from planner.costing.numbers import format_number
    from planner.reports.fonts import display_width, pad, shorten

    domains = list(dict.fromkeys(table["domain"]))
    # columns by display width (a CJK character takes two); long names end in "…"
    width = min(24, max(8, *(display_width(d) for d in domains)))
    head = (f"{'strategy':<24}" + "".join(pad(shorten(d, width), width + 1, right=True)
                                          for d in domains)
            + f"{'macro':>8}{'min-max over seeds':>20}"
            + f"{'pretrain FLOPs':>16}{'tok/param':>10}{'spec FLOPs/dom':>16}{'conv':>7}"
            + f"{'params':>9}")
    lines = [head, "-" * len(head)]
    from planner.costing.budget import format_params

    for r in summary.itertuples():
        sub = table[(table["strategy"] == r.strategy) & (table["scale"] == r.scale)]
        ppl = sub.set_index("domain")["test_ppl"]
        cells = "".join(f"{ppl[d]:>{width + 1}.2f}" if d in ppl.index else
                        f"{'-':>{width + 1}}" for d in domains)
        mark = "" if r.within_cap in (True, None) else " *"
        mark += " ~" if getattr(r, "within_noise", None) is True else ""
        lo, hi = getattr(r, "macro_ppl_min", None), getattr(r, "macro_ppl_max", None)
        spread = (f"{lo:.2f}-{hi:.2f}" if lo is not None and lo == lo and r.n_seeds > 1
                  else "-")
        tpp = getattr(r, "pretraining_tokens_per_param", float("nan"))
        tpp_text = f"{tpp:.2g}" if tpp == tpp and tpp is not None else "-"
        conv = str(getattr(r, "converged", "") or "-")
        lines.append(f"{r.strategy + mark:<24}{cells}{r.macro_ppl:>8.2f}{spread:>20}"
                     f"{format_number(r.pretraining_flops):>16}{tpp_text:>10}"
                     f"{format_number(r.specialization_flops):>16}{conv:>7}"
                     f"{format_params(r.inference_params):>9}")
    if (summary["within_cap"] == False).any():  # noqa: E712 - a nullable column
        lines.append("* serves a model larger than the small one: over the inference cap")
    if (summary.get("within_noise") == True).any():  # noqa: E712 - a nullable column
        lines.append("~ within noise of the best strategy within the cap (seed intervals "
                     "overlap)")
    lines.append("tok/param: generic pretraining tokens per served parameter (a mixture: its "
                 "expert's share; the paper's small model: 360-1,440); conv: fine-tunes ended "
                 "by early stopping / runs")
    return "\n".join(lines)


def run_demo(cfg: DemoConfig | None = None, *, echo: Callable[[str], None] = print,
             ) -> DemoResult:
    """Measure, store, model, recommend and report (see the module docstring)."""
    from planner.costing.scenario import default_budget
    from planner.experiments.store import load_runs
    from planner.performance.perfmodel import PerformanceModel
    from planner.reports.render import write_report
    from planner.reports.report import build_report

    cfg = cfg or DemoConfig()
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    records, failures, reused = run_measurements(cfg, echo)  # every seed, one queue
    timings["runs_s"] = time.perf_counter() - t0
    if not records:
        raise SpecplanError("every run failed; first: " + (failures[0] if failures else "?"))
    t1 = time.perf_counter()
    runs = load_runs(cfg.storage)
    runs = runs[runs["scale"] == cfg.scale].reset_index(drop=True)
    keys = {r["run_key"] for r in records}
    runs = runs[runs["run_key"].isin(keys)].reset_index(drop=True)  # this demo's runs only
    budget = cfg.budget or default_budget()
    model = PerformanceModel().fit(runs)
    from domains import get_domain

    report = build_report(runs=runs, storage=cfg.storage or "sqlite:///specplan.db",
                          budget=budget, model=model,
                          domains=[get_domain(d) for d in cfg.domains],
                          title=f"specplan demo: {', '.join(cfg.domains)} at scale "
                                f"{cfg.scale!r}", n_points=cfg.grid_points, seed=cfg.seeds[0])
    timings["model_s"] = time.perf_counter() - t1
    echo("")
    echo(f"Measured at scale {cfg.scale!r} (test perplexity per domain; macro = exp of the "
         "mean log perplexity):")
    echo(format_measured(report.summary, report.runs))
    for line in report.findings:
        echo(line)
    echo("")
    b = budget
    from planner.costing.budget import format_params

    echo(f"Recommendation for the default scenario: pretraining {b.pretraining}, "
         f"specialization {b.specialization} per domain, inference cap {b.inference}, "
         f"{format_params(b.n_domain_tokens)} domain tokens, {b.n_domains} domains on "
         f"{b.accelerator}. At the paper's 126M / 771M scale this rests on its published "
         f"results; your {cfg.scale}-scale runs are fitted at their own scale (the "
         "report's model check).")
    from planner.reports.domain_advice import demo_advice

    echo(demo_advice(report, budget, runs, cfg.domains, seed=cfg.seeds[0]))  # issue 18
    paths: list[Path] = []
    if cfg.out is not None:
        t2 = time.perf_counter()
        paths = write_report(report, cfg.out, formats=cfg.formats)
        timings["report_s"] = time.perf_counter() - t2
        echo("")
        echo("Report: " + ", ".join(str(p) for p in paths))
    if failures:
        echo("")
        echo(f"{len(failures)} run(s) failed (the others are stored):")
        for f in failures:
            echo(f"  - {f}")
    timings["total_s"] = time.perf_counter() - t0
    echo(f"Done in {timings['total_s']:.0f} s ({len(records) - reused} runs trained, "
         f"{reused} reused).")
    return DemoResult(records=records, failures=failures, reused=reused, report=report,
                      paths=paths, timings=timings)
