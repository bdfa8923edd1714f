"""`mixture` (the paper's SLM-mix, §2.5 / App. D.2; Gross et al. 2017): a hard mixture of
experts with no routing at inference. Cluster the generic corpus into k clusters and
pretrain one small model per cluster **only on that cluster's documents**; for a domain,
pick one expert and fine-tune it. The served model is that single small model.

- Token budget: `n_pretrain_tokens` is the **total** over experts (default: the scale's
  `pretrain_tokens`, i.e. the same pretraining compute as `small`), split across experts
  equally by default (`token_split="equal"`: the paper's setup, one expert per GPU for the
  same number of steps, Table 8) or in proportion to their cluster's tokens
  (`token_split="proportional"`: every expert makes the same number of passes over its
  cluster, none overfits first). Every expert gets at least one optimizer step; the steps
  each expert ran are reported (`info["expert_steps"]`).
- Each expert is its own cached artifact (its key names the clustering and the expert), so
  experts are independent, resumable jobs; `n_jobs > 1` trains them in parallel processes.
- Selection (paper Table 5, 64 experts, 1M tokens: 17.32 / 17.05 / 16.98 PPL): the expert of
  the domain's most frequent cluster (default), the expert with the lowest loss on the
  domain's validation split before fine-tuning, or fine-tune every expert and keep the best
  validation loss (charged k fine-tunes).

Charging: pretraining = all experts' pretraining (6·N·D summed over experts, Kaplan et al.
2020); pretraining parameters = k x small; specialization = one fine-tune (k with
`finetune_all`) plus, for the loss-based rules, the forward passes that score the experts.
Clustering is not charged, as in the paper.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Sequence
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
from strategies.machinery.flops import forward_flops, forward_flops_per_token, train_flops
from strategies.machinery.pretrain_finetune import finetune_and_package
from strategies.machinery.scales import Scale
from strategies.machinery.validation import NONE, Interval, Options

if TYPE_CHECKING:
    from domains import Domain
    from strategies.machinery.clustering import ClusterModel, GenericPool
    from strategies.machinery.workspace import Workspace

SELECTIONS = ("most_frequent", "best_loss", "finetune_all")
TOKEN_SPLITS = ("proportional", "equal")


# ---------------------------------------------------------------------------- pure helpers
def select_expert(
    selection: str,
    histogram: Sequence[float] | np.ndarray,
    losses: Sequence[float] | np.ndarray | None = None,
) -> int:
    """The expert a selection rule picks (paper §2.5, Table 5).

    Args:
        selection: ``most_frequent``: the expert of the domain's most frequent cluster
            (ties: the lowest index); ``best_loss``: the lowest `losses` (the experts'
            validation loss before fine-tuning); ``finetune_all``: the lowest `losses`
            (the experts' best validation loss after fine-tuning each).
        histogram: P(c | domain), (k,).
        losses: one loss per expert, (k,); needed by the loss-based rules.

    Raises:
        SpecplanError: unknown rule, or missing / mis-sized / non-finite losses.
    """
    hist = np.asarray(histogram, dtype=np.float64)
    if selection == "most_frequent":
        return int(np.argmax(hist))
    if selection not in SELECTIONS:
        raise SpecplanError(f"unknown expert selection {selection!r}; "
                            f"choose one of: {', '.join(SELECTIONS)}")
    if losses is None or len(losses) != hist.size:
        raise SpecplanError(f"selection {selection!r} needs one loss per expert "
                            f"({hist.size}), got {None if losses is None else len(losses)}")
    arr = np.asarray(losses, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise SpecplanError(f"selection {selection!r}: non-finite expert losses {arr.tolist()}")
    return int(np.argmin(arr))


def expert_token_budgets(cluster_tokens: Sequence[int] | np.ndarray, total: int, split: str,
                         min_tokens: int = 1) -> list[int]:
    """Tokens each expert is pretrained on: `total` split across experts in proportion to
    their cluster's tokens or equally, each at least `min_tokens` (one optimizer step)."""
    sizes = np.asarray(cluster_tokens, dtype=np.float64)
    if split == "equal":
        share = np.full(sizes.size, 1.0 / sizes.size)
    elif split == "proportional":
        share = sizes / sizes.sum()
    else:
        raise SpecplanError(f"unknown token_split {split!r}; choose one of: "
                            f"{', '.join(TOKEN_SPLITS)}")
    return [max(int(min_tokens), int(round(total * s))) for s in share]


# ---------------------------------------------------------------------------- expert jobs
def _expert_key(strategy: MixtureStrategy, clusters: ClusterModel, c: int) -> str:
    return f"{strategy.pretrain_key()}-{clusters.key[:8]}-expert{c}of{clusters.k}"


def _train_expert(ws: Workspace, clusters: ClusterModel, pool: GenericPool, c: int, key: str,
                  n_tokens: int) -> dict[str, Any]:
    """Pretrain (or load) expert `c` on its cluster's generic documents only."""
    from strategies.machinery.clustering import cluster_blocks

    blocks = cluster_blocks(ws, clusters, c, pool=pool)  # (n_c, T): cluster c's pool documents
    _, record = ws.pretrain_lm(ws.scale.small, blocks, key=key, n_tokens=n_tokens,
                               desc=f"mixture expert {c + 1}/{clusters.k}", seed_offset=c)
    return {**record, "cluster": c, "n_blocks": int(blocks.shape[0])}


def _train_expert_in_worker(job: dict[str, Any]) -> dict[str, Any]:
    """`_train_expert` in a spawned process: rebuild the workspace (the caches on disk make
    that cheap) and share the cores between the workers."""
    import torch

    from strategies.machinery.workspace import Workspace

    torch.set_num_threads(job["threads"])
    ws = Workspace(job["scale"], root=job["root"], seed=job["seed"],
                   n_domain_tokens=job["n_domain_tokens"], progress=False,
                   precision=job["precision"])
    return _train_expert(ws, job["clusters"], job["pool"], job["cluster"], job["key"],
                         job["n_tokens"])


# ---------------------------------------------------------------------------- the strategy
class MixtureStrategy(ClusteredMixin, Strategy):
    """Hard mixture of small experts, one per generic cluster; one expert is fine-tuned
    and served (SLM-mix).

    `pretrain` clusters the generic corpus and pretrains k experts, each only on its
    cluster's documents; `specialize` picks an expert by `selection` and fine-tunes it.

    Args:
        scale: `tiny`, `demo` or `paper`.
        seed: clustering seed (expert c's init uses the workspace seed + c).
        n_experts: number of clusters / experts k (default: the scale's `n_clusters`; the
            paper's main results use 16, Fig. 11 compares 4 to 256).
        n_pretrain_tokens: generic tokens over all experts (default: the scale's
            `pretrain_tokens`, the same compute as `small`).
        n_pool_docs: generic train documents assigned to the clusters for the experts to
            train on (default: enough to hold twice `n_pretrain_tokens`,
            `clustering.pool_indices`, so no expert repeats a small cluster many times).
        token_split: ``equal`` (default: every expert gets the same tokens, hence the
            same optimizer steps, as in the paper, §2.3) or ``proportional`` (to the
            cluster's tokens). The steps each expert ran are reported
            (``info["expert_steps"]``).
        selection: ``most_frequent`` (default), ``best_loss`` or ``finetune_all``.
        n_jobs: experts trained in parallel processes (spawn); 1 trains them in turn.
        finetune_lr: fine-tuning learning rate (default: the scale's).

    Example:
        >>> from strategies.mixture import MixtureStrategy
        >>> cost = MixtureStrategy(scale="paper", n_experts=16).estimate_cost(n_domain_tokens=1e6)
        >>> cost.pretraining_params == 16 * cost.inference_params
        True
    """

    name = "mixture"
    paper_name = "SLM-mix"
    artifact_family = "generic_clusters"  # shares pretraining artifacts (worker scheduling)
    summary = "one small expert pretrained per generic cluster; fine-tune the domain's expert"
    charging = {
        "pretraining": "k small experts, each on its cluster's generic documents (shared)",
        "specialization": "fine-tune one expert (k with selection=finetune_all)",
        "inference": "one small model",
    }

    @classmethod
    def planning_prior(cls) -> PlanningPrior:
        """How the planner models SLM-mix at the paper's scale."""
        return PlanningPrior(kind="reference", like="small", confidence="high",
                             source="Table 8 (SLM-mix rows, 16 experts); Table 5 (64 experts, "
                                    "expert selection, 1M tokens)",
                             paper_params={"n_experts": 16},
                             modelled={"n_experts": (16, 64), "selection": SELECTIONS},
                             domain_edge=DomainEdge(
                                 sensitivity="cluster_experts", reference_gpuh=400.0,
                                 source="App. E (Figs. 12-13) with Table 10: SLM-mix keeps its "
                                        "Table 8 edge over SLM on the seven concentrated Pile "
                                        "domains, none on wikipedia and openwebtext2 (the most "
                                        "diffuse); read at Table 8's 400-GPUh row"))
    _clusters_param = "n_experts"
    _specialization_params = frozenset({"selection", "n_jobs", "finetune_lr"})
    _parameter_constraints = {
        "seed": [Interval(int, 0, None)],
        "n_experts": [NONE, Interval(int, 1, None)],
        "n_pretrain_tokens": [NONE, Interval(int, 1, None)],
        "n_pool_docs": [NONE, Interval(int, 1, None)],
        "token_split": [Options(frozenset(TOKEN_SPLITS))],
        "selection": [Options(frozenset(SELECTIONS))],
        "n_jobs": [Interval(int, 1, None)],
        "finetune_lr": [NONE, Interval(float, 0, None, closed="neither")],
    }

    def __init__(self, *, scale: str | Scale = "tiny", seed: int = 0,
                 n_experts: int | None = None, n_pretrain_tokens: int | None = None,
                 n_pool_docs: int | None = None, token_split: str = "equal",
                 selection: str = "most_frequent", n_jobs: int = 1,
                 finetune_lr: float | None = None) -> None:
        self.scale = scale
        self.seed = seed
        self.n_experts = n_experts
        self.n_pretrain_tokens = n_pretrain_tokens
        self.n_pool_docs = n_pool_docs
        self.token_split = token_split
        self.selection = selection
        self.n_jobs = n_jobs
        self.finetune_lr = finetune_lr

    # ------------------------------------------------------------------ cost
    def estimate_cost(self, *, n_domain_tokens: float, n_pretrain_tokens: float | None = None,
                      n_specialize_tokens: float | None = None,
                      scale: str | Scale | None = None) -> Cost:
        """Pretraining = 6·N·D summed over the experts (D = total tokens over experts);
        specialization = one fine-tune, or k with `finetune_all`, plus k validation passes
        for the loss-based rules."""
        self._validate()
        s = self._scale_for(scale)
        spec, k = s.small, self._n_clusters(s)
        pre_tokens = (n_pretrain_tokens if n_pretrain_tokens is not None
                      else self._pretrain_tokens(s))
        ft_tokens = (n_specialize_tokens if n_specialize_tokens is not None
                     else default_specialize_tokens(s, n_domain_tokens))
        pre = train_flops(spec, pre_tokens)  # ~6*N*D (Kaplan et al. 2020), summed over experts
        n_ft = k if self.selection == "finetune_all" else 1
        finetune = n_ft * train_flops(spec, ft_tokens)
        # the loss-based rule scores every expert on the validation split
        selection = (k * forward_flops(spec, s.valid_tokens)
                     if self.selection == "best_loss" else 0.0)
        return Cost(
            pretraining_flops=pre,
            specialization_flops=finetune + selection,
            inference_flops_per_token=forward_flops_per_token(spec),  # one expert is served
            inference_params=spec.n_params,
            pretraining_params=k * spec.n_params,  # Table 1: 16 x 126M = 2,016M
            components={"pretraining": pre, "finetune": finetune, "selection": selection},
        )

    @classmethod
    def search_space(cls, scale: str | Scale = "paper") -> dict[str, Any]:
        from optuna.distributions import CategoricalDistribution, IntDistribution

        return {
            "n_experts": IntDistribution(2, 64, log=True),  # the paper: 4 to 256 (Fig. 11)
            "selection": CategoricalDistribution(list(SELECTIONS)),
        }

    # ------------------------------------------------------------------ pretraining
    def pretrain(self, ws: Workspace) -> MixtureStrategy:
        """Cluster the generic corpus, assign the generic pool to the clusters, then
        pretrain (or load) one expert per cluster on its pool documents."""
        from strategies.machinery.clustering import generic_pool, workspace_clusters

        self._validate()
        clusters = workspace_clusters(ws, self._n_clusters(ws.scale), seed=self.seed)
        pool = generic_pool(ws, clusters, self._pretrain_tokens(ws.scale),
                            n_docs=self.n_pool_docs)
        budgets = self._budgets(ws, pool, clusters.k)
        keys = [_expert_key(self, clusters, c) for c in range(clusters.k)]
        # under torchrun / accelerate launch the processes train each expert together (DDP)
        from strategies.machinery.distributed import world_size

        if self.n_jobs > 1 and clusters.k > 1 and world_size() == 1:
            records = self._train_parallel(ws, clusters, pool, keys, budgets)
        else:
            records = [_train_expert(ws, clusters, pool, c, keys[c], budgets[c])
                       for c in range(clusters.k)]
        self.clusters_ = clusters
        self.pool_ = pool
        self.expert_paths_ = [ws.artifact_dir(key) for key in keys]
        self.pretrained_ = {
            "path": self.expert_paths_,
            "record": {"flops": float(sum(r["flops"] for r in records)),
                       "steps": int(sum(r["steps"] for r in records)),
                       "experts": [{k: r.get(k) for k in ("cluster", "steps", "tokens", "flops",
                                                            "n_blocks", "wall_s")}
                                   for r in records]},
        }
        return self

    def _budgets(self, ws: Workspace, pool: GenericPool, k: int) -> list[int]:
        """Per-expert token budgets; fails before any training if a cluster is too small."""
        doc_tokens = ws.generic_doc_lengths[pool.docs]  # from the token files' index
        cluster_tokens = np.bincount(pool.labels, weights=doc_tokens, minlength=k)
        t = ws.scale.small.n_ctx
        small = np.flatnonzero(cluster_tokens < t)
        if small.size:
            raise SpecplanError(
                f"mixture: cluster(s) {small.tolist()} of n_experts={k} hold fewer "
                f"than one {t}-token block of generic text "
                f"({cluster_tokens[small].astype(int).tolist()} tokens); lower n_experts or "
                "cluster more documents"
            )
        step = ws.scale.batch_size * t
        return expert_token_budgets(cluster_tokens, self._pretrain_tokens(ws.scale),
                                    self.token_split, min_tokens=step)

    def _train_parallel(self, ws: Workspace, clusters: ClusterModel, pool: GenericPool,
                        keys: list[str], budgets: list[int]) -> list[dict[str, Any]]:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        workers = min(self.n_jobs, clusters.k)
        threads = max(1, (os.cpu_count() or 1) // workers)
        base = {"scale": ws.scale, "root": str(ws.root), "seed": ws.seed,
                "n_domain_tokens": ws.n_domain_tokens, "precision": ws.precision,
                "clusters": clusters, "pool": pool, "threads": threads}
        jobs = [{**base, "cluster": c, "key": keys[c], "n_tokens": budgets[c]}
                for c in range(clusters.k)]
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as executor:
            return list(executor.map(_train_expert_in_worker, jobs))

    def load_expert(self, c: int) -> Any:
        """Expert `c` as a fresh `GPT2LMHeadModel`."""
        from transformers import GPT2LMHeadModel

        self._check_pretrained()
        return GPT2LMHeadModel.from_pretrained(self.expert_paths_[c])

    # ------------------------------------------------------------------ specialization
    def domain_histogram(self, domain: Domain, ws: Workspace) -> np.ndarray:
        """P(c | D_spec), float64 (k,), from the domain's training documents."""
        from strategies.machinery.clustering import domain_cluster_ids, domain_train_documents

        self._check_pretrained()
        ids = domain_cluster_ids(self.clusters_, domain_train_documents(ws, domain),
                                 name=domain.name, progress=ws.progress)
        return self.clusters_.histogram(ids)

    def expert_valid_losses(self, domain: Domain, ws: Workspace) -> list[float]:
        """Every expert's mean next-token loss on the domain's validation split."""
        from strategies.machinery.training import mean_loss

        valid = ws.valid_blocks(domain)
        return [mean_loss(self.load_expert(c), valid) for c in range(self.clusters_.k)]

    def specialize(self, domain: Domain, ws: Workspace) -> SpecializedModel:
        """Pick an expert by `selection`, fine-tune it (all of them for `finetune_all`)."""
        from strategies.machinery.clustering import entropy

        self._check_pretrained()
        self._validate()
        k, spec = self.clusters_.k, ws.scale.small
        hist = self.domain_histogram(domain, ws)
        pre = float(self.pretrained_["record"]["flops"])
        info: dict[str, Any] = {
            "selection": self.selection, "n_experts": k, "cluster_histogram": hist.tolist(),
            "cluster_entropy": entropy(hist), "top_cluster_share": float(hist.max()),
            "top_cluster": int(hist.argmax()), "clusters_key": self.clusters_.key,
            "token_split": self.token_split,
            "expert_steps": [int(e["steps"]) for e in self.pretrained_["record"]["experts"]],
            "expert_tokens": [int(e["tokens"]) for e in self.pretrained_["record"]["experts"]],
        }
        common: dict[str, Any] = {"pretraining_flops": pre,
                                  "pretraining_params": k * spec.n_params,
                                  "lr": self.finetune_lr}
        if self.selection == "finetune_all":
            return self._finetune_all(domain, ws, hist, info, common)
        selection_flops = 0.0
        losses = None
        if self.selection == "best_loss":
            losses = self.expert_valid_losses(domain, ws)
            # k forward passes over the validation blocks
            selection_flops = k * forward_flops(spec, int(ws.valid_blocks(domain).numel()))
            info["expert_valid_losses"] = losses
        chosen = select_expert(self.selection, hist, losses)
        info["expert"] = chosen
        return finetune_and_package(
            self, self.load_expert(chosen), domain, ws, info=info,
            components={"pretraining": pre, "selection": selection_flops},
            extra_specialization_flops=selection_flops, tag=f"ft-{self._spec_hash()}-e{chosen}",
            **common,
        )

    def _finetune_all(self, domain: Domain, ws: Workspace, hist: np.ndarray,
                      info: dict[str, Any], common: dict[str, Any]) -> SpecializedModel:
        """Fine-tune every expert, keep the best validation loss, charge all k fine-tunes."""
        best: SpecializedModel | None = None
        losses, ft_flops = [], []
        for c in range(self.clusters_.k):
            result = finetune_and_package(
                self, self.load_expert(c), domain, ws, info=dict(info),
                components={"pretraining": common["pretraining_flops"]},
                tag=f"ft-{self._spec_hash()}-e{c}", **common,
            )
            losses.append(float(result.info["best_valid_loss"]))
            ft_flops.append(float(result.cost.components["finetune"]))
            if best is None or losses[-1] < min(losses[:-1]):  # keep one model in memory
                best = result
        chosen = select_expert("finetune_all", hist, losses)
        assert best is not None and best.info is not None
        others = float(sum(ft_flops)) - ft_flops[chosen]
        cost = dataclasses.replace(
            best.cost, specialization_flops=float(sum(ft_flops)),
            components={**best.cost.components, "finetune_other_experts": others},
        )
        best.info.update({"expert": chosen, "expert_finetuned_valid_losses": losses,
                          "n_finetunes": len(losses)})
        return dataclasses.replace(best, cost=cost)

    def _spec_hash(self) -> str:
        """Names fine-tune checkpoints: a resumed fine-tune must share its parameters."""
        blob = json.dumps({"lr": self.finetune_lr, "clusters": self.clusters_.key,
                           "selection": self.selection}, sort_keys=True, default=repr)
        return hashlib.sha256(blob.encode()).hexdigest()[:8]
