"""Near-duplicate documents never straddle splits (issue 12: a news test document shared
87% of its word 13-grams with a training document)."""

from __future__ import annotations

import itertools

import pytest

from domains.neardup import (
    NGRAM,
    THRESHOLD,
    assign_group_splits,
    containment,
    near_duplicate_groups,
)

STORY = ("the committee met on tuesday to discuss the new budget for the regional hospital "
         "and agreed that the funds would be released in three stages over the next two "
         "years after a review of the building plans by independent engineers")


def _words(text: str) -> list[str]:
    import re

    return re.findall(r"\w+", text.lower())


def _exact_containment(a: str, b: str, n: int = NGRAM) -> float:
    """Unsampled word n-gram containment: the quantity the sampled index estimates."""
    def grams(t: str) -> set[tuple[str, ...]]:
        w = _words(t)
        return {tuple(w[i : i + n]) for i in range(len(w) - n + 1)}

    ga, gb = grams(a), grams(b)
    return len(ga & gb) / min(len(ga), len(gb)) if ga and gb else 0.0


def test_groups_on_a_hand_made_example() -> None:
    story = " ".join([STORY] * 3)
    docs = [
        story,
        "Breaking: " + story.replace("tuesday", "wednesday"),  # a near-duplicate
        "an unrelated text about the migration of birds across the northern sea " * 4,
        story + " officials declined to comment further on the matter today",  # another
    ]
    groups = near_duplicate_groups(docs)
    assert groups == [0, 0, 2, 0]
    splits = assign_group_splits(docs, groups, valid_fraction=0.3, test_fraction=0.3)
    where = {i: s for s, ix in splits.items() for i in ix}
    assert where[0] == where[1] == where[3]
    assert sorted(i for ix in splits.values() for i in ix) == [0, 1, 2, 3]


@pytest.mark.parametrize("name", ["news", "legal"])
def test_no_near_duplicate_pair_straddles_splits(name: str) -> None:
    """Every pair of documents, checked directly (unsampled 13-gram containment): a pair
    above the threshold lies in one split."""
    from domains import get_domain

    domain = get_domain(name)
    split_of = {}
    docs: list[str] = []
    for split in ("train", "valid", "test"):
        for text in domain.documents(split):
            split_of[len(docs)] = split
            docs.append(text)
    grams = []
    for t in docs:
        w = _words(t)
        grams.append({tuple(w[i : i + NGRAM]) for i in range(len(w) - NGRAM + 1)})
    straddling = []
    for i, j in itertools.combinations(range(len(docs)), 2):
        a, b = grams[i], grams[j]
        if a and b and split_of[i] != split_of[j]:
            if len(a & b) / min(len(a), len(b)) >= THRESHOLD:
                straddling.append((i, j))
    assert straddling == []


@pytest.mark.slow
@pytest.mark.parametrize("name", ["biomedical", "generic"])
def test_no_near_duplicate_pair_straddles_splits_large(name: str) -> None:
    """The large packaged domains: candidate pairs (any shared 13-gram that is not
    boilerplate) from a plain-Python index, each checked exactly. Slow: biomedical has 33k
    abstracts."""
    from domains import get_domain
    from domains.neardup import MAX_POSTING, ngram_hashes

    domain = get_domain(name)
    docs, split_of = [], {}
    for split in ("train", "valid", "test"):
        for text in domain.documents(split):
            split_of[len(docs)] = split
            docs.append(text)
    sets = [ngram_hashes(t) for t in docs]
    postings: dict[int, list[int]] = {}
    for i, s in enumerate(sets):
        for h in s:
            postings.setdefault(h, []).append(i)
    pairs = {(i, j) for ids in postings.values() if len(ids) <= MAX_POSTING
             for i, j in itertools.combinations(ids, 2) if split_of[i] != split_of[j]}
    bad = [(i, j) for i, j in pairs
           if containment(sets[i], sets[j]) >= THRESHOLD
           and _exact_containment(docs[i], docs[j]) >= THRESHOLD + 0.1]
    assert bad == []
