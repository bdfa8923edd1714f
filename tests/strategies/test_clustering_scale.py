"""Clustering at scale: mini-batch k-means over a memory map, embeddings streamed to disk
(resumable), and cluster assignments stored beside the token files and read back."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from strategies.machinery import clustering as C
from strategies.machinery.embeddings import cpu_precision, embed_texts, embed_to_disk


def _blobs(tmp_path: Path, n: int = 6000, k: int = 3, d: int = 16) -> tuple[np.ndarray, Any]:
    """Unit vectors around k orthogonal directions, written to a .npy memory map."""
    rng = np.random.default_rng(0)
    truth = rng.integers(0, k, n)
    x = np.eye(d, dtype=np.float32)[truth] * 4 + rng.normal(0, 0.3, (n, d)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    np.save(tmp_path / "emb.npy", x)
    return truth, np.load(tmp_path / "emb.npy", mmap_mode="r")


def test_minibatch_kmeans_recovers_separated_clusters_from_a_memory_map(tmp_path: Path) -> None:
    truth, emb = _blobs(tmp_path)
    centroids, labels = C.minibatch_kmeans(emb, 3, seed=0, batch_size=512)
    assert centroids.shape == (3, 16)
    np.testing.assert_allclose(np.linalg.norm(centroids, axis=1), 1.0, rtol=1e-5)
    # the same partition as the truth, up to the cluster numbering
    pairs = {(int(t), int(c)) for t, c in zip(truth, labels, strict=True)}
    assert len(pairs) == 3 and len({c for _, c in pairs}) == 3
    np.testing.assert_array_equal(C.assign_chunked(emb, centroids, chunk=700),
                                  (np.asarray(emb) @ centroids.T).argmax(1))
    with pytest.raises(C.SpecplanError, match="n_clusters"):
        C.minibatch_kmeans(emb[:2], 3)


class _Texts(Sequence[str]):
    """Documents that fail once at position `fail_at` (an interrupted run) and record reads."""

    def __init__(self, docs: list[str], fail_at: int | None) -> None:
        self.docs, self.fail_at, self.read = docs, fail_at, []  # type: list[str] | Any

    def __len__(self) -> int:
        return len(self.docs)

    def __getitem__(self, i):  # type: ignore[no-untyped-def,override]
        if i == self.fail_at:
            raise KeyboardInterrupt
        self.read.append(i)
        return self.docs[i]


def test_embeddings_stream_to_disk_and_resume_by_chunk(tmp_path: Path) -> None:
    docs = [f"document number {i} about {'cells' if i % 2 else 'courts'}" for i in range(20)]
    path = tmp_path / "emb" / "generic.npy"
    with pytest.raises(KeyboardInterrupt):
        embed_to_disk(_Texts(docs, fail_at=12), path, chunk_docs=8)
    assert (path.with_name("generic.npy.done")).read_text() == "8"
    again = _Texts(docs, fail_at=None)
    emb = embed_to_disk(again, path, chunk_docs=8)
    assert min(again.read) == 8  # the first chunk was not embedded again
    assert isinstance(emb, np.memmap) and emb.shape == (20, 384)
    # fp32: the same vectors; under bf16 autocast (CPUs with native bf16) a vector depends on
    # the padding of its batch at bf16's resolution (2^-8 relative): within cosine 0.9999
    whole = embed_texts(docs, cache=False)
    if cpu_precision() == "fp32":
        np.testing.assert_allclose(emb, whole, atol=1e-5)
    else:
        np.testing.assert_array_less(1 - 1e-4, (np.asarray(emb) * whole).sum(1))
        np.testing.assert_allclose(emb, whole, atol=4e-3)


def test_generic_pool_reads_the_assignments_stored_beside_the_token_files(
        micro_ws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from domains.tokenizer import token_folder

    ws = micro_ws
    model = C.workspace_clusters(ws, 2)
    pool = C.generic_pool(ws, model, 4096)
    folder = token_folder(ws.generic, "train", ws.tokenizer)
    (path,) = folder.glob(f"clusters-{model.key}-k2-pool*.npy")
    docs, labels = C.load_assignments(path)  # type: ignore[misc]
    np.testing.assert_array_equal(docs, pool.docs)
    np.testing.assert_array_equal(labels, pool.labels)
    # the file is what later runs read: change it, and the pool follows; nothing is embedded
    C.save_assignments(path, docs, 1 - np.asarray(labels))
    monkeypatch.setattr(C.ClusterModel, "assign", lambda *a, **k: pytest.fail("re-embedded"))
    again = C.generic_pool(ws, model, 4096)
    np.testing.assert_array_equal(again.labels, 1 - pool.labels)
    C.save_assignments(path, docs, labels)  # leave the session's workspace as it was


def _same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    """True when two labelings are the same partition, up to the cluster numbering."""
    pairs = {(int(x), int(y)) for x, y in zip(a, b, strict=True)}
    return len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))


def test_faiss_and_minibatch_kmeans_agree_on_separated_clusters(tmp_path: Path) -> None:
    pytest.importorskip("faiss", reason="faiss-cpu not installed (pip install 'specplan[faiss]')")
    truth, emb = _blobs(tmp_path, n=6000, k=4)
    c_faiss, l_faiss = C.large_kmeans(emb, 4, seed=0, backend="faiss")
    c_sk, l_sk = C.large_kmeans(emb, 4, seed=0, backend="sklearn")
    assert c_faiss.shape == (4, 16) and l_faiss.dtype == np.int64
    np.testing.assert_allclose(np.linalg.norm(c_faiss, axis=1), 1.0, rtol=1e-5)
    assert _same_partition(l_faiss, truth) and _same_partition(l_sk, truth)
    # the centroids match too, once the clusters are paired up (cosine > 0.99)
    order = (c_faiss @ c_sk.T).argmax(1)
    assert sorted(order.tolist()) == [0, 1, 2, 3]
    assert np.min(np.sum(c_faiss * c_sk[order], axis=1)) > 0.99
    with pytest.raises(C.SpecplanError, match="n_clusters"):
        C.faiss_kmeans(emb[:2], 3)


def test_kmeans_backend_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "faiss" else real(name, *a))
    assert C.kmeans_backend("auto") == "sklearn"  # faiss absent: scikit-learn
    assert C.kmeans_backend("sklearn") == "sklearn"
    with pytest.raises(C.SpecplanError, match=r"specplan\[faiss\]"):
        C.kmeans_backend("faiss")
    monkeypatch.setenv("SPECPLAN_KMEANS_BACKEND", "scipy")
    with pytest.raises(C.SpecplanError, match="SPECPLAN_KMEANS_BACKEND"):
        C.kmeans_backend()
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: object() if name == "faiss" else real(name, *a))
    assert C.kmeans_backend("auto") == "faiss"  # installed: faiss
