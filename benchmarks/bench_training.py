"""Benchmark: specplan's training loop against a minimal plain PyTorch loop, and the
model FLOPs utilization (MFU) against this CPU's measured matrix-product peak.

    python benchmarks/bench_training.py [--scale demo] [--steps 30] [--threads N]
                                        [--precisions fp32,bf16]

Both loops train the same GPT-2 model on the same random token blocks for the same
number of steps; the plain loop is AdamW + clipping and nothing else. MFU = achieved
model FLOPs/s (strategies.machinery.flops: 6N + attention per token) / peak matmul FLOPs/s
(a large fp32 and bf16 `torch.mm`, best of a few runs).
"""

from __future__ import annotations

import argparse
import time

import torch


def matmul_peak(dtype: torch.dtype, n: int = 2048, repeats: int = 10) -> float:
    a = torch.randn(n, n, dtype=dtype)
    b = torch.randn(n, n, dtype=dtype)
    torch.mm(a, b)  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best


def plain_loop(model: torch.nn.Module, data: torch.Tensor, steps: int, batch: int,
               bf16: bool) -> float:
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(0)
    t0 = 0.0
    for step in range(steps + 3):
        if step == 3:  # skip warm-up steps
            t0 = time.perf_counter()
        idx = torch.randint(0, data.shape[0], (batch,), generator=g)
        x = data[idx]
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = model(input_ids=x, labels=x).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    return steps * batch * data.shape[1] / (time.perf_counter() - t0)


def specplan_loop(model: torch.nn.Module, data: torch.Tensor, steps: int, batch: int,
                  precision: str, flops_per_token: float) -> float:
    from strategies.machinery.training import TrainConfig, train

    warm = TrainConfig(lr=1e-3, batch_size=batch, max_steps=3, precision=precision,
                       progress=False, flops_per_token=flops_per_token)
    train(model, data, warm)
    cfg = TrainConfig(lr=1e-3, batch_size=batch, max_steps=steps, precision=precision,
                      progress=False, flops_per_token=flops_per_token)
    result = train(model, data, cfg)
    return result.tokens / result.wall_s


def main() -> None:
    from strategies.machinery.flops import train_flops_per_token
    from strategies.machinery.models import build_model
    from strategies.machinery.scales import get_scale

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="demo")
    parser.add_argument("--model", default="small", choices=["small", "large"])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--precisions", default="fp32,bf16",
                        help="comma list (bf16 is slow where the CPU emulates it)")
    args = parser.parse_args()
    precisions = [p.strip() for p in args.precisions.split(",") if p.strip()]
    if not precisions or set(precisions) - {"fp32", "bf16"}:
        parser.error(f"--precisions: expected fp32 and/or bf16, got {args.precisions!r}")
    if args.threads:
        torch.set_num_threads(args.threads)
    scale = get_scale(args.scale)
    spec = scale.small if args.model == "small" else scale.large
    data = torch.randint(0, spec.vocab_size, (512, spec.n_ctx))
    fpt = train_flops_per_token(spec)
    peak32 = matmul_peak(torch.float32)
    peak16 = matmul_peak(torch.bfloat16) if "bf16" in precisions else float("nan")
    print(f"threads={torch.get_num_threads()}  model={args.scale}/{args.model} "
          f"({spec.n_params:,} params, {spec.n_layer}x{spec.n_embd}, ctx {spec.n_ctx}, "
          f"batch {scale.batch_size})")
    bf16_peak = (f", bf16 {peak16 / 1e9:.1f} GFLOP/s (a CPU without avx512_bf16/amx "
                 "emulates bf16: specplan then keeps fp32)" if "bf16" in precisions else "")
    print(f"matmul peak: fp32 {peak32 / 1e9:.0f} GFLOP/s{bf16_peak}")
    print(f"{'loop':<10} {'precision':<9} {'tokens/s':>10} {'GFLOP/s':>9} {'MFU':>7}")
    for precision in precisions:
        peak = peak32 if precision == "fp32" else peak16
        for name in ("plain", "specplan"):
            model = build_model(spec, seed=0)
            if name == "plain":
                tps = plain_loop(model, data, args.steps, scale.batch_size, precision == "bf16")
            else:
                tps = specplan_loop(model, data, args.steps, scale.batch_size, precision, fpt)
            flops = tps * fpt
            print(f"{name:<10} {precision:<9} {tps:>10.0f} {flops / 1e9:>9.1f} "
                  f"{flops / peak:>7.1%}")


if __name__ == "__main__":
    main()
