"""The process group a run trains in: `accelerate` decides the device, the precision and
DDP; specplan only asks who it is and splits batches.

A run is launched as usual (`python -m planner.cli run ...`, one process) or by
`accelerate launch` / `torchrun` (N processes; `RANK`, `WORLD_SIZE`, `LOCAL_RANK` in the
environment). Every process runs the same program on the same data: the tokenizer, the
clustering and the cached corpora are built by whichever process gets there first (atomic
writes and artifact locks make that safe); training is shared through DDP (NCCL on GPUs,
gloo on CPUs), and only the main process writes the checkpoints, the models, the results
store and the progress bars.

Helpers that only ask the environment (`world_size`, `rank`, `is_main_process`) never
import torch or accelerate, so the planning paths stay light.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any


def world_size() -> int:
    """Processes in this run (`WORLD_SIZE` set by `accelerate launch` / `torchrun`)."""
    try:
        return max(1, int(os.environ.get("WORLD_SIZE", "1")))
    except ValueError:
        return 1


def rank() -> int:
    """This process's global rank (0 when not launched)."""
    try:
        return int(os.environ.get("RANK", "0"))
    except ValueError:
        return 0


def is_main_process() -> bool:
    """Whether this process writes (the store, the models, checkpoints, progress bars)."""
    return rank() == 0


def is_distributed() -> bool:
    return world_size() > 1


@lru_cache(maxsize=1)
def partial_state() -> Any:
    """accelerate's `PartialState`: initialises the process group once per process (gloo on
    CPU, NCCL on CUDA) when launched with several processes; a no-op otherwise."""
    import torch
    from accelerate import PartialState

    # cpu=True where there is no GPU: accelerate then runs DDP over gloo (MULTI_CPU)
    return PartialState(cpu=not torch.cuda.is_available())


def device() -> Any:
    """The `torch.device` this process trains on (CUDA device `LOCAL_RANK`, else the CPU)."""
    return partial_state().device


def barrier() -> None:
    """Wait until every process gets here (no-op in a single process)."""
    if is_distributed():
        import torch

        partial_state()
        # a plain barrier: accelerate's wait_for_everyone passes device_ids, and with gloo
        # (torch 2.13) that barrier let a process through before the others arrived
        torch.distributed.barrier()


def broadcast(value: Any) -> Any:
    """The main process's `value` (a picklable Python object of our own making), on every
    process. Used to agree on decisions, e.g. whether an artifact is finished."""
    if not is_distributed():
        return value
    import torch

    partial_state()  # the process group, set up with the right device type first
    box = [value]
    torch.distributed.broadcast_object_list(box, src=0)
    return box[0]


def all_sum(values: list[float]) -> list[float]:
    """Element-wise sum of float `values` over every process (fp64)."""
    if not is_distributed():
        return values
    import torch

    t = torch.tensor(values, dtype=torch.float64, device=device())
    torch.distributed.all_reduce(t)
    return [float(x) for x in t.cpu()]


def shard_rows(n: int) -> slice:
    """This process's contiguous share of `n` rows (evaluation; the shares cover all rows)."""
    w, r = world_size(), rank()
    per = -(-n // w)
    return slice(min(n, r * per), min(n, (r + 1) * per))


#: the narrowest model trained under bf16 autocast on a CPU with native bf16 (measured at
#: 128, 224 and 256 wide: see `resolve_precision`)
CPU_BF16_MIN_WIDTH = 224


def resolve_precision(precision: str, width: int, device_type: str) -> str:
    """The training precision: "fp32" or "bf16".

    "auto" picks bf16 autocast on a CUDA device that supports it; on a CPU, bf16 only
    where it pays off: the CPU has native bf16 instructions (avx512_bf16 / amx_bf16; one
    without emulates it 10-15x slower than fp32, measured 4x256 at 513 vs 7,781 us/token)
    and the model is at least `CPU_BF16_MIN_WIDTH` wide. Measured with one thread on this
    project's amx_bf16 CPU (CPU seconds, batch 8 x 128 tokens): 6x256 2.8k -> 4.6k
    tokens/s; the `demo` large model (4x224) 270-278 -> 194-220 ms per training step and
    358-378 -> 218-274 ms per 32-block evaluation; the former `demo` small model (2x128) 83-86 vs
    78-83 ms per step (no gain: the casts cost what the matmuls save). Decided at run
    time, per process.
    """
    if precision != "auto":
        return precision
    if device_type == "cuda":
        import torch

        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if width >= CPU_BF16_MIN_WIDTH and cpu_has_native_bf16() else "fp32"


def cpu_has_native_bf16() -> bool:
    """Whether this CPU has bf16 matrix instructions (Linux /proc/cpuinfo flags)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="ignore") as f:
            flags = f.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags
