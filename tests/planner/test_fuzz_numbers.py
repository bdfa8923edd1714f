"""Property-based fuzzing (hypothesis) of the number and budget parsers: any text gives a
value or one line of error naming the flag, never a traceback, never a silently wrong number.

Seeded (``derandomize=True``) and bounded, so the default suite stays fast and repeatable.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from planner.costing.budget import (
    parse_compute_budget,
    parse_count,
    parse_inference_budget,
    parse_positive_float,
    parse_tokens,
)
from planner.costing.numbers import format_count, format_number, parse_number
from planner.exceptions import InputWarning, NumberError

FUZZ = settings(max_examples=300, derandomize=True, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])

# text that looks like a number more often than pure noise does
_NUMBERISH = st.text(alphabet="0123456789.,_ '+-eEkKmMbBgGtTpP$/hHuUsSdDfFlLoOnNaAiI\u2212\u00a0",
                     max_size=24)
_ANY = st.one_of(_NUMBERISH, st.text(max_size=24))


def _one_line(err: Exception, flag: str) -> None:
    msg = str(err)
    assert msg.startswith(f"{flag}: ") and "\n" not in msg, msg


@FUZZ
@given(_ANY)
@example("1e400")
@example("1,500")
@example("nan")
def test_parse_number_gives_a_finite_value_or_one_line(text: str) -> None:
    try:
        value = parse_number(text, flag="--x")
    except NumberError as err:
        _one_line(err, "--x")
        return
    assert math.isfinite(value)


@FUZZ
@given(_ANY)
def test_budget_parsers_give_a_budget_or_one_line(text: str) -> None:
    import warnings

    parsers = [
        (parse_compute_budget, "--pretraining-budget"),
        (parse_inference_budget, "--inference-budget"),
        (parse_tokens, "--domain-tokens"),
        (parse_count, "--domains"),
        (parse_positive_float, "--price-per-hour"),
    ]
    for parse, flag in parsers:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", InputWarning)
                out = parse(text, flag=flag)  # type: ignore[operator]
        except NumberError as err:
            _one_line(err, flag)
            continue
        values = [v for v in (getattr(out, a, None) for a in
                              ("flops", "gpu_hours", "usd", "max_params",
                               "max_flops_per_token")) if v is not None] or [out]
        assert all(math.isfinite(v) and v > 0 for v in values), (text, out)


def _group(digits: str, sep: str) -> str:
    head = len(digits) % 3 or 3
    return sep.join([digits[:head]] + [digits[i:i + 3] for i in range(head, len(digits), 3)])


@FUZZ
@given(whole=st.integers(min_value=0, max_value=10**15), frac=st.text("0123456789", max_size=4),
       style=st.sampled_from(["plain", "us", "eu", "space", "underscore", "comma-decimal"]),
       suffix=st.sampled_from(["", "k", "M", "B", "T"]))
def test_never_a_silently_wrong_number(whole: int, frac: str, style: str, suffix: str) -> None:
    """A number written in any common style reads back as itself, or is refused as
    ambiguous; it is never read as another number (``2,5`` as 25, ``1,5k`` as 15000)."""
    digits = str(whole)
    sep, dec = {"plain": ("", "."), "us": (",", "."), "eu": (".", ","), "space": (" ", "."),
                "underscore": ("_", "."), "comma-decimal": ("", ",")}[style]
    text = _group(digits, sep) + (dec + frac if frac else "") + suffix
    mult = {"": 1, "k": 1e3, "M": 1e6, "B": 1e9, "T": 1e12}[suffix]
    expected = float(f"{digits}.{frac or '0'}") * mult
    if style == "eu" and not frac and text.count(".") == 1:
        # one "." is always the decimal point (as in Python and every English text):
        # ``1.000`` is 1.0; European thousands need a second group or a decimal comma
        expected = float(text.rstrip("kMBT")) * mult
    try:
        value = parse_number(text, flag="--x")
    except NumberError as err:
        # refused only as ambiguous (one comma followed by exactly three digits) or when
        # a grouping style could not be told from a decimal one
        assert "ambiguous" in str(err) or "cannot read" in str(err), (text, str(err))
        assert "," in text or text.count(".") > 1, (text, str(err))
        return
    assert value == pytest.approx(expected, rel=1e-12), (text, value, expected)


@FUZZ
@given(st.floats(min_value=1e-300, max_value=1e300, allow_nan=False, allow_infinity=False))
def test_printed_numbers_read_back(value: float) -> None:
    """What specplan prints (engineering form) is what it reads: a round trip within the
    printed precision (3 significant figures)."""
    for text in (format_number(value), format_count(value)):
        assert "e+" not in text and len(text) <= 12, text
        back = parse_number(text, flag="--x")
        assert back == pytest.approx(value, rel=5e-3), (value, text, back)
