"""What every report section shares: strategy order and paper names (from the strategy
registry, so a plug-in strategy is labelled like a built-in one) and reading nested cells
of stored runs. No torch, no pandas."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["mapping_cell", "paper_name", "strategy_order"]


def strategy_order(names: Iterable[str]) -> list[str]:
    """Registry order (small, small_nopt, large, ...), then any others alphabetically."""
    from strategies.registry import strategy_registry

    known = strategy_registry.names()
    names = list(dict.fromkeys(names))
    return ([n for n in known if n in names]
            + sorted(n for n in names if n not in known))


def paper_name(strategy: str) -> str:
    """The paper's name of a registered strategy (`Strategy.paper_name`, e.g. ``SLM-is``);
    ``""`` for a name the registry does not know (a run of an uninstalled plug-in)."""
    from domains.errors import SpecplanError
    from strategies.registry import get_strategy_class

    try:
        return str(get_strategy_class(strategy).paper_name)
    except (SpecplanError, KeyError):
        return ""


def mapping_cell(value: Any) -> Mapping[str, Any]:
    """A stored run's nested cell (``params``, ``info``, ...) as a mapping; ``{}`` if absent."""
    return value if isinstance(value, Mapping) else {}
