"""The ``hf`` source: full-size public corpora streamed through Hugging Face `datasets`.

`datasets` is imported only when the text is read (``pip install 'specplan[hf]'``). Rows are
streamed (``streaming=True``: nothing is downloaded in full), optionally filtered on a field
(dotted paths reach into nested records, e.g. ``meta.pile_set_name`` of the Pile), and read
until a token cap is reached. The cap is counted approximately, as UTF-8 bytes divided by
`BYTES_PER_TOKEN` (the ratio the project's 8k byte-level BPE gives on English prose), so the
source does not need the tokenizer. The text is then cleaned, deduplicated and split like any
other source's, and cached on disk by the configuration and the cap.

The built-in domains declare their datasets in their ``domain.yaml`` (``hf`` mapping, with
named ``variants``); ``hf_path=`` and friends point at any other dataset, including a local
folder or JSONL file in the same format (how the tests exercise this code offline).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from domains.cache import file_stamp, stable_hash
from domains.errors import DomainError
from domains.sources import Source, did_you_mean
from domains.spec import DomainSpec

BYTES_PER_TOKEN = 4.0  # measured in benchmarks/bench_domains.py; a cap, not an exact count
DEFAULT_MAX_TOKENS = 20_000_000
_KEYS = ("path", "name", "data_files", "split", "text_field", "filter", "max_tokens")


def field_value(row: Mapping[str, Any], dotted: str) -> Any:
    """`row["a"]["b"]` for ``"a.b"``; None when any step is missing."""
    value: Any = row
    for part in dotted.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _matches(row: Mapping[str, Any], flt: Mapping[str, Any]) -> bool:
    for key, want in flt.items():
        got = field_value(row, key)
        if isinstance(want, list | tuple):
            if got not in want:
                return False
        elif got != want:
            return False
    return True


class HFSource(Source):
    """A streamed Hugging Face dataset, read up to a token cap (see the module docstring).

    Args:
        spec: the domain; its optional ``hf`` mapping gives the defaults below, and named
            alternatives under ``variants``.
        variant: one of the spec's ``hf.variants`` (e.g. ``"pile_of_law"`` for legal).
        hf_path: where the data is instead of the spec's dataset: a dataset id, a builder
            (``"json"``), a local folder or JSONL file in the same format (a mirror). The
            spec's filter, text field, cap and licence still apply unless overridden.
        hf_name: dataset configuration (``"en"`` for C4).
        hf_data_files: data files (glob or list), e.g. for the ``json`` builder.
        hf_split: split to stream (default ``train``).
        text_field: the field holding the text (default ``text``).
        hf_filter: ``{dotted.field: value or [values]}``; rows that differ are skipped.
        max_tokens: stop once about this many tokens are read (default from the spec, else 20M).
        licence: the licence to report (default from the spec).
    """

    name = "hf"

    def __init__(
        self,
        spec: DomainSpec,
        *,
        variant: str | None = None,
        hf_path: str | os.PathLike[str] | None = None,
        hf_name: str | None = None,
        hf_data_files: str | list[str] | dict[str, Any] | None = None,
        hf_split: str | None = None,
        text_field: str | None = None,
        hf_filter: Mapping[str, Any] | None = None,
        max_tokens: int | None = None,
        licence: str | None = None,
    ) -> None:
        cfg = dict(spec.sources.get("hf") or {})
        variants = cfg.pop("variants", {}) or {}
        if variant is not None:
            if variant not in variants:
                names = list(variants)
                raise DomainError(
                    f"domain '{spec.name}': unknown hf variant {variant!r}."
                    f"{did_you_mean(variant, names)} Available: {', '.join(names) or 'none'}"
                )
            cfg.update(variants[variant])
        if hf_path is not None:  # another location of the same data: the filter etc. still apply
            cfg.update(path=str(hf_path), name=None, data_files=None)
        over = {
            "name": hf_name,
            "data_files": hf_data_files,
            "split": hf_split,
            "text_field": text_field,
            "filter": hf_filter,
            "max_tokens": max_tokens,
        }
        cfg.update({k: v for k, v in over.items() if v is not None})
        if not cfg.get("path"):
            raise DomainError(f"domain '{spec.name}' has no hf dataset; give hf_path=")
        self.domain = spec.name
        self.config: dict[str, Any] = {k: cfg.get(k) for k in _KEYS}
        self.config["split"] = self.config["split"] or "train"
        self.config["text_field"] = self.config["text_field"] or "text"
        self.config["max_tokens"] = int(self.config["max_tokens"] or DEFAULT_MAX_TOKENS)
        if self.config["max_tokens"] <= 0:
            raise DomainError(f"domain '{spec.name}': max_tokens must be positive")
        self.licence = str(licence or cfg.get("licence") or "see the dataset card").strip()
        what = self.config["path"] + (f" ({self.config['name']})" if self.config["name"] else "")
        if self.config["data_files"]:
            what += f" {self.config['data_files']}"
        if self.config["filter"]:
            what += f" where {self.config['filter']}"
        self.description = str(cfg.get("description", "")).strip()
        prov = str(cfg.get("provenance", "")).strip()
        self.provenance = (
            f"{prov + ' ' if prov else ''}[hf: {what}, split {self.config['split']}, "
            f"~{self.config['max_tokens']:,} tokens]"
        )

    def cache_key(self) -> str | None:
        local = Path(self.config["path"])
        stamp = (
            file_stamp(sorted(p for p in local.rglob("*") if p.is_file()))
            if local.is_dir()
            else file_stamp([local])
            if local.is_file()
            else []
        )
        return stable_hash("hf", self.config, stamp)

    def _dataset(self) -> Any:
        try:
            import datasets
        except ImportError:
            raise DomainError(
                f"domain '{self.domain}': the hf source needs `datasets`: "
                "pip install 'specplan[hf]'"
            ) from None
        c = self.config
        path = c["path"]
        kwargs: dict[str, Any] = {"split": c["split"], "streaming": True}
        if c["data_files"] is not None:
            kwargs["data_files"] = c["data_files"]
        if Path(path).is_file():  # a local JSON-lines file in the dataset's format
            path, kwargs["data_files"] = "json", str(path)
        try:
            return datasets.load_dataset(path, c["name"], **kwargs)
        except Exception as err:  # network, auth, missing dataset: all user-facing here
            first = (str(err).splitlines() or [type(err).__name__])[0]
            raise DomainError(f"hf dataset {c['path']!r} could not be opened: {first}") from None

    def read(self) -> Iterator[tuple[str, str | None]]:
        c = self.config
        budget = c["max_tokens"] * BYTES_PER_TOKEN
        used = 0.0
        for row in self._dataset():
            if c["filter"] and not _matches(row, c["filter"]):
                continue
            text = field_value(row, c["text_field"])
            if text is None:
                raise DomainError(
                    f"hf dataset {c['path']!r}: row has no {c['text_field']!r} field "
                    f"(fields: {', '.join(row)}); choose one with text_field="
                )
            text = str(text)
            yield text, None
            used += len(text.encode("utf-8"))
            if used >= budget:
                break
