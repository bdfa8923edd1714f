"""Per-domain statistics: the data behind `specplan domains`.

`describe_domains` returns one plain dict per domain (JSON-ready); the CLI only formats it.
Token counts are in the project tokenizer (`domains.tokenizer.get_tokenizer`) and are cached
under ``cache_dir()/stats`` by domain fingerprint and tokenizer key, so a second call neither
tokenizes nor imports `transformers`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from domains.base import Domain, get_domain
from domains.cache import cache_dir, file_stem, read_json, stable_hash, write_json
from domains.cleaning import SPLITS
from domains.spec import BUILTIN_DOMAINS
from domains.tokenizer import DEFAULT_VOCAB_SIZE, get_tokenizer, tokenize_split, tokenizer_key


def _counts_path(domain: Domain, vocab_size: int) -> Any:
    key = stable_hash("counts-v1", domain.fingerprint, tokenizer_key(vocab_size))
    return cache_dir("stats") / f"{file_stem(domain.name)}-{key[:24]}.json"


def cached_token_counts(domain: Domain, vocab_size: int = DEFAULT_VOCAB_SIZE,
                        ) -> dict[str, int] | None:
    """`token_counts` when they are cached, else None (nothing is tokenized)."""
    cached = read_json(_counts_path(domain, vocab_size))
    if isinstance(cached, dict) and set(cached) == set(SPLITS):
        return {s: int(cached[s]) for s in SPLITS}
    return None


def token_counts(domain: Domain, vocab_size: int = DEFAULT_VOCAB_SIZE) -> dict[str, int]:
    """Tokens per split (eos after each document included), in the project tokenizer."""
    cached = cached_token_counts(domain, vocab_size)
    if cached is not None:
        return cached
    path = _counts_path(domain, vocab_size)
    tok = get_tokenizer(vocab_size)
    counts = {s: tokenize_split(domain, s, tok).n_tokens for s in SPLITS}
    write_json(path, counts)
    return counts


def describe_domain(
    domain: Domain, *, tokens: bool = True, vocab_size: int = DEFAULT_VOCAB_SIZE
) -> dict[str, Any]:
    """One domain's row: name, source, documents (and tokens) per split, licence, provenance."""
    docs = domain.n_documents()
    row: dict[str, Any] = {
        "name": domain.name,
        "source": domain.source,
        "description": domain.description,
        "documents": docs,
        "tokens": token_counts(domain, vocab_size) if tokens else None,
        "labelled": domain.has_labels,
        "licence": domain.licence,
        "provenance": domain.provenance,
        "fingerprint": domain.fingerprint,
    }
    return row


def describe_domains(
    names: Sequence[str] | None = None,
    *,
    source: str | None = None,
    text_field: str | None = None,
    tokens: bool = True,
    vocab_size: int = DEFAULT_VOCAB_SIZE,
    include_path: str | os.PathLike[str] | Sequence[Any] | None = None,
) -> list[dict[str, Any]]:
    """Rows for the named domains (built-in names or ``NAME=PATH``), default every built-in.

    Every domain is read before any token is counted, so a bad input fails fast, before the
    tokenizer is trained.
    """
    names = list(names) if names else list(BUILTIN_DOMAINS)
    domains = []
    for name in names:
        is_files = "=" in name
        d = get_domain(
            name,
            None if is_files else source,
            include_path=include_path,
            text_field=text_field if (is_files or source == "files") else None,
        )
        d.n_documents()  # read and validate now
        domains.append(d)
    return [describe_domain(d, tokens=tokens, vocab_size=vocab_size) for d in domains]
