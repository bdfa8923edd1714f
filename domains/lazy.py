"""Lazy re-exports for a package's ``__init__`` (PEP 562), shared by `domains`,
`strategies` and `planner`: a public name is imported from the module that defines it on
first use, so importing the package loads nothing else (the planning commands' cold start).

    _EXPORTS = {"get_domain": "domains.base"}

    def __getattr__(name: str) -> Any:
        return lazy_attribute(__name__, _EXPORTS, name)

    def __dir__() -> list[str]:
        return lazy_dir(__name__, _EXPORTS)
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Mapping
from typing import Any


def lazy_attribute(package: str, exports: Mapping[str, str], name: str) -> Any:
    """`name` from the module `exports` maps it to, cached in `package`'s namespace.

    Raises:
        AttributeError: `name` is not one of `package`'s exports.
    """
    if name not in exports:
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(exports[name]), name)
    setattr(sys.modules[package], name, value)
    return value


def lazy_dir(package: str, exports: Mapping[str, str]) -> list[str]:
    """`package`'s namespace and its lazy exports, sorted (the module's ``__dir__``)."""
    return sorted({*vars(sys.modules[package]), *exports})
