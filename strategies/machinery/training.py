"""One training loop for every strategy.

AdamW, linear warm-up then cosine decay, gradient clipping, a step/token/FLOP budget,
early stopping on validation loss (best weights restored), bf16 autocast on CPU where it
pays off, deterministic batches, a progress bar, and safetensors checkpoints that a
killed run resumes from.

Determinism: batch k of epoch e is a slice of `randperm(n, seed=hash(seed, e))`, a pure
function of (seed, step), so resuming needs only the weights, the optimizer state and
a few counters; dropout is off in our models. Nothing here unpickles anything: the
checkpoint is safetensors tensors plus a JSON file.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from domains.errors import SpecplanError

Batch = dict[str, torch.Tensor]
LossFn = Callable[[torch.nn.Module, Batch], torch.Tensor]


@dataclass
class TrainConfig:
    """Schedule and budget of one training run.

    The run stops at the first of: `max_steps`, `max_tokens`, `max_flops` (converted with
    `flops_per_token`), or early stopping (`patience` validation checks without an
    improvement larger than `min_delta`).
    """

    lr: float
    batch_size: int
    max_steps: int | None = None
    max_tokens: float | None = None
    max_flops: float | None = None
    flops_per_token: float = 0.0  # training FLOPs per token (forward + backward)
    warmup_steps: int = 0
    min_lr_ratio: float = 0.1
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    eval_every: int | None = None
    patience: int | None = None
    min_delta: float = 0.0
    precision: str = "auto"  # "auto" | "fp32" | "bf16"
    seed: int = 0
    checkpoint_dir: Path | None = None
    checkpoint_every: int = 100
    desc: str = "train"
    progress: bool = True


@dataclass
class TrainResult:
    """What one training run did.

    Attributes:
        steps: optimizer steps run; tokens / flops: processed and spent over all of them.
        best_step: the step whose weights were kept (the last step without early stopping).
        best_valid_loss: validation loss at `best_step` (nats/token; None without
            validation).
        flops_to_best: FLOPs up to `best_step` (the paper's fine-tuning cost, App. C).
        stopped_early: early stopping ended the run (before the step cap).
        valid_history: the fine-tune curve, (step, validation loss) per check.
        converged: the validation loss reached its minimum before the last step, so the
            kept weights are a validated optimum. False when the best step is the last one
            (the cap ended a still-improving run) or when nothing was validated.
    """

    steps: int
    tokens: int
    flops: float
    best_step: int
    best_valid_loss: float | None
    flops_to_best: float
    stopped_early: bool
    wall_s: float
    resumed_from: int | None = None
    valid_history: list[tuple[int, float]] = field(default_factory=list)
    precision: str = "fp32"
    converged: bool = False

    @property
    def curve(self) -> list[tuple[int, float]]:
        """The validation curve: (step, mean validation loss in nats/token) per check."""
        return list(self.valid_history)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _n_rows(data: Batch) -> int:
    return int(next(iter(data.values())).shape[0])


def _as_batch(data: torch.Tensor | Batch) -> Batch:
    return {"input_ids": data} if isinstance(data, torch.Tensor) else data


def batch_indices(n: int, step: int, batch_size: int, seed: int) -> torch.Tensor:
    """Row indices of batch `step`: consecutive slices of per-epoch permutations."""
    start = step * batch_size
    idx: list[int] = []
    while len(idx) < batch_size:
        epoch, offset = divmod(start + len(idx), n)
        g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
        perm = torch.randperm(n, generator=g)
        take = min(batch_size - len(idx), n - offset)
        idx.extend(perm[offset : offset + take].tolist())
    return torch.tensor(idx, dtype=torch.long)


def default_loss(model: torch.nn.Module, batch: Batch) -> torch.Tensor:
    """Next-token cross-entropy (HF shifts the labels inside)."""
    return model(input_ids=batch["input_ids"], labels=batch["input_ids"]).loss


def resolve_precision(precision: str, model: torch.nn.Module) -> str:
    """bf16 autocast pays off on CPU from width ~256 up (2.8k -> 4.6k tokens/s at 6x256);
    below that the casts cost more than they save, so "auto" keeps fp32. A CPU without
    native bf16 (no avx512_bf16 / amx_bf16, e.g. an AVX2-only EPYC) emulates it about
    10-15x slower than fp32 (measured: 4x256 at 513 vs 7,781 us/token), so "auto" keeps
    fp32 there whatever the width."""
    if precision != "auto":
        return precision
    width = getattr(getattr(model, "config", None), "n_embd", 0) or 0
    return "bf16" if width >= 256 and _cpu_has_native_bf16() else "fp32"


def _cpu_has_native_bf16() -> bool:
    """Whether this CPU has bf16 matrix instructions (Linux /proc/cpuinfo flags)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="ignore") as f:
            flags = f.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


@torch.no_grad()
def mean_loss(
    model: torch.nn.Module, data: torch.Tensor | Batch, *, batch_size: int = 32,
    loss_fn: LossFn | None = None,
) -> float:
    """Mean loss over all rows (fp32, no autocast: validation must be accurate)."""
    batch_data = _as_batch(data)
    loss_fn = loss_fn or default_loss
    was_training = model.training
    model.eval()
    n = _n_rows(batch_data)
    total, count = 0.0, 0
    for i in range(0, n, batch_size):
        batch = {k: v[i : i + batch_size] for k, v in batch_data.items()}
        rows = _n_rows(batch)
        total += float(loss_fn(model, batch)) * rows
        count += rows
    model.train(was_training)
    return total / max(count, 1)


# ---------------------------------------------------------------------------- checkpoints
def _save_checkpoint(
    ckpt: Path, model: torch.nn.Module, opt: torch.optim.Optimizer,
    best_state: dict[str, torch.Tensor] | None, counters: dict[str, Any],
) -> None:
    """Write to a temp folder, fsync, then rename (`domains.atomic.atomic_dir`): a kill
    mid-write leaves the old checkpoint; a full disk is a `WriteError` naming `ckpt`."""
    from domains.atomic import atomic_dir

    opt_tensors: dict[str, torch.Tensor] = {}
    for pid, state in opt.state_dict()["state"].items():
        for key, value in state.items():
            t = value if isinstance(value, torch.Tensor) else torch.tensor(value)
            opt_tensors[f"{pid}.{key}"] = t.detach().contiguous().clone()
    with atomic_dir(ckpt) as tmp:
        save_file({k: v.detach().contiguous().clone() for k, v in model.state_dict().items()},
                  str(tmp / "model.safetensors"))
        save_file(opt_tensors, str(tmp / "optimizer.safetensors"))
        if best_state is not None:
            save_file(best_state, str(tmp / "best.safetensors"))
        (tmp / "state.json").write_text(json.dumps(counters))


def _rmtree(path: Path) -> None:
    for child in path.iterdir():
        child.unlink()
    path.rmdir()


def _load_checkpoint(
    ckpt: Path, model: torch.nn.Module, opt: torch.optim.Optimizer
) -> tuple[dict[str, Any], dict[str, torch.Tensor] | None]:
    try:
        counters = json.loads((ckpt / "state.json").read_text())
        model.load_state_dict(load_file(str(ckpt / "model.safetensors")))
        flat = load_file(str(ckpt / "optimizer.safetensors"))
        state: dict[int, dict[str, torch.Tensor]] = {}
        for key, value in flat.items():
            pid, _, name = key.partition(".")
            state.setdefault(int(pid), {})[name] = value
        sd = opt.state_dict()
        sd["state"] = state
        opt.load_state_dict(sd)
        best_path = ckpt / "best.safetensors"
        best = load_file(str(best_path)) if best_path.exists() else None
    except Exception as err:  # truncated or corrupt files: say which, never guess
        raise SpecplanError(
            f"checkpoint {ckpt} is corrupt or truncated ({type(err).__name__}: {err}); "
            "delete it to restart this run from scratch"
        ) from err
    return counters, best


# ---------------------------------------------------------------------------- the loop
def _lr_at(step: int, cfg: TrainConfig, total: int) -> float:
    if cfg.warmup_steps and step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    span = max(1, total - cfg.warmup_steps)
    progress = min(1.0, (step - cfg.warmup_steps) / span)
    cosine = 0.5 * (1 + math.cos(math.pi * progress))
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * cosine)


def _total_steps(cfg: TrainConfig, tokens_per_step: int) -> int:
    limits = []
    if cfg.max_steps is not None:
        limits.append(cfg.max_steps)
    if cfg.max_tokens is not None:
        limits.append(int(cfg.max_tokens // tokens_per_step))
    if cfg.max_flops is not None:
        if cfg.flops_per_token <= 0:
            raise ValueError("max_flops needs flops_per_token > 0")
        limits.append(int(cfg.max_flops // (cfg.flops_per_token * tokens_per_step)))
    if not limits:
        raise ValueError("TrainConfig needs max_steps, max_tokens or max_flops")
    total = min(limits)
    if total < 1:
        raise SpecplanError(
            f"{cfg.desc}: the budget is too small to take one training step "
            f"(one step = {tokens_per_step:,} tokens"
            + (f" = {cfg.flops_per_token * tokens_per_step:.3g} FLOPs)" if cfg.flops_per_token
               else ")")
        )
    return total


def train(
    model: torch.nn.Module,
    data: torch.Tensor | Batch,
    cfg: TrainConfig,
    *,
    valid: torch.Tensor | Batch | None = None,
    loss_fn: LossFn | None = None,
    valid_loss_fn: LossFn | None = None,
) -> TrainResult:
    """Train `model` in place on rows of `data` ((n, T) token blocks, or a dict of
    tensors sharing their first dimension, e.g. {"input_ids", "cluster"}).

    `valid` holds plain token blocks scored with `valid_loss_fn` (default: next-token
    loss), so early stopping always tracks domain perplexity whatever `loss_fn` trains.
    Returns the run's counters; with `valid` and `patience`, the best weights are
    restored at the end and `flops_to_best` is the compute to reach them (the paper's
    convention for fine-tuning cost, App. C).
    """
    train_data = _as_batch(data)
    n = _n_rows(train_data)
    if n == 0:
        raise SpecplanError(f"{cfg.desc}: no training data (0 blocks)")
    loss_fn = loss_fn or default_loss
    seq_len = int(train_data["input_ids"].shape[1])
    tokens_per_step = cfg.batch_size * seq_len
    total = _total_steps(cfg, tokens_per_step)
    precision = resolve_precision(cfg.precision, model)
    early = valid is not None and cfg.eval_every is not None and cfg.patience is not None

    decay = [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.weight_decay},
         {"params": no_decay, "weight_decay": 0.0}],
        lr=cfg.lr, betas=(0.9, 0.95), eps=1e-8,
    )

    step, best_loss, best_step, bad_evals = 0, math.inf, 0, 0
    history: list[tuple[int, float]] = []
    best_state: dict[str, torch.Tensor] | None = None
    resumed_from = None
    elapsed_before = 0.0
    ckpt = cfg.checkpoint_dir / "checkpoint" if cfg.checkpoint_dir is not None else None
    if ckpt is not None and (ckpt / "state.json").exists():
        counters, best_state = _load_checkpoint(ckpt, model, opt)
        step, best_loss, best_step = counters["step"], counters["best_loss"], counters["best_step"]
        bad_evals, history = counters["bad_evals"], [tuple(h) for h in counters["history"]]
        elapsed_before = counters.get("wall_s", 0.0)
        resumed_from = step
        tqdm.write(f"{cfg.desc}: resumed from checkpoint at step {step}", file=sys.stderr)

    def counters_now() -> dict[str, Any]:
        return {"step": step, "best_loss": best_loss, "best_step": best_step,
                "bad_evals": bad_evals, "history": history,
                "wall_s": elapsed_before + time.perf_counter() - t0}

    t0 = time.perf_counter()
    stopped_early = False
    model.train()
    bar = tqdm(total=total, initial=step, desc=cfg.desc, disable=not cfg.progress,
               leave=False, unit="step", mininterval=1.0)
    while step < total:
        for group in opt.param_groups:
            group["lr"] = _lr_at(step, cfg, total)
        idx = batch_indices(n, step, cfg.batch_size, cfg.seed)
        batch = {k: v[idx] for k, v in train_data.items()}
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            loss = loss_fn(model, batch)
        if not torch.isfinite(loss):
            raise SpecplanError(f"{cfg.desc}: loss became {loss.item()} at step {step}; "
                                "lower the learning rate")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        step += 1
        bar.update(1)
        if early and (step % cfg.eval_every == 0 or step == total):  # type: ignore[operator]
            vloss = mean_loss(model, valid, loss_fn=valid_loss_fn)  # type: ignore[arg-type]
            history.append((step, vloss))
            bar.set_postfix(loss=f"{loss.item():.3f}", valid=f"{vloss:.3f}")
            if vloss < best_loss - cfg.min_delta:
                best_loss, best_step, bad_evals = vloss, step, 0
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            else:
                bad_evals += 1
                if bad_evals >= cfg.patience:  # type: ignore[operator]
                    stopped_early = True
                    break
        elif step % 10 == 0:
            bar.set_postfix(loss=f"{loss.item():.3f}")
        if ckpt is not None and step % cfg.checkpoint_every == 0 and step < total:
            _save_checkpoint(ckpt, model, opt, best_state, counters_now())
    bar.close()

    if early and best_state is not None:
        model.load_state_dict(best_state)
    else:
        best_step = step
    wall = elapsed_before + time.perf_counter() - t0
    if ckpt is not None and ckpt.exists():
        _rmtree(ckpt)  # the caller saves the finished artifact; the checkpoint is spent
    per_step = cfg.flops_per_token * tokens_per_step
    converged = bool(early and history and best_step < step)
    return TrainResult(
        steps=step, tokens=step * tokens_per_step, flops=step * per_step,
        best_step=best_step, best_valid_loss=None if not early else best_loss,
        flops_to_best=best_step * per_step, stopped_early=stopped_early, wall_s=wall,
        resumed_from=resumed_from, valid_history=history, precision=precision,
        converged=converged,
    )
