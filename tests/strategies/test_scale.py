"""The paper scale: memory estimate (closed form, refusal) and the 126M model on CPU (slow);
the GPU path (skipped without a CUDA device)."""

from __future__ import annotations

import pytest

from domains.errors import SpecplanError
from strategies.machinery.memory import (
    GIB,
    activation_bytes_per_layer,
    check_fits,
    estimate_memory,
)
from strategies.machinery.scales import SCALES, ModelSpec


def test_activations_reproduce_korthikanti_eq1() -> None:
    """34 s b h + 5 n s^2 b bytes per layer at 2-byte activations and f = 4h (Korthikanti et
    al. 2022, Eq. 1); flash attention drops the s^2 term."""
    spec = ModelSpec(n_layer=1, n_embd=1024, n_head=8, vocab_size=100, n_ctx=1024)
    s, b, h, n = 1024, 4, 1024, 8
    assert activation_bytes_per_layer(spec, b, act_bytes=2, flash=False) == pytest.approx(
        34 * s * b * h + 5 * n * s * s * b, rel=1e-12)
    assert activation_bytes_per_layer(spec, b, act_bytes=2, flash=True) == pytest.approx(
        34 * s * b * h, rel=1e-12)


def test_paper_small_estimate_and_refusal() -> None:
    spec = SCALES["paper"].small
    est = estimate_memory(spec, micro_batch=16, precision="bf16", world_size=8)
    n = spec.n_params
    assert est.params == 4 * n and est.optimizer == 8 * n and est.ddp_buckets == 4 * n
    assert est.logits == 16 * 1024 * 32768 * (2 + 8)
    assert 10 * GIB < est.total < 40 * GIB  # fits an 80 GB A100 at micro-batch 16
    check_fits(est, 80 * GIB, device="cuda:0", what="paper small")
    big = estimate_memory(SCALES["paper"].large, micro_batch=128, precision="bf16")
    with pytest.raises(SpecplanError) as err:
        check_fits(big, 80 * GIB, device="cuda:0", what="paper large pretrain")
    msg = str(err.value)
    assert "\n" not in msg and "does not fit" in msg and "80.0 GiB" in msg
    assert "micro-batch 128 x 1024 tokens" in msg


@pytest.mark.slow
def test_paper_small_builds_and_trains_a_few_steps_on_cpu(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import torch

    from strategies.machinery.models import build_model, count_params
    from strategies.machinery.training import TrainConfig, train

    spec = SCALES["paper"].small
    model = build_model(spec, seed=0)
    assert model.config._attn_implementation == "sdpa"
    assert count_params(model) == spec.n_params
    assert round(count_params(model) / 1e6, 1) == 122.8  # Table 6's 126M, as counted here
    data = torch.randint(0, spec.vocab_size, (8, spec.n_ctx),
                         generator=torch.Generator().manual_seed(0))
    # a token cap: 2 steps of a global batch of 2 sequences in micro-batches of 1
    cfg = TrainConfig(lr=1e-4, batch_size=2, micro_batch_size=1, max_tokens=2 * 2 * 1024,
                      progress=False, checkpoint_dir=tmp_path, checkpoint_every=1)
    before = model.transformer.h[0].mlp.c_fc.weight.detach().clone()
    result = train(model, data, cfg)
    assert result.steps == 2 and result.tokens == 4096
    assert not torch.equal(before, model.transformer.h[0].mlp.c_fc.weight)


def test_training_refuses_a_run_that_cannot_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from strategies.machinery import memory
    from strategies.machinery.models import build_model
    from strategies.machinery.training import TrainConfig, train

    spec = SCALES["tiny"].small
    model = build_model(spec)
    monkeypatch.setattr(memory, "cpu_memory_available", lambda: 1e6)  # a 1 MB host
    data = torch.zeros((4, spec.n_ctx), dtype=torch.long)
    with pytest.raises(SpecplanError, match=r"does not fit: it needs ~.* GiB"):
        train(model, data, TrainConfig(lr=1e-3, batch_size=2, max_steps=1, progress=False))


@pytest.mark.gpu
@pytest.mark.skipif("not __import__('torch').cuda.is_available()",
                    reason="no CUDA device on this machine: the GPU path is exercised by "
                           "benchmarks/bench_gpu.py where one is available")
def test_training_runs_on_the_gpu_in_bf16() -> None:
    import torch

    from strategies.machinery.models import build_model
    from strategies.machinery.training import TrainConfig, train

    spec = SCALES["tiny"].small
    model = build_model(spec)
    data = torch.randint(0, spec.vocab_size, (32, spec.n_ctx))
    result = train(model, data, TrainConfig(lr=1e-3, batch_size=8, max_steps=3, progress=False))
    assert result.precision == "bf16" and next(model.parameters()).is_cuda


def test_training_lowers_the_micro_batch_to_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from strategies.machinery import memory
    from strategies.machinery.models import build_model
    from strategies.machinery.training import TrainConfig, default_loss, train

    spec = SCALES["tiny"].small
    model = build_model(spec)
    fits_1, fits_2 = (memory.estimate_memory(spec, micro_batch=m, precision="fp32").total
                      for m in (1, 2))
    monkeypatch.setattr(memory, "cpu_memory_available", lambda: (fits_1 + fits_2) / 2)
    rows: list[int] = []

    def loss(m, batch):  # type: ignore[no-untyped-def]
        rows.append(int(batch["input_ids"].shape[0]))
        return default_loss(m, batch)

    data = torch.zeros((4, spec.n_ctx), dtype=torch.long)
    result = train(model, data, TrainConfig(lr=1e-3, batch_size=2, max_steps=2, progress=False,
                                            precision="fp32"), loss_fn=loss)
    assert result.steps == 2 and rows == [1, 1, 1, 1]  # 2 steps x 2 accumulated micro-batches
