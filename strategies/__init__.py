"""Specialization strategies: one file per strategy plus the shared machinery.

Importing this package never imports torch; strategy modules import it inside methods.
"""

from strategies.base import Cost, EvalResult, NotFittedError, SpecializedModel, Strategy
from strategies.machinery.scales import SCALES, ModelSpec, Scale, get_scale
from strategies.registry import (
    create_strategy,
    get_strategy_class,
    list_strategies,
    strategy_registry,
)

__all__ = [
    "Cost", "EvalResult", "NotFittedError", "SpecializedModel", "Strategy",
    "create_strategy", "get_strategy_class", "list_strategies", "strategy_registry",
    "SCALES", "ModelSpec", "Scale", "get_scale",
]
