"""`specplan domains` and the table behind it (domains.stats)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from domains import stats
from domains import tokenizer as tokmod
from planner.cli import main

VOCAB = "512"


def _user_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "contracts"
    folder.mkdir()
    for i in range(80):
        (folder / f"c{i}.txt").write_text(f"Contract {i}: the parties agree to clause {i % 9}.")
    return folder


def test_json_rows_and_counts_cache(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _user_folder(tmp_path)
    argv = [
        "domains",
        "--json",
        "--vocab-size",
        VOCAB,
        "--domain",
        "news",
        "--domain",
        f"mine={folder}",
    ]
    assert main(argv) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == ["news", "mine"]
    news, mine = rows
    assert news["source"] == "packaged" and mine["source"] == "files"
    assert sum(mine["documents"].values()) == 80
    for r in rows:
        assert set(r["documents"]) == set(r["tokens"]) == {"train", "valid", "test"}
        assert all(r["tokens"][s] > r["documents"][s] for s in r["tokens"])
        assert r["licence"] and r["provenance"] and len(r["fingerprint"]) == 64

    # second call: counts come from the cache, without loading a tokenizer
    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("token counts should be cached")

    monkeypatch.setattr(stats, "get_tokenizer", fail)
    monkeypatch.setattr(tokmod, "_train", fail)
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out) == rows


def test_text_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["domains", "--domain", "legal", "--vocab-size", VOCAB]) == 0
    out = capsys.readouterr().out
    header = out.splitlines()[0].split()
    assert header[:2] == ["domain", "source"] and "tokens" in header
    assert "legal" in out and "packaged" in out and "CC BY 4.0" in out and "provenance:" in out


def test_no_tokens_lists_every_builtin(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stats, "token_counts", lambda *a, **k: pytest.fail("no tokens wanted"))
    # biomedical is slow to parse cold: check the listing on the three fast domains
    rows = stats.describe_domains(["legal", "news", "generic"], tokens=False)
    assert [r["tokens"] for r in rows] == [None] * 3
    assert [r["name"] for r in rows] == ["legal", "news", "generic"]
    assert rows[2]["labelled"] is True
