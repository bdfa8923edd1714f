"""One parser and one printer for every number a user types or reads.

Every numeric command-line flag (budgets, prices, parameter caps, token counts, the number of
domains, seeds, workers, ``--param`` values) is read by `parse_number`, so they all accept
the same forms and fail the same way:

==========================  ============================  ===================================
form                        example                       value
==========================  ============================  ===================================
plain / exponent            ``400``, ``4e18``, ``1E+25``  400, 4e18, 1e25
SI multiplier               ``126M``, ``1.5k``, ``2B``    k=1e3, M (or m)=1e6, G/B=1e9,
                                                          T=1e12, P=1e15, E=1e18
digit grouping              ``1_000``, ``1 000``,         1000, 1500000, 1234.5, 1234.5
                            ``1,500,000``, ``1,234.5``,
                            ``1.234,5``
decimal comma               ``2,5``, ``1,5k``, ``0,25``   2.5, 1500, 0.25
==========================  ============================  ===================================

Refused, each as one line naming the flag (a `NumberError`, exit status 2 on the command
line): ``nan``, ``inf``, a value that overflows a float (``1e400``), a value outside the
flag's accepted range (the message states the range), a fraction where an integer is needed,
and an **ambiguous comma**: ``1,500`` is 1500 to some readers and 1.5 to others, so it is
refused with both readings (write ``1500`` or ``1.5``). A comma is never silently taken as
a thousands separator when it could be a decimal comma.

For argparse, `number_arg` builds a ``type=`` that raises `FlagValueError` (a `SpecplanError`
but not a `ValueError`, so argparse does not swallow it into its own usage message; the CLI
prints it as one line and exits 2)::

    parser.add_argument("--workers", type=number_arg("--workers", integer=True, minimum=1,
                                                     maximum=1024), default=None)
    parser.add_argument("--seeds", type=int_list_arg("--seeds", minimum=0), default=[0])

Printing (`format_number`, `format_count`): plain digits between 0.001 and a million (no
thousands separator, so every printed number reads back), SI suffixes for counts (``126M``,
``1.2B``, ``1T``), and a short scientific form beyond (``1.0e25``), never a 30-digit integer
or ``1e+06M``. This module never imports torch.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Callable, Mapping

from planner.exceptions import InputWarning, NumberError, SpecplanError

__all__ = [
    "INT32_SEED_MAX",
    "FlagValueError",
    "NumberError",
    "SI_MULTIPLIERS",
    "format_count",
    "format_number",
    "int_list_arg",
    "number_arg",
    "parse_int_list",
    "parse_number",
    "split_number",
    "warn_input",
]

#: SI multipliers (lower case keys). ``m`` is mega, not milli (nobody budgets milli-FLOPs);
#: ``b`` is billion, as in model sizes (``1.2B``).
SI_MULTIPLIERS: Mapping[str, float] = {"k": 1e3, "m": 1e6, "g": 1e9, "b": 1e9, "t": 1e12,
                                        "p": 1e15, "e": 1e18}
#: The largest seed NumPy's legacy `RandomState` accepts (2**32 - 1); torch takes more.
INT32_SEED_MAX = 2**32 - 1
_MAX_EXACT_INT = 2**53



class FlagValueError(SpecplanError):
    """A `NumberError` raised from an argparse ``type=`` (`number_arg`, `int_list_arg`).

    Deliberately not a `ValueError`: argparse turns a `ValueError` from ``type=`` into its
    own ``invalid value`` message with a usage block; this one reaches the CLI, which prints
    it as one line and exits 2.
    """


_SPECIAL = re.compile(r"^[+-]?(nan|inf|infinity)(?![a-z])", re.IGNORECASE)
# digits with optional grouping or decimal separators, then an optional exponent
_MANTISSA = re.compile(r"^[.,]?[0-9](?:[0-9.,]|[ '_\u00a0\u202f](?=[0-9]))*")
_SPACE_GROUP = re.compile(r"[ '_\u00a0\u202f]")
# a grouping character not between a digit and exactly three digits
_BAD_SPACE_GROUP = re.compile(r"(?<![0-9])[ '_\u00a0\u202f]|[ '_\u00a0\u202f]"
                              r"(?![0-9]{3}(?![0-9]))")
_EXPONENT = re.compile(r"^e[+-]?[0-9]+", re.IGNORECASE)
_GROUP = re.compile(r"^[0-9]{1,3}$")


def _range_text(minimum: float | None, maximum: float | None, integer: bool,
                open_min: bool) -> str:
    kind = "an integer" if integer else "a number"
    lo = None if minimum is None else format_number(minimum, integer=integer)
    hi = None if maximum is None else format_number(maximum, integer=integer)
    if lo is not None and hi is not None:
        left = "(" if open_min else "["
        return f"{kind} in {left}{lo}, {hi}]"
    if lo is not None:
        return f"{kind} {'>' if open_min else '>='} {lo}"
    if hi is not None:
        return f"{kind} <= {hi}"
    return kind


def _mantissa_text(digits: str, raw: str, flag: str) -> str:
    """The digits part with its separators resolved (``1,5`` -> ``1.5``), or a NumberError."""
    # spaces, apostrophes and underscores only group digits in threes: 1 000, 1'000, 1_000
    if _BAD_SPACE_GROUP.search(digits):
        raise NumberError(f"{flag}: cannot read {raw!r} as a number (digits separated by a "
                          "space, ' or _ must come in groups of 3)")
    s = _SPACE_GROUP.sub("", digits)
    commas, dots = s.count(","), s.count(".")
    if commas and dots:
        # both: the last one is the decimal separator, the other groups thousands
        dec, grp = (",", ".") if s.rfind(",") > s.rfind(".") else (".", ",")
        if s.count(dec) != 1:
            raise NumberError(f"{flag}: cannot read {raw!r} as a number "
                              f"(more than one decimal separator {dec!r})")
        whole, frac = s.split(dec)
        if not _grouped(whole, grp):
            raise NumberError(f"{flag}: cannot read {raw!r} as a number "
                              f"(digit groups separated by {grp!r} must have 3 digits)")
        s = whole.replace(grp, "") + "." + frac
    elif commas:
        parts = s.split(",")
        if commas == 1 and len(parts[1]) == 3 and parts[0] not in ("", "0"):
            decimal = f"{parts[0]}.{parts[1]}".rstrip("0").rstrip(".")
            raise NumberError(
                f"{flag}: {raw!r} is ambiguous: the comma may separate thousands or mark "
                f"decimals; write {parts[0]}{parts[1]} or {decimal}")
        if commas == 1:
            s = parts[0] + "." + parts[1]  # a decimal comma: 2,5 -> 2.5, never 25
        elif _grouped(s, ","):
            s = s.replace(",", "")  # 1,500,000: unambiguous thousands separators
        else:
            raise NumberError(f"{flag}: cannot read {raw!r} as a number (commas must "
                              "separate groups of 3 digits, or be one decimal comma)")
    elif dots > 1:
        if not _grouped(s, "."):
            raise NumberError(f"{flag}: cannot read {raw!r} as a number (more than one '.')")
        s = s.replace(".", "")  # 1.500.000: unambiguous thousands separators
    if not any(c.isdigit() for c in s):
        raise NumberError(f"{flag}: cannot read {raw!r} as a number")
    return s


def _grouped(s: str, sep: str) -> bool:
    parts = s.split(sep)
    return bool(_GROUP.match(parts[0])) and all(len(p) == 3 and p.isdigit() for p in parts[1:])


def split_number(text: object, *, flag: str, what: str = "a number") -> tuple[float, str]:
    """Read the leading number of `text` and return ``(value, rest)``.

    `value` is finite and non-negative (digit grouping and a decimal comma resolved, an
    exponent applied); `rest` is what follows, lower-cased and without spaces, for the caller
    to read as an SI multiplier and a unit (`parse_number`, `planner.costing.budget`).

    Raises:
        NumberError: empty text, ``nan``/``inf``, a negative sign, no leading digits, an
            ambiguous or malformed digit grouping, or an overflowing value. The message
            starts with `flag`.
    """
    if text is None:
        raise NumberError(f"{flag}: a value is required")
    raw = str(text)
    s = raw.strip()
    if not s:
        raise NumberError(f"{flag}: a value is required, got an empty string")
    s = s.replace("\u2212", "-")  # the minus sign of word processors
    if _SPECIAL.match(s):
        word = _SPECIAL.match(s).group(1).lower()  # type: ignore[union-attr]
        if word == "nan":
            raise NumberError(f"{flag}: must be a number, got {raw!r}")
        raise NumberError(f"{flag}: must be finite, got {raw!r}")
    if s.startswith("-"):
        raise NumberError(f"{flag}: must be positive, got {raw!r}")
    s = s.removeprefix("+").lstrip()
    m = _MANTISSA.match(s)
    if m is None:
        raise NumberError(f"{flag}: expected {what}, got {raw!r}")
    digits = m.group(0)
    number = _mantissa_text(digits, raw, flag)
    rest = s[len(digits):].lstrip(" ")
    e = _EXPONENT.match(rest)
    if e is not None:
        number += e.group(0).lower()
        rest = rest[e.end():]
    try:
        value = float(number)
    except (ValueError, OverflowError):
        raise NumberError(f"{flag}: cannot read {raw!r} as a number") from None
    if math.isinf(value):
        raise NumberError(f"{flag}: {raw!r} is too large to compute with")
    return value, rest.replace(" ", "").lower()


def parse_number(
    text: object,
    *,
    flag: str,
    integer: bool = False,
    minimum: float | None = None,
    maximum: float | None = None,
    open_min: bool = False,
    si: bool = True,
    units: tuple[str, ...] = (),
) -> float:
    """Parse one number typed by a user (see the module docstring for the forms).

    Args:
        text: what the user typed.
        flag: the flag or setting named in every error (``--seed``, ``--param lr``).
        integer: require a whole number (``1e3`` and ``2k`` are whole; ``2.5`` is not); the
            result is then an `int`.
        minimum: the smallest accepted value (inclusive unless `open_min`).
        maximum: the largest accepted value (inclusive).
        open_min: exclude `minimum` itself (``(0, ...]``: positive).
        si: accept an SI multiplier suffix (``k``, ``M``, ``B``, ``T`` ...).
        units: unit words accepted (and ignored) after the number, e.g. ``("tokens",)``.

    Returns:
        The value, a finite float (an int with `integer`).

    Raises:
        NumberError: one line naming `flag` and the accepted range.
    """
    accepted = _range_text(minimum, maximum, integer, open_min)
    raw = str(text) if text is not None else ""
    body = raw.strip().replace("\u2212", "-")
    sign = -1.0 if body.startswith("-") else 1.0
    try:
        value, rest = split_number(body[1:] if sign < 0 else text, flag=flag, what=accepted)
    except NumberError as err:
        if "expected" in str(err) or "ambiguous" in str(err):
            raise
        raise NumberError(f"{err}; expected {accepted}") from None
    for u in sorted(units, key=len, reverse=True):
        if rest.endswith(u):
            rest = rest[: -len(u)]
            break
    if rest:
        if si and rest in SI_MULTIPLIERS:
            value *= SI_MULTIPLIERS[rest]
        else:
            raise NumberError(f"{flag}: unexpected {rest!r} after the number in {raw!r}; "
                              f"expected {accepted}")
    value *= sign
    if math.isinf(value):
        raise NumberError(f"{flag}: {raw!r} is too large; expected {accepted}")
    if integer:
        if value != math.floor(value):
            raise NumberError(f"{flag}: expected {accepted}, got {raw!r}")
    below = minimum is not None and (value <= minimum if open_min else value < minimum)
    above = maximum is not None and value > maximum
    if below or above:
        raise NumberError(f"{flag}: expected {accepted}, got {raw!r}")
    if integer and abs(value) > _MAX_EXACT_INT:  # floats hold integers exactly to 2**53 only
        raise NumberError(f"{flag}: {raw!r} is too large for an exact integer")
    return int(value) if integer else value


def number_arg(flag: str, **kwargs: object) -> Callable[[str], float]:
    """An argparse ``type=`` reading one number with `parse_number` (same keyword arguments).

    The returned callable raises `NumberError` (not `ValueError`), so the CLI prints the
    message as one line and exits 2 instead of argparse's usage block.

    Example:
        >>> seed = number_arg("--seed", integer=True, minimum=0)
        >>> seed("1e3")
        1000
    """
    def convert(text: str) -> float:
        try:
            return parse_number(text, flag=flag, **kwargs)  # type: ignore[arg-type]
        except NumberError as err:
            raise FlagValueError(str(err)) from None

    convert.__name__ = f"number{flag}"
    return convert


def parse_int_list(text: object, *, flag: str, minimum: int | None = None,
                   maximum: int | None = None) -> list[int]:
    """``0,1,2`` or ``0 1 2`` (commas or spaces) -> ``[0, 1, 2]``; each item is an integer
    read by `parse_number` (so ``1e3`` works), in `[minimum, maximum]`. Duplicates are kept
    once, in order.

    Raises:
        NumberError: an empty list or a bad item (the message quotes it).
    """
    items = [x for x in re.split(r"[,\s]+", str(text if text is not None else "").strip()) if x]
    if not items:
        raise NumberError(f"{flag}: a comma-separated list of integers is required")
    out = [int(parse_number(x, flag=flag, integer=True, minimum=minimum, maximum=maximum,
                            si=False)) for x in items]
    return list(dict.fromkeys(out))


def int_list_arg(flag: str, *, minimum: int | None = None,
                 maximum: int | None = None) -> Callable[[str], list[int]]:
    """An argparse ``type=`` for `parse_int_list` (``--seeds 0,1,2``)."""
    def convert(text: str) -> list[int]:
        try:
            return parse_int_list(text, flag=flag, minimum=minimum, maximum=maximum)
        except NumberError as err:
            raise FlagValueError(str(err)) from None

    convert.__name__ = f"int_list{flag}"
    return convert


def warn_input(message: str) -> None:
    """Emit an `InputWarning` (the CLI prints it as one ``warning:`` line on stderr)."""
    warnings.warn(message, InputWarning, stacklevel=3)


# ------------------------------------------------------------------------------ printing
def _sci(value: float, digits: int = 3) -> str:
    """``1.0e25``, ``1.23e-05`` -> ``1.23e-5``: a short scientific form."""
    mant, exp = f"{value:.{digits - 1}e}".split("e")
    mant = mant.rstrip("0")
    if mant.endswith("."):
        mant += "0"
    return f"{mant}e{int(exp)}"


def format_number(value: float, *, integer: bool = False, digits: int = 3) -> str:
    """A number for people: ``400``, ``1500``, ``2.5``, ``0.004``; ``1.0e25`` from a million
    on (a trillion for `integer`) and below 0.001. NaN -> ``nan``, infinities -> ``inf``.

    No thousands separator: what specplan prints, `parse_number` reads back as the same
    number (``1,500`` would be refused as ambiguous)."""
    x = float(value)
    if math.isnan(x) or math.isinf(x):
        return str(x)
    if x == 0:
        return "0"
    ax = abs(x)
    if ax >= (1e12 if integer else 1e6) or ax < 1e-3:
        return _sci(x, digits)
    if integer or ax >= 100:
        return f"{x:.0f}"
    return f"{x:.{digits}g}"


def format_count(n: float, *, digits: int = 3) -> str:
    """A count with an SI suffix: ``950``, ``8k``, ``126M``, ``1.2B``, ``1T``; ``1.0e15`` and
    beyond in scientific form (tokens, parameters, documents)."""
    x = float(n)
    if math.isnan(x) or math.isinf(x):
        return str(x)
    steps = ((1.0, ""), (1e3, "k"), (1e6, "M"), (1e9, "B"), (1e12, "T"))
    i = max(j for j, (mult, _) in enumerate(steps) if abs(x) >= mult or j == 0)
    while True:
        mult, suffix = steps[i]
        scaled = float(f"{x / mult:.{digits}g}")
        if abs(scaled) < 1000 or i == len(steps) - 1:
            break
        i += 1  # 999.95M rounds to 1000M: print it as 1B
    if abs(scaled) >= 1000:
        return _sci(x, digits)
    return f"{scaled:g}{suffix}"
