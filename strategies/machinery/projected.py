"""The projected network (the paper's SLM-pn, SLM-hn in v1; arXiv 2402.01093 §2.5).

One GPT-2 body whose attention, embeddings and norms are shared by every expert; only
the MLPs are expert-specific, and they are *generated*. For layer l and expert vector
e (E[i] for cluster i), each MLP matrix is a linear combination of h basis tensors:

    W(l, e)[a, b] = sum_q e[q] sum_r M(l)[q, r] T(l)[a, b, r]      (paper §2.5)
                  = (T(l) @ alpha(l, e))[a, b],   alpha(l, e) = e @ M(l)  in R^h

applied to both MLP matrices (c_fc: d x f, c_proj: f x d) and to their biases (basis
tensors of shape (f, h) and (d, h)); M(l) (m x h) is shared by the four tensors of a
layer, E (k x m) by all layers. The hard mixture is the special case h = k, M = I,
E = I (one basis tensor per cluster).

Training routes every row of a batch to its own expert: rows are grouped by expert, each
group's weights are generated once per forward (h * params_mlp multiply-adds, small next
to the B * T tokens through them) and applied with the same `addmm` as GPT-2's `Conv1D`.

Initialization: every expert starts at GPT-2's init scale, and the E rows start close to
one shared vector (EXPERT_INIT_SPREAD), so the network begins as one dense model whose
experts the clusters' gradients pull apart (see `ProjectedGPT2`).

`instantiate(expert)` computes one expert's MLP weights in closed form and returns an
ordinary `GPT2LMHeadModel` of exactly the small model's size.

This module imports torch; strategy modules import it lazily.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from transformers import GPT2LMHeadModel
from transformers.activations import ACT2FN

from strategies.machinery.models import build_model
from strategies.machinery.scales import ModelSpec

EXPERT_INIT_SPREAD = 0.1  # noise around the shared initial expert vector (see ProjectedGPT2)


@dataclass
class _ExpertRouting:
    """What the MLPs of one forward pass need: the distinct expert vectors of the batch
    and which of them each row uses (set by `ProjectedGPT2.forward`, shared by layers)."""

    vectors: torch.Tensor | None = None  # (U, m) distinct expert vectors
    inverse: torch.Tensor | None = None  # (B,) row -> index into `vectors`


def _orthonormal(rows: int, cols: int) -> torch.Tensor:
    """A random (rows, cols) matrix with orthonormal rows (rows <= cols) or columns."""
    q, _ = torch.linalg.qr(torch.randn(max(rows, cols), min(rows, cols)))
    return q if rows >= cols else q.T


class ProjectedMLP(nn.Module):
    """A GPT-2 MLP whose weights are generated from an expert vector (paper §2.5).

    Args:
        d: model width. f: MLP inner width. n_basis: h. expert_dim: m.
        n_layer: depth (for GPT-2's scaled init of the output projection).
        activation: GPT-2 `activation_function` name.
        routing: the shared per-forward routing state.
    """

    def __init__(self, d: int, f: int, n_basis: int, expert_dim: int, n_layer: int,
                 activation: str, routing: _ExpertRouting) -> None:
        super().__init__()
        h = n_basis
        # A generated weight is sum_r alpha_r T[..., r]. E rows have unit norm and M has
        # orthonormal rows (or columns, when m > h), so every expert starts with
        # ||alpha|| <= 1 (= 1 when m <= h), and T ~ N(0, s^2) gives it GPT-2's init scale s.
        std = 0.02
        self.T_fc = nn.Parameter(torch.randn(d, f, h) * std)  # (d, f, h)
        self.Tb_fc = nn.Parameter(torch.zeros(f, h))  # (f, h)
        self.T_proj = nn.Parameter(torch.randn(f, d, h) * std / math.sqrt(2 * n_layer))
        self.Tb_proj = nn.Parameter(torch.zeros(d, h))  # (d, h)
        self.M = nn.Parameter(_orthonormal(expert_dim, h))  # (m, h)
        self.act = ACT2FN[activation]
        self._routing = routing

    def generate(self, vectors: torch.Tensor) -> dict[str, torch.Tensor]:
        """MLP weights for U expert vectors (U, m), in GPT-2 `Conv1D` layout.

        Returns {"c_fc.weight": (U, d, f), "c_fc.bias": (U, f), "c_proj.weight": (U, f, d),
        "c_proj.bias": (U, d)}.
        """
        alpha = vectors @ self.M  # (U, h): alpha = M^T e, the basis coefficients
        return {
            "c_fc.weight": torch.einsum("dfh,uh->udf", self.T_fc, alpha),
            "c_fc.bias": alpha @ self.Tb_fc.T,
            "c_proj.weight": torch.einsum("fdh,uh->ufd", self.T_proj, alpha),
            "c_proj.bias": alpha @ self.Tb_proj.T,
        }

    @staticmethod
    def _mlp(x: torch.Tensor, w: dict[str, torch.Tensor], u: int, act: Any) -> torch.Tensor:
        """GPT-2's MLP with expert u's weights on x (n, T, d); same ops as `Conv1D`."""
        n, t, d = x.shape
        hidden = torch.addmm(w["c_fc.bias"][u], x.reshape(-1, d), w["c_fc.weight"][u])
        hidden = act(hidden)  # (n*T, f)
        out = torch.addmm(w["c_proj.bias"][u], hidden, w["c_proj.weight"][u])
        return out.view(n, t, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, T, d)
        r = self._routing
        if r.vectors is None or r.inverse is None:
            raise RuntimeError("ProjectedMLP called outside ProjectedGPT2.forward (no expert)")
        w = self.generate(r.vectors)
        if r.vectors.shape[0] == 1:
            return self._mlp(x, w, 0, self.act)
        # Group rows by expert: sort, run each group with its own weights, undo the sort.
        order = torch.argsort(r.inverse, stable=True)  # (B,)
        counts = torch.bincount(r.inverse, minlength=r.vectors.shape[0]).tolist()
        parts, start = [], 0
        for u, c in enumerate(counts):
            if c:
                parts.append(self._mlp(x[order[start:start + c]], w, u, self.act))
            start += c
        out = torch.cat(parts)  # rows in sorted order
        return out[torch.argsort(order)]


class ProjectedGPT2(nn.Module):
    """A GPT-2 LM whose MLPs are projected per cluster (paper §2.5).

    Args:
        spec: the small model's shape (every expert has exactly this shape).
        n_clusters: k, rows of the expert table E.
        n_basis: h, basis tensors per MLP tensor.
        expert_dim: m, size of an expert vector.
        seed: initialization seed (shared parts are initialized like `build_model`).
        eos_token_id: end-of-text id written into the config.

    Attributes:
        body: the shared `GPT2LMHeadModel` whose blocks hold `ProjectedMLP`s.
        E: (k, m) expert vectors, one per cluster.
    """

    def __init__(self, spec: ModelSpec, *, n_clusters: int, n_basis: int, expert_dim: int,
                 seed: int = 0, eos_token_id: int = 0) -> None:
        super().__init__()
        self.spec = spec
        self.n_clusters, self.n_basis, self.expert_dim = n_clusters, n_basis, expert_dim
        self._routing = _ExpertRouting()
        body = build_model(spec, seed=seed, eos_token_id=eos_token_id)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed + 1)
            for block in body.transformer.h:
                block.mlp = ProjectedMLP(spec.n_embd, spec.d_ff, n_basis, expert_dim,
                                         spec.n_layer, body.config.activation_function,
                                         self._routing)
            # Experts start nearly identical (one shared direction + 10% noise): the network
            # begins as one dense model and the clusters' gradients pull the E rows apart.
            # Independent random rows start k unrelated models, each seeing 1/k of the data:
            # at tiny scale that pretrained worse (biomedical test perplexity before
            # fine-tuning 295 vs 271, seed 0).
            e = torch.randn(1, expert_dim) + EXPERT_INIT_SPREAD * torch.randn(n_clusters,
                                                                              expert_dim)
            self.E = nn.Parameter(e / e.norm(dim=1, keepdim=True))  # (k, m) unit rows
        self.body = body

    @property
    def config(self) -> Any:  # the training loop reads config.n_embd (precision choice)
        return self.body.config

    def mlps(self) -> list[ProjectedMLP]:
        return [_projected(block.mlp) for block in self.body.transformer.h]

    def expert_vector(self, cluster: int | None = None,
                      weights: torch.Tensor | None = None) -> torch.Tensor:
        """The expert vector (m,) of one cluster, or the mixture sum_i p_i E[i] of a
        cluster histogram p (k,) (the Soup-of-Experts direction, arXiv 2502.01804)."""
        if (cluster is None) == (weights is None):
            raise ValueError("give exactly one of cluster and weights")
        if cluster is not None:
            return self.E[cluster]
        p = torch.as_tensor(weights, dtype=self.E.dtype)
        return p @ self.E

    def forward(self, input_ids: torch.Tensor, cluster: torch.Tensor | None = None,
                expert: torch.Tensor | None = None, labels: torch.Tensor | None = None,
                **kwargs: Any) -> Any:
        """Run every row through its own expert.

        Args:
            input_ids: (B, T) token ids.
            cluster: (B,) cluster id per row (the expert is E[cluster]).
            expert: instead of `cluster`, an expert vector (m,) for every row or (B, m).
            labels: as in `GPT2LMHeadModel` (shifted inside).
        """
        if (cluster is None) == (expert is None):
            raise ValueError("give exactly one of cluster and expert")
        if cluster is not None:
            uniq, inverse = torch.unique(cluster, return_inverse=True)  # (U,), (B,)
            vectors = self.E[uniq]  # (U, m)
        elif expert is not None and expert.dim() == 1:
            vectors = expert.unsqueeze(0)
            inverse = torch.zeros(input_ids.shape[0], dtype=torch.long)
        else:
            vectors, inverse = torch.unique(expert, dim=0, return_inverse=True)
        self._routing.vectors, self._routing.inverse = vectors, inverse
        try:
            return self.body(input_ids=input_ids, labels=labels, **kwargs)
        finally:
            self._routing.vectors = self._routing.inverse = None

    @torch.no_grad()
    def instantiate(self, expert: torch.Tensor) -> GPT2LMHeadModel:
        """One expert as an ordinary `GPT2LMHeadModel` (the small model's exact size):
        the shared weights copied, the MLP weights computed in closed form (§2.5)."""
        model = GPT2LMHeadModel(self.body.config)
        state = {k: v.clone() for k, v in self.body.state_dict().items() if ".mlp." not in k}
        vec = expert.reshape(1, -1).to(self.E.dtype)  # (1, m)
        for i, mlp in enumerate(self.mlps()):
            for name, w in mlp.generate(vec).items():
                state[f"transformer.h.{i}.mlp.{name}"] = w[0].contiguous()
        model.load_state_dict(state, strict=True)
        model.eval()
        return model


def _projected(mlp: Any) -> ProjectedMLP:
    if not isinstance(mlp, ProjectedMLP):  # only a ProjectedNetwork's own blocks come here
        raise TypeError(f"expected a ProjectedMLP, got {type(mlp).__name__}")
    return mlp


def projected_loss(model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Next-token loss of each row under its own cluster's expert (the paper's routing)."""
    return model(input_ids=batch["input_ids"], cluster=batch["cluster"],
                 labels=batch["input_ids"]).loss


#: Mean KL between experts (nats/token) below which the projected network is reported as
#: behaving like one dense model: issue 12 measured 0.0006-0.0016 at `tiny`/`demo`, where a
#: k=1 control did as well. A diagnostic threshold, not a number from the paper.
DENSE_KL_NATS = 0.01


@torch.no_grad()
def expert_divergence(net: ProjectedGPT2, blocks: torch.Tensor, *,
                      max_blocks: int = 16) -> dict[str, Any]:
    """How far the k experts' next-token distributions are apart on `blocks`.

    For every ordered pair (i, j), i != j, KL(p_i || p_j) is averaged over the tokens of
    the first `max_blocks` rows of `blocks` ((n, T) int64, e.g. a domain's validation
    blocks); p_c is expert c's softmax (the network run with `expert=E[c]`).

    Returns:
        {"expert_kl_mean", "expert_kl_max"} in nats/token (0.0 when k = 1),
        "expert_kl_tokens" (tokens averaged over), and "behaves_as_dense" (mean KL below
        `DENSE_KL_NATS`: the experts are practically one model).
    """
    was_training = net.training
    net.eval()
    x = blocks[:max_blocks]
    logp = [torch.log_softmax(net(input_ids=x, expert=net.E[c]).logits.float(), dim=-1)
            for c in range(net.n_clusters)]  # k x (B, T, V)
    kls = [float((logp[i].exp() * (logp[i] - logp[j])).sum(-1).mean())
           for i in range(len(logp)) for j in range(len(logp)) if i != j]
    net.train(was_training)
    mean = sum(kls) / len(kls) if kls else 0.0
    return {"expert_kl_mean": mean, "expert_kl_max": max(kls, default=0.0),
            "expert_kl_tokens": int(x.numel()), "behaves_as_dense": mean < DENSE_KL_NATS}
