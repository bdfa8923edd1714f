"""Budgets with units: frozen value objects, validated at construction, parsed from text.

The paper's four variables (§3.1) become one `Budget`:

============================  ===========================  =================================
flag                          accepted text                meaning
============================  ===========================  =================================
``--pretraining-budget``      ``4e18`` (FLOPs),            compute spent once, before the
                              ``400gpuh`` / ``400 GPUh``,  domain is known (shared)
                              ``$1200``
``--specialization-budget``   same units                   compute per domain, after its
                                                           data arrives
``--total-budget`` (optional) same units                   pretraining + N x specialization
                                                           (the paper's Eq. 1)
``--inference-budget``        ``126M``, ``1.2B``,          a cap on the served model's
                              ``771000000`` (parameters)   parameters, or on its forward
                              or ``2.6e8flops/token``      FLOPs per token
``--domain-tokens``           ``8M``, ``64e6``             in-domain training tokens
``--domains``                 ``7``                        number of domains N
============================  ===========================  =================================

GPU-hours and dollars are on the accelerator of ``--accelerator`` (A100 by default, as in
the paper); dollars are converted at ``--price-per-hour`` (default per accelerator, see
`planner.costing.accelerators`). Parsers raise `BudgetError` with the flag first, e.g.
``--pretraining-budget: must be positive, got '-4e18'``.

Example:
    >>> from planner.costing.budget import parse_compute_budget, parse_inference_budget
    >>> parse_compute_budget("400 GPUh", flag="--pretraining-budget")
    ComputeBudget(flops=None, gpu_hours=400.0, usd=None)
    >>> parse_inference_budget("126M", flag="--inference-budget").max_params
    126000000
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from planner.costing.numbers import (
    format_count,
    format_number,
    parse_number,
    split_number,
    warn_input,
)
from planner.exceptions import BudgetError, NumberError

if TYPE_CHECKING:
    from planner.costing.costs import BucketCost

__all__ = [
    "Budget",
    "ComputeBudget",
    "InferenceBudget",
    "parse_compute_budget",
    "parse_count",
    "parse_inference_budget",
    "parse_positive_float",
    "parse_tokens",
]

UNITS = ("flops", "gpu_hours", "usd")
_UNIT_WORDS: dict[str, str] = {
    "": "flops", "flop": "flops", "flops": "flops",
    "gpuh": "gpu_hours", "gpuhr": "gpu_hours", "gpuhrs": "gpu_hours", "gpu-h": "gpu_hours",
    "gpuhour": "gpu_hours", "gpuhours": "gpu_hours", "gpu-hour": "gpu_hours",
    "gpu-hours": "gpu_hours",
    "usd": "usd", "$": "usd", "dollar": "usd", "dollars": "usd",
}
# SI multipliers; "m" is mega (nobody budgets milli-FLOPs), "b" is billion
_MULT: dict[str, float] = {"k": 1e3, "m": 1e6, "g": 1e9, "b": 1e9, "t": 1e12, "p": 1e15,
                           "e": 1e18}
_NUMBER = re.compile(r"^[0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?")
_HELP_UNITS = "FLOPs (4e18), GPU-hours (400gpuh) or dollars ($1200)"


def _finite_positive(value: float, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BudgetError(f"{what} must be a number, got {value!r}")
    if math.isnan(value):
        raise BudgetError(f"{what} must be a number, got NaN")
    if math.isinf(value):
        raise BudgetError(f"{what} must be finite, got {value!r}")
    if value <= 0:
        raise BudgetError(f"{what} must be positive, got {value:g}")


def _fmt(value: float) -> str:
    return format_number(value)


@dataclass(frozen=True, slots=True, kw_only=True)
class ComputeBudget:
    """A training-compute budget in exactly one unit.

    Args:
        flops: floating-point operations.
        gpu_hours: device-hours on the plan's accelerator.
        usd: dollars at the plan's price per device-hour.
    """

    flops: float | None = None
    gpu_hours: float | None = None
    usd: float | None = None

    def __post_init__(self) -> None:
        given = [u for u in UNITS if getattr(self, u) is not None]
        if len(given) != 1:
            raise BudgetError(
                "a compute budget needs exactly one of flops, gpu_hours, usd; "
                f"got {', '.join(given) or 'none'}"
            )
        _finite_positive(getattr(self, given[0]), given[0])

    @property
    def unit(self) -> str:
        """``flops``, ``gpu_hours`` or ``usd``."""
        return next(u for u in UNITS if getattr(self, u) is not None)

    @property
    def amount(self) -> float:
        return float(getattr(self, self.unit))

    def of(self, cost: BucketCost) -> float:
        """`cost` expressed in this budget's unit."""
        return float(getattr(cost, self.unit))

    def fits(self, cost: BucketCost) -> bool:
        # relative slack for float round-off: "400gpuh" must admit a 400.0000001 GPUh plan
        return self.of(cost) <= self.amount * (1 + 1e-9)

    def shortfall(self, cost: BucketCost) -> float:
        """How much more budget `cost` needs (0 when it fits), in this budget's unit."""
        return max(0.0, self.of(cost) - self.amount)

    def format(self, value: float | None = None) -> str:
        """``400 GPUh``, ``$1200``, ``1.0e25 GPUh`` or ``4.0e18 FLOPs`` (the amount, or `value`
        in this unit; `planner.costing.numbers.format_number`)."""
        return format_amount(self.amount if value is None else value, self.unit)

    def __str__(self) -> str:
        return self.format()


def format_amount(value: float, unit: str) -> str:
    """An amount for people: ``$1200``, ``400 GPUh``, ``1.0e25 GPUh``, ``4.0e18 FLOPs``."""
    if unit == "usd":
        return f"${_fmt(value)}"
    if unit == "gpu_hours":
        return f"{_fmt(value)} GPUh"
    if value and 1e-3 <= abs(value) < 1e6:
        return f"{_fmt(value)} FLOPs"
    return f"{format_number(value)} FLOPs" if value else "0 FLOPs"


@dataclass(frozen=True, slots=True, kw_only=True)
class InferenceBudget:
    """A cap on the served model: parameters, or forward FLOPs per token (exactly one).

    Args:
        max_params: the largest parameter count the specialized model may have.
        max_flops_per_token: the largest forward cost per generated token.
    """

    max_params: int | None = None
    max_flops_per_token: float | None = None

    def __post_init__(self) -> None:
        if (self.max_params is None) == (self.max_flops_per_token is None):
            raise BudgetError("an inference budget needs exactly one of max_params, "
                              "max_flops_per_token")
        if self.max_params is not None:
            if isinstance(self.max_params, bool) or not isinstance(self.max_params, int):
                raise BudgetError(f"max_params must be an integer, got {self.max_params!r}")
            _finite_positive(self.max_params, "max_params")
        else:
            value = self.max_flops_per_token
            _finite_positive(value, "max_flops_per_token")  # type: ignore[arg-type]

    def allows(self, *, n_params: int, flops_per_token: float) -> bool:
        """Whether a model of that size may be served.

        Parameter counts are compared after rounding to 3 significant figures, the way the
        paper quotes them (a ``126M`` cap admits a 126.4M model).
        """
        if self.max_params is not None:
            return _round_sig(n_params) <= self.max_params
        return flops_per_token <= self.max_flops_per_token * (1 + 1e-9)  # type: ignore[operator]

    def __str__(self) -> str:
        if self.max_params is not None:
            return f"{format_params(self.max_params)} parameters"
        return f"{format_number(self.max_flops_per_token)} FLOPs/token"  # type: ignore[arg-type]


def _round_sig(n: float, digits: int = 3) -> float:
    if n <= 0:
        return n
    return round(n, -int(math.floor(math.log10(abs(n)))) + digits - 1)


def format_params(n: float) -> str:
    """``126M``, ``1.2B``, ``1T``, ``1.0e15`` (parameters or tokens; `format_count`)."""
    return format_count(n)


@dataclass(frozen=True, slots=True, kw_only=True)
class Budget:
    """Everything a plan is constrained by (the paper's four variables, plus N).

    Args:
        pretraining: compute spent once, shared by every domain.
        specialization: compute per domain.
        inference: cap on the served model.
        n_domain_tokens: in-domain training tokens per domain.
        n_domains: number of domains N (total cost = pretraining + N x specialization).
        total: optional cap on pretraining + N x specialization (Eq. 1).
        accelerator: ``A100``, ``H100`` or ``cpu``: what a GPU-hour is.
        price_per_hour: USD per device-hour (None: the accelerator's default).
    """

    pretraining: ComputeBudget
    specialization: ComputeBudget
    inference: InferenceBudget
    n_domain_tokens: int
    n_domains: int = 1
    total: ComputeBudget | None = None
    accelerator: str = "A100"
    price_per_hour: float | None = None

    def __post_init__(self) -> None:
        for name in ("pretraining", "specialization"):
            if not isinstance(getattr(self, name), ComputeBudget):
                raise BudgetError(f"{name} must be a ComputeBudget")
        if not isinstance(self.inference, InferenceBudget):
            raise BudgetError("inference must be an InferenceBudget")
        if self.total is not None and not isinstance(self.total, ComputeBudget):
            raise BudgetError("total must be a ComputeBudget or None")
        for name in ("n_domain_tokens", "n_domains"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise BudgetError(f"{name} must be an integer, got {value!r}")
            _finite_positive(value, name)
        if self.price_per_hour is not None:
            _finite_positive(self.price_per_hour, "price_per_hour")

    def compute_budgets(self) -> dict[str, ComputeBudget]:
        """Bucket name -> its budget (``total`` only when set)."""
        out = {"pretraining": self.pretraining, "specialization": self.specialization}
        if self.total is not None:
            out["total"] = self.total
        return out

    @classmethod
    def from_strings(cls, *, pretraining: str, specialization: str, inference: str,
                     domain_tokens: str, domains: str | int = 1, total: str | None = None,
                     accelerator: str = "A100", price_per_hour: str | float | None = None,
                     ) -> Budget:
        """Parse the CLI's text; each error names its flag (``--pretraining-budget: ...``)."""
        from planner.costing.accelerators import get_accelerator

        acc = get_accelerator(accelerator, flag="--accelerator").name if accelerator != "cpu" \
            else "cpu"
        price = None if price_per_hour is None else parse_positive_float(
            str(price_per_hour), flag="--price-per-hour")
        return cls(
            pretraining=parse_compute_budget(pretraining, flag="--pretraining-budget"),
            specialization=parse_compute_budget(specialization, flag="--specialization-budget"),
            total=None if total is None else parse_compute_budget(total, flag="--total-budget"),
            inference=parse_inference_budget(inference, flag="--inference-budget"),
            n_domain_tokens=parse_tokens(domain_tokens, flag="--domain-tokens"),
            n_domains=parse_count(str(domains), flag="--domains"),
            accelerator=acc,
            price_per_hour=price,
        )


# ------------------------------------------------------------------------------ parsers
#: Largest accepted amount per unit: far beyond any real budget, small enough that every
#: conversion (GPU-hours x FLOP/s x 3600, dollars / price) stays a finite float.
MAX_AMOUNT: dict[str, float] = {"flops": 1e50, "gpu_hours": 1e30, "usd": 1e30}
MAX_PARAMS = 1e15  # parameters of a served model (the paper's largest: 7B)
MAX_FLOPS_PER_TOKEN = 1e18
MAX_TOKENS = 1e15  # domain tokens (the largest public corpora hold ~1e13-1e14)
MAX_DOMAINS = 1_000_000
MAX_PRICE_PER_HOUR = 1e6
#: A compute budget typed without a unit below this many FLOPs cannot train any model the
#: planner knows: the smallest, the `tiny` scale's 60k-parameter model, needs 6 x 60k x 16k
#: ~ 6e9 FLOPs to fine-tune once on its 16k domain tokens (6ND, Kaplan et al. 2020). A bare
#: ``400`` is far more likely GPU-hours or dollars, so it gets a warning.
MIN_UNITLESS_FLOPS = 1e9


def _reject_sign(text: object, flag: str) -> None:
    s = "" if text is None else str(text).strip().replace("\u2212", "-")
    if s.startswith(("-", "$-", "-$")):
        raise BudgetError(f"{flag}: must be positive, got {text!r}")


def _split(text: object, flag: str, what: str, typed: object = None,
           accepted: str = "") -> tuple[float, str]:
    """`split_number` with BudgetError; `typed` (what the user wrote, when `text` is a part
    of it) is quoted in the message, and `accepted` (the range) added to a refusal."""
    _reject_sign(text, flag)
    try:
        return split_number(text, flag=flag, what=what)
    except NumberError as err:
        msg = str(err)
        if typed is not None and text is not None:
            msg = msg.replace(repr(str(text)), repr(str(typed)))
        if accepted and "expected" not in msg and "ambiguous" not in msg:
            msg += f"; accepted: {accepted}"
        raise BudgetError(msg) from None


def _compute_range() -> str:
    return ("a positive amount up to " + ", ".join(
        format_amount(MAX_AMOUNT[u], u) for u in ("flops", "gpu_hours", "usd")))


def _inference_range() -> str:
    return (f"1 to {format_count(MAX_PARAMS)} parameters, or up to "
            f"{format_number(MAX_FLOPS_PER_TOKEN)} FLOPs/token")


def _check_amount(amount: float, unit: str, text: object, flag: str) -> None:
    if amount <= 0:
        raise BudgetError(f"{flag}: must be positive, got {text!r}")
    top = MAX_AMOUNT[unit]
    if amount > top:
        raise BudgetError(f"{flag}: {text!r} is out of range; accepted: a positive amount up "
                          f"to {format_amount(top, unit)}")


def parse_compute_budget(text: object, *, flag: str = "--budget") -> ComputeBudget:
    """``4e18`` / ``4e18flops`` / ``4EFLOPs`` -> FLOPs; ``400gpuh`` / ``400 GPUh`` ->
    GPU-hours; ``$1200`` / ``1.2k usd`` -> dollars.

    Numbers are read by `planner.costing.numbers.split_number`: ``2,5 GPUh`` is 2.5 GPU-hours,
    ``1,5k GPUh`` 1,500, and ``1,500 GPUh`` is refused as ambiguous. Amounts are positive and
    at most `MAX_AMOUNT` of their unit. A unitless amount below `MIN_UNITLESS_FLOPS` is
    accepted as FLOPs with an `InputWarning` suggesting a unit.

    Raises:
        BudgetError: one line starting with `flag`.
    """
    raw = "" if text is None else str(text).strip()
    dollar_prefix = raw.startswith("$")
    value, rest = _split(raw[1:] if dollar_prefix else text, flag, _HELP_UNITS, typed=text,
                         accepted=_compute_range())
    mult = 1.0
    if rest not in _UNIT_WORDS and rest[:1] in _MULT and rest[1:] in _UNIT_WORDS:
        mult, rest = _MULT[rest[0]], rest[1:]
    if dollar_prefix:
        if rest not in ("", "usd"):
            raise BudgetError(f"{flag}: {text!r} mixes dollars with another unit; "
                              f"use {_HELP_UNITS}")
        rest = "usd"
    unit = _UNIT_WORDS.get(rest)
    if unit is None:
        raise BudgetError(f"{flag}: unknown unit {rest!r} in {text!r}; use {_HELP_UNITS}")
    amount = value * mult
    _check_amount(amount, unit, text, flag)
    if unit == "flops" and rest == "" and amount < MIN_UNITLESS_FLOPS:
        warn_input(f"{flag}: {raw!r} has no unit, so it is {format_amount(amount, 'flops')}, "
                   f"too little to train any model; did you mean '{raw}gpuh' (GPU-hours) or "
                   f"'${raw}' (dollars)?")
    return ComputeBudget(**{unit: amount})


def parse_inference_budget(text: object, *, flag: str = "--inference-budget",
                           ) -> InferenceBudget:
    """``126M`` / ``1.2B`` / ``771000000`` -> a parameter cap; ``2.6e8flops/token`` (also
    ``260Mflops/token``, ``2.6e8/tok``) -> a cap on forward FLOPs per token.

    Raises:
        BudgetError: one line starting with `flag` (non-finite, out of range: at most
            `MAX_PARAMS` parameters or `MAX_FLOPS_PER_TOKEN`).
    """
    s = "" if text is None else str(text).strip().lower()
    per_token = False
    for suffix in ("/token", "/tok"):
        if s.replace(" ", "").endswith(suffix):
            per_token, s = True, s.replace(" ", "")[: -len(suffix)]
            break
    what = "a parameter count (126M, 1.2B) or FLOPs per token (2.6e8flops/token)"
    value, rest = _split(s if text is not None else None, flag, what, typed=text,
                         accepted=_inference_range())
    mult = 1.0
    if rest[:1] in _MULT and (per_token or rest[1:] in ("", "params", "parameters", "p")):
        mult, rest = _MULT[rest[0]], rest[1:]
    if per_token:
        if rest not in ("", "flop", "flops"):
            raise BudgetError(f"{flag}: unknown unit {rest!r} in {text!r}; expected {what}")
        if value * mult <= 0:
            raise BudgetError(f"{flag}: must be positive, got {text!r}")
        if value * mult > MAX_FLOPS_PER_TOKEN:
            raise BudgetError(f"{flag}: {text!r} is out of range; accepted: up to "
                              f"{format_number(MAX_FLOPS_PER_TOKEN)} FLOPs/token")
        return InferenceBudget(max_flops_per_token=value * mult)
    if rest.endswith("flop") or rest.endswith("flops"):
        raise BudgetError(f"{flag}: FLOPs need a '/token' suffix (2.6e8flops/token); "
                          f"got {text!r}")
    if rest not in ("", "params", "parameters", "p"):
        raise BudgetError(f"{flag}: unknown unit {rest!r} in {text!r}; expected {what}")
    n = value * mult
    if n < 1:
        raise BudgetError(f"{flag}: must be at least 1 parameter, got {text!r}")
    if n > MAX_PARAMS:
        raise BudgetError(f"{flag}: {text!r} is out of range; accepted: 1 to "
                          f"{format_count(MAX_PARAMS)} parameters")
    return InferenceBudget(max_params=int(round(n)))


def parse_tokens(text: object, *, flag: str = "--domain-tokens") -> int:
    """``8M`` / ``64e6`` / ``8000000`` / ``8M tokens`` -> a token count in [1, `MAX_TOKENS`].

    Raises:
        BudgetError: one line starting with `flag`.
    """
    try:
        n = parse_number(text, flag=flag, minimum=1, maximum=MAX_TOKENS,
                         units=("tokens", "token", "tok"))
    except BudgetError:
        raise
    except NumberError as err:
        msg = str(err)
        if "expected a number >= 1" in msg or "in [1," in msg:
            msg = msg.replace("expected a number", "must be at least 1 token: a number")
        raise BudgetError(msg) from None
    return int(round(n))


def parse_count(text: object, *, flag: str = "--domains") -> int:
    """A positive integer up to `MAX_DOMAINS` (the number of domains).

    Raises:
        BudgetError: one line starting with `flag`.
    """
    try:
        return int(parse_number(text, flag=flag, integer=True, minimum=1,
                                maximum=MAX_DOMAINS, si=False))
    except BudgetError:
        raise
    except NumberError as err:
        raise BudgetError(str(err)) from None


def parse_positive_float(text: object, *, flag: str,
                         maximum: float = MAX_PRICE_PER_HOUR) -> float:
    """A positive finite number up to `maximum` (``2.5``, ``$2.5``, ``2.5/h``, ``2,5``).

    Raises:
        BudgetError: one line starting with `flag`.
    """
    _reject_sign(text, flag)
    s = "" if text is None else str(text).strip().lower()
    s = s.removeprefix("$").removesuffix("/hour").removesuffix("/h").strip()
    if s == "" and text is not None and str(text).strip():
        s = str(text)
    try:
        return float(parse_number(s if text is not None else None, flag=flag, minimum=0,
                                  open_min=True, maximum=maximum, si=False))
    except NumberError as err:
        msg = str(err)
        if "expected a positive" not in msg and msg.startswith(f"{flag}: expected a number >"):
            msg = msg.replace(f"{flag}: expected", f"{flag}: must be positive:", 1)
        raise BudgetError(msg) from None
