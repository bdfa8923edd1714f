"""Near-duplicate groups, so that near-duplicate documents never straddle splits.

Exact duplicates are dropped by `domains.cleaning.clean_documents`; near-duplicates (a news
story filed twice with a changed headline, a regulation and its corrigendum) survive it,
and the hash split then puts one copy in train and the other in test (issue 12 found a news
test document sharing 87% of its word 13-grams with a training document). This module
groups them; `domains.base` assigns every member of a group the split of the group's first
document.

Method (exact, small, deterministic): each document is reduced to the set of its word
`NGRAM`-grams (lower-cased word tokens), each hashed with CRC-32. Two documents are
near-duplicates when the n-grams they share cover at least `THRESHOLD` of the smaller
document's n-grams (containment; Broder 1997, "On the resemblance and containment of
documents"), with at least `MIN_SHARED` shared; groups are the connected components
(union-find). N-grams found in more than `MAX_POSTING` documents are boilerplate (licence
lines, headers), not evidence, and are ignored. All n-grams are indexed (no sampling: short
documents have too few to sample), in numpy arrays: 33k biomedical abstracts take seconds.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence

NGRAM = 13  # word n-gram length (the issue's measure; also GPT-3's contamination check)
THRESHOLD = 0.5  # shared fraction of the smaller document's n-grams
MIN_SHARED = 2  # at least this many shared n-grams
MAX_POSTING = 50  # n-grams in more documents than this are boilerplate
RULE = f"neardup=w{NGRAM}/c{THRESHOLD}/m{MIN_SHARED}/p{MAX_POSTING}"

_WORD = re.compile(r"\w+", re.UNICODE)


def ngram_hashes(text: str, n: int = NGRAM) -> set[int]:
    """CRC-32 hashes of the document's distinct lower-cased word n-grams."""
    words = _WORD.findall(text.lower())
    return {zlib.crc32(" ".join(words[i : i + n]).encode("utf-8"))
            for i in range(len(words) - n + 1)}


def containment(a: set[int], b: set[int]) -> float:
    """|a & b| / min(|a|, |b|) (0 when either is empty)."""
    if not a or not b:
        return 0.0
    return len(a & b) / min(len(a), len(b))


def near_duplicate_groups(docs: Sequence[str], *, threshold: float = THRESHOLD,
                          min_shared: int = MIN_SHARED) -> list[int]:
    """A group id per document: the index of the group's first document (source order).

    A document with no near-duplicate is its own group (its own index).
    """
    import numpy as np

    n_docs = len(docs)
    sets = [ngram_hashes(d) for d in docs]
    sizes = np.array([len(s) for s in sets], dtype=np.int64)
    hashes = np.fromiter((h for s in sets for h in s), dtype=np.int64, count=int(sizes.sum()))
    owner = np.repeat(np.arange(n_docs, dtype=np.int64), sizes)
    order = np.argsort(hashes, kind="stable")
    hashes, owner = hashes[order], owner[order]
    # runs of one hash: the documents that share that n-gram
    starts = np.flatnonzero(np.r_[True, hashes[1:] != hashes[:-1]])
    counts = np.diff(np.r_[starts, hashes.size])
    pair_codes = []
    for size in range(2, MAX_POSTING + 1):
        runs = starts[counts == size]
        if runs.size == 0:
            continue
        members = owner[runs[:, None] + np.arange(size)]  # (r, size), ascending doc ids
        i, j = np.triu_indices(size, k=1)
        pair_codes.append(members[:, i].ravel() * n_docs + members[:, j].ravel())
    parent = list(range(n_docs))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    if pair_codes:
        codes, shared = np.unique(np.concatenate(pair_codes), return_counts=True)
        a, b = codes // n_docs, codes % n_docs
        smaller = np.minimum(sizes[a], sizes[b])
        near = (shared >= min_shared) & (shared >= threshold * smaller)
        for x, y in zip(a[near].tolist(), b[near].tolist(), strict=True):
            ra, rb = find(x), find(y)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)  # the root is the group's first document
    return [find(x) for x in range(n_docs)]


def assign_group_splits(docs: Sequence[str], groups: Sequence[int], *,
                        valid_fraction: float, test_fraction: float) -> dict[str, list[int]]:
    """Indices of `docs` in each split, in source order: a document takes the split of its
    group's first document (`domains.cleaning.split_of` of that text), so a near-duplicate
    group lies in one split. A document alone in its group keeps its own hash split."""
    from domains.cleaning import SPLITS, split_of

    out: dict[str, list[int]] = {s: [] for s in SPLITS}
    for i, root in enumerate(groups):
        out[split_of(docs[root], valid_fraction, test_fraction)].append(i)
    return out
