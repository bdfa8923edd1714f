"""The experiment runner: pretrain (shared, cached), specialize, evaluate, store.

A run is identified by its key (strategy, parameters, domain content, scale, domain
tokens, seed). A finished run is found in the store and returned, never silently
redone (`force=True` redoes it); a killed run resumes from its training checkpoints.
"""

from __future__ import annotations

import hashlib
import json
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from domains.errors import SpecplanError


@dataclass
class RunPlan:
    """What to run: strategies x domains at one scale."""

    strategies: list[str]
    domains: list[str]
    scale: str = "tiny"
    seed: int = 0
    params: dict[str, dict[str, Any]] = field(default_factory=dict)  # per strategy
    n_domain_tokens: int | None = None
    storage: str | None = None
    root: Path | None = None  # artifacts and saved models (default: .specplan/)
    force: bool = False
    progress: bool = True


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


def _log(msg: str, progress: bool) -> None:
    if progress:
        from tqdm.auto import tqdm

        tqdm.write(msg)


def run_one(strategy: Any, domain: Any, ws: Any, *, study: Any, root: Path,
            force: bool = False) -> dict[str, Any]:
    """Run (or fetch) one strategy on one domain; returns the stored record."""
    from planner.experiments.store import add_run, find_run
    from strategies.machinery import distributed as dist

    main = dist.is_main_process()  # under accelerate launch / torchrun: only it writes
    scale = ws.scale.name
    key = run_key(strategy, domain, scale, ws.n_domain_tokens, ws.seed)
    if not force:
        done = dist.broadcast(find_run(study, key) if main else None)
        if done is not None:
            _log(f"[{strategy.name} / {domain.name}] finished run {key} reused "
                 f"(test ppl {done['test_ppl']:.2f})", ws.progress)
            return done
    t0 = time.perf_counter()
    strategy.pretrain(ws)
    model = strategy.specialize(domain, ws)
    result = strategy.evaluate(model, domain, ws)
    wall = time.perf_counter() - t0
    model_path = root / "models" / key
    if main:
        model.save(model_path, tokenizer=ws.tokenizer)
        _share_kept_weights(model_path, model.info, ws)
    record = {
        "run_key": key, "strategy": strategy.name, "paper_name": strategy.paper_name,
        "domain": domain.name, "source": getattr(domain, "source", ""), "scale": scale,
        "seed": ws.seed, "params": strategy.get_params(),
        "n_domain_tokens": int(ws.n_domain_tokens),
        "pretraining_flops": model.cost.pretraining_flops,
        "specialization_flops": model.cost.specialization_flops,
        "inference_flops_per_token": model.cost.inference_flops_per_token,
        "inference_params": model.n_params,
        "pretraining_params": model.cost.pretraining_params,
        "cost_components": dict(model.cost.components),
        "test_ppl": result.perplexity, "test_nll": result.nll, "test_tokens": result.n_tokens,
        "test_ppl_before_finetune": model.info.get("test_ppl_before_finetune"),
        "wall_s": wall, "model_path": str(model_path),
        "datetime": time.strftime("%Y-%m-%dT%H:%M:%S"), "versions": versions(),
        "info": model.info, "data": domain.card(),
    }
    if main:
        add_run(study, record)
    _log(f"[{strategy.name} / {domain.name}] test ppl {result.perplexity:.2f} "
         f"(before fine-tuning {record['test_ppl_before_finetune'] or float('nan'):.2f}), "
         f"{wall:.0f} s, stored as {key}", ws.progress)
    return record


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


def quiet_transformers() -> None:
    """No "Loading weights" / "Writing model shards" bars between our own lines."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


def run_plan(plan: RunPlan) -> list[dict[str, Any]]:
    """Run every strategy on every domain, sharing one workspace (tokenizer, corpora,
    pretraining artifacts). A failing run is reported and the others go on; finished
    runs are stored as they finish."""
    from domains import get_domain
    from planner.experiments.store import open_study
    from strategies.machinery import distributed as dist
    from strategies.machinery.workspace import Workspace
    from strategies.registry import create_strategy

    study = open_study(plan.storage) if dist.is_main_process() else None
    configure_threads(plan.scale)
    if not plan.progress:
        quiet_transformers()
    root = Path(plan.root) if plan.root is not None else Path(".specplan")
    ws = Workspace(plan.scale, root=root, seed=plan.seed, n_domain_tokens=plan.n_domain_tokens,
                   progress=plan.progress and dist.is_main_process())
    domains = [get_domain(d) for d in plan.domains]
    strategies = [create_strategy(name, **{"scale": plan.scale, "seed": plan.seed,
                                           **plan.params.get(name, {})})
                  for name in plan.strategies]
    single = len(strategies) * len(domains) == 1
    records: list[dict[str, Any]] = []
    failures: list[str] = []
    for strategy in strategies:
        for domain in domains:
            try:
                records.append(run_one(strategy, domain, ws, study=study, root=root,
                                       force=plan.force))
            except SpecplanError as err:
                if single:
                    raise  # one run: its own error is the whole story
                failures.append(f"{strategy.name} on {domain.name}: {err}")
                _log(f"[{strategy.name} / {domain.name}] failed: {err}", True)
    if failures and not records:
        raise SpecplanError(f"all {len(failures)} runs failed; first: {failures[0]}")
    return records
