"""Budgets with units: parsing, validation, and one error line per invalid value."""

from __future__ import annotations

import math

import pytest

from planner.costing.budget import (
    Budget,
    ComputeBudget,
    InferenceBudget,
    parse_compute_budget,
    parse_count,
    parse_inference_budget,
    parse_positive_float,
    parse_tokens,
)
from planner.costing.costs import BucketCost
from planner.exceptions import BudgetError, SpecplanError


@pytest.mark.parametrize(("text", "unit", "amount"), [
    ("4e18", "flops", 4e18),
    ("4e18flops", "flops", 4e18),
    ("4 EFLOPs", "flops", 4e18),
    ("400gpuh", "gpu_hours", 400.0),
    ("400 GPUh", "gpu_hours", 400.0),
    ("2 gpu-hours", "gpu_hours", 2.0),
    ("1.5k gpuh", "gpu_hours", 1500.0),
    ("0.5gpuh", "gpu_hours", 0.5),
    ("$1200", "usd", 1200.0),
    ("$1,200.50", "usd", 1200.5),
    ("1,5k GPUh", "gpu_hours", 1500.0),  # a decimal comma: 1.5k, never 15k
    ("2,5 GPUh", "gpu_hours", 2.5),
    ("1e25gpuh", "gpu_hours", 1e25),
    ("1.2k usd", "usd", 1200.0),
    ("1200 dollars", "usd", 1200.0),
])
def test_compute_budget_units(text: str, unit: str, amount: float) -> None:
    b = parse_compute_budget(text, flag="--pretraining-budget")
    assert b.unit == unit
    assert b.amount == pytest.approx(amount, rel=1e-12)


@pytest.mark.parametrize(("text", "match"), [
    ("-4e18", "must be positive"),
    ("0", "must be positive"),
    ("0gpuh", "must be positive"),
    ("$0", "must be positive"),
    ("nan", "must be a number"),
    ("inf", "must be finite"),
    ("400tpuh", "unknown unit 'tpuh'"),
    ("abc", "expected FLOPs"),
    ("$5gpuh", "mixes dollars"),
    ("", "a value is required"),
    ("$1,200", "ambiguous"),
    ("1e308gpuh", "out of range"),
    ("1e400", "too large"),
])
def test_compute_budget_invalid(text: str, match: str) -> None:
    with pytest.raises(BudgetError, match=match) as info:
        parse_compute_budget(text, flag="--specialization-budget")
    assert str(info.value).startswith("--specialization-budget: ")
    assert isinstance(info.value, ValueError) and isinstance(info.value, SpecplanError)


@pytest.mark.parametrize(("text", "params", "fpt"), [
    ("126M", 126_000_000, None),
    ("1.2B", 1_200_000_000, None),
    ("771000000", 771_000_000, None),
    ("126e6", 126_000_000, None),
    ("1B params", 1_000_000_000, None),
    ("2.6e8flops/token", None, 2.6e8),
    ("260Mflops/token", None, 2.6e8),
    ("2.6e8/tok", None, 2.6e8),
])
def test_inference_budget(text: str, params: int | None, fpt: float | None) -> None:
    b = parse_inference_budget(text)
    assert b.max_params == params
    if fpt is None:
        assert b.max_flops_per_token is None
    else:
        assert b.max_flops_per_token == pytest.approx(fpt)


@pytest.mark.parametrize(("text", "match"), [
    ("-126M", "must be positive"),
    ("0", "at least 1 parameter"),
    ("0.4", "at least 1 parameter"),
    ("nan", "must be a number"),
    ("inf", "must be finite"),
    ("126Mflops", "'/token' suffix"),
    ("126 bananas", "unknown unit"),
    ("0flops/token", "must be positive"),
])
def test_inference_budget_invalid(text: str, match: str) -> None:
    with pytest.raises(BudgetError, match=match) as info:
        parse_inference_budget(text)
    assert str(info.value).startswith("--inference-budget: ")


def test_inference_cap_compares_three_significant_figures() -> None:
    cap = InferenceBudget(max_params=126_000_000)
    assert cap.allows(n_params=126_400_000, flops_per_token=0.0)  # quoted as 126M
    assert not cap.allows(n_params=127_000_000, flops_per_token=0.0)
    per_token = InferenceBudget(max_flops_per_token=3e8)
    assert per_token.allows(n_params=10**12, flops_per_token=2.9e8)
    assert not per_token.allows(n_params=1, flops_per_token=3.1e8)


@pytest.mark.parametrize(("text", "n"), [("8M", 8_000_000), ("64e6", 64_000_000),
                                         ("8000000", 8_000_000), ("8M tokens", 8_000_000),
                                         ("1.5k", 1500)])
def test_tokens(text: str, n: int) -> None:
    assert parse_tokens(text) == n


@pytest.mark.parametrize("text", ["0", "-8M", "8X", "nan", "inf"])
def test_tokens_invalid(text: str) -> None:
    with pytest.raises(BudgetError, match=r"^--domain-tokens: "):
        parse_tokens(text)


@pytest.mark.parametrize("text", ["0", "-3", "2.5", "many"])
def test_count_invalid(text: str) -> None:
    with pytest.raises(BudgetError, match=r"^--domains: "):
        parse_count(text)


def test_price_per_hour() -> None:
    assert parse_positive_float("$2.5/h", flag="--price-per-hour") == 2.5
    with pytest.raises(BudgetError, match=r"^--price-per-hour: must be positive"):
        parse_positive_float("-1", flag="--price-per-hour")
    with pytest.raises(BudgetError, match=r"^--price-per-hour: expected a number"):
        parse_positive_float("cheap", flag="--price-per-hour")


def test_dataclasses_validate_at_construction() -> None:
    with pytest.raises(BudgetError, match="exactly one"):
        ComputeBudget(flops=1e18, gpu_hours=1.0)
    with pytest.raises(BudgetError, match="exactly one"):
        ComputeBudget()
    for bad in (0.0, -1.0, math.nan, math.inf):
        with pytest.raises(BudgetError):
            ComputeBudget(gpu_hours=bad)
    with pytest.raises(BudgetError, match="integer"):
        InferenceBudget(max_params=1.5)  # type: ignore[arg-type]
    with pytest.raises(BudgetError, match="exactly one"):
        InferenceBudget(max_params=1, max_flops_per_token=1.0)
    b = ComputeBudget(gpu_hours=1.0)
    with pytest.raises(AttributeError):
        b.gpu_hours = 2.0  # type: ignore[misc]  # frozen


def test_budget_fits_and_shortfall() -> None:
    b = ComputeBudget(gpu_hours=400.0)
    inside = BucketCost(flops=1e20, gpu_hours=400.0 * (1 + 1e-12), usd=800.0)
    over = BucketCost(flops=1e20, gpu_hours=450.0, usd=900.0)
    assert b.fits(inside) and b.shortfall(inside) == pytest.approx(0.0, abs=1e-6)
    assert not b.fits(over) and b.shortfall(over) == pytest.approx(50.0)
    assert ComputeBudget(usd=850.0).shortfall(over) == pytest.approx(50.0)
    assert str(b) == "400 GPUh" and str(ComputeBudget(usd=1200.0)) == "$1200"


def test_budget_from_strings() -> None:
    b = Budget.from_strings(pretraining="400gpuh", specialization="$3", inference="126M",
                            domain_tokens="8M", domains="7", accelerator="h100",
                            price_per_hour="2.5", total="500 GPUh")
    assert b.accelerator == "H100" and b.price_per_hour == 2.5 and b.n_domains == 7
    assert set(b.compute_budgets()) == {"pretraining", "specialization", "total"}
    with pytest.raises(BudgetError, match=r"^--accelerator: unknown accelerator 'tpu'"):
        Budget.from_strings(pretraining="1", specialization="1", inference="1B",
                            domain_tokens="1M", accelerator="tpu")
    with pytest.raises(BudgetError, match="n_domains must be positive"):
        Budget(pretraining=ComputeBudget(flops=1.0), specialization=ComputeBudget(flops=1.0),
               inference=InferenceBudget(max_params=10**9), n_domain_tokens=10, n_domains=0)
