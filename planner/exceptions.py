"""The planner's errors and warnings, in one place (after sklearn and optuna).

`NotFittedError` is the strategies' own (`strategies.base`, the lower layer): one class for
a strategy used before `pretrain` and a performance model used before `fit`.

Every user-facing error is a `domains.errors.SpecplanError`: the CLI prints its message as
one line and exits 2, without a traceback. The value errors also subclass `ValueError`, so
library callers can catch them the ordinary way.
"""

from __future__ import annotations

from domains.errors import SpecplanError
from strategies.base import NotFittedError

__all__ = [
    "BudgetError",
    "CostModelWarning",
    "InfeasibleBudgetError",
    "InputWarning",
    "NotFittedError",
    "NumberError",
    "ReferenceDataError",
    "RunsFrameError",
    "SpecplanError",
]


class NumberError(SpecplanError, ValueError):
    """A number typed by the user cannot be used: not a number, NaN, infinite, too large, out
    of the flag's range, or written ambiguously (``1,500``).

    Raised by `planner.costing.numbers.parse_number` and every parser built on it; the
    message starts with the flag (``--seed: expected an integer >= 0, got '-1'``).
    """


class InputWarning(UserWarning):
    """A value was accepted but is probably not what the user meant (a compute budget with
    no unit that is too small to train anything). The CLI prints it as one ``warning:`` line.
    """


class BudgetError(NumberError):
    """A budget value cannot be used: negative, zero, NaN, infinite, or an unknown unit.

    Raised by the budget dataclasses (`planner.costing.budget`); the parsers prefix the message
    with the flag the user typed, e.g. ``--pretraining-budget: ...``.
    """


class InfeasibleBudgetError(SpecplanError, ValueError):
    """No strategy fits the budgets.

    Attributes:
        short: budget name (e.g. ``specialization``) -> how much the cheapest option
            overshoots it, in the budget's own unit.
        cheapest: the cheapest strategy considered (by its largest relative overshoot).
    """

    def __init__(self, message: str, *, short: dict[str, float] | None = None,
                 cheapest: str | None = None) -> None:
        super().__init__(message)
        self.short = dict(short or {})
        self.cheapest = cheapest


class ReferenceDataError(SpecplanError, ValueError):
    """A reference table shipped with the planner is missing or malformed."""


class RunsFrameError(SpecplanError, ValueError):
    """A frame of measured runs lacks a required column or holds unusable values."""


class CostModelWarning(UserWarning):
    """An estimate falls outside the range the cost model was calibrated on."""
