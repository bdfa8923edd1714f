"""One training loop for every strategy, on `accelerate`.

AdamW, linear warm-up then cosine decay, gradient clipping, a step/token/FLOP budget,
early stopping on validation loss (best weights restored), deterministic batches, a
progress bar, and safetensors checkpoints that a killed run resumes from.

Devices and processes (`accelerate.Accelerator`): the model is placed on the process's
device (its CUDA device, else the CPU); bf16 autocast is chosen at run time (GPUs with
bf16, CPUs with native bf16 from width 224 up: `distributed.resolve_precision`); under
`accelerate launch` / `torchrun` the model is wrapped in DDP (NCCL on GPUs, gloo on CPUs).
The **global batch** (`batch_size` sequences) is the same whatever the number of
processes W: every process draws the same global batch of row numbers from (seed, step),
takes its 1/W share, and runs it in micro-batches of `micro_batch_size` with gradient
accumulation (DDP syncs on the last one), so the schedule, the token count and the FLOP
budget do not depend on W. Validation and test losses are summed over processes.

Determinism and checkpoints: batch k of epoch e is a slice of `randperm(n, seed=hash(seed,
e))`, a pure function of (seed, step); dropout is off in our models and nothing else draws
random numbers, so the whole state of a run is the weights, the optimizer state and a few
counters (step = data position, the learning rate is a function of the step). The main
process writes them (safetensors tensors plus a JSON file, never a pickle); every process
reads them back, whatever the number of processes that wrote them (DDP keeps full
replicas, so nothing is sharded).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from domains.errors import SpecplanError
from strategies.machinery import distributed as dist

Batch = dict[str, torch.Tensor]


class Rows(Protocol):
    """(n, T) training rows indexable by a tensor of row numbers: a tensor, or rows read
    from disk on demand (`domains.token_files.BlockView` over memory-mapped token files)."""

    @property
    def shape(self) -> Any: ...

    def __getitem__(self, idx: Any, /) -> torch.Tensor: ...


Data = Rows | Mapping[str, Rows]  # what `train` and `mean_loss` read rows from
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
    micro_batch_size: int | None = None  # per process per forward; None: batch / processes
    compile: bool = False  # torch.compile the model (GPUs; minutes of compilation first)
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


def _n_rows(data: Mapping[str, Rows]) -> int:
    return int(next(iter(data.values())).shape[0])


def _as_batch(data: Data) -> dict[str, Rows]:
    # a tensor, or any (n, T) row source indexable by a tensor of rows (token files)
    return dict(data) if isinstance(data, Mapping) else {"input_ids": data}


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


def resolve_precision(precision: str, model: torch.nn.Module,
                      device_type: str = "cpu") -> str:
    """The precision "auto" resolves to on `device_type` for `model`
    (`distributed.resolve_precision`: bf16 on GPUs with it, and on CPUs with native bf16
    for models at least `distributed.CPU_BF16_MIN_WIDTH` (224) wide)."""
    width = getattr(getattr(model, "config", None), "n_embd", 0) or 0
    return dist.resolve_precision(precision, int(width), device_type)


def _cpu_has_native_bf16() -> bool:
    return dist.cpu_has_native_bf16()


def micro_batches(batch_size: int, micro_batch_size: int | None,
                  world_size: int) -> tuple[int, int]:
    """(micro-batch, accumulation steps) per process for a global batch of `batch_size`
    sequences over `world_size` processes.

    Raises:
        SpecplanError: the global batch does not split evenly into processes x micro-batches.
    """
    if batch_size % world_size:
        raise SpecplanError(f"the global batch of {batch_size} sequences does not split over "
                            f"{world_size} processes; use a process count that divides it")
    per_rank = batch_size // world_size
    micro = min(per_rank, micro_batch_size or per_rank)
    if micro < 1 or per_rank % micro:
        raise SpecplanError(f"micro-batch {micro_batch_size} does not divide the {per_rank} "
                            f"sequences per process (global batch {batch_size} / "
                            f"{world_size} processes)")
    return micro, per_rank // micro


@torch.no_grad()
def mean_loss(
    model: torch.nn.Module, data: Data, *, batch_size: int = 32,
    loss_fn: LossFn | None = None,
) -> float:
    """Mean loss over all rows (fp32, no autocast: validation must be accurate), on the
    model's device. Under several processes each scores its share of the rows and the
    sums are all-reduced, so every process gets the same mean."""
    batch_data = _as_batch(data)
    loss_fn = loss_fn or default_loss
    was_training = model.training
    model.eval()
    device = _device_of(model)
    share = dist.shard_rows(_n_rows(batch_data))
    total, count = 0.0, 0
    for i in range(share.start, share.stop, batch_size):
        stop = min(share.stop, i + batch_size)
        batch = {k: v[i:stop].to(device) for k, v in batch_data.items()}
        rows = _n_rows(batch)
        total += float(loss_fn(model, batch)) * rows
        count += rows
    model.train(was_training)
    total, count_f = dist.all_sum([total, float(count)])
    return total / max(count_f, 1.0)


def _device_of(model: torch.nn.Module) -> torch.device:
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


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
            opt_tensors[f"{pid}.{key}"] = t.detach().cpu().contiguous().clone()
    with atomic_dir(ckpt) as tmp:
        save_file({k: v.detach().cpu().contiguous().clone()
                   for k, v in model.state_dict().items()}, str(tmp / "model.safetensors"))
        save_file(opt_tensors, str(tmp / "optimizer.safetensors"))
        if best_state is not None:
            save_file({k: v.cpu() for k, v in best_state.items()},
                      str(tmp / "best.safetensors"))
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
    data: Data,
    cfg: TrainConfig,
    *,
    valid: Data | None = None,
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
    tokens_per_step = cfg.batch_size * seq_len  # global: the same for any process count
    total = _total_steps(cfg, tokens_per_step)
    early = valid is not None and cfg.eval_every is not None and cfg.patience is not None
    world, rank = dist.world_size(), dist.rank()
    micro, accum = micro_batches(cfg.batch_size, cfg.micro_batch_size, world)
    acc = _accelerator(model)
    device = acc.device
    precision = resolve_precision(cfg.precision, model, device.type)
    micro = _fit_micro_batch(model, micro, cfg.micro_batch_size is not None, seq_len,
                             precision, world, device, cfg.desc)
    accum = cfg.batch_size // world // micro
    model.to(device)
    main = dist.is_main_process()

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
        if main:
            tqdm.write(f"{cfg.desc}: resumed from checkpoint at step {step}", file=sys.stderr)
    dist.barrier()  # every process has read the checkpoint before the main one replaces it
    ddp = acc.prepare_model(model)  # DDP under several processes; the model itself otherwise
    if cfg.compile:
        ddp = torch.compile(ddp)
    autocast = precision == "bf16"

    def counters_now() -> dict[str, Any]:
        return {"step": step, "best_loss": best_loss, "best_step": best_step,
                "bad_evals": bad_evals, "history": history,
                "wall_s": elapsed_before + time.perf_counter() - t0}

    t0 = time.perf_counter()
    stopped_early = False
    model.train()
    bar = tqdm(total=total, initial=step, desc=cfg.desc, disable=not (cfg.progress and main),
               leave=False, unit="step", mininterval=1.0)
    per_rank = cfg.batch_size // world
    while step < total:
        for group in opt.param_groups:
            group["lr"] = _lr_at(step, cfg, total)
        # the global batch, then this process's share, in `accum` micro-batches
        idx = batch_indices(n, step, cfg.batch_size, cfg.seed)[rank * per_rank:][:per_rank]
        opt.zero_grad(set_to_none=True)
        loss = torch.zeros((), device=device)
        for j in range(accum):
            rows = idx[j * micro : (j + 1) * micro]
            batch = {k: v[rows].to(device, non_blocking=True) for k, v in train_data.items()}
            # DDP all-reduces the gradients on the last micro-batch only
            sync = contextlib.nullcontext() if j == accum - 1 else acc.no_sync(ddp)
            with sync:
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
                    micro_loss = loss_fn(ddp, batch) / accum
                acc.backward(micro_loss)
            loss += micro_loss.detach()
        loss = _mean_over_processes(loss)
        if not torch.isfinite(loss):
            raise SpecplanError(f"{cfg.desc}: loss became {loss.item()} at step {step}; "
                                "lower the learning rate")
        if cfg.grad_clip:
            acc.clip_grad_norm_(ddp.parameters(), cfg.grad_clip)
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
            if main:
                _save_checkpoint(ckpt, model, opt, best_state, counters_now())
            dist.barrier()
    bar.close()

    if early and best_state is not None:
        model.load_state_dict(best_state)
    else:
        best_step = step
    wall = elapsed_before + time.perf_counter() - t0
    dist.barrier()
    if main and ckpt is not None and ckpt.exists():
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


# ---------------------------------------------------------------------------- devices
def _accelerator(model: torch.nn.Module) -> Any:
    """An `accelerate.Accelerator` for this process: CUDA when there is a device, else the
    CPU (gloo across processes). Autocast is ours (per model: `resolve_precision`), so
    accelerate's own mixed precision stays off. Models other than plain GPT-2 may leave
    parameters unused in a step (a projected network's per-cluster coefficients), which
    DDP must be told."""
    from accelerate import Accelerator
    from accelerate.utils import DistributedDataParallelKwargs
    from transformers import GPT2LMHeadModel

    dist.partial_state()  # the process group, once per process
    unused = not isinstance(model, GPT2LMHeadModel)
    acc = Accelerator(cpu=not torch.cuda.is_available(), mixed_precision="no",
                      kwargs_handlers=[DistributedDataParallelKwargs(
                          find_unused_parameters=unused)])
    if acc.num_processes != dist.world_size():  # a state made earlier without the launcher's
        raise SpecplanError(f"accelerate sees {acc.num_processes} process(es) but the launcher "
                            f"started {dist.world_size()}; create no accelerate state before "
                            "specplan's (strategies.machinery.distributed.partial_state)")
    return acc


def _mean_over_processes(loss: torch.Tensor) -> torch.Tensor:
    """The global batch's loss (each process holds the mean over its share)."""
    if dist.world_size() == 1:
        return loss
    total = loss.detach().clone()
    torch.distributed.all_reduce(total)
    return total / dist.world_size()


def _fit_micro_batch(model: torch.nn.Module, micro: int, fixed: bool, seq_len: int,
                     precision: str, world: int, device: torch.device, desc: str) -> int:
    """The micro-batch to run: `micro` when it fits the device (`memory.estimate_memory`
    against a GPU's memory, or on a CPU the host's available RAM shared by the processes on
    this host); when it does not and the user did not fix it, the largest divisor of it
    that fits (gradient accumulation keeps the global batch). Refuses, in one line with the
    numbers, a run that fits at no micro-batch."""
    from strategies.machinery import memory

    config = getattr(model, "config", None)
    if config is None or not hasattr(config, "n_layer"):
        return micro  # not a GPT-2 shape: nothing to estimate from
    from strategies.machinery.workspace import spec_of

    spec = spec_of(model)
    n_params = sum(p.numel() for p in model.parameters())
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        available = float(torch.cuda.get_device_properties(index).total_memory)
        where, per_host = f"cuda:{index}", 1
    else:
        available = memory.cpu_memory_available()
        where, per_host = "this host's RAM", int(os.environ.get("LOCAL_WORLD_SIZE", world))
    candidates = [micro] if fixed else [m for m in range(micro, 0, -1) if micro % m == 0]
    for m in candidates:
        est = memory.estimate_memory(spec, micro_batch=m, n_ctx=seq_len, n_params=n_params,
                                     precision=precision, world_size=world)
        if est.total <= available / max(1, per_host):
            return m
    memory.check_fits(est, available, device=where, what=desc, processes_per_host=per_host)
    return candidates[-1]  # pragma: no cover - check_fits raised
