"""Memory per device of a training run, estimated before it starts (pure arithmetic).

A run that cannot fit should be refused in one line with the numbers, not die minutes later
with an out-of-memory error on rank 3. The estimate sums, per device:

- **parameters**: fp32 master weights, 4 bytes each (bf16 autocast keeps fp32 weights);
- **gradients**: 4 bytes per parameter;
- **optimizer state**: AdamW's two moments, 8 bytes per parameter;
- **DDP buckets**: with more than one process, DDP keeps a flat copy of the gradients for
  the all-reduce, 4 more bytes per parameter (PyTorch DDP, `bucket_cap_mb` buckets);
- **activations** kept for the backward pass at the micro-batch ``b`` and context ``s``,
  after Korthikanti et al. 2022 ("Reducing Activation Recomputation in Large Transformer
  Models", §4.1, Eq. 1), per layer in bytes at ``a``-byte activations (2 in bf16, 4 in fp32)
  with hidden size ``h``, MLP width ``f`` and ``n`` heads::

      attention   5.5 a s b h + 2.5 a n s^2 b
      MLP         1.5 a s b h + 2 a s b f
      layer norms 2 a s b h

  With SDPA's flash / memory-efficient kernels the ``n s^2 b`` score term is not stored
  (Dao et al. 2022), so it is dropped when `flash` is true. The paper's formula counts
  2-byte activations: ``34 s b h + 5 n s^2 b`` for ``f = 4h``, which this reproduces.
- **logits**: ``b s V`` logits at ``a`` bytes, their fp32 copy for the loss and its
  gradient (HF's causal-LM loss upcasts): ``b s V (a + 8)`` bytes;
- **overhead**: CUDA context, allocator fragmentation and workspaces: 10% of the above plus
  0.5 GiB.

It is an estimate (within ~20-30% of `torch.cuda.max_memory_allocated` for GPT-2 shapes);
it errs on the large side. Importing this module never imports torch.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass

from domains.errors import SpecplanError
from strategies.machinery.scales import ModelSpec

GIB = float(1 << 30)
OVERHEAD_FRACTION = 0.10
OVERHEAD_BYTES = 0.5 * GIB


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes per device of one training run (see the module docstring for each term)."""

    n_params: int
    micro_batch: int
    n_ctx: int
    params: float
    gradients: float
    optimizer: float
    ddp_buckets: float
    activations: float
    logits: float
    overhead: float

    @property
    def total(self) -> float:
        return (self.params + self.gradients + self.optimizer + self.ddp_buckets
                + self.activations + self.logits + self.overhead)

    def to_dict(self) -> dict[str, float]:
        return {**asdict(self), "total": self.total}

    def summary(self) -> str:
        """'~12.3 GiB (params 0.5, grads 0.5, AdamW 1.0, activations 6.0 + logits 3.9 at
        micro-batch 8 x 1024 tokens, overhead 1.2)'."""
        g = GIB
        ddp = f", DDP buckets {self.ddp_buckets / g:.1f}" if self.ddp_buckets else ""
        return (f"~{self.total / g:.1f} GiB (params {self.params / g:.1f}, grads "
                f"{self.gradients / g:.1f}, AdamW {self.optimizer / g:.1f}{ddp}, activations "
                f"{self.activations / g:.1f} + logits {self.logits / g:.1f} at micro-batch "
                f"{self.micro_batch} x {self.n_ctx} tokens, overhead {self.overhead / g:.1f})")


def activation_bytes_per_layer(spec: ModelSpec, micro_batch: int, *, act_bytes: int,
                               flash: bool, n_ctx: int | None = None) -> float:
    """Activations one transformer layer keeps for backward (Korthikanti et al. 2022, Eq. 1,
    generalised to an MLP of width `spec.d_ff`), bytes."""
    s, b, h, f, n = n_ctx or spec.n_ctx, micro_batch, spec.n_embd, spec.d_ff, spec.n_head
    a = float(act_bytes)
    # attention (Korthikanti): 11 sbh at 2 bytes = 5.5 a sbh (QKV input, Q, K, V, output
    # projection input, dropout mask); scores + softmax + dropout 5 n s^2 b at 2 bytes
    attention = 5.5 * a * s * b * h + (0.0 if flash else 2.5 * a * n * s * s * b)
    # MLP: input a sbh, first linear output a sbf, GeLU output a sbf, dropout mask 0.5 a sbh
    mlp = a * s * b * h + 2 * a * s * b * f + 0.5 * a * s * b * h
    norms = 2 * a * s * b * h
    return attention + mlp + norms


def estimate_memory(
    spec: ModelSpec,
    *,
    micro_batch: int,
    n_params: int | None = None,
    n_ctx: int | None = None,
    precision: str = "bf16",
    world_size: int = 1,
    flash: bool = True,
) -> MemoryEstimate:
    """Bytes per device to train `spec` with AdamW at `micro_batch` sequences of `n_ctx`
    (default: the spec's context) tokens per forward pass.

    Args:
        spec: the model shape.
        micro_batch: sequences per device per forward/backward (after gradient accumulation).
        n_params: the parameter count (default: `spec.n_params`, HF GPT-2 counting).
        n_ctx: tokens per sequence (default: `spec.n_ctx`).
        precision: "bf16" (2-byte activations) or "fp32".
        world_size: processes; above 1, DDP's gradient buckets are counted.
        flash: attention through SDPA's flash / memory-efficient kernel (no s^2 scores kept).
    """
    if micro_batch < 1:
        raise SpecplanError(f"micro_batch must be >= 1, got {micro_batch}")
    n = spec.n_params if n_params is None else n_params
    s = n_ctx or spec.n_ctx
    a = 2 if precision == "bf16" else 4
    params, grads, adam = 4.0 * n, 4.0 * n, 8.0 * n
    ddp = 4.0 * n if world_size > 1 else 0.0
    acts = spec.n_layer * activation_bytes_per_layer(spec, micro_batch, act_bytes=a,
                                                     flash=flash, n_ctx=s)
    # embeddings output + final norm, a s b h each
    acts += 2.0 * a * s * micro_batch * spec.n_embd
    logits = float(micro_batch) * s * spec.vocab_size * (a + 8)
    body = params + grads + adam + ddp + acts + logits
    return MemoryEstimate(n_params=n, micro_batch=micro_batch, n_ctx=s, params=params,
                          gradients=grads, optimizer=adam, ddp_buckets=ddp, activations=acts,
                          logits=logits, overhead=OVERHEAD_FRACTION * body + OVERHEAD_BYTES)


def cpu_memory_available() -> float:
    """Bytes of RAM available to new allocations (Linux `MemAvailable`; else total RAM)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024
    except OSError:
        pass
    return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


def check_fits(estimate: MemoryEstimate, available: float, *, device: str, what: str,
               processes_per_host: int = 1) -> None:
    """Raise a one-line `SpecplanError` with the numbers when `estimate` exceeds the memory
    `available` on `device` (shared by `processes_per_host` processes, as host RAM is)."""
    per_process = available / max(1, processes_per_host)
    if estimate.total > per_process:
        share = (f" / {processes_per_host} processes = {per_process / GIB:.1f} GiB"
                 if processes_per_host > 1 else "")
        raise SpecplanError(
            f"{what} does not fit: it needs {estimate.summary()} per process, but {device} "
            f"has {available / GIB:.1f} GiB{share}; lower the micro-batch "
            f"(SPECPLAN_MICRO_BATCH), the context, or the model"
        )
