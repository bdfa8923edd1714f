"""GPU benchmark (issue 14): tokens/s, MFU and peak memory of the paper's 126M and 771M
models trained by specplan's loop in bf16, against the memory estimate.

    python benchmarks/bench_gpu.py [--models small,large] [--steps 20] [--micro-batch 16]
                                   [--peak-tflops 989] [--compile] [--distill]

One process, one GPU; the global batch is the paper's 128 sequences of 1,024 tokens, run in
micro-batches (gradient accumulation). MFU = model FLOPs/s (`flops.train_flops_per_token`
x tokens/s) / the device's dense bf16 peak (`--peak-tflops`: 312 for an A100, 989 for an
H100/H200 SXM). Prints one JSON line per model. Exits 2 without a CUDA device.

``--distill`` adds logit distillation (the `distillation` strategy's loss): the 771M teacher
is built on the CPU, as a loaded artifact is, placed by `teachers.on_device` and run inside
the student's training loop (126M) under the same bf16 autocast; one JSON line with the
teacher's device, the student's tokens/s and the peak memory of both.
"""

from __future__ import annotations

import argparse
import json
import sys
import time


def main() -> int:
    import torch

    from strategies.machinery.flops import train_flops_per_token
    from strategies.machinery.memory import estimate_memory
    from strategies.machinery.models import build_model
    from strategies.machinery.scales import SCALES
    from strategies.machinery.training import TrainConfig, train

    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default="small,large")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--micro-batch", type=int, default=16)
    p.add_argument("--peak-tflops", type=float, default=989.0)
    p.add_argument("--compile", action="store_true")
    p.add_argument("--distill", action="store_true")
    args = p.parse_args()
    if not torch.cuda.is_available():
        print("bench_gpu: no CUDA device", file=sys.stderr)
        return 2
    scale = SCALES["paper"]
    for name in args.models.split(","):
        spec = getattr(scale, name)
        model = build_model(spec)
        data = torch.randint(0, spec.vocab_size, (scale.batch_size * 4, spec.n_ctx))
        warm = TrainConfig(lr=1e-4, batch_size=scale.batch_size, max_steps=2, progress=False,
                           micro_batch_size=args.micro_batch, compile=args.compile)
        train(model, data, warm)  # kernels, allocator and compilation
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        cfg = TrainConfig(lr=1e-4, batch_size=scale.batch_size, max_steps=args.steps,
                          progress=False, micro_batch_size=args.micro_batch,
                          compile=args.compile)
        t0 = time.perf_counter()
        r = train(model, data, cfg)
        torch.cuda.synchronize()
        wall = time.perf_counter() - t0
        tps = r.tokens / wall
        est = estimate_memory(spec, micro_batch=args.micro_batch, precision=r.precision)
        print(json.dumps({
            "model": name, "params": spec.n_params, "device": torch.cuda.get_device_name(),
            "precision": r.precision, "micro_batch": args.micro_batch, "steps": r.steps,
            "tokens_per_s": round(tps), "mfu": round(tps * train_flops_per_token(spec)
                                                     / (args.peak_tflops * 1e12), 3),
            "peak_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2),
            "estimated_memory_gib": round(est.total / 2**30, 2), "compile": args.compile}))
        del model
        torch.cuda.empty_cache()
    if args.distill:
        _distill(scale, args.steps, args.micro_batch)
    return 0


def _distill(scale: object, steps: int, micro_batch: int) -> None:
    """Logit distillation on the GPU: teacher (large) placed beside the student (small)."""
    import torch

    from strategies.distillation import distillation_loss
    from strategies.machinery.models import build_model
    from strategies.machinery.teachers import on_device
    from strategies.machinery.training import TrainConfig, train

    small, large = scale.small, scale.large  # type: ignore[attr-defined]
    teacher = on_device(build_model(large))  # on the CPU, then onto this process's device
    student = build_model(small)

    def loss_fn(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        ids = batch["input_ids"]
        on_device(teacher, ids.device)
        with torch.no_grad():
            t_logits = teacher(input_ids=ids).logits
        return distillation_loss(model(input_ids=ids).logits, t_logits, ids, 0.5, 2.0)

    data = torch.randint(0, small.vocab_size, (scale.batch_size * 2, small.n_ctx))  # type: ignore[attr-defined]
    torch.cuda.reset_peak_memory_stats()
    cfg = TrainConfig(lr=1e-4, batch_size=scale.batch_size, max_steps=steps,  # type: ignore[attr-defined]
                      progress=False, micro_batch_size=micro_batch)
    t0 = time.perf_counter()
    r = train(student, data, cfg, loss_fn=loss_fn)
    torch.cuda.synchronize()
    wall = time.perf_counter() - t0
    print(json.dumps({
        "distill": f"{large.n_params / 1e6:.0f}M teacher -> {small.n_params / 1e6:.0f}M student",
        "teacher_device": str(next(teacher.parameters()).device),
        "student_device": str(next(student.parameters()).device), "precision": r.precision,
        "steps": r.steps, "student_tokens_per_s": round(r.tokens / wall),
        "peak_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2)}))


if __name__ == "__main__":
    sys.exit(main())
