"""The `hf` source, against a small local fixture in the Pile's format (never the network)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from domains import DomainError, get_domain
from domains.sources.hf import BYTES_PER_TOKEN, field_value

SETS = ("PubMed Abstracts", "FreeLaw", "Pile-CC")


@pytest.fixture(scope="module")
def pile_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Local JSON lines like `monology/pile-uncopyrighted`: text + meta.pile_set_name."""
    folder = tmp_path_factory.mktemp("pile")
    for part in range(2):
        with open(folder / f"part-{part}.jsonl", "w", encoding="utf-8") as f:
            for i in range(150):
                name = SETS[i % 3]
                text = f"{name} record {part}-{i}: " + "words of the record " * (1 + i % 5)
                f.write(json.dumps({"text": text, "meta": {"pile_set_name": name}}) + "\n")
    return folder


def test_streams_and_filters_like_the_pile(pile_folder: Path) -> None:
    pytest.importorskip("datasets")
    d = get_domain("biomedical", source="hf", hf_path=pile_folder)  # the spec's filter applies
    docs = d.documents("train") + d.documents("valid") + d.documents("test")
    assert len(docs) == 100 and all(doc.startswith("PubMed Abstracts record") for doc in docs)
    assert d.source == "hf" and "pile" in d.provenance and "NLM" in d.licence


def test_token_cap_stops_early(pile_folder: Path) -> None:
    pytest.importorskip("datasets")
    d = get_domain("x", source="hf", hf_path=pile_folder, hf_filter={}, max_tokens=2_000)
    docs = d.documents("train") + d.documents("valid") + d.documents("test")
    n_bytes = sum(len(doc.encode()) for doc in docs)
    # the stream stops at the first document that reaches the cap (<= one document over);
    # cleaning then strips each raw document's trailing space
    cap = 2_000 * BYTES_PER_TOKEN
    assert cap - len(docs) <= n_bytes < cap + 200
    assert len(docs) < 300


def test_missing_text_field(pile_folder: Path) -> None:
    pytest.importorskip("datasets")
    with pytest.raises(DomainError, match=r"row has no 'body' field \(fields: text, meta\)"):
        get_domain("x", source="hf", hf_path=pile_folder, text_field="body").documents("train")


def test_without_datasets(monkeypatch: pytest.MonkeyPatch, pile_folder: Path) -> None:
    monkeypatch.setitem(sys.modules, "datasets", None)  # import datasets -> ImportError
    with pytest.raises(DomainError, match=r"needs `datasets`: pip install 'specplan\[hf\]'"):
        get_domain("legal", source="hf", hf_path=pile_folder, max_tokens=10).documents("test")


def test_variants_and_defaults() -> None:
    legal = get_domain("legal", source="hf", max_tokens=2_000_000)  # lazy: no network
    assert "FreeLaw" in legal.provenance and "2,000,000" in legal.provenance
    pol = get_domain("legal", source="hf", variant="pile_of_law")
    assert "pile-of-law" in pol.provenance and "NC-SA" in pol.licence
    with pytest.raises(
        DomainError, match=r"unknown hf variant 'pile_of_lw'\. Did you mean: pile_of_law\?"
    ):
        get_domain("legal", source="hf", variant="pile_of_lw")
    assert "allenai/c4 (en)" in get_domain("generic", source="hf").provenance


def test_field_value() -> None:
    row = {"text": "t", "meta": {"pile_set_name": "FreeLaw"}}
    assert field_value(row, "meta.pile_set_name") == "FreeLaw"
    assert field_value(row, "meta.missing") is None and field_value(row, "text.x") is None
