"""Cleaning and splitting: the rules every source goes through, in this order.

Cleaning (`clean_documents`):

1. **Normalize** each document: Unicode NFC; every line break becomes ``\\n`` (Windows
   ``\\r\\n``, old-Mac ``\\r``, the vertical tab of word-processor exports (a manual line
   break), NEL ``U+0085``, LINE SEPARATOR ``U+2028`` and the file/group/record separators
   ``U+001C``-``U+001E``); every paragraph or page break becomes a blank line (form feed,
   PARAGRAPH SEPARATOR ``U+2029``); the unit separator ``U+001F`` becomes a space; the other
   control characters and the invisible ``U+200B`` / ``U+FEFF`` are dropped; every other run
   of whitespace inside a line (spaces, tabs, no-break spaces, ...) becomes one space; lines
   are stripped; three or more line breaks become one blank line; the document is stripped.
   So no whitespace character ever glues two words together; paragraph breaks survive,
   layout does not.
2. **Drop** empty documents and documents shorter than `min_chars` characters (20 by default:
   headings, page numbers and stray fragments).
3. **Deduplicate**: exact duplicates after normalization are dropped; the first one is kept.

Splitting (`assign_splits`): each cleaned document goes to ``valid``, ``test`` or ``train``
by a stable hash of its own text (the first 8 bytes of its BLAKE2b digest read as a number in
[0, 1)): below `valid_fraction` is valid, below `valid_fraction + test_fraction` is test, the
rest is train (5 % / 5 % / 90 % by default). The split of a document therefore never depends on
its position, on the other documents or on a random state: adding documents to a corpus never
moves the old ones between splits. Inside a split, documents keep their source order.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable, Sequence

SPLITS: tuple[str, ...] = ("train", "valid", "test")
DEFAULT_MIN_CHARS = 20
DEFAULT_VALID_FRACTION = 0.05
DEFAULT_TEST_FRACTION = 0.05
# Bump when a rule above changes: it is part of every cache key and fingerprint.
CLEANING_VERSION = "clean-v2"

# every character Python counts as a line boundary (str.splitlines) or a paragraph/page break
_BREAKS = str.maketrans({
    "\r": "\n", "\v": "\n", "\x1c": "\n", "\x1d": "\n", "\x1e": "\n", "\x85": "\n",
    "\u2028": "\n", "\f": "\n\n", "\u2029": "\n\n", "\t": " ", "\x1f": " ",
})
# control characters that are not whitespace (after _BREAKS), and two invisible marks
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f\u200b\ufeff]")
# runs of 2+ whitespace characters, or one that is not a plain space (matching every single
# space too would be correct but 5x slower)
_INLINE_SPACE = re.compile(r"[^\S\n]{2,}|[^\S \n]")
_SPACE_AROUND_NEWLINE = re.compile(r" ?\n ?")
_MANY_NEWLINES = re.compile(r"\n{3,}")


def normalize_text(text: str) -> str:
    """Normalize one document's whitespace and Unicode form (rule 1 above)."""
    text = unicodedata.normalize("NFC", text)
    text = text.replace("\r\n", "\n").translate(_BREAKS)
    text = _CONTROL.sub("", text)
    text = _INLINE_SPACE.sub(" ", text)
    if "\n" in text:
        text = _SPACE_AROUND_NEWLINE.sub("\n", text)
        text = _MANY_NEWLINES.sub("\n\n", text)
    return text.strip()


def clean_documents(
    docs: Iterable[str],
    labels: Iterable[str | None] | None = None,
    *,
    min_chars: int = DEFAULT_MIN_CHARS,
) -> tuple[list[str], list[str | None]]:
    """Apply the cleaning rules; return the kept documents and their labels (None if unlabelled).

    Args:
        docs: raw documents in source order.
        labels: an optional label per document (e.g. a Wikipedia topic), kept aligned.
        min_chars: documents shorter than this after normalization are dropped.
    """
    label_iter = iter(labels) if labels is not None else None
    seen: set[str] = set()
    out_docs: list[str] = []
    out_labels: list[str | None] = []
    for raw in docs:
        label = next(label_iter) if label_iter is not None else None
        text = normalize_text(raw)
        if len(text) < min_chars or text in seen:
            continue
        seen.add(text)
        out_docs.append(text)
        out_labels.append(label)
    return out_docs, out_labels


def split_of(text: str, valid_fraction: float, test_fraction: float) -> str:
    """The split of one document, from a stable hash of its text."""
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest()
    u = int.from_bytes(digest, "big") / 2.0**64  # uniform in [0, 1)
    if u < valid_fraction:
        return "valid"
    if u < valid_fraction + test_fraction:
        return "test"
    return "train"


def assign_splits(
    docs: Sequence[str],
    *,
    valid_fraction: float = DEFAULT_VALID_FRACTION,
    test_fraction: float = DEFAULT_TEST_FRACTION,
) -> dict[str, list[int]]:
    """Indices of `docs` in each split, in source order."""
    out: dict[str, list[int]] = {s: [] for s in SPLITS}
    for i, text in enumerate(docs):
        out[split_of(text, valid_fraction, test_fraction)].append(i)
    return out


def split_rule(valid_fraction: float, test_fraction: float, min_chars: int) -> str:
    """A one-line description of the cleaning and split rule, part of every fingerprint."""
    return (
        f"{CLEANING_VERSION};min_chars={min_chars};blake2b-8;"
        f"valid={valid_fraction!r};test={test_fraction!r}"
    )
