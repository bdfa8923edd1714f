"""The experiment runner: pretrain (shared, cached), specialize, evaluate, record.

A run is identified by its key (strategy, parameters, domain content, scale, domain
tokens, seed). `run_plan` queues a plan's runs in the results store and runs them with
local workers (`planner.experiments.worker`, the loop that `specplan run`, `sweep` and
`demo` share): a finished run is found in the store and returned, never silently redone
(``force=True`` redoes it); a killed run resumes from its training checkpoints.
"""

from __future__ import annotations

import hashlib
import json
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from domains.errors import SpecplanError
from planner.experiments.worker import Faults


@dataclass
class RunPlan:
    """What to run: strategies x domains x seeds at one scale.

    Args:
        workers: local worker processes (1: this process; 0: only queue the runs for
            `specplan worker`s elsewhere).
        faults: heartbeats and retries of the queue (`planner.experiments.worker.Faults`).
    """

    strategies: list[str]
    domains: list[str]
    scale: str = "tiny"
    seeds: list[int] = field(default_factory=lambda: [0])
    params: dict[str, dict[str, Any]] = field(default_factory=dict)  # per strategy
    n_domain_tokens: int | None = None
    storage: str | None = None
    root: Path | None = None  # artifacts and saved models (default: .specplan/)
    force: bool = False
    progress: bool = True
    workers: int = 1
    faults: Faults = field(default_factory=Faults)


def run_key(strategy: Any, domain: Any, scale: str, n_domain_tokens: int, seed: int) -> str:
    blob = json.dumps(
        {"strategy": strategy.name, "params": strategy.get_params(), "domain": domain.name,
         "fingerprint": domain.fingerprint, "scale": scale,
         "n_domain_tokens": n_domain_tokens, "seed": seed},
        sort_keys=True, default=repr,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def versions() -> dict[str, str]:
    from importlib import metadata

    out = {"python": platform.python_version()}
    for pkg in ("specplan", "torch", "transformers", "tokenizers", "optuna", "numpy"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return out


def measure(strategy: Any, domain: Any, ws: Any, *, root: Path, run_key: str,
            ) -> dict[str, Any]:
    """Pretrain (or load), specialize and evaluate one strategy on one domain, save the
    specialized model under ``root/models/<run_key>``; returns the run's record (the store
    keeps it as the trial's user attributes). Nothing is written to the store here."""
    from strategies.machinery import distributed as dist

    t0, c0 = time.perf_counter(), time.process_time()
    phases: dict[str, float] = {}  # CPU seconds of this process per phase

    def mark(phase: str, since: float) -> float:
        now = time.process_time()
        phases[phase] = now - since
        return now

    strategy.pretrain(ws)  # loads the shared pretraining, or trains it (this run pays)
    c1 = mark("pretrain", c0)
    model = strategy.specialize(domain, ws)  # per-domain pretraining, fine-tune, test before
    c2 = mark("specialize", c1)
    result = strategy.evaluate(model, domain, ws)
    mark("evaluate", c2)
    wall = time.perf_counter() - t0
    model_path = root / "models" / run_key
    if dist.is_main_process():  # under accelerate launch / torchrun: only it writes
        model.save(model_path, tokenizer=ws.tokenizer)
        _share_kept_weights(model_path, model.info, ws)
    return {
        "run_key": run_key, "strategy": strategy.name, "paper_name": strategy.paper_name,
        "domain": domain.name, "source": getattr(domain, "source", ""),
        "scale": ws.scale.name, "seed": ws.seed, "params": strategy.get_params(),
        "n_domain_tokens": int(ws.n_domain_tokens),
        "pretraining_flops": model.cost.pretraining_flops,
        "specialization_flops": model.cost.specialization_flops,
        "inference_flops_per_token": model.cost.inference_flops_per_token,
        "inference_params": model.n_params,
        "pretraining_params": model.cost.pretraining_params,
        "cost_components": dict(model.cost.components),
        # the typed parts of the cost (the planner reads these, never component names)
        "teacher_pretraining_flops": model.cost.teacher_pretraining_flops,
        "teacher_specialization_flops": model.cost.teacher_specialization_flops,
        "generated_tokens": model.cost.generated_tokens,
        "external_usd": model.cost.external_usd,
        "test_ppl": result.perplexity, "test_nll": result.nll, "test_tokens": result.n_tokens,
        "test_ppl_before_finetune": model.info.get("test_ppl_before_finetune"),
        # the fine-tune (issue 12): its validation curve, steps run, best step, and whether
        # it converged (False when the best step is the last: the cap ended it)
        "curve": model.info.get("finetune_curve"),
        "steps": model.info.get("finetune_steps"),
        "best_step": model.info.get("finetune_best_step"),
        "converged": model.info.get("finetune_converged"),
        "wall_s": wall,
        # CPU seconds of this process (all its threads): with one torch thread per worker,
        # what the run takes on an idle core whatever else shares the machine
        "cpu_s": time.process_time() - c0, "phase_cpu_s": phases,
        "model_path": str(model_path),
        "datetime": time.strftime("%Y-%m-%dT%H:%M:%S"), "versions": versions(),
        "info": model.info, "data": domain.card(),
    }


def finetune_summary(record: dict[str, Any]) -> str:
    """How the run's fine-tune ended, in words: ``fine-tune converged at step 96 of 112``,
    ``fine-tune NOT converged (best step = last step 32)``; ``no fine-tune record`` for runs
    stored before fine-tunes were recorded."""
    steps, best, converged = record.get("steps"), record.get("best_step"), record.get("converged")
    if steps is None or best is None or converged is None:
        return "no fine-tune record"
    if converged:
        return f"fine-tune converged at step {int(best)} of {int(steps)}"
    return f"fine-tune NOT converged (best step = last step {int(steps)})"


def _share_kept_weights(model_path: Path, info: dict[str, Any], ws: Any) -> None:
    """A run whose fine-tune is kept as a workspace artifact (`large`: also the distillation
    teacher) saved the same weights twice; hard-link the saved file to the artifact's so
    the disk holds them once (~3 GB per domain at paper scale). Byte-equal files only;
    where links are impossible (another file system) both copies stay."""
    import filecmp
    import os

    key = info.get("finetune_artifact")
    if not key:
        return
    src = ws.artifact_dir(str(key)) / "model.safetensors"
    dst = model_path / "model.safetensors"
    if not (src.is_file() and dst.is_file()) or os.path.samefile(src, dst):
        return
    if not filecmp.cmp(src, dst, shallow=False):
        return
    tmp = dst.with_name(f".{dst.name}.link")
    try:
        tmp.unlink(missing_ok=True)
        os.link(src, tmp)
        os.replace(tmp, dst)
    except OSError:
        tmp.unlink(missing_ok=True)


def configure_threads(scale: str) -> None:
    """Models under ~1M parameters train fastest on one thread (the per-op overhead
    dominates); larger ones use every core. SPECPLAN_THREADS overrides."""
    import os

    import torch

    from strategies.machinery.scales import get_scale

    wanted = os.environ.get("SPECPLAN_THREADS")
    if wanted:
        torch.set_num_threads(max(1, int(wanted)))
    elif get_scale(scale).small.n_embd < 128:
        torch.set_num_threads(1)


def set_threads(threads: int | None) -> None:
    """`threads` torch threads (None: leave `configure_threads`' choice); an explicit
    ``SPECPLAN_THREADS`` wins."""
    import os

    if threads is None or os.environ.get("SPECPLAN_THREADS"):
        return
    import torch

    torch.set_num_threads(max(1, int(threads)))


def quiet_transformers() -> None:
    """No "Loading weights" / "Writing model shards" bars between our own lines."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


def _stderr(line: str) -> None:
    import sys

    print(line, file=sys.stderr, flush=True)


def run_plan(plan: RunPlan, echo: Callable[[str], None] | None = None,
             ) -> list[dict[str, Any]]:
    """Queue every strategy x domain x seed of `plan` in its store and run them with
    `plan.workers` local workers (`planner.experiments.worker.run_queued`); returns the
    stored records in plan order (reused ones included). A failing run is reported and the
    others go on; a plan of one run raises its error.

    Raises:
        SpecplanError: bad input (before any work), the only run failed, or every run did.
    """
    from planner.experiments.worker import plan_runs, run_launched, run_queued
    from strategies.machinery import distributed as dist
    from strategies.machinery.scales import get_scale

    get_scale(plan.scale)
    specs = plan_runs(plan.strategies, plan.domains, scale=plan.scale, seeds=plan.seeds,
                      params=plan.params, n_domain_tokens=plan.n_domain_tokens,
                      root=plan.root, force=plan.force)
    if echo is None:
        echo = _stderr if plan.progress else (lambda line: None)
    if dist.is_distributed():
        # launched as N processes (torchrun / accelerate launch): every process trains every
        # run together (DDP), so the queue's claims, which give each worker a different run,
        # are not used; the main process alone reads and writes the store
        return run_launched(specs, storage=plan.storage, echo=echo)
    outcome = run_queued(specs, storage=plan.storage, workers=plan.workers,
                         faults=plan.faults, progress=plan.progress, echo=echo)
    if outcome.failures:
        if len(specs) == 1:
            raise SpecplanError(outcome.failures[0][1])  # one run: its error is the story
        for label, error in outcome.failures:
            _stderr(f"{label} failed: {error}")
        if not outcome.records:
            raise SpecplanError(f"all {len(outcome.failures)} runs failed; first: "
                                f"{outcome.failures[0][0]}: {outcome.failures[0][1]}")
    return outcome.records
