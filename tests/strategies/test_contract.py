"""Every registered strategy whose module imports runs the shared conformance suite."""

from __future__ import annotations

import pytest

from planner.testing import StrategyContractTests
from strategies.registry import get_strategy_class, list_strategies

AVAILABLE = list_strategies(available_only=True)


class TestContract(StrategyContractTests):
    @pytest.fixture(params=AVAILABLE)
    def strategy_cls(self, request: pytest.FixtureRequest) -> type:
        return get_strategy_class(request.param)


def test_every_builtin_strategy_is_available() -> None:
    """A registered strategy whose module fails to import is a bug, not a skip."""
    assert set(AVAILABLE) == set(list_strategies())
