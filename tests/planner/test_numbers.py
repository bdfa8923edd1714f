"""One number parser for every numeric flag (issue 17, case 5): forms, refusals, printing."""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys

import pytest

from planner.cli import main
from planner.costing.budget import format_amount, format_params
from planner.costing.numbers import (
    FlagValueError,
    format_count,
    format_number,
    int_list_arg,
    number_arg,
    parse_int_list,
    parse_number,
)
from planner.exceptions import InputWarning, NumberError


@pytest.mark.parametrize(("text", "value"), [
    ("400", 400.0), ("4e18", 4e18), ("1E+25", 1e25), ("126M", 126e6), ("1.5k", 1500.0),
    ("2B", 2e9), ("1_000", 1000.0), ("1 000", 1000.0), ("1\u202f000", 1000.0),
    ("1'000", 1000.0), ("1,500,000", 1.5e6), ("1.500.000", 1.5e6), ("1,234.5", 1234.5),
    ("1.234,5", 1234.5), ("2,5", 2.5), ("1,5k", 1500.0), ("0,25", 0.25), (",5", 0.5),
    (".5", 0.5), ("5.", 5.0), ("0,500", 0.5), ("  7  ", 7.0), ("1e-3", 1e-3),
    ("-3", -3.0), ("\u22123", -3.0), ("+4", 4.0),
])
def test_forms(text: str, value: float) -> None:
    assert parse_number(text, flag="--x") == pytest.approx(value, rel=1e-15)


@pytest.mark.parametrize(("text", "match"), [
    ("1,500", r"ambiguous.*write 1500 or 1\.5$"),  # thousands or decimal comma: refused
    ("2,500 GPUh", "ambiguous"),
    ("nan", "must be a number"), ("NaN", "must be a number"), ("inf", "must be finite"),
    ("-Infinity", "must be finite"), ("1e400", "too large"), ("1e309", "too large"),
    ("1 5", "groups of 3"), ("1,5,0", "groups of 3"), ("1.2.3", r"more than one '\.'"),
    ("abc", "expected a number"), ("", "a value is required"), ("12X", "unexpected 'x'"),
])
def test_refusals_name_the_flag(text: str, match: str) -> None:
    with pytest.raises(NumberError, match=match) as info:
        parse_number(text, flag="--x")
    assert str(info.value).startswith("--x: ") and "\n" not in str(info.value)


def test_ranges_and_integers_state_the_accepted_range() -> None:
    assert parse_number("1e3", flag="--seed", integer=True, minimum=0) == 1000
    assert isinstance(parse_number("7", flag="--seed", integer=True), int)
    with pytest.raises(NumberError, match=r"^--seed: expected an integer >= 0, got '-1'$"):
        parse_number("-1", flag="--seed", integer=True, minimum=0)
    with pytest.raises(NumberError, match=r"expected an integer in \[1, 1024\], got '2\.5'"):
        parse_number("2.5", flag="--workers", integer=True, minimum=1, maximum=1024)
    with pytest.raises(NumberError, match=r"expected a number in \(0, 1\], got '0'"):
        parse_number("0", flag="--frac", minimum=0, maximum=1, open_min=True)
    with pytest.raises(NumberError, match="too large for an exact integer"):
        parse_number("12345678901234567890", flag="--seed", integer=True)


def test_int_list() -> None:
    assert parse_int_list("0,1,2", flag="--seeds") == [0, 1, 2]
    assert parse_int_list("3 4 3", flag="--seeds") == [3, 4]
    with pytest.raises(NumberError, match=r"^--seeds: expected an integer >= 0, got '1.5'"):
        parse_int_list("0,1.5", flag="--seeds", minimum=0)
    with pytest.raises(NumberError, match="list of integers is required"):
        parse_int_list(" , ", flag="--seeds")


def test_argparse_types_raise_one_line_not_usage() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--workers", type=number_arg("--workers", integer=True, minimum=1))
    p.add_argument("--seeds", type=int_list_arg("--seeds", minimum=0), default=[0])
    args = p.parse_args(["--workers", "2", "--seeds", "0,1"])
    assert args.workers == 2 and args.seeds == [0, 1]
    with pytest.raises(FlagValueError, match=r"^--workers: expected an integer >= 1"):
        p.parse_args(["--workers", "0"])
    assert not isinstance(FlagValueError("x"), ValueError)  # argparse would swallow it


@pytest.mark.parametrize(("value", "text"), [
    (0, "0"), (400, "400"), (1500, "1500"), (2.5, "2.5"), (0.004, "0.004"),
    (1e25, "1.0e25"), (1.234e-5, "1.23e-5"), (123456.0, "123456"), (2.5e6, "2.5e6"),
    (math.nan, "nan"),
])
def test_format_number(value: float, text: str) -> None:
    assert format_number(value) == text


@pytest.mark.parametrize(("value", "text"), [
    (950, "950"), (8000, "8k"), (126e6, "126M"), (1.2e9, "1.2B"), (1e12, "1T"),
    (999.95e6, "1B"), (1e15, "1.0e15"), (8e6, "8M"), (1500, "1.5k"),
])
def test_format_count(value: float, text: str) -> None:
    assert format_count(value) == text


def test_engineering_form_for_budgets_and_tokens() -> None:
    """Case 5: ``1e25gpuh`` was printed as a 30-digit integer, 1e12 tokens as ``1e+06M``."""
    assert format_amount(1e25, "gpu_hours") == "1.0e25 GPUh"
    assert format_amount(4e18, "flops") == "4.0e18 FLOPs"
    assert format_amount(1200, "usd") == "$1200"
    assert format_params(1e12) == "1T"


def _cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    rc = main(args)
    out = capsys.readouterr()
    return rc, out.out, out.err


_REC = ["recommend", "--inference-budget", "126M", "--domain-tokens", "8M", "--json"]


def test_case5_decimal_comma_is_a_decimal(capsys: pytest.CaptureFixture[str]) -> None:
    """``1,5k GPUh`` was 15000 GPUh and ``2,5 GPUh`` 25 GPUh: now 1500 and 2.5."""
    rc, out, err = _cli([*_REC, "--pretraining-budget", "1,5k GPUh",
                         "--specialization-budget", "2,5 GPUh"], capsys)
    assert rc == 0, err
    budget = json.loads(out)["budget"]
    assert budget["pretraining"] == {"gpu_hours": 1500.0}
    assert budget["specialization_per_domain"] == {"gpu_hours": 2.5}


@pytest.mark.parametrize(("flag", "value"), [
    ("--pretraining-budget", "1e308gpuh"), ("--inference-budget", "1e400"),
    ("--domain-tokens", "inf"), ("--domains", "1e7"), ("--price-per-hour", "1e300"),
    ("--seed", "-1"), ("--trials", "nan"),
])
def test_case5_out_of_range_is_one_line(flag: str, value: str,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    args = {"--pretraining-budget": "400gpuh", "--specialization-budget": "2gpuh",
            "--inference-budget": "126M", "--domain-tokens": "8M", flag: value}
    rc, out, err = _cli(["recommend", *[x for kv in args.items() for x in kv]], capsys)
    assert rc == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"specplan recommend: error: {flag}: ")
    assert "Traceback" not in err


def test_case5_unitless_budget_warns(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = _cli([*_REC, "--pretraining-budget", "400",
                         "--specialization-budget", "2gpuh"], capsys)
    json.loads(out)  # still a plan, and stdout is still pure JSON
    assert "warning: --pretraining-budget: '400' has no unit" in err
    assert "'400gpuh'" in err
    with pytest.warns(InputWarning):
        from planner.costing.budget import parse_compute_budget

        parse_compute_budget("400", flag="--pretraining-budget")


def test_case5_large_values_print_in_engineering_form() -> None:
    code = ("from planner.cli import main\n"
            "main(['recommend','--pretraining-budget','1e25gpuh','--specialization-budget',"
            "'1e5gpuh','--inference-budget','126M','--domain-tokens','1e12'])\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    text = out.stdout + out.stderr
    assert "Traceback" not in text
    assert "1.0e25 GPUh" in text and "1T" in text
    assert "e+" not in text and "0000000000" not in text.replace(",", "")


@pytest.mark.parametrize(("argv", "flag"), [
    (["run", "--strategy", "small", "--domain", "news", "--seed", "-1"], "--seed"),
    (["run", "--strategy", "small", "--domain", "news", "--domain-tokens", "-8M"],
     "--domain-tokens"),
    (["demo", "--grid", "-inf"], "--grid"),
    (["run", "--strategy", "small", "--domain", "news", "--domain-tokens", "1e400"],
     "--domain-tokens"),
    (["run", "--strategy", "small", "--domain", "news", "--param", "lr=nan"], "--param lr"),
    (["sweep", "--seeds", "0,1.5"], "--seeds"),
    (["sweep", "--domain-tokens", "8,000"], "--domain-tokens"),
    (["demo", "--workers", "0"], "--workers"),
    (["demo", "--grid", "inf"], "--grid"),
    (["report", "--seed", "1e20"], "--seed"),
    (["domains", "--vocab-size", "12"], "--vocab-size"),
    (["domains", "--clusters", "2,5"], "--clusters"),
])
def test_every_numeric_flag_uses_the_parser(argv: list[str], flag: str, tmp_path,
                                            capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    rc, out, err = _cli(argv, capsys)
    assert rc == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"specplan {argv[0]}: error: {flag}: "), err
