"""Logit distillation (SLM-d, paper §2.2): the loss against a hand computation, its
gradient in closed form, the alpha = 0 limit (plain fine-tuning, exactly), costs, bad
parameters, and an end-to-end `tiny` run that shares the teacher with `large`."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from transformers import GPT2LMHeadModel

from strategies.distillation import DistillationStrategy, distillation_loss
from strategies.large import LargeStrategy
from strategies.machinery.training import default_loss
from strategies.machinery.validation import ParameterError
from strategies.small import SmallStrategy

PRETRAIN = 32_768  # tokens: keeps the tiny end-to-end runs to seconds


def _hand_loss(s: torch.Tensor, t: torch.Tensor, y: torch.Tensor, alpha: float,
               temp: float) -> float:
    """The loss written out position by position in float64."""
    s, t = s.double(), t.double()
    b, n, _ = s.shape
    ce = kl = 0.0
    count = 0
    for i in range(b):
        for j in range(n - 1):  # position j predicts token j + 1
            target = int(y[i, j + 1])
            ce += -float(torch.log_softmax(s[i, j], -1)[target])
            p_t = torch.softmax(t[i, j] / temp, -1)
            log_p_s = torch.log_softmax(s[i, j] / temp, -1)
            kl += float((p_t * (torch.log(p_t) - log_p_s)).sum())
            count += 1
    return (1 - alpha) * ce / count + alpha * temp**2 * kl / count


@pytest.mark.parametrize("alpha,temp", [(0.0, 1.0), (0.5, 1.0), (0.3, 2.5), (1.0, 0.7)])
def test_loss_matches_hand_computation(alpha: float, temp: float) -> None:
    g = torch.Generator().manual_seed(0)
    s = torch.randn(2, 5, 7, generator=g)  # (B, T, V)
    t = 2 * torch.randn(2, 5, 7, generator=g)
    y = torch.randint(0, 7, (2, 5), generator=g)
    got = float(distillation_loss(s, t, y, alpha, temp))
    assert got == pytest.approx(_hand_loss(s, t, y, alpha, temp), rel=1e-5, abs=1e-6)


def test_soft_gradient_is_t_times_probability_gap() -> None:
    """d/ds [T^2 KL(p_t || p_s)] = T (softmax(s/T) - softmax(t/T)) per position (Hinton
    et al. 2015, eq. 2): the T^2 factor keeps the soft gradients' scale."""
    g = torch.Generator().manual_seed(1)
    s = torch.randn(1, 4, 6, generator=g, requires_grad=True)
    t = torch.randn(1, 4, 6, generator=g)
    y = torch.randint(0, 6, (1, 4), generator=g)
    temp = 3.0
    distillation_loss(s, t, y, alpha=1.0, temperature=temp).backward()
    n = 3  # predicted positions
    expected = temp * (torch.softmax(s.detach() / temp, -1) - torch.softmax(t / temp, -1)) / n
    expected[:, -1] = 0.0  # the last position predicts nothing
    torch.testing.assert_close(s.grad, expected, rtol=1e-5, atol=1e-7)


def test_identical_teacher_and_alpha_one_gives_zero() -> None:
    s = torch.randn(2, 6, 9)
    y = torch.randint(0, 9, (2, 6))
    assert float(distillation_loss(s, s.clone(), y, 1.0, 2.0)) == pytest.approx(0.0, abs=1e-6)


def test_alpha_zero_is_the_models_own_next_token_loss() -> None:
    from strategies.machinery.models import build_model
    from strategies.machinery.scales import get_scale

    model = build_model(get_scale("tiny").small, seed=0)
    ids = torch.randint(0, 1024, (3, 16))
    logits = model(input_ids=ids).logits
    ours = distillation_loss(logits, torch.zeros_like(logits), ids, 0.0, 2.0)
    torch.testing.assert_close(ours, default_loss(model, {"input_ids": ids}),
                               rtol=1e-6, atol=1e-6)


def test_ignored_positions_drop_out_of_both_terms() -> None:
    g = torch.Generator().manual_seed(2)
    s, t = torch.randn(1, 5, 4, generator=g), torch.randn(1, 5, 4, generator=g)
    y = torch.randint(0, 4, (1, 5), generator=g)
    masked = y.clone()
    masked[0, 3:] = -100  # targets of positions 2 and 3 ignored
    got = distillation_loss(s, t, masked, 0.5, 2.0)
    short = distillation_loss(s[:, :3], t[:, :3], y[:, :3], 0.5, 2.0)  # positions 0, 1
    torch.testing.assert_close(got, short, rtol=1e-6, atol=1e-7)


# ---------------------------------------------------------------------------- parameters
@pytest.mark.parametrize("params,match", [
    ({"alpha": -0.1}, r"'alpha'.*\[0, 1\]"),
    ({"alpha": 1.5}, r"'alpha'.*\[0, 1\]"),
    ({"temperature": 0.0}, r"'temperature'.*\(0, inf\)"),
    ({"temperature": -2.0}, r"'temperature'.*\(0, inf\)"),
    ({"teacher_n_embd": 16}, r"'teacher_n_embd'.*smaller than the student"),
    ({"teacher_n_embd": 8, "teacher_n_layer": 1}, r"'teacher_n_embd'.*smaller than"),
    ({"teacher_n_layer": 0}, r"'teacher_n_layer'.*\[1, inf\)"),
])
def test_bad_parameters_name_the_parameter(params: dict[str, Any], match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        DistillationStrategy(scale="tiny", **params).estimate_cost(n_domain_tokens=1e6)


def test_teacher_as_large_as_the_student_is_allowed() -> None:
    c = DistillationStrategy(scale="tiny", teacher_n_layer=2, teacher_n_embd=32).estimate_cost(
        n_domain_tokens=1e6)
    assert c.components["pretraining_teacher"] == pytest.approx(
        c.components["pretraining_student"])


def test_cost_buckets_add_up() -> None:
    d = 8e6
    kd = DistillationStrategy(scale="paper").estimate_cost(n_domain_tokens=d)
    small = SmallStrategy(scale="paper").estimate_cost(n_domain_tokens=d)
    large = LargeStrategy(scale="paper").estimate_cost(n_domain_tokens=d)
    assert kd.pretraining_flops == pytest.approx(large.pretraining_flops
                                                 + small.pretraining_flops)
    assert kd.components["pretraining_teacher"] == pytest.approx(large.pretraining_flops)
    # teacher fine-tune + student fine-tune + teacher forward (1/3 of a teacher step)
    assert kd.specialization_flops == pytest.approx(
        large.specialization_flops * 4 / 3 + small.specialization_flops)
    assert kd.inference_params == small.inference_params
    assert kd.pretraining_params == large.inference_params + small.inference_params
    spec = sum(kd.components[k] for k in ("teacher_finetune", "finetune", "teacher_forward"))
    assert spec == pytest.approx(kd.specialization_flops)


# ---------------------------------------------------------------------------- end to end
@pytest.fixture(scope="module")
def ws(tiny_ws_8k: Any) -> Any:
    """The session's `tiny` workspace with 8k domain tokens (see tests/conftest.py)."""
    return tiny_ws_8k


@pytest.fixture(scope="module")
def runs(ws: Any, biomedical_domain: Any) -> dict[str, Any]:
    """The small baseline and distillation with alpha = 0 and 0.5, one pretrained student."""
    common = {"scale": "tiny", "n_pretrain_tokens": PRETRAIN}
    out: dict[str, Any] = {}
    small = SmallStrategy(**common).pretrain(ws)
    out["small"] = small.specialize(biomedical_domain, ws)
    for alpha in (0.0, 0.5):
        kd = DistillationStrategy(alpha=alpha, temperature=2.0, teacher_pretrain_tokens=PRETRAIN,
                                  **common).pretrain(ws)
        model = kd.specialize(biomedical_domain, ws)
        out[alpha] = (kd, model, kd.evaluate(model, biomedical_domain, ws))
    return out


def test_alpha_zero_equals_plain_fine_tuning(runs: dict[str, Any], ws: Any,
                                            biomedical_domain: Any) -> None:
    """Same pretrained student, seed and schedule: the same weights as `small`'s fine-tune.
    (Tolerance: the two losses agree to float32 rounding, compounded over ~60 steps.)"""
    plain = runs["small"].model.state_dict()
    kd = runs[0.0][1].model.state_dict()
    for name, tensor in plain.items():
        torch.testing.assert_close(kd[name], tensor, rtol=1e-4, atol=1e-5)
    assert runs[0.0][2].perplexity == pytest.approx(
        ws.perplexity(runs["small"].model, biomedical_domain).perplexity, rel=1e-4)


def test_end_to_end_tiny(runs: dict[str, Any], ws: Any) -> None:
    kd, model, result = runs[0.5]
    assert type(model.model) is GPT2LMHeadModel
    assert model.n_params == ws.scale.small.n_params
    assert math.isfinite(result.perplexity)
    assert result.perplexity < model.info["test_ppl_before_finetune"]
    cost = model.cost
    c = cost.components
    teacher_params = ws.scale.large.n_params
    assert model.info["teacher_params"] == teacher_params and model.info["alpha"] == 0.5
    assert cost.pretraining_flops == pytest.approx(c["pretraining_teacher"]
                                                   + c["pretraining_student"])
    assert cost.specialization_flops == pytest.approx(c["teacher_finetune"] + c["finetune"]
                                                      + c["teacher_forward"])
    assert c["teacher_finetune"] > 0 and c["teacher_forward"] > 0
    # the soft term changed training: not the plain fine-tune's weights
    w_kd = model.model.transformer.h[0].mlp.c_fc.weight
    w_plain = runs["small"].model.transformer.h[0].mlp.c_fc.weight
    assert not torch.allclose(w_kd, w_plain, atol=1e-4)


def test_teacher_and_student_artifacts_are_shared(runs: dict[str, Any], ws: Any) -> None:
    """The `large` and `small` baselines load distillation's pretraining artifacts."""
    kd = runs[0.5][0]
    large = LargeStrategy(scale="tiny", n_pretrain_tokens=PRETRAIN).pretrain(ws)
    small = SmallStrategy(scale="tiny", n_pretrain_tokens=PRETRAIN).pretrain(ws)
    assert large.pretrained_["path"] == kd.pretrained_["teacher_path"]
    assert small.pretrained_["path"] == kd.pretrained_["path"]
    assert large.pretrained_["record"] == kd.pretrained_["teacher_record"]
    # both distillation runs used the one fine-tuned teacher (cached per domain)
    assert runs[0.0][1].cost.components["teacher_finetune"] == pytest.approx(
        runs[0.5][1].cost.components["teacher_finetune"])


def test_the_teacher_is_frozen_on_the_students_device() -> None:
    """`teachers.on_device`: eval mode, no gradients, moved to the given device (the
    accelerator's by default: the CPU here); the GPU path runs in benchmarks/bench_gpu.py."""
    from transformers import GPT2Config

    from strategies.machinery import distributed as dist
    from strategies.machinery.teachers import on_device

    teacher = GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=16, n_head=2, vocab_size=64,
                                         n_positions=8)).train()
    assert on_device(teacher) is teacher
    assert not teacher.training and not any(p.requires_grad for p in teacher.parameters())
    assert {p.device for p in teacher.parameters()} == {dist.device()}
    on_device(teacher, "meta")  # any other device: the weights follow
    assert {p.device.type for p in teacher.parameters()} == {"meta"}
