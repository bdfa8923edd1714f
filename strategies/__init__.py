"""Specialization strategies: one file per strategy plus the shared machinery.

Importing this package never imports torch; strategy modules import it inside methods.
The names below are imported lazily (PEP 562): ``from strategies.base import X`` loads
neither the registry nor the strategy files, which keeps the planning commands' cold start
short.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from domains.lazy import lazy_attribute, lazy_dir

if TYPE_CHECKING:
    from strategies.base import Cost, EvalResult, NotFittedError, SpecializedModel, Strategy
    from strategies.machinery.scales import SCALES, ModelSpec, Scale, get_scale
    from strategies.registry import (
        create_strategy,
        get_strategy_class,
        list_strategies,
        strategy_registry,
    )

#: public name -> the module that defines it
_EXPORTS = {
    "Cost": "strategies.base",
    "EvalResult": "strategies.base",
    "NotFittedError": "strategies.base",
    "SpecializedModel": "strategies.base",
    "Strategy": "strategies.base",
    "create_strategy": "strategies.registry",
    "get_strategy_class": "strategies.registry",
    "list_strategies": "strategies.registry",
    "strategy_registry": "strategies.registry",
    "SCALES": "strategies.machinery.scales",
    "ModelSpec": "strategies.machinery.scales",
    "Scale": "strategies.machinery.scales",
    "get_scale": "strategies.machinery.scales",
}

__all__ = [
    "Cost", "EvalResult", "NotFittedError", "SpecializedModel", "Strategy",
    "create_strategy", "get_strategy_class", "list_strategies", "strategy_registry",
    "SCALES", "ModelSpec", "Scale", "get_scale",
]


def __getattr__(name: str) -> Any:
    return lazy_attribute(__name__, _EXPORTS, name)


def __dir__() -> list[str]:
    return lazy_dir(__name__, _EXPORTS)
