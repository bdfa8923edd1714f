"""Cleaning and split rules (domains.cleaning) on hand-sized inputs."""

from __future__ import annotations

import pytest

from domains.cleaning import (
    assign_splits,
    clean_documents,
    normalize_text,
    split_of,
    split_rule,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  hello   world \t ", "hello world"),
        ("a\r\nb\rc", "a\nb\nc"),
        ("para one  \n\n\n\n  para two", "para one\n\npara two"),
        ("no\u00a0break\u2009space", "no break space"),
        ("zero\u200bwidth\x00 ctrl\x07", "zerowidth ctrl"),
        ("cafe\u0301", "caf\u00e9"),  # NFC
        ("   \n\t  ", ""),
    ],
)
def test_normalize_text(raw: str, expected: str) -> None:
    assert normalize_text(raw) == expected


def test_clean_drops_short_empty_and_duplicates_keeping_first() -> None:
    docs = [
        "a long enough document here",
        "",
        "short",
        "a  long enough document here",
        "another fine document",
    ]
    labels = ["x", "y", "z", "dup", "w"]
    out, out_labels = clean_documents(docs, labels, min_chars=10)
    assert out == ["a long enough document here", "another fine document"]
    assert out_labels == ["x", "w"]  # the first copy (and its label) is kept


def test_clean_without_labels_gives_none() -> None:
    out, labels = clean_documents(["twenty-one characters"], min_chars=20)
    assert out == ["twenty-one characters"] and labels == [None]


def test_split_depends_only_on_the_text() -> None:
    docs = [f"document number {i} with some words" for i in range(2000)]
    a = assign_splits(docs)
    b = assign_splits(list(reversed(docs)))
    for split in a:
        assert {docs[i] for i in a[split]} == {docs[::-1][i] for i in b[split]}
    assert all(split_of(d, 0.05, 0.05) == split_of(d, 0.05, 0.05) for d in docs[:10])


def test_split_fractions_and_order() -> None:
    docs = [f"doc {i}" for i in range(20000)]
    splits = assign_splits(docs, valid_fraction=0.1, test_fraction=0.2)
    n = len(docs)
    # binomial std of a 10 % share of 20k is ~0.2 %: 1 % tolerance is > 4 sigma
    assert abs(len(splits["valid"]) / n - 0.1) < 0.01
    assert abs(len(splits["test"]) / n - 0.2) < 0.01
    assert sorted(sum(splits.values(), [])) == list(range(n))
    assert all(ix == sorted(ix) for ix in splits.values())  # source order inside a split


def test_split_rule_names_its_settings() -> None:
    rule = split_rule(0.05, 0.05, 20)
    assert "min_chars=20" in rule and "valid=0.05" in rule and rule != split_rule(0.1, 0.05, 20)
