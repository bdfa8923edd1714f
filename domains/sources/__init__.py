"""Data sources: where a domain's raw text comes from, chosen by name.

- ``packaged`` (`domains.sources.packaged`): real text shipped inside registry packages,
  located through `importlib.metadata` file lists (the packages are never imported).
- ``files`` (`domains.sources.files`): the user's own file or folder of ``.txt``, ``.jsonl``,
  ``.csv`` or ``.parquet`` (``.gz`` accepted for the text formats).
- ``hf`` (`domains.sources.hf`): full-size public datasets streamed through `datasets`.

A source reads raw `(text, label)` pairs; cleaning, deduplication and splitting happen once,
in `domains.base`, for every source alike.
"""

from __future__ import annotations

import abc
import difflib
import importlib
import inspect
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

from domains.errors import DomainError
from domains.spec import SOURCE_NAMES, DomainSpec

# name -> "module:Class"; imported on use (the hf source pulls in `datasets` only when read).
_SOURCES: dict[str, str] = {
    "packaged": "domains.sources.packaged:PackagedSource",
    "files": "domains.sources.files:FilesSource",
    "hf": "domains.sources.hf:HFSource",
}
assert tuple(_SOURCES) == SOURCE_NAMES


class Source(abc.ABC):
    """One way of reading a domain's raw text.

    Subclasses take the domain's `DomainSpec` and keyword-only options (their defaults come
    from the spec's mapping for this source) and implement `read`.
    """

    name: ClassVar[str]
    licence: str
    provenance: str
    description: str = ""  # what this source's text is, when it differs from the domain's

    @abc.abstractmethod
    def read(self) -> Iterator[tuple[str, str | None]]:
        """Yield raw `(text, label)` pairs in source order (label None when there is none)."""

    @abc.abstractmethod
    def cache_key(self) -> str | None:
        """A key that changes whenever the raw text could (file stamps, config); None: no cache."""


def did_you_mean(word: str, choices: list[str] | tuple[str, ...]) -> str:
    """' Did you mean: x?' when `word` is close to one of `choices`, else ''."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" Did you mean: {close[0]}?" if close else ""


def source_class(name: str) -> type[Source]:
    """The `Source` subclass registered as `name`; a miss suggests the closest name."""
    if name not in _SOURCES:
        raise DomainError(
            f"unknown source {name!r}.{did_you_mean(name, SOURCE_NAMES)} "
            f"Available: {', '.join(SOURCE_NAMES)}"
        )
    module, cls = _SOURCES[name].split(":")
    return getattr(importlib.import_module(module), cls)  # type: ignore[no-any-return]


def make_source(spec: DomainSpec, name: str, options: Mapping[str, Any]) -> Source:
    """Instantiate source `name` for `spec`; unknown options are an error naming the option."""
    if name not in _SOURCES:
        raise DomainError(
            f"domain '{spec.name}': unknown source {name!r}.{did_you_mean(name, SOURCE_NAMES)} "
            f"Available: {', '.join(SOURCE_NAMES)}"
        )
    cls = source_class(name)
    params = [
        p.name
        for p in inspect.signature(cls.__init__).parameters.values()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    ]
    given = {k: v for k, v in options.items() if v is not None}
    for key in given:
        if key not in params:
            raise DomainError(
                f"domain '{spec.name}': source {name!r} takes no option {key!r}."
                f"{did_you_mean(key, params)} Options: {', '.join(params)}"
            )
    factory: Any = cls  # subclasses add keyword-only options to __init__
    return factory(spec, **given)  # type: ignore[no-any-return]
