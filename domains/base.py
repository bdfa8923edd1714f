"""`Domain`: a named corpus with deterministic train / valid / test splits.

`get_domain(name)` reads ``domains/<name>/domain.yaml`` (or a user YAML, see `domains.spec`),
picks a source (``packaged`` by default) and returns a lazy `Domain`: nothing is read until
`documents`, `labels` or `fingerprint` is first used. Then the source's raw text is cleaned,
deduplicated and split by `domains.cleaning` and cached twice: on disk under
``cache_dir()/corpora`` (keyed by the source's files' size and mtime, or the dataset config,
so the ~10 s PubMed parse happens once) and in memory for the process.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from domains.cache import cache_dir, file_stem, read_json, stable_hash, write_json
from domains.cleaning import SPLITS, clean_documents, split_rule
from domains.errors import DomainError
from domains.neardup import RULE as NEARDUP_RULE
from domains.neardup import assign_group_splits, near_duplicate_groups
from domains.sources import Source, did_you_mean, make_source
from domains.spec import BUILTIN_DOMAINS, DomainSpec, load_spec, spec_files

_CACHE_FORMAT = 1
_MEMORY: dict[str, _Corpus] = {}
_MEMORY_SIZE = 8
_NAME_EQ_PATH = re.compile(r"^([^=]+)=(.+)$", re.DOTALL)


@dataclass(frozen=True)
class _Corpus:
    docs: list[str]
    labels: list[str | None]
    splits: dict[str, list[int]]
    fingerprint: str


class Domain:
    """A domain's cleaned documents, split deterministically, with licence and provenance.

    Built by `get_domain`; not usually constructed directly.

    Args:
        spec: what the domain is (name, description, cleaning and split settings).
        source: where its raw text comes from.

    Example:
        >>> d = get_domain("news")
        >>> d.name, d.source
        ('news', 'packaged')
        >>> len(d.documents("test")) > 0
        True
    """

    def __init__(self, spec: DomainSpec, source: Source) -> None:
        self.spec = spec
        self._source = source
        self._corpus: _Corpus | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def source(self) -> str:
        """The source's name: ``packaged``, ``files`` or ``hf``."""
        return self._source.name

    @property
    def licence(self) -> str:
        return self._source.licence

    @property
    def provenance(self) -> str:
        return self._source.provenance

    @property
    def description(self) -> str:
        """The source's own description when it has one, else the domain's."""
        return self._source.description or self.spec.description

    @property
    def split_rule(self) -> str:
        s = self.spec
        return f"{split_rule(s.valid_fraction, s.test_fraction, s.min_chars)};{NEARDUP_RULE}"

    def __repr__(self) -> str:
        return f"Domain(name={self.name!r}, source={self.source!r})"

    # -- the corpus ------------------------------------------------------------------------
    def documents(self, split: str) -> list[str]:
        """The cleaned documents of `split` (``train``, ``valid`` or ``test``), in source order.

        The corpus is cached in memory; each call returns a new list.
        """
        corpus = self._load()
        return [corpus.docs[i] for i in corpus.splits[_check_split(split)]]

    def labels(self, split: str) -> list[str | None]:
        """A label per document of `split` (e.g. the Wikipedia topic for ``generic``; the
        regulation for ``legal``), aligned with `documents`; None where the source has none."""
        corpus = self._load()
        return [corpus.labels[i] for i in corpus.splits[_check_split(split)]]

    @property
    def has_labels(self) -> bool:
        return any(label is not None for label in self._load().labels)

    def n_documents(self) -> dict[str, int]:
        """Documents per split."""
        return {s: len(ix) for s, ix in self._load().splits.items()}

    def card(self) -> dict[str, str]:
        """Where the text comes from, for people: ``source``, ``licence``, ``provenance``,
        ``description``, ``documents`` ("train / valid / test" counts) and ``fingerprint``.
        Stored with every run, so a report can show it without reading the data again.
        Reads the corpus (raises `DomainError` where it cannot)."""
        n = self.n_documents()
        return {"source": self.source, "licence": self.licence,
                "provenance": self.provenance, "description": self.description,
                "documents": " / ".join(f"{n[s]:,}" for s in SPLITS),
                "fingerprint": self.fingerprint}

    @property
    def fingerprint(self) -> str:
        """sha256 of the split rule and the cleaned documents in order: a cache key for
        anything derived from this corpus (token streams, embeddings, models)."""
        return self._load().fingerprint

    def _load(self) -> _Corpus:
        if self._corpus is None:
            self._corpus = _load_corpus(self.spec, self._source, self.split_rule)
        return self._corpus


def _check_split(split: str) -> str:
    if split not in SPLITS:
        raise DomainError(f"unknown split {split!r} (expected one of: {', '.join(SPLITS)})")
    return split


def _fingerprint(rule: str, docs: Sequence[str]) -> str:
    h = hashlib.sha256(rule.encode())
    for doc in docs:
        h.update(b"\x00")
        h.update(doc.encode("utf-8"))
    return h.hexdigest()


def _load_corpus(spec: DomainSpec, source: Source, rule: str) -> _Corpus:
    key = source.cache_key()
    full_key = (
        None if key is None else stable_hash(_CACHE_FORMAT, spec.name, source.name, rule, key)
    )
    if full_key is not None and full_key in _MEMORY:
        return _MEMORY[full_key]
    path = (
        None
        if full_key is None
        else cache_dir("corpora") / f"{file_stem(spec.name)}-{source.name}-{full_key[:20]}.json"
    )
    cached = read_json(path) if path is not None else None
    if isinstance(cached, dict) and cached.get("key") == full_key and "groups" in cached:
        docs, labels, fp = cached["docs"], cached["labels"], cached["fingerprint"]
        groups = cached["groups"]
    else:
        pairs = list(source.read())
        docs, labels = clean_documents(
            (t for t, _ in pairs), (lab for _, lab in pairs), min_chars=spec.min_chars
        )
        if not docs:
            raise DomainError(
                f"domain '{spec.name}' ({source.name}): no documents left after cleaning "
                f"(read {len(pairs)}; all empty, shorter than {spec.min_chars} characters "
                "or duplicates)"
            )
        fp = _fingerprint(rule, docs)
        groups = near_duplicate_groups(docs)  # near-duplicates share a split (issue 12)
        if path is not None:
            write_json(path, {"key": full_key, "fingerprint": fp, "docs": docs, "labels": labels,
                              "groups": groups})
    splits = assign_group_splits(
        docs, groups, valid_fraction=spec.valid_fraction, test_fraction=spec.test_fraction
    )
    empty = [s for s in SPLITS if not splits[s]]
    if empty:
        need = int(3 / min(spec.valid_fraction, spec.test_fraction))
        raise DomainError(
            f"domain '{spec.name}' ({source.name}): {len(docs)} document(s) after cleaning are "
            f"too few to split into train/valid/test ({', '.join(empty)} would be empty); "
            f"give it at least ~{need} documents"
        )
    corpus = _Corpus(docs, labels, splits, fp)
    if full_key is not None:
        if len(_MEMORY) >= _MEMORY_SIZE:
            _MEMORY.pop(next(iter(_MEMORY)))
        _MEMORY[full_key] = corpus
    return corpus


def clear_memory_cache() -> None:
    """Forget the corpora kept in memory (the disk cache stays); for tests."""
    _MEMORY.clear()


# -- lookup ----------------------------------------------------------------------------------
def list_domains(include_path: str | os.PathLike[str] | Sequence[Any] | None = None) -> list[str]:
    """Names of the available domains: the built-ins first, then user-declared ones."""
    names = list(spec_files(include_path))
    return [n for n in BUILTIN_DOMAINS if n in names] + [
        n for n in names if n not in BUILTIN_DOMAINS
    ]


def get_spec(
    name: str, include_path: str | os.PathLike[str] | Sequence[Any] | None = None
) -> DomainSpec:
    """The `DomainSpec` of a declared domain; an unknown name suggests the closest."""
    files = spec_files(include_path)
    if name not in files:
        raise DomainError(
            f"unknown domain {name!r}.{did_you_mean(name, list(files))} "
            f"Available: {', '.join(files)}; or NAME=PATH for your own files"
        )
    return load_spec(files[name])


class DomainRef(str):
    """A domain name (``NAME`` or ``NAME=PATH``) that carries source options along.

    It *is* the plain string (``DomainRef("mine=a.jsonl", text_field="body") ==
    "mine=a.jsonl"``), so plans, logs and process pools that pass domain names around carry it
    unchanged, and `get_domain` adds its `options` (say the files source's ``text_field``) to
    its own. This is how ``--text-field`` and the other files options reach every command that
    takes ``--domain NAME=PATH`` (`planner.cli.commands._common.domain_refs`).

    Args:
        text: the domain name as typed.
        **options: source options (None values are dropped).
    """

    options: dict[str, Any]

    def __new__(cls, text: str, **options: Any) -> DomainRef:
        ref = super().__new__(cls, text)
        ref.options = {k: v for k, v in options.items() if v is not None}
        return ref

    def __reduce__(self) -> tuple[Any, ...]:  # pickled across process pools with its options
        return (_domain_ref, (str(self), dict(self.options)))

    def __repr__(self) -> str:
        opts = "".join(f", {k}={v!r}" for k, v in self.options.items())
        return f"DomainRef({str(self)!r}{opts})"


def _domain_ref(text: str, options: dict[str, Any]) -> DomainRef:
    return DomainRef(text, **options)


def get_domain(
    name: str,
    source: str | None = None,
    *,
    include_path: str | os.PathLike[str] | Sequence[Any] | None = None,
    **options: Any,
) -> Domain:
    """A `Domain` by name (lazy: nothing is read yet).

    Args:
        name: a declared domain (``biomedical``, ``legal``, ``news``, ``generic``, or one in
            `include_path`), or ``NAME=PATH`` for your own file or folder (the ``files`` source).
        source: ``packaged`` (default for the built-ins: offline, registry packages),
            ``files`` or ``hf``.
        include_path: extra folders of domain YAML files.
        **options: options of the source: ``files``: path, text_field, label_field, encoding,
            one_per_line, licence; ``hf``: variant, hf_path, hf_name, hf_data_files, hf_split,
            text_field, hf_filter, max_tokens, licence. None values are ignored.

    Raises:
        DomainError: unknown domain, source or option; a bad spec. Problems with the text
            itself (missing or unreadable files, too few documents) are raised on first read.
    """
    if isinstance(name, DomainRef):  # options carried by the name; explicit ones win
        options = {**name.options, **{k: v for k, v in options.items() if v is not None}}
    m = _NAME_EQ_PATH.match(name)
    if m:
        name, path = m.group(1), m.group(2)
        if source not in (None, "files"):
            raise DomainError(f"domain '{name}': NAME=PATH reads files, not source {source!r}")
        source, options = "files", {**options, "path": path}
    where = {"files": options.get("path"), "hf": options.get("hf_path")}.get(source or "")
    if where is not None and name not in spec_files(include_path):  # an ad-hoc user domain
        spec = DomainSpec(
            name=name, description=f"user data at {where}", default_source=str(source)
        )
    else:
        spec = get_spec(name, include_path)
    chosen = source or spec.default_source
    return Domain(spec, make_source(spec, chosen, options))
