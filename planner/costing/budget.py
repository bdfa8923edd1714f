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

from planner.exceptions import BudgetError

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
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:.3g}"
    return f"{value:.2g}"


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
        """``400 GPUh``, ``$1,200`` or ``4e+18 FLOPs`` (the amount, or `value` in this unit)."""
        return format_amount(self.amount if value is None else value, self.unit)

    def __str__(self) -> str:
        return self.format()


def format_amount(value: float, unit: str) -> str:
    if unit == "usd":
        return f"${_fmt(value)}"
    if unit == "gpu_hours":
        return f"{_fmt(value)} GPUh"
    return f"{value:.3g} FLOPs"


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
        return f"{self.max_flops_per_token:.3g} FLOPs/token"


def _round_sig(n: float, digits: int = 3) -> float:
    if n <= 0:
        return n
    return round(n, -int(math.floor(math.log10(abs(n)))) + digits - 1)


def format_params(n: float) -> str:
    """``126M``, ``1.2B``."""
    if n >= 1e9:
        return f"{n / 1e9:.3g}B"
    if n >= 1e6:
        return f"{n / 1e6:.3g}M"
    if n >= 1e3:
        return f"{n / 1e3:.3g}k"
    return f"{n:.0f}"


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
def _clean(text: object, flag: str) -> str:
    if text is None:
        raise BudgetError(f"{flag}: a value is required")
    s = str(text).strip().lower().replace(",", "").replace("_", "").replace(" ", "")
    if not s:
        raise BudgetError(f"{flag}: a value is required, got an empty string")
    return s


def _special_values(s: str, raw: object, flag: str) -> None:
    head = s.lstrip("+-$")
    if head.startswith("nan"):
        raise BudgetError(f"{flag}: must be a number, got {raw!r}")
    if head.startswith("inf"):
        raise BudgetError(f"{flag}: must be finite, got {raw!r}")
    if s.startswith("-") or s.startswith("$-"):
        raise BudgetError(f"{flag}: must be positive, got {raw!r}")
    if s.startswith("+"):
        s = s[1:]


def _split_number(s: str, raw: object, flag: str, what: str) -> tuple[float, str]:
    m = _NUMBER.match(s)
    if m is None:
        raise BudgetError(f"{flag}: expected {what}, got {raw!r}")
    return float(m.group(0)), s[m.end():]


def parse_compute_budget(text: object, *, flag: str = "--budget") -> ComputeBudget:
    """``4e18`` / ``4e18flops`` / ``4EFLOPs`` -> FLOPs; ``400gpuh`` / ``400 GPUh`` ->
    GPU-hours; ``$1200`` / ``1.2k usd`` -> dollars."""
    s = _clean(text, flag)
    _special_values(s, text, flag)
    dollar_prefix = s.startswith("$")
    if dollar_prefix:
        s = s[1:]
    value, rest = _split_number(s, text, flag, _HELP_UNITS)
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
    if amount <= 0:
        raise BudgetError(f"{flag}: must be positive, got {text!r}")
    return ComputeBudget(**{unit: amount})


def parse_inference_budget(text: object, *, flag: str = "--inference-budget",
                           ) -> InferenceBudget:
    """``126M`` / ``1.2B`` / ``771000000`` -> a parameter cap; ``2.6e8flops/token`` (also
    ``260Mflops/token``, ``2.6e8/tok``) -> a cap on forward FLOPs per token."""
    s = _clean(text, flag)
    _special_values(s, text, flag)
    per_token = False
    for suffix in ("/token", "/tok"):
        if s.endswith(suffix):
            per_token, s = True, s[: -len(suffix)]
            break
    what = "a parameter count (126M, 1.2B) or FLOPs per token (2.6e8flops/token)"
    value, rest = _split_number(s, text, flag, what)
    mult = 1.0
    if rest[:1] in _MULT and (per_token or rest[1:] in ("", "params", "parameters", "p")):
        mult, rest = _MULT[rest[0]], rest[1:]
    if per_token:
        if rest not in ("", "flop", "flops"):
            raise BudgetError(f"{flag}: unknown unit {rest!r} in {text!r}; expected {what}")
        if value * mult <= 0:
            raise BudgetError(f"{flag}: must be positive, got {text!r}")
        return InferenceBudget(max_flops_per_token=value * mult)
    if rest.endswith("flop") or rest.endswith("flops"):
        raise BudgetError(f"{flag}: FLOPs need a '/token' suffix (2.6e8flops/token); "
                          f"got {text!r}")
    if rest not in ("", "params", "parameters", "p"):
        raise BudgetError(f"{flag}: unknown unit {rest!r} in {text!r}; expected {what}")
    n = value * mult
    if n < 1:
        raise BudgetError(f"{flag}: must be at least 1 parameter, got {text!r}")
    return InferenceBudget(max_params=int(round(n)))


def parse_tokens(text: object, *, flag: str = "--domain-tokens") -> int:
    """``8M`` / ``64e6`` / ``8000000`` / ``8M tokens`` -> a positive token count."""
    s = _clean(text, flag)
    _special_values(s, text, flag)
    for suffix in ("tokens", "token", "tok"):
        if s.endswith(suffix):
            s = s[: -len(suffix)]
            break
    value, rest = _split_number(s, text, flag, "a token count (8M, 64e6)")
    if rest and not (len(rest) == 1 and rest in _MULT):
        raise BudgetError(f"{flag}: unknown unit {rest!r} in {text!r}; "
                          "expected a token count (8M, 64e6)")
    n = value * (_MULT[rest] if rest else 1.0)
    if n < 1:
        raise BudgetError(f"{flag}: must be at least 1 token, got {text!r}")
    return int(round(n))


def parse_count(text: object, *, flag: str = "--domains") -> int:
    """A positive integer (the number of domains)."""
    s = _clean(text, flag)
    _special_values(s, text, flag)
    if not s.isdigit():
        raise BudgetError(f"{flag}: must be a positive integer, got {text!r}")
    n = int(s)
    if n < 1:
        raise BudgetError(f"{flag}: must be a positive integer, got {text!r}")
    return n


def parse_positive_float(text: object, *, flag: str) -> float:
    """A positive finite number (``2.5``, ``$2.5``, ``2.5/h``)."""
    s = _clean(text, flag)
    _special_values(s, text, flag)
    s = s.removeprefix("$").removesuffix("/h").removesuffix("/hour")
    try:
        value = float(s)
    except ValueError:
        raise BudgetError(f"{flag}: expected a number, got {text!r}") from None
    try:
        _finite_positive(value, "value")
    except BudgetError:
        raise BudgetError(f"{flag}: must be positive, got {text!r}") from None
    return value
