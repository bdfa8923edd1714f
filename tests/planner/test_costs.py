"""The cost model: the utilization calibrated on Table 2, Eq. 1, conversions, accelerators.

Table 2's rows are the calibration points of the GPU-hour rates, so the cost model matches
them by construction; the FLOP counts it divides by are checked independently in
`tests/strategies/test_flops.py` (the models' parameters and torch's FLOP counter)."""

from __future__ import annotations

import json

import pytest

from planner.costing.accelerators import get_accelerator, list_accelerators, measure_cpu_flops
from planner.costing.costs import (
    BucketCost,
    CostModel,
    efficiency_factors,
    utilization_curves,
)
from planner.exceptions import BudgetError
from strategies.registry import get_strategy_class


def test_mfu_depends_on_model_size() -> None:
    curves = utilization_curves()
    train = curves["train"]
    (n_small, mfu_small), (n_large, mfu_large) = train.points
    assert 0.2 < mfu_small < mfu_large < 0.7  # small models run at lower MFU
    mid = train((n_small * n_large) ** 0.5)
    assert mfu_small < mid < mfu_large
    assert train(n_large * 10) == pytest.approx(mfu_large)  # held above the range
    assert 0.02 <= train(1e5) < mfu_small  # extrapolated (floored) below
    assert "Table 2" in train.source


def test_projected_network_efficiency_factor() -> None:
    # the routing/projection overhead (3.6 vs 2.2 GPUh per 1B tokens) is strategy-specific
    eff = efficiency_factors()
    assert eff[("hypernetwork", "pretraining")] < 0.8
    assert eff[("mixture", "pretraining")] == pytest.approx(1.0, rel=0.05)
    assert eff[("hypernetwork", "specialization")] == pytest.approx(1.0, rel=0.05)


def test_total_is_eq1() -> None:
    cls = get_strategy_class("importance_sampling")
    cost = cls(scale="paper").estimate_cost(n_domain_tokens=8e6)
    plan = CostModel("A100").plan_cost("importance_sampling", cost, n_domains=50)
    assert plan.pretraining.flops == 0.0  # SLM-is: C_generic = 0
    assert plan.total.flops == pytest.approx(50 * plan.specialization.flops)
    small = get_strategy_class("small")(scale="paper").estimate_cost(n_domain_tokens=8e6)
    plan = CostModel("A100").plan_cost("small", small, n_domains=7)
    assert plan.total.gpu_hours == pytest.approx(plan.pretraining.gpu_hours
                                                 + 7 * plan.specialization.gpu_hours)
    assert plan.to_dict()["n_domains"] == 7


def test_flops_gpu_hours_dollars_round_trip() -> None:
    cm = CostModel("A100", price_per_hour=2.5)
    n = 126e6
    flops = cm.flops_for_gpu_hours(100.0, n_params=n)
    bucket = cm.price(flops, n_params=n)
    assert bucket.gpu_hours == pytest.approx(100.0)
    assert bucket.usd == pytest.approx(250.0)
    from planner.costing.budget import ComputeBudget

    assert cm.flops_for(ComputeBudget(usd=250.0), n_params=n) == pytest.approx(flops)
    assert cm.flops_for(ComputeBudget(flops=3e18), n_params=n) == 3e18


def test_h100_is_faster_and_priced() -> None:
    a100, h100 = CostModel("A100"), CostModel("H100")
    f = 1e20
    assert h100.price(f, n_params=126e6).gpu_hours < a100.price(f, n_params=126e6).gpu_hours
    assert h100.price_per_hour > a100.price_per_hour > 0


def test_teacher_components_priced_at_the_large_model() -> None:
    cls = get_strategy_class("distillation_sequences")
    cost = cls(scale="paper").estimate_cost(n_domain_tokens=8e6)
    plan = CostModel("A100").plan_cost("distillation_sequences", cost)
    cm = CostModel("A100")
    student = cost.components["pretraining_student"]
    teacher = cost.components["pretraining_teacher"]
    expected = (cm.price(student, n_params=cost.inference_params).gpu_hours
                + cm.price(teacher, n_params=761_528_064).gpu_hours)
    assert plan.pretraining.gpu_hours == pytest.approx(expected, rel=1e-3)


def test_bucket_cost_validation_and_units() -> None:
    b = BucketCost(flops=1.0, gpu_hours=2.0, usd=3.0)
    assert b.in_unit("usd") == 3.0 and (b + b).gpu_hours == 4.0 and b.scaled(3).flops == 3.0
    with pytest.raises(ValueError):
        BucketCost(flops=-1.0, gpu_hours=0.0, usd=0.0)
    with pytest.raises(KeyError):
        b.in_unit("joules")
    with pytest.raises(BudgetError, match="--price-per-hour"):
        CostModel("A100", price_per_hour=-1.0)


def test_accelerators(tmp_path, monkeypatch) -> None:
    assert list_accelerators() == ["A100", "H100", "cpu"]
    assert get_accelerator("a100").peak_flops == pytest.approx(312e12)
    with pytest.raises(BudgetError, match=r"^--accelerator: unknown accelerator 'tpu'"):
        get_accelerator("tpu")
    monkeypatch.setenv("SPECPLAN_CACHE", str(tmp_path))
    rate = measure_cpu_flops(size=128, repeats=2)
    assert rate > 1e6
    cached = json.loads((tmp_path / "cpu_matmul_flops.json").read_text())
    assert cached["flops"] == pytest.approx(rate)
    assert measure_cpu_flops() == pytest.approx(rate)  # read back, not re-measured
    cpu = get_accelerator("cpu")
    assert cpu.peak_flops == pytest.approx(rate) and "measured" in cpu.source
