"""The main job (`specplan demo`): every strategy on biomedical, legal and news, measured,
stored, modelled, recommended and reported, with no arguments and no network.

    >>> from planner.experiments.demo import DemoConfig, run_demo
    >>> cfg = DemoConfig(scale="tiny", strategies=["small"], domains=["news"])
    >>> result = run_demo(cfg)  # doctest: +SKIP

Steps:

1. run every available strategy on every domain at the ``demo`` scale. The tokenizer and
   the tokenized corpora are built first; then the strategy families (`STRATEGY_FAMILIES`:
   strategies that share pretraining artifacts) run in two worker processes, each family in
   one `strategies.machinery.workspace.Workspace` over the same artifact folder, so the shared
   pretraining (small, large, projected network, clusters) is built once. Every finished
   run is stored at once in the results store (`planner.experiments.store`), so a second
   `specplan demo` reuses them and a failing strategy loses nobody else's runs;
2. fit the performance model on the reference tables and the measured runs;
3. recommend a strategy for the default budget scenario (`planner.reports.report.DEFAULT_SCENARIO`:
   400 A100 GPU-hours of pretraining, 2 GPU-hours of specialization per domain, a 126M
   serving cap, 8M domain tokens, 7 domains);
4. write the HTML and PDF report (`planner.reports.render`).
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from domains.errors import SpecplanError
from planner.cli.commands._common import fmt_number

if TYPE_CHECKING:
    import pandas as pd

    from planner.costing.budget import Budget
    from planner.reports.report import Report

__all__ = ["DEFAULT_DOMAINS", "STRATEGY_FAMILIES", "DemoConfig", "DemoResult",
           "format_measured", "measured_narrative", "partition", "run_demo"]

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
        seed: model init and data order (of one run; see `seeds`).
        seeds: the seeds run for every strategy x domain (default 0, 1, 2: the tables give
            the mean and the min-max over them, and say which strategies are within noise).
        params: per-strategy parameter overrides (strategy -> {param: value}).
        progress: progress bars and per-run lines.
        grid_points: points per axis of the report's decision map and budget curves.
        threads: torch threads for training (None: `planner.experiments.runner.configure_threads`,
            i.e. every core; ``SPECPLAN_THREADS`` overrides both). One by default: the
            demo's models are small, and on a 2-core machine that is busy with anything
            else, two threads spin-wait for each other (measured under load: 14x the CPU
            time per step of one thread for the small model, 8x for the large).
        workers: processes that run strategies side by side (one thread each). Strategies
            that share pretraining artifacts always run in the same process (see
            `STRATEGY_FAMILIES`), so nothing is trained twice; 1 runs everything in this
            process.
    """

    scale: str = "demo"
    domains: Sequence[str] = DEFAULT_DOMAINS
    strategies: Sequence[str] | None = None
    storage: str | None = None
    root: str | Path = DEFAULT_ROOT
    out: str | Path | None = DEFAULT_OUT
    formats: Sequence[str] = ("html", "pdf")
    budget: Budget | None = None
    seed: int = 0
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    progress: bool = True
    grid_points: int = 12
    seeds: Sequence[int] = (0, 1, 2)
    threads: int | None = 1
    workers: int = 2


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


#: Strategies that share pretraining artifacts (the same workspace keys), with a rough
#: relative cost at the demo scale; a family never spans two worker processes. Strategies
#: not listed (third-party) join the first family.
STRATEGY_FAMILIES: tuple[tuple[tuple[str, ...], float], ...] = (
    (("small", "large", "distillation", "distillation_sequences"), 250.0),  # small + large
    (("mixture", "hypernetwork", "importance_sampling"), 215.0),  # generic-corpus clusters
    (("small_nopt",), 30.0),  # no pretraining
)


def run_measurements(cfg: DemoConfig, echo: Callable[[str], None] = print,
                     ) -> tuple[list[dict[str, Any]], list[str], int]:
    """Run (or reuse) every strategy on every domain; returns records, failures, reused.

    Shared work is done once: the tokenizer, the tokenized corpora and every pretraining
    artifact. A run that raises is logged under ``root/logs`` and skipped; the others go
    on. With ``cfg.workers > 1`` the strategy families run in parallel processes.
    """
    from strategies.machinery.scales import get_scale

    scale = get_scale(cfg.scale)
    names = _strategy_names(cfg.strategies)
    if not names:
        raise SpecplanError("no strategy is available to run")
    groups = partition(names, cfg.workers)
    echo(f"specplan demo: {len(names)} strategies x {len(cfg.domains)} domains at scale "
         f"{scale.name!r} (small {scale.small.n_params / 1e6:.2f}M / large "
         f"{scale.large.n_params / 1e6:.2f}M parameters, {scale.pretrain_tokens:,} generic "
         f"pretraining tokens, {scale.domain_train_tokens:,} domain tokens)")
    echo(f"  strategies: {', '.join(names)}")
    echo(f"  domains: {', '.join(cfg.domains)}")
    echo(f"  results store: {cfg.storage or 'sqlite:///specplan.db'}; artifacts: "
         f"{Path(cfg.root)}/" + (f"; {len(groups)} worker processes: "
                                 + " | ".join(", ".join(g) for g in groups)
                                 if len(groups) > 1 else ""))
    if len(groups) == 1 or not _pending(cfg, names):
        return _run_serial(cfg, names, echo)  # (everything stored: no worker to start)
    return _run_parallel(cfg, groups, echo)


def _pending(cfg: DemoConfig, names: list[str]) -> int:
    """How many strategy x domain runs are not in the results store yet."""
    from domains import get_domain
    from planner.experiments.runner import run_key
    from planner.experiments.store import find_run, open_study
    from strategies.machinery.scales import get_scale
    from strategies.registry import create_strategy

    scale = get_scale(cfg.scale)
    study = open_study(cfg.storage)
    domains = [get_domain(d) for d in cfg.domains]
    pending = 0
    for name in names:
        try:
            strategy = create_strategy(name, scale=scale.name, seed=cfg.seed,
                                       **cfg.params.get(name, {}))
        except Exception:  # noqa: BLE001 - the run itself will report it
            pending += len(domains)
            continue
        pending += sum(find_run(study, run_key(strategy, d, scale.name,
                                               scale.domain_train_tokens, cfg.seed)) is None
                       for d in domains)
    return pending


def partition(names: Sequence[str], workers: int) -> list[list[str]]:
    """Strategy families spread over at most `workers` groups, heaviest family first onto
    the lightest group (greedy); a family is never split. Order within a group follows
    `names`."""
    families: list[tuple[list[str], float]] = []
    placed: set[str] = set()
    for members, cost in STRATEGY_FAMILIES:
        fam = [n for n in names if n in members]
        if fam:
            families.append((fam, cost * len(fam) / len(members)))
            placed.update(fam)
    rest = [n for n in names if n not in placed]
    if rest:  # unknown strategies: with the first family (they may share its artifacts)
        if families:
            families[0] = (families[0][0] + rest, families[0][1] + 100.0 * len(rest))
        else:
            families.append((rest, 100.0 * len(rest)))
    n = max(1, min(int(workers), len(families)))
    groups: list[list[str]] = [[] for _ in range(n)]
    load = [0.0] * n
    for fam, cost in sorted(families, key=lambda f: -f[1]):
        i = load.index(min(load))
        groups[i] += fam
        load[i] += cost
    order = {name: i for i, name in enumerate(names)}
    return [sorted(g, key=order.__getitem__) for g in groups if g]


def _prepare_shared(cfg: DemoConfig) -> None:
    """Build what every worker reads before any starts: the tokenizer, the tokenized
    splits of every domain and of the generic corpus, and the results study."""
    from domains import get_domain
    from planner.experiments.store import open_study
    from strategies.machinery.workspace import Workspace

    open_study(cfg.storage)
    ws = Workspace(cfg.scale, root=Path(cfg.root), seed=cfg.seed, progress=False)
    for name in cfg.domains:
        domain = get_domain(name)
        for split in ("train", "valid", "test"):
            ws.corpus(domain, split)
    ws.corpus(ws.generic, "train")


def _worker(cfg: DemoConfig, label: str) -> tuple[list[dict[str, Any]], list[str], int]:
    """One worker process: its strategies, serially, on one thread."""
    import os
    from dataclasses import replace

    # before torch / scikit-learn load: one OpenMP thread (see `DemoConfig.threads`)
    os.environ.setdefault("OMP_NUM_THREADS", str(cfg.threads or 1))

    def echo(line: str) -> None:
        print(f"{label} {line}", flush=True)

    return _run_serial(replace(cfg, workers=1, progress=False), list(cfg.strategies or []),
                       echo)


def _run_parallel(cfg: DemoConfig, groups: list[list[str]], echo: Callable[[str], None],
                  ) -> tuple[list[dict[str, Any]], list[str], int]:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from dataclasses import replace

    t0 = time.perf_counter()
    _prepare_shared(cfg)
    echo(f"  tokenizer and corpora ready in {time.perf_counter() - t0:.0f} s; starting "
         f"{len(groups)} workers")
    records: list[dict[str, Any]] = []
    failures: list[str] = []
    reused = 0
    ctx = multiprocessing.get_context("spawn")  # a clean interpreter: no forked torch state
    with ProcessPoolExecutor(max_workers=len(groups), mp_context=ctx) as pool:
        futures = {pool.submit(_worker, replace(cfg, strategies=g), f"[w{i + 1}]"): g
                   for i, g in enumerate(groups)}
        for future, group in futures.items():
            try:
                recs, fails, n_reused = future.result()
            except Exception as err:  # noqa: BLE001 - a dead worker; its stored runs stay
                failures.append(f"worker for {', '.join(group)} died: "
                                f"{type(err).__name__}: {err}")
                echo(f"  worker for {', '.join(group)} died: {type(err).__name__}: {err}")
                continue
            records += recs
            failures += fails
            reused += n_reused
    return records, failures, reused


def _run_serial(cfg: DemoConfig, names: list[str], echo: Callable[[str], None],
                ) -> tuple[list[dict[str, Any]], list[str], int]:
    from domains import get_domain
    from planner.experiments.runner import configure_threads, quiet_transformers
    from planner.experiments.store import open_study
    from strategies.machinery.scales import get_scale
    from strategies.machinery.workspace import Workspace
    from strategies.registry import create_strategy

    scale = get_scale(cfg.scale)
    domains = [get_domain(d) for d in cfg.domains]
    study = open_study(cfg.storage)
    root = Path(cfg.root)
    configure_threads(scale.name)
    _set_threads(cfg.threads)
    quiet_transformers()
    ws = Workspace(scale, root=root, seed=cfg.seed, progress=cfg.progress)
    records: list[dict[str, Any]] = []
    failures: list[str] = []
    reused = 0
    total = len(names) * len(domains)
    for s_index, name in enumerate(names):
        params = {"scale": scale.name, "seed": cfg.seed, **cfg.params.get(name, {})}
        try:
            strategy = create_strategy(name, **params)
        except Exception as err:  # noqa: BLE001 - one broken strategy must not stop the rest
            failures.append(f"{name}: cannot be created: {err}")
            echo(f"  [{name}] skipped: {err}")
            continue
        for d_index, domain in enumerate(domains):
            tag = f"[{s_index * len(domains) + d_index + 1}/{total}] {name} on {domain.name}"
            rec, was_reused, error = _run_or_reuse(strategy, domain, ws, study, root, tag,
                                                   echo)
            if rec is not None:
                records.append(rec)
                reused += was_reused
            else:
                failures.append(f"{name} on {domain.name}: {error}")
    return records, failures, reused


def _run_or_reuse(strategy: Any, domain: Any, ws: Any, study: Any, root: Path, tag: str,
                  echo: Callable[[str], None],
                  ) -> tuple[dict[str, Any] | None, bool, str]:
    """(record, reused?, error): the stored run if there is one, else a new run; an
    exception (other than Ctrl-C) is logged and returned as text, never raised."""
    from planner.experiments.runner import run_key, run_one
    from planner.experiments.store import find_run

    done = find_run(study, run_key(strategy, domain, ws.scale.name, ws.n_domain_tokens,
                                   ws.seed))
    if done is not None:
        echo(f"{tag}: reused the stored run (test perplexity {done['test_ppl']:.2f})")
        return done, True, ""
    echo(f"{tag} ...")
    t0 = time.perf_counter()
    try:
        rec = run_one(strategy, domain, ws, study=study, root=root)
    except KeyboardInterrupt:
        raise
    except Exception as err:  # noqa: BLE001 - keep going; the log has the traceback
        log = _log_failure(root, strategy.name, domain.name, err)
        echo(f"{tag} FAILED after {time.perf_counter() - t0:.0f} s: "
             f"{type(err).__name__}: {err} (traceback in {log})")
        return None, False, f"{type(err).__name__}: {err}"
    echo(f"{tag}: test perplexity {rec['test_ppl']:.2f} (before fine-tuning "
         f"{fmt_number(rec.get('test_ppl_before_finetune'))}) in {time.perf_counter() - t0:.0f} s")
    return rec, False, ""


def _set_threads(threads: int | None) -> None:
    import os

    if threads is None or os.environ.get("SPECPLAN_THREADS"):
        return  # torch's default, or the user's explicit SPECPLAN_THREADS
    import torch

    torch.set_num_threads(max(1, int(threads)))


def _log_failure(root: Path, strategy: str, domain: str, err: BaseException) -> Path:
    from domains.cache import file_stem

    path = root / "logs" / f"{file_stem(f'{strategy}-{domain}', limit=200)}.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(traceback.format_exception(err)), encoding="utf-8")
    return path


def measured_narrative(summary: pd.DataFrame, table: pd.DataFrame, scale: str) -> list[str]:
    """What the measurements say, in sentences built from them (never from expectations):
    the best strategy within the inference cap and which are within noise of it (the
    seeds' min-max intervals overlap), how many fine-tunes converged, and the pretraining
    regime (generic tokens per parameter, against the paper's 360-1,440)."""
    from strategies.machinery.scales import get_scale

    out: list[str] = []
    ranked = summary.dropna(subset=["rank"]).sort_values("rank")
    if len(ranked):
        best = ranked.iloc[0]
        seeds = int(best.n_seeds) if best.n_seeds == best.n_seeds else 0
        spread = (f", {best.macro_ppl_min:.2f}-{best.macro_ppl_max:.2f} over {seeds} seeds"
                  if seeds > 1 else " (one seed: no spread)")
        out.append(f"Best measured within the inference cap (the small model's size): "
                   f"{best.strategy} (macro perplexity {best.macro_ppl:.2f}{spread}).")
        pre = ranked["pretraining_flops"].astype(float)
        if len(ranked) > 1 and pre.max() > 1.1 * max(pre.min(), 1.0):
            parts = ", ".join(f"{r.strategy} {float(r.pretraining_flops):.3g}"
                              for r in ranked.itertuples())
            out.append(f"Not at equal pretraining compute (FLOPs: {parts}): the ranking "
                       "compares strategies at the budgets each was given.")
        elif len(ranked) > 1:
            out.append("The strategies within the cap had equal pretraining compute "
                       "(within 10%).")
        ties = [str(r.strategy) for r in ranked.iloc[1:].itertuples()
                if r.within_noise is True]
        if ties:
            out.append(f"Within noise of it (min-max over seeds overlap): {', '.join(ties)}; "
                       "their order is not established by these runs.")
        elif seeds > 1:
            out.append("No other strategy within the cap overlaps it over the seeds.")
    if "converged" in table and table["converged"].astype(str).str.contains("/").any():
        done = table["converged"].dropna().astype(str).str.split("/")
        ok = sum(int(a) for a, _ in done)
        total = sum(int(b) for _, b in done)
        out.append(f"Fine-tunes that converged (ended by early stopping, best step before the "
                   f"last): {ok} of {total}.")
    try:
        sc = get_scale(scale)
        tpp = sc.pretrain_tokens / sc.small.n_params
        out.append(f"Pretraining regime: {tpp:.1f} generic tokens per small-model parameter "
                   f"(each of the mixture's {sc.n_clusters} experts: {tpp / sc.n_clusters:.1f}); "
                   "the paper's small model sees 360-1,440. At this starved budget the paper's "
                   "own Table 8 has SLM-mix behind SLM (19.82 vs 19.31 at 100 GPUh): "
                   "orderings measured here are this regime's, not the paper's.")
    except Exception:  # noqa: BLE001 - a custom scale name: no regime line
        pass
    return out


def format_measured(summary: pd.DataFrame, table: pd.DataFrame) -> str:
    """The measured results as a text table: perplexity per domain (mean over seeds),
    macro-average with its min-max over seeds, FLOPs per bucket and the served model's
    size (what `specplan demo` prints); ``~`` marks a strategy within noise of the best."""
    if len(table) == 0:
        return "no measured runs"
    domains = list(dict.fromkeys(table["domain"]))
    width = max(8, *(len(d) for d in domains))
    head = (f"{'strategy':<24}" + "".join(f"{d[:width]:>{width + 1}}" for d in domains)
            + f"{'macro':>8}{'min-max over seeds':>20}"
            + f"{'pretrain FLOPs':>16}{'spec FLOPs/dom':>16}{'params':>9}")
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
        lines.append(f"{r.strategy + mark:<24}{cells}{r.macro_ppl:>8.2f}{spread:>20}"
                     f"{r.pretraining_flops:>16.3g}{r.specialization_flops:>16.3g}"
                     f"{format_params(r.inference_params):>9}")
    if (summary["within_cap"] == False).any():  # noqa: E712 - a nullable column
        lines.append("* serves a model larger than the small one: over the inference cap")
    if (summary.get("within_noise") == True).any():  # noqa: E712 - a nullable column
        lines.append("~ within noise of the best strategy within the cap (seed intervals "
                     "overlap)")
    return "\n".join(lines)


def run_demo(cfg: DemoConfig | None = None, *, echo: Callable[[str], None] = print,
             ) -> DemoResult:
    """Measure, store, model, recommend and report (see the module docstring)."""
    from planner.experiments.store import load_runs
    from planner.performance.perfmodel import PerformanceModel
    from planner.reports.render import write_report
    from planner.reports.report import build_report, default_budget

    cfg = cfg or DemoConfig()
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    from dataclasses import replace

    records: list[dict[str, Any]] = []
    failures: list[str] = []
    reused = 0
    seeds = list(cfg.seeds or (cfg.seed,))
    for seed in seeds:
        if len(seeds) > 1:
            echo(f"seed {seed} ({seeds.index(seed) + 1} of {len(seeds)}):")
        recs, fails, n_reused = run_measurements(replace(cfg, seed=seed), echo)
        records, failures, reused = records + recs, failures + fails, reused + n_reused
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
                                f"{cfg.scale!r}", n_points=cfg.grid_points, seed=cfg.seed)
    timings["model_s"] = time.perf_counter() - t1
    echo("")
    echo(f"Measured at scale {cfg.scale!r} (test perplexity per domain; macro = exp of the "
         "mean log perplexity):")
    echo(format_measured(report.summary, report.runs))
    for line in measured_narrative(report.summary, report.runs, cfg.scale):
        echo(line)
    echo("")
    b = budget
    echo(f"Recommendation for the default scenario: pretraining {b.pretraining}, "
         f"specialization {b.specialization} per domain, inference cap {b.inference}, "
         f"{b.n_domain_tokens / 1e6:g}M domain tokens, {b.n_domains} domains on "
         f"{b.accelerator}. At the paper's 126M / 771M scale this rests on its published "
         f"results; your {cfg.scale}-scale runs are fitted at their own scale (the "
         "report's model check).")
    echo(report.recommendation_text or "\n".join(report.notes[:1]))
    for note in report.notes:
        if "diffuse" in note:
            echo(f"warning: {note}")
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
