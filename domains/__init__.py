"""Domains: real text for training and evaluation, with provenance and licence.

    >>> from domains import get_domain
    >>> d = get_domain("legal")                     # EU regulation articles, offline
    >>> train = d.documents("train")                # cleaned, deterministic split
    >>> mine = get_domain("contracts=path/to/folder")  # your own files

Built-in domains (`BUILTIN_DOMAINS`) are declared as data in ``domains/<name>/domain.yaml``
with a README citing their sources and licences. Sources, cleaning and split rules:
`domains.sources`, `domains.cleaning`. Tokenizer and token streams: `domains.tokenizer`.
Per-domain statistics (the `specplan domains` table): `domains.stats`.

The names below are imported lazily (PEP 562): ``from domains.errors import SpecplanError``
(every layer's error base) loads no other module of the package, which keeps the planning
commands' cold start short.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from domains.lazy import lazy_attribute, lazy_dir

if TYPE_CHECKING:
    from domains.base import Domain, DomainRef, get_domain, get_spec, list_domains
    from domains.cache import cache_dir
    from domains.errors import DomainError, SpecplanError
    from domains.spec import BUILTIN_DOMAINS, DomainSpec, load_spec

#: public name -> the module that defines it
_EXPORTS = {
    "BUILTIN_DOMAINS": "domains.spec",
    "Domain": "domains.base",
    "DomainRef": "domains.base",
    "DomainError": "domains.errors",
    "DomainSpec": "domains.spec",
    "SpecplanError": "domains.errors",
    "cache_dir": "domains.cache",
    "get_domain": "domains.base",
    "get_spec": "domains.base",
    "list_domains": "domains.base",
    "load_spec": "domains.spec",
}

__all__ = [
    "BUILTIN_DOMAINS",
    "Domain",
    "DomainRef",
    "DomainError",
    "DomainSpec",
    "SpecplanError",
    "cache_dir",
    "get_domain",
    "get_spec",
    "list_domains",
    "load_spec",
]


def __getattr__(name: str) -> Any:
    return lazy_attribute(__name__, _EXPORTS, name)


def __dir__() -> list[str]:
    return lazy_dir(__name__, _EXPORTS)
