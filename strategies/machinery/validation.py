"""Parameter constraints declared as data, one message template (after sklearn).

    _parameter_constraints = {"temperature": [Interval(float, 0, None, closed="neither")]}

`validate_params(obj)` raises `ParameterError` (a `SpecplanError` and `ValueError`):
"The 'temperature' parameter of DistillationStrategy must be a float in the range
(0, inf). Got -1.0 instead."
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

from domains.errors import SpecplanError


class ParameterError(SpecplanError, ValueError):
    """A strategy parameter is outside its allowed range."""


@dataclass(frozen=True)
class Interval:
    type: type  # int or float
    left: float | None
    right: float | None
    closed: str = "both"  # "left", "right", "both", "neither"

    def is_satisfied_by(self, value: Any) -> bool:
        kind = Integral if self.type is int else Real
        if isinstance(value, bool) or not isinstance(value, kind):
            return False
        if isinstance(value, float) and math.isnan(value):
            return False
        x = float(value)  # an Integral or Real that passed the check above
        lo_ok = self.left is None or (
            x >= self.left if self.closed in ("left", "both") else x > self.left
        )
        hi_ok = self.right is None or (
            x <= self.right if self.closed in ("right", "both") else x < self.right
        )
        return lo_ok and hi_ok

    def __str__(self) -> str:
        lb = "[" if self.closed in ("left", "both") and self.left is not None else "("
        rb = "]" if self.closed in ("right", "both") and self.right is not None else ")"
        lo = "-inf" if self.left is None else f"{self.left:g}"
        hi = "inf" if self.right is None else f"{self.right:g}"
        name = "an int" if self.type is int else "a float"
        return f"{name} in the range {lb}{lo}, {hi}{rb}"

    def invalid_value(self) -> Any:
        """A value that violates the constraint (for the contract tests)."""
        if self.left is not None:
            return self.type(self.left - 1)
        if self.right is not None:
            return self.type(self.right + 1)
        return "not-a-number"


@dataclass(frozen=True)
class Options:
    values: frozenset[Any]

    def is_satisfied_by(self, value: Any) -> bool:
        return value in self.values

    def __str__(self) -> str:
        return "one of " + ", ".join(repr(v) for v in sorted(self.values, key=str))

    def invalid_value(self) -> Any:
        return "__invalid__"


@dataclass(frozen=True)
class InstanceOf:
    type: type | tuple[type, ...]

    def is_satisfied_by(self, value: Any) -> bool:
        return isinstance(value, self.type)

    def __str__(self) -> str:
        t = self.type if isinstance(self.type, tuple) else (self.type,)
        return "an instance of " + " or ".join(x.__name__ for x in t)

    def invalid_value(self) -> Any:
        return object()


NONE = InstanceOf(type(None))


def validate_params(obj: Any) -> None:
    """Check `obj.get_params()` against `obj._parameter_constraints`."""
    constraints: dict[str, list[Any]] = getattr(obj, "_parameter_constraints", {})
    params = obj.get_params()
    for name, allowed in constraints.items():
        if name not in params:
            continue
        value = params[name]
        if any(c.is_satisfied_by(value) for c in allowed):
            continue
        desc = " or ".join(str(c) for c in allowed)
        raise ParameterError(
            f"The {name!r} parameter of {type(obj).__name__} must be {desc}. "
            f"Got {value!r} instead."
        )
