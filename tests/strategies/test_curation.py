"""Prompt curation: the s1-style round-robin over clusters, hardest first, against random."""

from __future__ import annotations

import numpy as np
import pytest

from domains.errors import SpecplanError
from strategies.machinery.curation import candidate_docs, coverage, select_prompts


def test_round_robin_takes_the_hardest_of_each_cluster_in_turn() -> None:
    clusters = np.array([0, 0, 0, 1, 1, 2])
    hardness = np.array([1.0, 3.0, 2.0, 0.5, 4.0, 0.1])
    # cluster 0 (3 docs) goes first, then 1 (2), then 2 (1); hardest first within each
    assert select_prompts(3, "curated", clusters=clusters, hardness=hardness) == [1, 4, 5]
    assert select_prompts(6, "curated", clusters=clusters, hardness=hardness) == [1, 4, 5, 2, 3, 0]


def test_fewer_prompts_than_clusters_cover_the_largest_clusters() -> None:
    clusters = np.array([0, 1, 1, 2, 2, 2])
    chosen = select_prompts(2, "curated", clusters=clusters, hardness=np.zeros(6))
    assert sorted(clusters[chosen].tolist()) == [1, 2]


@pytest.mark.parametrize("seed", range(5))
def test_curated_covers_more_clusters_than_random(seed: int) -> None:
    """An unbalanced domain (one dominant topic, several rare ones): a random sample
    mostly repeats the big cluster; the curated set touches every cluster."""
    rng = np.random.default_rng(seed)
    clusters = np.concatenate([np.zeros(400, int), np.repeat(np.arange(1, 8), 5)])
    hardness = rng.normal(size=len(clusters))
    n = 8
    curated = select_prompts(n, "curated", seed=seed, clusters=clusters, hardness=hardness)
    randoms = [coverage(select_prompts(n, "random", seed=s, clusters=clusters), clusters)
               for s in range(seed * 10, seed * 10 + 10)]
    assert coverage(curated, clusters) == 8
    assert max(randoms) < 8 and np.mean(randoms) < 4
    # and within each cluster it picked the hardest document
    for i in curated:
        same = clusters == clusters[i]
        assert hardness[i] == hardness[same].max()


def test_selection_has_no_repeats_and_is_seeded() -> None:
    clusters = np.arange(50) % 4
    a = select_prompts(30, "random", seed=1, clusters=clusters)
    assert len(set(a)) == 30 and a == select_prompts(30, "random", seed=1, clusters=clusters)
    assert a != select_prompts(30, "random", seed=2, clusters=clusters)
    c = select_prompts(50, "curated", clusters=clusters, hardness=np.ones(50))
    assert sorted(c) == list(range(50))


def test_more_prompts_than_candidates_is_an_error() -> None:
    with pytest.raises(SpecplanError, match="cannot choose 5 prompts out of 4"):
        select_prompts(5, "curated", clusters=[0, 0, 1, 1], hardness=[0, 0, 0, 0])
    with pytest.raises(SpecplanError, match="curation must be one of"):
        select_prompts(1, "hardest", clusters=[0], hardness=[0])


def test_candidates_stay_inside_the_domain_data_budget() -> None:
    from domains.tokenizer import TokenizedCorpus

    lengths = [10, 3, 20, 8, 30]  # tokens per document, eos included
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    corpus = TokenizedCorpus(np.zeros(offsets[-1], np.int32), offsets)
    # prompt of 4 tokens: doc 1 is too short; doc 4 starts at 41, past a 40-token budget
    assert candidate_docs(corpus, 40, 4) == [0, 2, 3]
    assert candidate_docs(corpus, 1_000, 4) == [0, 2, 3, 4]
    assert candidate_docs(corpus, 33, 4) == [0, 2]  # doc 3 starts at 33: no room for a prompt
