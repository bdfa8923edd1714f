"""The `files` source: the user's own documents in every supported format."""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

import pytest

from domains import get_domain
from domains.sources.files import shared_data_dir

N = 120  # enough documents for three non-empty hash splits


def _texts(n: int = N, prefix: str = "document") -> list[str]:
    return [f"{prefix} number {i}: some words about topic {i % 7}." for i in range(n)]


def _all(d) -> list[str]:  # type: ignore[no-untyped-def]
    return d.documents("train") + d.documents("valid") + d.documents("test")


def test_txt_folder_one_document_per_file(tmp_path: Path) -> None:
    folder = tmp_path / "corpus"
    (folder / "sub").mkdir(parents=True)
    for i, text in enumerate(_texts()):
        (folder / ("sub" if i % 2 else "") / f"{i:03d}.txt").write_text(
            text + "\n\nsecond paragraph"
        )
    (folder / ".hidden.txt").write_text("a hidden file that must be skipped entirely")
    (folder / "notes.docx").write_bytes(b"\x00\x01")  # other extensions are skipped
    d = get_domain(f"mine={folder}")
    assert (d.name, d.source) == ("mine", "files")
    docs = _all(d)
    assert len(docs) == N and all(doc.endswith("\n\nsecond paragraph") for doc in docs)
    assert "user-supplied" in d.licence and str(folder) in d.provenance


def test_txt_one_per_line(tmp_path: Path) -> None:
    f = tmp_path / "lines.txt"
    f.write_text("\n".join(_texts()) + "\n\n")
    assert len(_all(get_domain("x", source="files", path=f, one_per_line=True))) == N


def test_jsonl_with_text_and_label_fields(tmp_path: Path) -> None:
    f = tmp_path / "docs.jsonl"
    rows = [{"body": t, "kind": f"k{i % 3}"} for i, t in enumerate(_texts())]
    f.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    d = get_domain("x", source="files", path=str(f), text_field="body", label_field="kind")
    assert len(_all(d)) == N and set(d.labels("train")) == {"k0", "k1", "k2"}


def test_jsonl_gz(tmp_path: Path) -> None:
    f = tmp_path / "docs.jsonl.gz"
    with gzip.open(f, "wt", encoding="utf-8") as out:
        out.writelines(json.dumps({"text": t}) + "\n" for t in _texts())
    assert len(_all(get_domain(f"gz={f}"))) == N


def test_csv_column(tmp_path: Path) -> None:
    f = tmp_path / "docs.csv"
    with open(f, "w", newline="", encoding="utf-8") as out:
        w = csv.writer(out)
        w.writerow(["id", "content"])
        w.writerows([i, t + "\nwith, a comma"] for i, t in enumerate(_texts()))
    d = get_domain("x", source="files", path=f, text_field="content")
    assert len(_all(d)) == N and all("with, a comma" in doc for doc in _all(d))


def test_csv_with_byte_order_mark(tmp_path: Path) -> None:
    f = tmp_path / "excel.csv"
    rows = "".join(f'"{t}"\r\n' for t in _texts())
    f.write_bytes(b"\xef\xbb\xbf" + ("text\r\n" + rows).encode())
    assert len(_all(get_domain(f"bom={f}"))) == N


def test_parquet_column(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    f = tmp_path / "docs.parquet"
    pq.write_table(pa.table({"text": _texts(), "n": list(range(N))}), f)
    assert len(_all(get_domain(f"pq={f}"))) == N


def test_mixed_folder_and_dedup(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text("\n".join(json.dumps({"text": t}) for t in _texts()))
    (tmp_path / "b.txt").write_text(_texts()[0])  # a duplicate of the first JSONL document
    (tmp_path / "c.txt").write_text("tiny")  # shorter than 20 characters: dropped
    assert len(_all(get_domain(f"mixed={tmp_path}"))) == N


def test_builtin_name_with_user_files(tmp_path: Path) -> None:
    (tmp_path / "d.jsonl").write_text("\n".join(json.dumps({"text": t}) for t in _texts()))
    d = get_domain(f"legal={tmp_path}")
    assert d.name == "legal" and d.source == "files" and "user-supplied" in d.licence


@pytest.mark.parametrize(
    ("name", "minimum", "label"), [("legal", 13_000, "task"), ("news", 2_000, "category")]
)
def test_shared_corpora_through_the_files_source(name: str, minimum: int, label: str) -> None:
    if not shared_data_dir().is_dir():
        pytest.skip(f"{shared_data_dir()} is absent (the larger corpora are optional)")
    d = get_domain(name, source="files")
    assert sum(d.n_documents().values()) >= minimum
    assert d.has_labels and "shared" in d.provenance
