"""`importance_sampling` (the paper's SLM-is, §2.4 / App. D.1): once the domain is known,
resample the generic corpus so that its cluster histogram matches the domain's, pretrain
the small model on the resampled text, then fine-tune it on the domain.

The paper's derivation: with a cluster variable c and the assumption
P(x | c, D_spec) = P(x | c),

    L(D_spec; θ) = E_{x ~ D_generic}[ w(x) ℓ(x; θ) ],
    w(x) = P(c(x) | D_spec) / P(c(x) | D_generic),

so the weights are ratios of cluster frequencies. Like the paper (and its follow-up CRISP),
we **resample** instead of weighting the loss, in two stages: draw a cluster from the
domain's histogram, then a generic document uniformly inside it, with replacement. The
resampled set's cluster histogram then matches the domain's in expectation, and documents
of over-represented clusters repeat: the effective sample size (Kish, of the per-document
weights) and the repetition rate say how much.

Charging (paper §3.1, Table 3): everything happens after the domain is known, so the whole
importance-sampled pretraining is **specialization** compute; the pretraining bucket is 0.
Clustering the generic corpus and embedding the domain documents are not charged, as in the
paper (a shared one-off preprocessing step; embedding a small domain set is negligible).
"""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from domains.errors import SpecplanError
from strategies.base import (
    Cost,
    DomainEdge,
    PlanningPrior,
    SpecializedModel,
    Strategy,
    default_specialize_tokens,
)
from strategies.machinery.clustered import ClusteredMixin
from strategies.machinery.flops import forward_flops_per_token, train_flops
from strategies.machinery.pretrain_finetune import finetune_and_package
from strategies.machinery.scales import Scale
from strategies.machinery.validation import NONE, Interval

if TYPE_CHECKING:
    from domains import Domain
    from strategies.machinery.clustering import ClusterModel
    from strategies.machinery.workspace import Workspace

REPEAT_WARNING = 4.0  # warn when a drawn document is drawn this many times on average


# ---------------------------------------------------------------------------- resampling
@dataclass(frozen=True)
class Resample:
    """The outcome of `resample_clusters`.

    Attributes:
        draws: int64 (n_draws,): positions (in the generic pool) of the drawn documents.
        n_tokens: tokens in the drawn documents.
        weights: float64 (n_pool,): w(x) = P(c(x) | domain) / P(c(x) | generic).
        ess: Kish effective sample size of `weights`, (sum w)^2 / sum w^2, in documents.
        repetition_rate: share of draws that repeat an already drawn document.
        mean_draws_per_doc: draws per distinct drawn document (1 = no repetition).
        resampled_histogram: float64 (k,): cluster frequencies of the draws.
        kl: KL(domain histogram || resampled histogram), nats.
    """

    draws: np.ndarray
    n_tokens: int
    weights: np.ndarray
    ess: float
    repetition_rate: float
    mean_draws_per_doc: float
    resampled_histogram: np.ndarray
    kl: float

    def summary(self) -> dict[str, Any]:
        """JSON-ready statistics (no per-document arrays)."""
        d = asdict(self)
        for key in ("draws", "weights"):
            d.pop(key)
        d["resampled_histogram"] = self.resampled_histogram.tolist()
        d["n_draws"] = int(self.draws.size)
        d["n_unique_docs"] = int(np.unique(self.draws).size)
        d["n_pool_docs"] = int(self.weights.size)
        d["ess_fraction"] = self.ess / max(1, self.weights.size)
        return d


def importance_weights(pool_labels: np.ndarray, domain_hist: np.ndarray) -> np.ndarray:
    """Per-document weights w(x) = P(c(x) | D_spec) / P(c(x) | D_generic), float64 (n_pool,)."""
    labels = np.asarray(pool_labels, dtype=np.int64)
    k = len(domain_hist)
    generic_hist = np.bincount(labels, minlength=k) / labels.size  # P(c | D_generic)
    ratio = np.divide(domain_hist, generic_hist, out=np.zeros(k), where=generic_hist > 0)
    return ratio[labels]


def kish_ess(weights: np.ndarray) -> float:
    """Kish's effective sample size (sum w)^2 / sum w^2 (0 when every weight is 0)."""
    w = np.asarray(weights, dtype=np.float64)
    sq = float((w * w).sum())
    return float(w.sum() ** 2 / sq) if sq > 0 else 0.0


def resample_clusters(
    pool_labels: np.ndarray,
    domain_hist: np.ndarray,
    doc_tokens: np.ndarray,
    n_tokens: int,
    *,
    seed: int = 0,
) -> Resample:
    """Two-stage resampling of a generic pool to a domain's cluster histogram.

    Draw a cluster c ~ `domain_hist`, then a pool document uniformly among those of cluster
    c, with replacement, until the drawn documents hold at least `n_tokens` tokens.
    Deterministic for a given seed.

    Args:
        pool_labels: int64 (n_pool,): the cluster of each generic pool document.
        domain_hist: float (k,): P(c | D_spec), summing to 1.
        doc_tokens: int (n_pool,): tokens of each pool document.
        n_tokens: tokens to draw (the pretraining budget).
        seed: sampling seed.

    Raises:
        SpecplanError: the histogram is not a distribution, or puts mass on a cluster with
            no pool document, or the pool is empty.
    """
    from strategies.machinery.clustering import kl_divergence

    labels = np.asarray(pool_labels, dtype=np.int64)
    p = np.asarray(domain_hist, dtype=np.float64)
    lengths = np.asarray(doc_tokens, dtype=np.int64)
    k = p.size
    if labels.size == 0 or labels.size != lengths.size:
        raise SpecplanError(f"resampling needs a non-empty pool with one token count per "
                            f"document (got {labels.size} labels, {lengths.size} counts)")
    if not (np.all(p >= 0) and abs(p.sum() - 1.0) < 1e-6):
        raise SpecplanError(f"the domain histogram must be a distribution, got {p.tolist()}")
    sizes = np.bincount(labels, minlength=k)
    if np.any((p > 0) & (sizes == 0)):
        empty = np.flatnonzero((p > 0) & (sizes == 0)).tolist()
        raise SpecplanError(f"the domain puts mass on cluster(s) {empty} with no generic document")
    # Members of each cluster, contiguous: by_cluster[starts[c] : starts[c] + sizes[c]].
    by_cluster = np.argsort(labels, kind="stable")
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    rng = np.random.default_rng(seed)
    mean_len = max(1.0, float((p * _cluster_mean(lengths, labels, k)).sum()))
    chunks: list[np.ndarray] = []
    total = 0
    while total < n_tokens:
        m = int((n_tokens - total) / mean_len * 1.1) + 16
        clusters = rng.choice(k, size=m, p=p)  # stage 1: c ~ P(c | D_spec)
        within = np.floor(rng.random(m) * sizes[clusters]).astype(np.int64)  # stage 2
        docs = by_cluster[starts[clusters] + within]
        cum = total + np.cumsum(lengths[docs])
        stop = int(np.searchsorted(cum, n_tokens, side="left"))  # first draw reaching budget
        docs = docs[: stop + 1]
        chunks.append(docs)
        total = int(cum[min(stop, m - 1)])
    draws = np.concatenate(chunks)
    n_unique = np.unique(draws).size
    resampled = np.bincount(labels[draws], minlength=k) / draws.size
    weights = importance_weights(labels, p)
    return Resample(
        draws=draws, n_tokens=int(lengths[draws].sum()), weights=weights,
        ess=kish_ess(weights), repetition_rate=1.0 - n_unique / draws.size,
        mean_draws_per_doc=draws.size / n_unique, resampled_histogram=resampled,
        kl=kl_divergence(p, resampled),
    )


def _cluster_mean(values: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    sums = np.bincount(labels, weights=values, minlength=k)
    counts = np.bincount(labels, minlength=k)
    return np.divide(sums, counts, out=np.zeros(k), where=counts > 0)


# ---------------------------------------------------------------------------- the strategy
class ImportanceSamplingStrategy(ClusteredMixin, Strategy):
    """Importance-sampled pretraining per domain, then fine-tuning (SLM-is).

    `pretrain` clusters the generic corpus (domain-agnostic, not charged); `specialize`
    assigns the domain's training documents to the clusters, resamples generic documents to
    the domain's histogram, pretrains the small model on them (cached per domain, resumable)
    and fine-tunes it with early stopping.

    Args:
        scale: `tiny`, `demo` or `paper`.
        seed: clustering and resampling seed (model init and batch order follow the
            workspace seed, as for every strategy).
        n_clusters: histogram bins k (default: the scale's `n_clusters_is`; the paper uses
            1,024, Fig. 10 compares 16 to 1,024).
        n_pretrain_tokens: resampled tokens the small model is pretrained on (default: the
            scale's `pretrain_tokens`, the same as `small`'s generic pretraining).
        n_pool_docs: generic train documents to resample from (a deterministic subset that
            contains the clustered one; default: enough to hold ten times the tokens to
            draw, `clustering.IS_POOL_TOKEN_FACTOR`, or the whole generic corpus when it is
            smaller, as at `tiny` and `demo`; the paper draws from all of C4). They are
            embedded and assigned once (cached).

    When `n_clusters` is left at None, the histogram's k is also bounded by the number of
    domain training documents it is estimated from (`effective_clusters`): 16 bins from 5
    legal documents at `demo` would be a guess, not an estimate. An explicit `n_clusters`
    is used as given (with a `ClusteringWarning` when documents are fewer than clusters).
        finetune_lr: fine-tuning learning rate (default: the scale's).

    Example:
        >>> from strategies.importance_sampling import ImportanceSamplingStrategy
        >>> cost = ImportanceSamplingStrategy(scale="paper").estimate_cost(n_domain_tokens=1e6)
        >>> cost.pretraining_flops, cost.specialization_flops > 1e18
        (0.0, True)
    """

    name = "importance_sampling"
    paper_name = "SLM-is"
    artifact_family = "generic_clusters"  # shares pretraining artifacts (worker scheduling)
    summary = ("resample generic text to the domain's cluster histogram, pretrain the small "
               "model on it, fine-tune")
    charging = {
        "pretraining": "nothing (clustering the generic corpus is a one-off step, not charged)",
        "specialization": "small-model pretraining on the resampled generic text + fine-tune, "
                          "per domain",
        "inference": "small model",
    }

    @classmethod
    def planning_prior(cls) -> PlanningPrior:
        """How the planner models SLM-is at the paper's scale."""
        return PlanningPrior(kind="specialization_curve", like="small", confidence="low",
                             source="figure-derived: Fig. 4 caption and §4.2 at 130 GPUh per "
                                    "domain (Table 3), below it the SLM's Table 8 compute "
                                    "slope with a data-limited power-law shape (borrowed)",
                             paper_params={"n_clusters": 1024},
                             modelled={"n_clusters": (1024,)},
                             finetune_limits_of="small",
                             domain_edge=DomainEdge(
                                 sensitivity="cluster_resampling", reference_gpuh=130.0,
                                 source="assumption: resampling the generic corpus to the "
                                        "domain's histogram (§2.4) changes nothing on a "
                                        "generic-like one; no per-domain SLM-is numbers in the "
                                        "paper's text; read at 130 GPUh per domain (Table 3, "
                                        "Fig. 4: SLM-is against an SLM pretrained with the "
                                        "same compute)"))
    _clusters_default = "n_clusters_is"
    _specialization_params = frozenset({"finetune_lr"})
    _parameter_constraints = {
        "seed": [Interval(int, 0, None)],
        "n_clusters": [NONE, Interval(int, 1, None)],
        "n_pretrain_tokens": [NONE, Interval(int, 1, None)],
        "n_pool_docs": [NONE, Interval(int, 1, None)],
        "finetune_lr": [NONE, Interval(float, 0, None, closed="neither")],
    }

    def __init__(self, *, scale: str | Scale = "tiny", seed: int = 0,
                 n_clusters: int | None = None, n_pretrain_tokens: int | None = None,
                 n_pool_docs: int | None = None, finetune_lr: float | None = None) -> None:
        self.scale = scale
        self.seed = seed
        self.n_clusters = n_clusters
        self.n_pretrain_tokens = n_pretrain_tokens
        self.n_pool_docs = n_pool_docs
        self.finetune_lr = finetune_lr

    # ------------------------------------------------------------------ cost
    def estimate_cost(self, *, n_domain_tokens: float, n_pretrain_tokens: float | None = None,
                      n_specialize_tokens: float | None = None,
                      scale: str | Scale | None = None) -> Cost:
        """Pretraining 0; specialization = small model on the resampled tokens + fine-tune
        (~6*N*D each, Kaplan et al. 2020); the domain's embedding is negligible."""
        self._validate()
        s = self._scale_for(scale)
        spec = s.small
        is_tokens = (n_pretrain_tokens if n_pretrain_tokens is not None
                     else self._pretrain_tokens(s))
        ft_tokens = (n_specialize_tokens if n_specialize_tokens is not None
                     else default_specialize_tokens(s, n_domain_tokens))
        is_flops, ft_flops = train_flops(spec, is_tokens), train_flops(spec, ft_tokens)
        return Cost(
            pretraining_flops=0.0,
            specialization_flops=is_flops + ft_flops,
            inference_flops_per_token=forward_flops_per_token(spec),  # ~2N per token
            inference_params=spec.n_params,
            pretraining_params=0,  # nothing is pretrained before the domain is known
            components={"is_pretraining": is_flops, "finetune": ft_flops},
        )

    @classmethod
    def search_space(cls, scale: str | Scale = "paper") -> dict[str, Any]:
        from optuna.distributions import IntDistribution

        # the paper's Fig. 10 compares 16, 64, 256 and 1,024 clusters
        return {"n_clusters": IntDistribution(4, 1024, log=True)}

    # ------------------------------------------------------------------ phases
    def pretrain(self, ws: Workspace) -> ImportanceSamplingStrategy:
        """The domain-agnostic steps, cached on disk and shared by every domain: cluster (a
        subset of) the generic corpus and assign the generic pool to the clusters. No model
        is trained here and nothing is charged."""
        from strategies.machinery.clustering import workspace_clusters

        self._validate()
        self.clusters_ = workspace_clusters(ws, self._n_clusters(ws.scale), seed=self.seed)
        pool = self._pool(ws, self.clusters_)
        self.pool_docs_ = pool.docs  # int64 (n_pool,): generic train positions
        self.pool_labels_ = pool.labels  # int64 (n_pool,)
        self._by_k = {self.clusters_.k: (self.clusters_, pool)}
        lengths = ws.generic_doc_lengths  # int64 (n_generic_docs,), from the token files
        self.pretrained_ = {"path": None, "record": {"flops": 0.0},
                            "clusters_key": self.clusters_.key,
                            "n_pool_docs": int(self.pool_docs_.size),
                            "n_pool_tokens": int(lengths[pool.docs].sum()),
                            "n_generic_docs": int(lengths.size)}
        return self

    def _pool(self, ws: Workspace, clusters: ClusterModel) -> Any:
        from strategies.machinery.clustering import IS_POOL_TOKEN_FACTOR, generic_pool

        return generic_pool(ws, clusters, self._pretrain_tokens(ws.scale),
                            n_docs=self.n_pool_docs, factor=IS_POOL_TOKEN_FACTOR)

    def effective_clusters(self, n_domain_docs: int, scale: Scale) -> int:
        """The histogram's k for a domain with `n_domain_docs` training documents: the
        parameter when given, else the scale's default bounded by the document count
        (at least 1)."""
        k = self._n_clusters(scale)
        return k if self.n_clusters is not None else max(1, min(k, int(n_domain_docs)))

    def _clusters_for(self, ws: Workspace, k: int) -> tuple[ClusterModel, np.ndarray,
                                                               np.ndarray]:
        """(clusters, pool docs, pool labels) for k clusters, built once per k (the
        embeddings are cached, so a smaller k costs a k-means and an assignment)."""
        from strategies.machinery.clustering import workspace_clusters

        if k not in self._by_k:
            clusters = workspace_clusters(ws, k, seed=self.seed)
            self._by_k[k] = (clusters, self._pool(ws, clusters))
        clusters, pool = self._by_k[k]
        return clusters, pool.docs, pool.labels

    def resample(self, domain: Domain, ws: Workspace) -> tuple[np.ndarray, Resample]:
        """The domain's histogram P(c | D_spec) (float64 (k,)) and the resampled generic
        documents (`Resample.draws` are positions in `pool_docs_`)."""
        from strategies.machinery.clustering import (
            ClusteringWarning,
            domain_cluster_ids,
            domain_train_documents,
        )

        self._check_pretrained()
        texts = domain_train_documents(ws, domain)
        cm, pool_docs, pool_labels = self._clusters_for(
            ws, self.effective_clusters(len(texts), ws.scale))
        ids = domain_cluster_ids(cm, texts, name=domain.name, progress=ws.progress)
        hist = cm.histogram(ids)
        pool_tokens = ws.generic_doc_lengths[pool_docs]
        plan = resample_clusters(pool_labels, hist, pool_tokens,
                                 self._pretrain_tokens(ws.scale), seed=self.seed)
        if plan.mean_draws_per_doc > REPEAT_WARNING:
            warnings.warn(
                f"{self.name} on {domain.name!r}: resampled generic documents repeat "
                f"{plan.mean_draws_per_doc:.1f} times on average (effective sample size "
                f"{plan.ess:.0f} of {pool_docs.size} pool documents); use fewer clusters "
                "(n_clusters) or a larger pool (n_pool_docs)", ClusteringWarning, stacklevel=2)
        return hist, plan

    def resampled_docs(self, plan: Resample) -> np.ndarray:
        """Generic train positions of the drawn documents of `plan` (from `resample`)."""
        k = len(plan.resampled_histogram)
        return self._by_k[k][1].docs[plan.draws]

    def specialize(self, domain: Domain, ws: Workspace) -> SpecializedModel:
        """Histogram -> resample -> pretrain the small model (charged to specialization)
        -> early-stopped fine-tune."""

        from strategies.machinery.clustering import domain_train_documents, entropy

        self._check_pretrained()
        self._validate()
        hist, plan = self.resample(domain, ws)
        cm: ClusterModel = self._by_k[len(hist)][0]
        pool = self.resampled_docs(plan)
        # the drawn documents, in draw order, copied once into token files beside the generic
        # ones and read batch by batch (the same blocks as cutting their concatenated stream)
        from domains.token_files import BlockView

        drawn = ws.generic_selection([pool], f"is-{cm.key[:12]}-k{cm.k}")
        blocks = BlockView(drawn, ws.scale.small.n_ctx)
        if len(blocks) == 0:
            raise SpecplanError(f"{self.name}: the resampled generic text holds no full block")
        tokens = self._pretrain_tokens(ws.scale)
        key = (f"{self.pretrain_key()}-is-{cm.key[:8]}-{domain.fingerprint[:12]}"
               f"-{ws.n_domain_tokens}")
        model, record = ws.pretrain_lm(ws.scale.small, blocks, key=key,
                                       n_tokens=tokens, desc=f"{self.name}:{domain.name} pretrain")
        n_pool = int(self._by_k[cm.k][1].docs.size)
        info = {
            "n_clusters": cm.k,
            "n_clusters_requested": self._n_clusters(ws.scale),
            "n_domain_docs": len(domain_train_documents(ws, domain)),
            "n_pool_docs": n_pool,
            "pool_share_of_generic": n_pool / max(1, int(self.pretrained_["n_generic_docs"])),
            "cluster_histogram": hist.tolist(),
            "cluster_entropy": entropy(hist),  # nats (the paper's Table 10)
            "top_cluster_share": float(hist.max()),  # the paper's Table 9
            "top_cluster": int(hist.argmax()),
            "ess": plan.ess,
            "repetition_rate": plan.repetition_rate,
            "kl_domain_resampled": plan.kl,
            "resample": plan.summary(),
            "is_pretraining_flops": float(record["flops"]),
            "is_pretraining_steps": int(record["steps"]),
            "clusters_key": cm.key,
            "clustering_charged": False,
        }
        return finetune_and_package(
            self, model, domain, ws, pretraining_flops=0.0, pretraining_params=0, info=info,
            components={"is_pretraining": float(record["flops"])},
            extra_specialization_flops=float(record["flops"]), lr=self.finetune_lr,
            tag=f"ft-{self._spec_hash()}",
        )

    def _spec_hash(self) -> str:
        """Names the fine-tune checkpoint: a resumed fine-tune must share its parameters."""
        blob = json.dumps({"lr": self.finetune_lr, "clusters": self.clusters_.key},
                          sort_keys=True, default=repr)
        return hashlib.sha256(blob.encode()).hexdigest()[:8]
