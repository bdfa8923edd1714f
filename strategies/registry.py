"""A small lazy registry of strategies (after lm-evaluation-harness).

Entries are `"module:Class"` strings imported on first use, so listing strategies and
cost-only planning never import torch. Third-party strategies register through the
entry-point group `specplan.strategies` (name = "package.module:Class").
"""

from __future__ import annotations

import importlib
from importlib import metadata
from typing import TYPE_CHECKING

from domains.errors import SpecplanError

if TYPE_CHECKING:
    from strategies.base import Strategy

ENTRY_POINT_GROUP = "specplan.strategies"


class UnknownStrategyError(SpecplanError, KeyError):
    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


class Registry:
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._targets: dict[str, str | type] = {}
        self._aliases: dict[str, str] = {}
        self._entry_points_loaded = False

    def register(self, name: str, target: str | type, aliases: tuple[str, ...] = ()) -> None:
        if name in self._targets and self._targets[name] != target:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._targets[name] = target
        for alias in aliases:
            key = alias.lower()
            if key in self._aliases and self._aliases[key] != name:
                raise ValueError(f"alias {alias!r} already points to {self._aliases[key]!r}")
            self._aliases[key] = name

    def _load_entry_points(self) -> None:
        if self._entry_points_loaded:
            return
        self._entry_points_loaded = True
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
            if ep.name not in self._targets:
                self._targets[ep.name] = ep.value

    def names(self) -> list[str]:
        self._load_entry_points()
        return list(self._targets)

    def aliases_of(self, name: str) -> list[str]:
        return [a for a, n in self._aliases.items() if n == name and a != name]

    def canonical(self, name: str) -> str:
        self._load_entry_points()
        if name in self._targets:
            return name
        key = name.lower().replace("-", "_") if name.lower() not in self._aliases else name.lower()
        if key in self._aliases:
            return self._aliases[key]
        if key in self._targets:
            return key
        choices = list(self._targets) + list(self._aliases)
        import difflib  # only for the 'did you mean' hint (kept off the cold start)

        close = difflib.get_close_matches(name.lower(), choices, n=3, cutoff=0.6)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise UnknownStrategyError(
            f"unknown {self.kind} {name!r}.{hint} Available: {', '.join(self._targets)}"
        )

    def get(self, name: str) -> type[Strategy]:
        canonical = self.canonical(name)
        target = self._targets[canonical]
        if isinstance(target, str):
            module_name, _, attr = target.partition(":")
            try:
                target = getattr(importlib.import_module(module_name), attr)
            except (ImportError, AttributeError) as err:
                raise SpecplanError(f"{self.kind} {canonical!r} cannot be loaded: {err}") from err
            self._targets[canonical] = target
        from strategies.base import Strategy

        if not (isinstance(target, type) and issubclass(target, Strategy)):
            raise TypeError(f"{self.kind} {canonical!r} is not a Strategy subclass: {target!r}")
        return target

    def _clear(self) -> None:
        self._targets.clear()
        self._aliases.clear()
        self._entry_points_loaded = False


strategy_registry = Registry("strategy")

_BUILTIN = {
    # name: (target, aliases: the paper's names)
    "small": ("strategies.small:SmallStrategy", ("SLM",)),
    "small_nopt": ("strategies.small_nopt:SmallNoPretrainStrategy", ("SLM-nopt",)),
    "large": ("strategies.large:LargeStrategy", ("LLM",)),
    "distillation": ("strategies.distillation:DistillationStrategy", ("SLM-d",)),
    "mixture": ("strategies.mixture:MixtureStrategy", ("SLM-mix", "mixture_of_experts")),
    "hypernetwork": (
        "strategies.hypernetwork:HypernetworkStrategy",
        ("SLM-hn", "SLM-pn", "projected_network"),
    ),
    "importance_sampling": ("strategies.importance_sampling:ImportanceSamplingStrategy",
                            ("SLM-is",)),
    "distillation_sequences": (
        "strategies.distillation_sequences:SequenceDistillationStrategy",
        ("SLM-d-seq", "sequence_distillation"),
    ),
}
for _name, (_target, _aliases) in _BUILTIN.items():
    strategy_registry.register(_name, _target, _aliases)


def get_strategy_class(name: str) -> type[Strategy]:
    """The strategy class for a name or alias (`SLM-is` -> ImportanceSamplingStrategy)."""
    return strategy_registry.get(name)


def create_strategy(name: str, **params: object) -> Strategy:
    """Instantiate by name; an unknown parameter is a user error naming it."""
    cls = get_strategy_class(name)
    valid = set(cls._param_names())
    unknown = sorted(set(params) - valid)
    if unknown:
        raise SpecplanError(
            f"{cls.__name__} has no parameter {unknown[0]!r}; "
            f"parameters: {', '.join(sorted(valid))}"
        )
    return cls(**params)  # type: ignore[arg-type]


def list_strategies(available_only: bool = False) -> list[str]:
    """Canonical names; with `available_only`, only those whose module imports."""
    names = strategy_registry.names()
    if not available_only:
        return names
    out = []
    for n in names:
        try:
            strategy_registry.get(n)
        except SpecplanError:
            continue
        out.append(n)
    return out
