"""`hypernetwork` (the paper's SLM-pn, "projected network"; SLM-hn in v1): one network
pretrained on generic text whose MLP weights are projected, per cluster, from shared
basis tensors (arXiv 2402.01093 §2.5; the model is `strategies.machinery.projected`).

- pretraining bucket (shared by every domain): training the projected network on the
  clustered generic text, each block routed to its cluster's expert. Each token goes
  through one small-model-sized expert (the small model's training FLOPs), plus the
  per-step cost of generating the experts' MLP weights (small: h x the MLP parameters per
  expert in the batch). The paper measured 3.6 vs 2.2 GPUh per 1B tokens for this
  (Table 2): the planner applies that as an efficiency factor; we count FLOPs.
  pretraining_params = shared + basis tensors + M + E (Table 7: 1,422M for 32 experts);
- specialization bucket (per domain): the closed-form projection (negligible) and one
  early-stopped fine-tune of the instantiated small model;
- inference: the small model (the expert is a plain `GPT2LMHeadModel`).

Importing this module never imports torch.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from strategies.base import (
    Cost,
    DomainEdge,
    PlanningPrior,
    SpecializedModel,
    Strategy,
    default_specialize_tokens,
)
from strategies.machinery.clustered import ClusteredMixin
from strategies.machinery.flops import (
    forward_flops_per_token,
    mlp_params,
    n_params,
    train_flops_per_token,
)
from strategies.machinery.pretrain_finetune import finetune_and_package
from strategies.machinery.scales import ModelSpec, Scale
from strategies.machinery.validation import NONE, Interval, Options

if TYPE_CHECKING:
    import numpy as np
    import torch

    from domains import Domain
    from strategies.machinery.clustering import ClusterModel
    from strategies.machinery.workspace import Workspace

# Basis tensors per expert implied by the paper's Table 7 (inference, paper-notes §2.7):
# 1,422M parameters for 32 experts = 67M shared + h x 58.7M of MLP  ->  h ~ 0.72 k.
BASIS_PER_CLUSTER = 0.72


def default_n_basis(n_clusters: int) -> int:
    """h for k clusters when not given: round(0.72 k), at least 1 (see BASIS_PER_CLUSTER)."""
    return max(1, round(BASIS_PER_CLUSTER * n_clusters))


def projected_params(spec: ModelSpec, n_clusters: int, n_basis: int, expert_dim: int) -> int:
    """Parameters of the projected network: shared (all but the MLPs) + h basis copies of
    every MLP tensor (weights and biases) + M (m x h per layer) + E (k x m)."""
    shared = n_params(spec) - spec.n_layer * mlp_params(spec)
    basis = spec.n_layer * n_basis * mlp_params(spec)
    return shared + basis + spec.n_layer * expert_dim * n_basis + n_clusters * expert_dim


def projection_flops(spec: ModelSpec, n_basis: int, expert_dim: int) -> float:
    """Forward FLOPs to generate one expert's MLPs: alpha = e M (2 m h) and
    W = T alpha (2 h per generated parameter), per layer."""
    return spec.n_layer * (2.0 * expert_dim * n_basis + 2.0 * n_basis * mlp_params(spec))


def generation_flops_per_token(spec: ModelSpec, n_clusters: int, n_basis: int,
                               expert_dim: int, batch_size: int) -> float:
    """Training FLOPs per token of generating the experts' weights: every step generates
    (forward + backward = 3x) the weights of each distinct expert in the batch, at most
    min(k, B), spread over the B x T tokens of the step (an upper bound)."""
    experts_per_step = min(n_clusters, batch_size)
    per_step = 3.0 * experts_per_step * projection_flops(spec, n_basis, expert_dim)
    return per_step / (batch_size * spec.n_ctx)


class HypernetworkStrategy(ClusteredMixin, Strategy):
    """Projected network (SLM-pn / SLM-hn): cluster-conditioned MLPs from shared bases.

    `pretrain` clusters the generic corpus (`strategies.machinery.clustering`: k-means on the
    subset
    of `Scale.cluster_docs` documents; when that subset holds fewer tokens than the
    pretraining budget, further generic documents are assigned to the nearest centroid),
    packs each cluster's documents into blocks of their own (so every block has exactly
    one cluster: no majority vote needed) and trains T, M, E and the shared body jointly
    with the shared training loop, each block through its cluster's expert. `specialize`
    assigns the domain's training documents to the same centroids, picks the expert vector (the
    most frequent cluster's E row, or the histogram mixture), instantiates it in closed form as
    an ordinary small `GPT2LMHeadModel` and fine-tunes it with early stopping.

    Args:
        scale: `tiny`, `demo` or `paper` (or a `Scale`).
        seed: clustering seed (model init and batch order follow the workspace seed, as
            for the baselines).
        n_clusters: k, clusters = experts (default: the scale's `n_clusters`; the paper's
            main PN uses 32).
        n_basis: h, basis tensors per MLP tensor (default: round(0.72 k), Table 7).
        expert_dim: m, size of an expert vector (default: h, so M is square).
        conditioning: ``"cluster"`` (the paper: the domain's most frequent cluster) or
            ``"histogram"`` (sum_i p_i E[i] over the domain's cluster histogram p, the
            direction of the follow-up Soup-of-Experts, arXiv 2502.01804).
        n_pretrain_tokens: generic pretraining tokens (default: the scale's).
        finetune_lr: fine-tuning learning rate (default: the scale's).

    Example:
        >>> from strategies.hypernetwork import HypernetworkStrategy
        >>> c = HypernetworkStrategy(scale="paper", n_clusters=32).estimate_cost(
        ...     n_domain_tokens=8_000_000)
        >>> round(c.pretraining_params / 1e6), c.inference_params < 130_000_000
        (1415, True)
    """

    name = "hypernetwork"
    paper_name = "SLM-pn"
    artifact_family = "generic_clusters"  # shares pretraining artifacts (worker scheduling)
    summary = ("projected network: per-cluster MLPs generated from shared basis tensors; "
               "instantiate the domain's expert as a small model, fine-tune it")
    charging = {
        "pretraining": "training the projected network on clustered generic text (shared): "
                       "small-model FLOPs per token + generating the experts' MLP weights",
        "specialization": "closed-form projection of one expert + early-stopped fine-tune",
        "inference": "small model",
    }

    @classmethod
    def planning_prior(cls) -> PlanningPrior:
        """How the planner models SLM-pn at the paper's scale."""
        return PlanningPrior(kind="reference", like="small", confidence="high",
                             source="Table 8 (SLM-pn rows, 32 experts: Table 1, Fig. 7)",
                             paper_params={"n_clusters": 32},
                             modelled={"n_clusters": (32,)},
                             domain_edge=DomainEdge(
                                 sensitivity="cluster_experts", reference_gpuh=400.0,
                                 source="App. E (Figs. 12-13) with Table 10: SLM-pn keeps its "
                                        "Table 8 edge over SLM on the seven concentrated Pile "
                                        "domains, none on wikipedia and openwebtext2 (the most "
                                        "diffuse); read at Table 8's 400-GPUh row"))
    _specialization_params = frozenset({"conditioning", "finetune_lr"})
    _parameter_constraints = {
        "seed": [Interval(int, 0, None)],
        "n_clusters": [NONE, Interval(int, 1, None)],
        "n_basis": [NONE, Interval(int, 1, None)],
        "expert_dim": [NONE, Interval(int, 1, None)],
        "conditioning": [Options(frozenset({"cluster", "histogram"}))],
        "n_pretrain_tokens": [NONE, Interval(int, 1, None)],
        "finetune_lr": [NONE, Interval(float, 0, None, closed="neither")],
    }

    def __init__(self, *, scale: str | Scale = "tiny", seed: int = 0,
                 n_clusters: int | None = None, n_basis: int | None = None,
                 expert_dim: int | None = None,
                 conditioning: str = "cluster", n_pretrain_tokens: int | None = None,
                 finetune_lr: float | None = None) -> None:
        self.scale = scale
        self.seed = seed
        self.n_clusters = n_clusters
        self.n_basis = n_basis
        self.expert_dim = expert_dim
        self.conditioning = conditioning
        self.n_pretrain_tokens = n_pretrain_tokens
        self.finetune_lr = finetune_lr

    # ------------------------------------------------------------------ shape (no torch)
    def dims(self, scale: Scale) -> tuple[int, int, int]:
        """(k, h, m) with the defaults resolved for `scale`."""
        k = self._n_clusters(scale)
        h = self.n_basis if self.n_basis is not None else default_n_basis(k)
        m = self.expert_dim if self.expert_dim is not None else h
        return k, h, m

    def estimate_cost(self, *, n_domain_tokens: float, n_pretrain_tokens: float | None = None,
                      n_specialize_tokens: float | None = None,
                      scale: str | Scale | None = None) -> Cost:
        self._validate()
        s = self._scale_for(scale)
        spec = s.small
        k, h, m = self.dims(s)
        pre_tokens = (n_pretrain_tokens if n_pretrain_tokens is not None
                      else self._pretrain_tokens(s))
        ft_tokens = (n_specialize_tokens if n_specialize_tokens is not None
                     else default_specialize_tokens(s, n_domain_tokens))
        # each token through one small-sized expert: ~6N (Kaplan et al. 2020) + generation
        per_token = train_flops_per_token(spec) + generation_flops_per_token(
            spec, k, h, m, s.batch_size)
        pre = per_token * float(pre_tokens)
        projection = projection_flops(spec, h, m)
        finetune = train_flops_per_token(spec) * float(ft_tokens)
        return Cost(
            pretraining_flops=pre,
            specialization_flops=projection + finetune,
            inference_flops_per_token=forward_flops_per_token(spec),  # ~2N per token
            inference_params=spec.n_params,
            pretraining_params=projected_params(spec, k, h, m),
            components={"pretraining": pre, "projection": projection, "finetune": finetune},
        )

    @classmethod
    def search_space(cls, scale: str | Scale = "paper") -> dict[str, Any]:
        from optuna.distributions import CategoricalDistribution, IntDistribution

        return {
            "n_clusters": IntDistribution(4, 64, log=True),  # the paper: 16, 32, 64 (Fig. 7)
            "conditioning": CategoricalDistribution(["cluster", "histogram"]),
        }

    # ------------------------------------------------------------------ pretraining
    def _clusters(self, ws: Workspace) -> ClusterModel:
        from strategies.machinery.clustering import workspace_clusters

        return workspace_clusters(ws, self.dims(ws.scale)[0], seed=self.seed)

    def pretrain(self, ws: Workspace) -> HypernetworkStrategy:
        """Cluster the generic corpus and train (or load) the projected network."""
        from safetensors.torch import load_file, save_file

        from domains.atomic import atomic_into
        from strategies.machinery.models import count_params
        from strategies.machinery.projected import ProjectedGPT2, projected_loss
        from strategies.machinery.training import train

        self._validate()
        spec = ws.scale.small
        k, h, m = self.dims(ws.scale)
        clusters = self._clusters(ws)
        model = ProjectedGPT2(spec, n_clusters=k, n_basis=h, expert_dim=m, seed=ws.seed,
                              eos_token_id=ws.eos_id)
        tokens = self._pretrain_tokens(ws.scale)
        # the artifact depends on the clustering and the data too, not only the parameters
        blob = json.dumps([clusters.key, tokens, repr(spec), ws.seed]).encode()
        path = ws.artifact_dir(f"{self.pretrain_key()}-{hashlib.sha256(blob).hexdigest()[:12]}")
        with ws.exclusive(path):  # another process training this network: wait, then load
            if ws.is_finished(path):
                model.load_state_dict(load_file(str(path / "model.safetensors")))
                record = ws.read_record(path)
            else:
                data = projected_pretraining_data(ws, clusters, tokens)
                cfg = ws.train_config(spec, lr=ws.scale.lr, desc=f"{self.name} pretrain",
                                      key_dir=path, max_tokens=tokens, weight_decay=0.1)
                cfg.flops_per_token += generation_flops_per_token(spec, k, h, m,
                                                                  cfg.batch_size)
                result = train(model, data, cfg, loss_fn=projected_loss)
                record = {**result.to_dict(), "n_params": count_params(model),
                          "n_blocks": int(data["input_ids"].shape[0]),
                          "blocks_per_cluster": data["cluster"].bincount(minlength=k).tolist(),
                          "n_clusters": k, "n_basis": h, "expert_dim": m}
                from strategies.machinery.distributed import is_main_process

                if is_main_process():  # ws.finish then makes the other processes wait
                    # clone: the tied embedding/lm_head share storage (safetensors refuses)
                    with atomic_into(path) as tmp:
                        save_file({n: t.detach().cpu().clone().contiguous()
                                   for n, t in model.state_dict().items()},
                                  str(tmp / "model.safetensors"))
                ws.finish(path, record)
        model.eval()
        self.projected_ = model
        self.clusters_ = clusters
        self.pretrained_ = {"path": path, "record": record}
        return self

    # ------------------------------------------------------------------ specialization
    def domain_histogram(self, domain: Domain, ws: Workspace) -> np.ndarray:
        """P(c | D_spec), float64 (k,): the domain's training documents (those inside its
        first `n_domain_tokens`) assigned to the generic centroids."""
        from strategies.machinery.clustering import domain_cluster_ids, domain_train_documents

        self._check_pretrained()
        texts = domain_train_documents(ws, domain)
        ids = domain_cluster_ids(self.clusters_, texts, name=domain.name,
                                 progress=ws.progress)
        return self.clusters_.histogram(ids)

    def expert_for(self, hist: np.ndarray) -> tuple[torch.Tensor, dict[str, Any]]:
        """The expert vector (m,) for a domain histogram, and what was chosen."""
        import numpy as np
        import torch

        net = self.projected_
        with torch.no_grad():
            if self.conditioning == "cluster":
                c = int(np.argmax(hist))
                return net.expert_vector(cluster=c).detach().clone(), {"expert_cluster": c}
            return (net.expert_vector(weights=torch.as_tensor(hist, dtype=torch.float32))
                    .detach().clone(), {"expert_cluster": None})

    def specialize(self, domain: Domain, ws: Workspace) -> SpecializedModel:
        from strategies.machinery.clustering import entropy

        self._check_pretrained()
        self._validate()
        hist = self.domain_histogram(domain, ws)
        vector, chosen = self.expert_for(hist)
        model = self.projected_.instantiate(vector)
        _, h, m = self.dims(ws.scale)
        projection = projection_flops(ws.scale.small, h, m)
        pre = float(self.pretrained_["record"]["flops"])
        from strategies.machinery.projected import expert_divergence

        # how far the experts are apart on this domain (a diagnostic, not charged: k
        # forward passes over at most 16 validation blocks)
        divergence = expert_divergence(self.projected_, ws.valid_blocks(domain))
        info = {**chosen, "conditioning": self.conditioning, "cluster_histogram": hist.tolist(),
                "cluster_entropy": entropy(hist), "top_cluster_share": float(hist.max()),
                "clusters_key": self.clusters_.key, **divergence}
        return finetune_and_package(
            self, model, domain, ws, pretraining_flops=pre,
            pretraining_params=int(self.pretrained_["record"]["n_params"]),
            info=info, components={"pretraining": pre, "projection": projection},
            extra_specialization_flops=projection, lr=self.finetune_lr,
            tag=f"ft-{self._spec_hash()}",
        )

    def _spec_hash(self) -> str:
        """Names the fine-tune checkpoint: a resumed fine-tune must share its expert choice."""
        params = {k: v for k, v in self.get_params().items() if k in self._specialization_params}
        blob = json.dumps({**params, "clusters": self.clusters_.key}, sort_keys=True, default=repr)
        return hashlib.sha256(blob.encode()).hexdigest()[:8]


def projected_pretraining_data(ws: Workspace, clusters: ClusterModel,
                               n_tokens: int | None = None) -> dict[str, Any]:
    """{"input_ids": (n, T) blocks, "cluster": (n,) int64 tensor}: each cluster's generic
    documents packed into blocks of their own, so a block's cluster is its documents'
    cluster. The blocks are read batch by batch from token files holding each cluster's
    documents as one shard (`Workspace.generic_selection`, `BlockView`), the texts of the
    extra documents decoded from the generic token files: nothing holds the corpus in RAM.

    The documents are the clustered subset (`Scale.cluster_docs`) and, when it holds fewer
    than `n_tokens` tokens, further generic documents (the next ones of the same fixed
    permutation, `clustering.subset_indices`) assigned to the nearest centroid, so the
    projected network sees as many distinct tokens as the small model's pretraining rather
    than repeating a smaller set. A cluster with fewer than T tokens yields no block (its
    expert is then never trained).
    """
    import numpy as np
    import torch

    from domains.errors import SpecplanError
    from domains.token_files import BlockView
    from strategies.machinery.clustering import assign_texts, subset_indices

    assert clusters.doc_indices is not None, "needs a ClusterModel from generic_clusters"
    lengths = ws.generic_doc_lengths  # int64 (n_generic_docs,)
    docs, labels = clusters.doc_indices, clusters.labels
    have = int(lengths[docs].sum())
    if n_tokens is not None and have < n_tokens and len(docs) < lengths.size:
        per_doc = max(1.0, have / max(1, len(docs)))
        want = len(docs) + int(np.ceil(1.1 * (n_tokens - have) / per_doc))
        extra = np.setdiff1d(subset_indices(int(lengths.size), want), docs)
        extra_labels = assign_texts(clusters, ws.generic_texts(extra), progress=ws.progress,
                                    name=f"projected-{clusters.key[:12]}-"
                                         f"{hashlib.sha256(extra.tobytes()).hexdigest()[:12]}")
        docs, labels = np.concatenate([docs, extra]), np.concatenate([labels, extra_labels])
    t = ws.scale.small.n_ctx
    groups = [np.sort(docs[labels == c]) for c in range(clusters.k)]
    files = ws.generic_selection(groups, f"projected-{clusters.key[:12]}-k{clusters.k}")
    per_cluster = files.block_counts(t)  # (k,): a cluster's blocks never straddle another's
    data: dict[str, Any] = {
        "input_ids": BlockView(files, t),
        "cluster": torch.from_numpy(np.repeat(np.arange(clusters.k), per_cluster)).long(),
    }
    if data["input_ids"].shape[0] == 0:
        raise SpecplanError("hypernetwork: the clustered generic documents hold no full block")
    return data
