"""Domains: real text for training and evaluation, with provenance and licence.

    >>> from domains import get_domain
    >>> d = get_domain("legal")                     # EU regulation articles, offline
    >>> train = d.documents("train")                # cleaned, deterministic split
    >>> mine = get_domain("contracts=path/to/folder")  # your own files

Built-in domains (`BUILTIN_DOMAINS`) are declared as data in ``domains/<name>/domain.yaml``
with a README citing their sources and licences. Sources, cleaning and split rules:
`domains.sources`, `domains.cleaning`. Tokenizer and token streams: `domains.tokenizer`.
Per-domain statistics (the `specplan domains` table): `domains.stats`.
"""

from domains.base import Domain, DomainRef, get_domain, get_spec, list_domains
from domains.cache import cache_dir
from domains.errors import DomainError, SpecplanError
from domains.spec import BUILTIN_DOMAINS, DomainSpec, load_spec

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
