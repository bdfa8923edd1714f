"""Case 2 of the bad-input issue: no whitespace or separator character glues two words."""

from __future__ import annotations

import json
import sys
import unicodedata
from pathlib import Path

import pytest

from domains.cleaning import normalize_text


def _whitespace_like() -> list[str]:
    """Every code point Python calls whitespace, every Unicode line/paragraph/space separator,
    and every character `str.splitlines` breaks at."""
    out = []
    for code in range(sys.maxunicode + 1):
        c = chr(code)
        if c.isspace() or unicodedata.category(c) in ("Zs", "Zl", "Zp") or \
                len(f"a{c}b".splitlines()) > 1:
            out.append(c)
    return out


@pytest.mark.parametrize("char", _whitespace_like(), ids=lambda c: f"U+{ord(c):04X}")
def test_every_separator_becomes_a_space_or_a_break(char: str) -> None:
    assert normalize_text(f"first{char}second") in ("first second", "first\nsecond",
                                                     "first\n\nsecond")


@pytest.mark.parametrize(("char", "expected"), [
    ("\v", "first line\nsecond line"),  # a manual line break in word-processor exports
    ("\f", "first line\n\nsecond line"),  # a page break
    ("\u2028", "first line\nsecond line"),
    ("\u2029", "first line\n\nsecond line"),
    ("\x85", "first line\nsecond line"),
])
def test_case2_line_and_page_breaks(char: str, expected: str) -> None:
    assert normalize_text(f"first line{char}second line") == expected


def test_case2_vertical_tab_and_form_feed_through_a_domain(tmp_path: Path) -> None:
    """`specplan domains --domain w=vtff.jsonl`, then a train document through the API."""
    from domains import get_domain
    from planner.cli import main

    path = tmp_path / "vtff.jsonl"
    rows = [{"text": f"Clause {i}.\vThe supplier shall deliver the goods {i}.\fPayment is due "
                     f"within {i + 10} days of the invoice."} for i in range(60)]
    path.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    assert main(["domains", "--domain", f"w={path}", "--no-tokens", "--json"]) == 0
    docs = get_domain(f"w={path}").documents("train")
    assert docs
    for d in docs:
        assert "\v" not in d and "\f" not in d
        assert ".The" not in d and ".Payment" not in d  # the glued form of today
        assert "\nThe supplier" in d and "\n\nPayment" in d


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32", "utf-8"])
@pytest.mark.parametrize("kind", ["jsonl", "txt"])
def test_line_files_in_wide_encodings(tmp_path: Path, encoding: str, kind: str) -> None:
    """JSONL and one-document-per-line text in UTF-16/32 (was: 'not valid utf-16' at line 2,
    the byte-level line split cut the two-byte line break); a raw U+2028 inside a JSON
    string is not a line end."""
    from domains import get_domain

    docs = [f"Document {i} on payment\u2028terms and the supplier's duties." for i in range(80)]
    if kind == "jsonl":
        text = "\r\n".join(json.dumps({"text": d}, ensure_ascii=False) for d in docs)
    else:
        text = "\n".join(docs)
    path = tmp_path / f"docs.{kind}"
    path.write_bytes(text.encode(encoding))
    d = get_domain(f"wide={path}", encoding=encoding, one_per_line=(kind == "txt") or None)
    assert sum(d.n_documents().values()) == 80
    assert all("\npayment" not in x and "payment\nterms" in x for x in d.documents("train"))
