"""Property-based fuzzing (hypothesis) of the ``files`` source and the domain-name rules:
generated JSONL, CSV and text files with random bytes, separators and encodings give
documents or one line of error (a `SpecplanError`; exit 2 on the command line), never a
traceback. Seeded (``derandomize=True``) and bounded."""

from __future__ import annotations

import csv
import io
import json
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from domains import DomainError, DomainSpec, SpecplanError, get_domain
from domains.cache import file_stem
from domains.cleaning import normalize_text
from domains.spec import name_problem

FUZZ = settings(max_examples=60, derandomize=True, deadline=None,
                suppress_health_check=[HealthCheck.too_slow,
                                       HealthCheck.function_scoped_fixture])

_SEPARATORS = ["\n", "\r\n", "\r", "\v", "\f", "\x85", "\u2028", "\u2029", "\t", "\x00",
               "\x1c", "\ufeff", "\u200b", " ", "\u00a0", "\u3000"]
_WORDS = st.sampled_from(["contract", "Vertrag", "契約書", "договор", "عقد", "naïve",
                          "clause", "🙂", "supplier", "payment", "", "  "])
_ENCODINGS = st.sampled_from(["utf-8", "utf-16", "utf-8-sig", "latin-1", "cp1252"])


@st.composite
def _texts(draw: st.DrawFn) -> str:
    parts = draw(st.lists(st.tuples(_WORDS, st.sampled_from(_SEPARATORS)), max_size=40))
    return "".join(w + s for w, s in parts) + draw(st.text(max_size=30))


@st.composite
def _files(draw: st.DrawFn) -> tuple[str, bytes, str, str | None]:
    """(file name, bytes, encoding option, text_field option)."""
    kind = draw(st.sampled_from(["jsonl", "csv", "txt", "bytes"]))
    enc = draw(_ENCODINGS)
    n = draw(st.sampled_from([0, 3, 80]))  # 80: enough for train/valid/test splits
    docs = [f"Clause {i} of the agreement between the parties. {t}"
            for i, t in enumerate(draw(st.lists(_texts(), min_size=n, max_size=n)))]
    field = draw(st.sampled_from(["text", "body", "Text"]))
    if kind == "jsonl":
        rows = [json.dumps({field: d}, ensure_ascii=draw(st.booleans())) for d in docs]
        rows += draw(st.lists(st.sampled_from(["", "{", "[1]", '{"text": 5}', "null"]),
                              max_size=2))
        sep = draw(st.sampled_from(["\n", "\r\n"]))
        text = sep.join(rows)
        name = "data.jsonl"
    elif kind == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator=draw(st.sampled_from(["\n", "\r\n"])))
        w.writerow([field, "label"])
        for d in docs:
            w.writerow([d, draw(st.sampled_from(["a", "b,c", '"q"']))])
        text = buf.getvalue()
        name = "data.csv"
    elif kind == "txt":
        text = "\n\n".join(docs)
        name = "data.txt"
    else:
        return ("data." + draw(st.sampled_from(["jsonl", "csv", "txt"])),
                draw(st.binary(max_size=2000)), enc, draw(st.sampled_from(["text", None])))
    try:
        data = text.encode(enc)
    except UnicodeEncodeError:
        data = text.encode("utf-8")
        enc = "utf-8"
    option = draw(st.sampled_from([enc, "utf-8"]))  # sometimes the wrong encoding
    return name, data, option, draw(st.sampled_from([field, None, "text"]))


@FUZZ
@given(_files())
def test_files_source_reads_documents_or_fails_in_one_line(
        tmp_path: Path, file: tuple[str, bytes, str, str | None]) -> None:
    name, data, encoding, text_field = file
    folder = tmp_path / uuid.uuid4().hex[:8]
    folder.mkdir()
    path = folder / name
    path.write_bytes(data)
    try:
        d = get_domain(f"fuzz={path}", encoding=encoding, text_field=text_field)
        counts = d.n_documents()
        docs = d.documents("train")
    except SpecplanError as err:
        msg = str(err)
        assert msg and "\n" not in msg and "Traceback" not in msg, msg
        event("one-line error")
        return
    event("documents")
    assert sum(counts.values()) >= len(docs) > 0
    for doc in docs:
        assert isinstance(doc, str) and doc == normalize_text(doc)  # cleaned, idempotent
        assert "\v" not in doc and "\f" not in doc and "\x00" not in doc


@FUZZ
@given(st.binary(max_size=400), st.sampled_from(["jsonl", "csv", "txt"]))
def test_domains_command_on_random_bytes(tmp_path: Path, data: bytes, ext: str) -> None:
    """`specplan domains --domain x=FILE`: exit 0 or 2 with one line, never a traceback."""
    from contextlib import redirect_stderr, redirect_stdout

    from planner.cli import main

    path = tmp_path / f"{uuid.uuid4().hex[:8]}.{ext}"
    path.write_bytes(data)
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        rc = main(["domains", "--domain", f"x={path}", "--no-tokens", "--json"])
    if rc == 0:
        json.loads(out.getvalue())
    else:
        assert rc == 2 and out.getvalue() == ""
        lines = err.getvalue().strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("specplan domains: error: "), lines


@settings(max_examples=300, derandomize=True, deadline=None)
@given(st.text(max_size=120))
def test_domain_name_rules(name: str) -> None:
    """Any text is a valid name or a DomainError saying why; a valid name survives
    NAME=PATH, and its file stem is a safe file name."""
    problem = name_problem(name)
    if problem:
        with pytest.raises(DomainError, match="invalid domain name"):
            DomainSpec(name=name)
        return
    assert DomainSpec(name=name).name == name
    stem = file_stem(name)
    assert stem and len(stem) <= 40 and all(c.isalnum() or c in "_.-" for c in stem)
    assert stem.isascii() and stem not in (".", "..")
    d = get_domain(f"{name}=/nonexistent/folder")  # lazy: the name is parsed, nothing read
    assert d.name == name
