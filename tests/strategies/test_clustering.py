"""strategies.machinery.embeddings and strategies.machinery.clustering: embeddings, spherical
k-means,
histograms and their statistics."""

from __future__ import annotations

import math
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from domains.errors import SpecplanError
from strategies.machinery import clustering as C
from strategies.machinery import embeddings as E

# Four topics with disjoint vocabularies: a planted clustering the embeddings must recover.
TOPICS = {
    "astronomy": "telescope galaxy planet orbit comet nebula star asteroid supernova cosmic "
                 "lunar eclipse astronaut meteor solar",
    "cooking": "recipe oven flour butter garlic simmer saucepan pastry onion roast dough spice "
               "bake kitchen chef",
    "football": "goalkeeper striker referee penalty stadium midfielder league coach tackle "
                "match team goal fans trophy dribble",
    "finance": "investor dividend bond stock portfolio inflation interest bank loan equity "
               "market mortgage tax budget revenue",
}


def planted_corpus(per_topic: int = 10, seed: int = 0) -> tuple[list[str], list[int]]:
    rng = np.random.default_rng(seed)
    texts, truth = [], []
    for t, vocab in enumerate(TOPICS.values()):
        words = vocab.split()
        for _ in range(per_topic):
            texts.append(" ".join(rng.choice(words, size=12)) + ".")
            truth.append(t)
    return texts, truth


def fake_embed(vectors: dict[str, np.ndarray]) -> Any:
    """An `embed_texts` stand-in: each text maps to a given unit vector (no model)."""

    def embed(texts: list[str], **_: Any) -> np.ndarray:
        return np.stack([vectors[t] for t in texts]).astype(np.float32)

    return embed


# ---------------------------------------------------------------------------- embeddings
def test_planted_topics_are_recovered() -> None:
    from sklearn.metrics import adjusted_rand_score

    texts, truth = planted_corpus()
    model = C.fit_clusters(texts, 4, seed=0)
    assert adjusted_rand_score(truth, model.labels) >= 0.9
    # new documents of a topic land in that topic's cluster
    fresh, fresh_truth = planted_corpus(per_topic=3, seed=1)
    assert adjusted_rand_score(fresh_truth, model.assign(fresh)) >= 0.9


def test_embeddings_are_unit_norm_padding_free_and_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    # fp32: the pooling is checked to 1e-4 (bf16 rounds padded batches differently, ~1e-3)
    monkeypatch.setattr(E, "cpu_precision", lambda: "fp32")
    texts = ["A short one.", "A much longer sentence about galaxies, telescopes and comets "
             "that needs many more word pieces than the first."]
    together = C.embed_texts(texts)
    assert together.shape == (2, 384) and together.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(together, axis=1), 1.0, rtol=0, atol=1e-5)
    # mean pooling ignores padding: the short text embedded alone (no padding) agrees
    alone = C.embed_texts(texts[:1], cache=False)
    np.testing.assert_allclose(together[0], alone[0], rtol=0, atol=1e-4)
    # second call reads the .npy cache, never the model
    monkeypatch.setattr(E, "_encode", lambda *a, **k: pytest.fail("re-embedded"))
    np.testing.assert_array_equal(C.embed_texts(texts), together)
    assert list((C.cache_dir("embeddings")).glob("*/*.npy"))


def _counting_encoder(calls: list[list[str]], fail_after: int | None = None) -> Any:
    """A stand-in for `_encode`: a fixed vector per text; records (and can fail) calls."""

    def encode(texts: list[str], max_length: int, batch_size: int, progress: bool) -> Any:
        if fail_after is not None and len(calls) >= fail_after:
            raise KeyboardInterrupt
        calls.append(list(texts))
        out = np.stack([np.random.default_rng(zlib.crc32(t.encode())).normal(size=384)
                        for t in texts]).astype(np.float32)
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    return encode


def test_texts_embedded_before_are_reused_in_new_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[str]] = []
    monkeypatch.setattr(E, "_encode", _counting_encoder(calls))
    first = C.embed_texts(["reuse alpha", "reuse beta"])
    second = C.embed_texts(["reuse beta", "reuse gamma"])
    assert calls == [["reuse alpha", "reuse beta"], ["reuse gamma"]]
    np.testing.assert_array_equal(second[0], first[1])


def test_an_interrupted_embedding_resumes(monkeypatch: pytest.MonkeyPatch) -> None:
    texts = [f"resume {i}" for i in range(5)]
    monkeypatch.setattr(E, "CHUNK_DOCS", 2)
    calls: list[list[str]] = []
    monkeypatch.setattr(E, "_encode", _counting_encoder(calls, fail_after=2))
    with pytest.raises(KeyboardInterrupt):  # killed during the third chunk
        C.embed_texts(texts)
    calls.clear()
    monkeypatch.setattr(E, "_encode", _counting_encoder(calls))
    C.embed_texts(texts)
    assert calls == [["resume 4"]]  # the two saved chunks were kept
    assert not list(C.cache_dir("embeddings").glob("*/part-*"))  # merged into the full list


def test_fit_clusters_is_cached_and_seeded(monkeypatch: pytest.MonkeyPatch) -> None:
    texts, _ = planted_corpus(per_topic=4)
    a = C.fit_clusters(texts, 4, seed=3)
    monkeypatch.setattr(C, "kmeans", lambda *a, **k: pytest.fail("k-means ran again"))
    b = C.fit_clusters(texts, 4, seed=3)
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_allclose(a.centroids, b.centroids, rtol=0, atol=0)


# ---------------------------------------------------------------------------- k-means
def test_spherical_kmeans_assigns_by_cosine_and_keeps_clusters_nonempty() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 8))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    centroids, labels = C.kmeans(x, 7, seed=0)
    np.testing.assert_allclose(np.linalg.norm(centroids, axis=1), 1.0, atol=1e-5)
    assert np.all(np.bincount(labels, minlength=7) > 0)
    model = C.ClusterModel(centroids=centroids, labels=labels)
    # the fitted documents' labels are their nearest (cosine) centroids
    np.testing.assert_array_equal(model.assign_embeddings(x), labels)


def test_far_documents_go_to_the_most_similar_centroid() -> None:
    """A document far from every cluster goes to the most similar centroid, not to the
    one with the smallest norm (what Euclidean assignment would pick)."""
    model = C.ClusterModel(centroids=np.array([[1.0, 0, 0], [0, 1.0, 0]], np.float32),
                           labels=np.array([0, 1]))
    x = np.array([[0.2, 0.1, 0.97]], np.float32)
    assert model.assign_embeddings(x).tolist() == [0]


def test_more_clusters_than_documents_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(E, "_encode", lambda *a, **k: pytest.fail("embedded before checking"))
    with pytest.raises(SpecplanError, match=r"n_clusters=5 is more than the 3 documents"):
        C.fit_clusters(["a", "b", "c"], 5)
    with pytest.raises(SpecplanError, match="n_clusters must be a positive integer"):
        C.fit_clusters(["a", "b", "c"], 0)
    with pytest.raises(SpecplanError, match="0 documents"):
        C.fit_clusters([], 2)


def test_more_clusters_than_distinct_documents_is_a_clear_error() -> None:
    x = np.repeat(np.eye(3, dtype=np.float32)[:2], 5, axis=0)  # 10 rows, 2 distinct
    with pytest.raises(SpecplanError, match=r"n_clusters=3 is more than the 2 distinct"):
        C.kmeans(x, 3)


def test_cluster_model_round_trips(tmp_path: Path) -> None:
    m = C.ClusterModel(centroids=np.eye(3, dtype=np.float32), labels=np.array([0, 1, 2, 2]),
                       max_length=64, key="abc", doc_indices=np.array([3, 5, 8, 9]))
    m.save(tmp_path / "c.npz")
    again = C.ClusterModel.load(tmp_path / "c.npz")
    assert (again.k, again.max_length, again.key) == (3, 64, "abc")
    np.testing.assert_array_equal(again.doc_indices, m.doc_indices)
    np.testing.assert_array_equal(again.sizes, [1, 1, 2])


def test_subset_indices_are_deterministic_and_nested() -> None:
    small, large = C.subset_indices(1000, 50), C.subset_indices(1000, 200)
    np.testing.assert_array_equal(small, C.subset_indices(1000, 50))
    assert set(small) <= set(large) and len(set(large)) == 200
    np.testing.assert_array_equal(C.subset_indices(10, None), np.arange(10))
    np.testing.assert_array_equal(C.subset_indices(10, 99), np.arange(10))


# ---------------------------------------------------------------------------- statistics
def test_cluster_stats_on_a_hand_example() -> None:
    stats = C.cluster_stats([0, 0, 1, 2], 4)
    np.testing.assert_allclose(stats["histogram"], [0.5, 0.25, 0.25, 0.0])
    # H = -(0.5 ln 0.5 + 2 * 0.25 ln 0.25) = 1.5 ln 2
    assert stats["entropy"] == pytest.approx(1.5 * math.log(2), rel=1e-12)
    assert stats["top_share"] == pytest.approx(0.5) and stats["top_cluster"] == 0
    assert stats["n_docs"] == 4
    one_hot = C.cluster_stats([3, 3, 3], 4)
    assert one_hot["entropy"] == 0.0 and one_hot["top_share"] == 1.0


def test_kl_divergence_and_entropy_edges() -> None:
    p = np.array([0.5, 0.5, 0.0])
    assert C.kl_divergence(p, p) == pytest.approx(0.0, abs=1e-15)
    assert C.kl_divergence(p, [0.25, 0.25, 0.5]) == pytest.approx(math.log(2))
    assert C.kl_divergence(p, [1.0, 0.0, 0.0]) == math.inf
    assert C.entropy(np.full(8, 1 / 8)) == pytest.approx(math.log(8))


def test_histogram_rejects_empty_and_out_of_range_ids() -> None:
    with pytest.raises(SpecplanError, match="0 documents"):
        C.histogram([], 3)
    with pytest.raises(SpecplanError, match=r"\[0, 3\)"):
        C.histogram([0, 3], 3)


# ---------------------------------------------------------------------------- domains
def _two_cluster_model() -> C.ClusterModel:
    return C.ClusterModel(centroids=np.eye(2, dtype=np.float32), labels=np.array([0, 1]))


def test_domain_with_too_few_documents_is_a_clear_error() -> None:
    with pytest.raises(SpecplanError, match=r"'tiny_dom' has 2 training document\(s\); at lea"):
        C.domain_cluster_ids(_two_cluster_model(), ["a", "b"], name="tiny_dom")


def test_one_cluster_domain_works_and_warns(monkeypatch: pytest.MonkeyPatch) -> None:
    texts = [f"doc {i}" for i in range(6)]
    monkeypatch.setattr(C, "embed_texts", fake_embed({t: np.array([1.0, 0.0]) for t in texts}))
    with pytest.warns(C.ClusteringWarning, match="one-hot"):
        ids = C.domain_cluster_ids(_two_cluster_model(), texts, name="mono")
    stats = C.cluster_stats(ids, 2)
    assert stats["histogram"] == [1.0, 0.0] and stats["entropy"] == 0.0


def test_fewer_documents_than_clusters_warns(monkeypatch: pytest.MonkeyPatch) -> None:
    model = C.ClusterModel(centroids=np.eye(8, dtype=np.float32), labels=np.arange(8))
    texts = [f"doc {i}" for i in range(5)]
    vectors = {t: np.eye(8)[i] for i, t in enumerate(texts)}
    monkeypatch.setattr(C, "embed_texts", fake_embed(vectors))
    with pytest.warns(C.ClusteringWarning, match="5 documents for 8 clusters"):
        ids = C.domain_cluster_ids(model, texts)
    assert ids.tolist() == [0, 1, 2, 3, 4]


def test_cpu_bf16_embeddings_match_fp32(monkeypatch: pytest.MonkeyPatch) -> None:
    """bf16 autocast (CPUs with native bf16) gives the fp32 encoder's vectors, within a
    cosine of 0.9999, and its own cache key."""
    texts, _ = planted_corpus(per_topic=2)
    monkeypatch.setattr(E, "cpu_precision", lambda: "fp32")
    fp32, key32 = E._encode(texts, 128, 8, False), E.model_key()
    monkeypatch.setattr(E, "cpu_precision", lambda: "bf16")
    bf16, key16 = E._encode(texts, 128, 8, False), E.model_key()
    assert key16 != key32
    np.testing.assert_allclose(np.linalg.norm(bf16, axis=1), 1.0, rtol=0, atol=1e-5)
    assert float((fp32 * bf16).sum(axis=1).min()) > 0.9999
