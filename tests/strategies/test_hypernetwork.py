"""The projected network (SLM-pn / SLM-hn, paper §2.5) and the `hypernetwork` strategy.

Model tests use random weights (no data); the end-to-end run uses the `tiny` scale with a
cheap bag-of-words embedding in place of MiniLM (k-means, assignment and caching stay
real; the real encoder runs in the contract suite).
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np
import pytest
import torch
from transformers import AutoModelForCausalLM, GPT2LMHeadModel

from strategies.hypernetwork import (
    HypernetworkStrategy,
    default_n_basis,
    projected_params,
    projected_pretraining_data,
)
from strategies.machinery.models import build_model, count_params
from strategies.machinery.projected import ProjectedGPT2
from strategies.machinery.scales import get_scale
from strategies.machinery.validation import ParameterError
from strategies.small import SmallStrategy

TINY = get_scale("tiny")
SPEC = TINY.small


def _randomized(net: ProjectedGPT2, seed: int = 0) -> ProjectedGPT2:
    """Perturb every parameter (bias bases start at zero: make them matter too)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))
    return net.eval()


@pytest.fixture
def net() -> ProjectedGPT2:
    torch.manual_seed(0)
    return _randomized(ProjectedGPT2(SPEC, n_clusters=3, n_basis=2, expert_dim=4, seed=0))


# ---------------------------------------------------------------------------- the model
def test_expert_divergence_is_the_mean_pairwise_kl(net: ProjectedGPT2) -> None:
    """KL between the instantiated experts, computed directly, matches; equal expert rows
    give 0 and are reported as one dense model."""
    from strategies.machinery.projected import expert_divergence

    ids = torch.randint(0, SPEC.vocab_size, (4, SPEC.n_ctx),
                        generator=torch.Generator().manual_seed(2))
    out = expert_divergence(net, ids)
    with torch.no_grad():
        logp = [torch.log_softmax(net.instantiate(net.E[c].detach())(input_ids=ids).logits,
                                  -1) for c in range(3)]
    kls = [float((logp[i].exp() * (logp[i] - logp[j])).sum(-1).mean())
           for i in range(3) for j in range(3) if i != j]
    assert out["expert_kl_mean"] == pytest.approx(np.mean(kls), rel=1e-4)
    assert out["expert_kl_max"] == pytest.approx(max(kls), rel=1e-4)
    assert out["expert_kl_mean"] > 0 and out["expert_kl_tokens"] == ids.numel()
    with torch.no_grad():
        net.E[:] = net.E[0]  # every cluster the same expert
    same = expert_divergence(net, ids)
    assert same["expert_kl_mean"] == pytest.approx(0.0, abs=1e-6)
    assert same["behaves_as_dense"] is True


def test_instantiated_expert_reproduces_projected_logits(net: ProjectedGPT2) -> None:
    ids = torch.randint(0, SPEC.vocab_size, (6, SPEC.n_ctx), generator=torch.Generator()
                        .manual_seed(1))
    cluster = torch.tensor([2, 0, 1, 2, 0, 2])  # a mixed batch: rows grouped inside
    with torch.no_grad():
        projected = net(ids, cluster=cluster).logits  # (6, T, V)
    for c in range(3):
        expert = net.instantiate(net.E[c].detach())
        assert type(expert) is GPT2LMHeadModel
        assert count_params(expert) == SPEC.n_params == count_params(build_model(SPEC))
        with torch.no_grad():
            alone = expert(input_ids=ids[cluster == c]).logits
        torch.testing.assert_close(alone, projected[cluster == c], rtol=1e-5, atol=1e-6)


def test_histogram_mixture_expert_matches_projection(net: ProjectedGPT2) -> None:
    p = torch.tensor([0.2, 0.5, 0.3])
    vec = net.expert_vector(weights=p).detach()
    torch.testing.assert_close(vec, 0.2 * net.E[0] + 0.5 * net.E[1] + 0.3 * net.E[2])
    ids = torch.randint(0, SPEC.vocab_size, (3, SPEC.n_ctx))
    with torch.no_grad():
        projected = net(ids, expert=vec).logits
        alone = net.instantiate(vec)(input_ids=ids).logits
    torch.testing.assert_close(alone, projected, rtol=1e-5, atol=1e-6)


def test_generated_weights_follow_the_paper_formula(net: ProjectedGPT2) -> None:
    """W(l, i)[a, b] = sum_q E[i, q] sum_r M(l)[q, r] T(l)[a, b, r], weights and biases."""
    i = 1
    expert = net.instantiate(net.E[i].detach())
    for layer, mlp in enumerate(net.mlps()):
        gpt2_mlp = expert.transformer.h[layer].mlp
        e, m = net.E[i].detach().double(), mlp.M.detach().double()
        for name, basis in (("c_fc.weight", mlp.T_fc), ("c_fc.bias", mlp.Tb_fc),
                            ("c_proj.weight", mlp.T_proj), ("c_proj.bias", mlp.Tb_proj)):
            t = basis.detach().double()  # (..., h)
            by_hand = sum(e[q] * sum(m[q, r] * t[..., r] for r in range(t.shape[-1]))
                          for q in range(e.shape[0]))
            got = gpt2_mlp.get_parameter(name).detach().double()
            torch.testing.assert_close(got, by_hand, rtol=1e-5, atol=1e-7)


def test_hard_mixture_is_a_special_case() -> None:
    """h = k, M = I, E = I: expert i's MLP is basis slice i (paper §2.5)."""
    k = 3
    net = ProjectedGPT2(SPEC, n_clusters=k, n_basis=k, expert_dim=k, seed=0)
    with torch.no_grad():
        net.E.copy_(torch.eye(k))
        for mlp in net.mlps():
            mlp.M.copy_(torch.eye(k))
    for i in range(k):
        expert = net.instantiate(net.E[i].detach())
        for layer, mlp in enumerate(net.mlps()):
            torch.testing.assert_close(expert.transformer.h[layer].mlp.c_fc.weight,
                                       mlp.T_fc[..., i].detach(), rtol=0, atol=0)


def test_every_row_trains_only_its_own_expert(net: ProjectedGPT2) -> None:
    ids = torch.randint(0, SPEC.vocab_size, (4, SPEC.n_ctx))
    cluster = torch.tensor([0, 2, 2, 0])  # cluster 1 absent
    net.train()
    net(ids, cluster=cluster, labels=ids).loss.backward()
    assert net.E.grad[0].abs().sum() > 0 and net.E.grad[2].abs().sum() > 0
    assert net.E.grad[1].abs().sum() == 0
    for mlp in net.mlps():
        for p in (mlp.T_fc, mlp.Tb_fc, mlp.T_proj, mlp.Tb_proj, mlp.M):
            assert p.grad is not None and p.grad.abs().sum() > 0
    assert net.body.transformer.h[0].attn.c_attn.weight.grad.abs().sum() > 0  # shared parts


@pytest.mark.parametrize("k,h,m", [(3, 2, 2), (4, 3, 5), (1, 1, 1)])
def test_parameter_count_formula(k: int, h: int, m: int) -> None:
    net = ProjectedGPT2(SPEC, n_clusters=k, n_basis=h, expert_dim=m)
    assert count_params(net) == projected_params(SPEC, k, h, m)


def test_expert_round_trips_through_save_pretrained(net: ProjectedGPT2, tmp_path: Any) -> None:
    expert = net.instantiate(net.E[0].detach())
    expert.save_pretrained(tmp_path / "e")
    again = AutoModelForCausalLM.from_pretrained(tmp_path / "e")
    ids = torch.randint(0, SPEC.vocab_size, (2, 16))
    with torch.no_grad():
        torch.testing.assert_close(again(input_ids=ids).logits, expert(input_ids=ids).logits,
                                   rtol=0, atol=0)


# ---------------------------------------------------------------------------- costs & params
def test_paper_scale_parameters_match_table7() -> None:
    """Table 7: 756M / 1,422M / 2,770M pretraining parameters for 16 / 32 / 64 experts
    (within 2%: h and m are not published; we infer h = round(0.72 k))."""
    for k, paper in ((16, 756e6), (32, 1422e6), (64, 2770e6)):
        c = HypernetworkStrategy(scale="paper", n_clusters=k).estimate_cost(
            n_domain_tokens=8e6)
        assert c.pretraining_params == pytest.approx(paper, rel=0.02)
    assert default_n_basis(32) == 23 and default_n_basis(2) == 1


def test_cost_buckets() -> None:
    small = SmallStrategy(scale="paper").estimate_cost(n_domain_tokens=8e6)
    pn = HypernetworkStrategy(scale="paper", n_clusters=32).estimate_cost(n_domain_tokens=8e6)
    assert pn.inference_params == small.inference_params
    assert pn.inference_flops_per_token == small.inference_flops_per_token
    # one small-sized expert per token, plus weight generation: small but > 0
    assert small.pretraining_flops < pn.pretraining_flops < 1.01 * small.pretraining_flops
    # one fine-tune plus a negligible closed-form projection
    assert pn.specialization_flops == pytest.approx(small.specialization_flops, rel=1e-4)
    assert pn.components["projection"] > 0
    assert pn.total_flops(50) > pn.total_flops(1)


@pytest.mark.parametrize("param,value,match", [
    ("n_basis", 0, r"'n_basis'.*\[1, inf\)"),
    ("expert_dim", 0, r"'expert_dim'.*\[1, inf\)"),
    ("n_clusters", 0, r"'n_clusters'.*\[1, inf\)"),
    ("n_clusters", -3, r"'n_clusters'.*\[1, inf\)"),
    ("conditioning", "soup", r"'conditioning'.*'cluster', 'histogram'"),
])
def test_bad_parameters_name_the_parameter(param: str, value: Any, match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        HypernetworkStrategy(**{param: value}).estimate_cost(n_domain_tokens=1e6)


# ---------------------------------------------------------------------------- with data
def _bow_embed(texts: Any, *, max_length: int = 128, **_: Any) -> np.ndarray:
    """A cheap stand-in for MiniLM: hashed bag of words, unit norm, (n, 64)."""
    out = np.zeros((len(texts), 64), dtype=np.float32)
    for i, text in enumerate(texts):
        for w in text.lower().split()[: 4 * max_length]:
            out[i, zlib.crc32(w.encode()) % 64] += 1.0
        out[i, 0] += 1e-3
    return out / np.linalg.norm(out, axis=1, keepdims=True)


@pytest.fixture
def bow_clustering(monkeypatch: pytest.MonkeyPatch) -> None:
    import strategies.machinery.clustering as clustering

    monkeypatch.setattr(clustering, "embed_texts", _bow_embed)
    monkeypatch.setattr(clustering, "model_key", lambda: "test-bag-of-words")  # own cache keys


def test_pretraining_blocks_hold_their_clusters_documents(ws: Any,
                                                          bow_clustering: None) -> None:
    from strategies.machinery.clustering import subset_indices, workspace_clusters

    clusters = workspace_clusters(ws, 3)
    corpus = ws.corpus(ws.generic, "train")
    subset_tokens = corpus.select(clusters.doc_indices).n_tokens
    data = projected_pretraining_data(ws, clusters, n_tokens=int(1.3 * subset_tokens))
    ids, labels = data["input_ids"], data["cluster"]
    # beyond the clustered subset: more documents were assigned to reach the token budget
    assert ids.numel() >= 1.2 * subset_tokens
    assert set(labels.tolist()) == {0, 1, 2}
    # every document piece inside a block comes from a document of the block's cluster.
    # The extra documents come from the same fixed permutation as the subset, so twice the
    # subset covers them; the clustered subset keeps its k-means labels.
    pool = subset_indices(len(corpus), 2 * len(clusters.doc_indices))
    texts = ws.generic.documents("train")
    owner = dict(zip(pool.tolist(), clusters.assign([texts[i] for i in pool]).tolist()))
    owner.update(zip(clusters.doc_indices.tolist(), clusters.labels.tolist()))
    streams = {c: corpus.select([i for i in pool if owner[i] == c]).tokens.tobytes()
               for c in range(3)}
    eos = ws.eos_id
    for row in np.random.default_rng(0).choice(len(ids), 40, replace=False):
        block = ids[row].numpy().astype(corpus.tokens.dtype)
        for piece in np.split(block, np.flatnonzero(block == eos)):  # eos ends every document
            piece = piece[piece != eos]
            if len(piece) >= 8:
                assert piece.tobytes() in streams[int(labels[row])]


@pytest.fixture(scope="module")
def ws(tiny_ws_8k: Any) -> Any:
    """The session's `tiny` workspace with 8k domain tokens (see tests/conftest.py)."""
    return tiny_ws_8k


@pytest.fixture(scope="module")
def tiny_run(ws: Any, biomedical_domain: Any) -> dict[str, Any]:
    import strategies.machinery.clustering as clustering

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(clustering, "embed_texts", _bow_embed)
        mp.setattr(clustering, "model_key", lambda: "test-bag-of-words")
        s = HypernetworkStrategy(scale="tiny", n_pretrain_tokens=65_536).pretrain(ws)
        model = s.specialize(biomedical_domain, ws)
        result = s.evaluate(model, biomedical_domain, ws)
        hist = s.clone().set_params(conditioning="histogram").pretrain(ws)  # loads
        mixed = hist.specialize(biomedical_domain, ws)
    return {"strategy": s, "model": model, "result": result, "mixed": mixed}


def test_end_to_end_tiny(tiny_run: dict[str, Any], ws: Any) -> None:
    s, model, result = tiny_run["strategy"], tiny_run["model"], tiny_run["result"]
    assert type(model.model) is GPT2LMHeadModel
    assert model.n_params == ws.scale.small.n_params
    record = s.pretrained_["record"]
    assert record["tokens"] >= 65_536 - 16 * 64 and record["n_params"] == projected_params(
        SPEC, 3, default_n_basis(3), default_n_basis(3))
    # pretraining really learned: the instantiated expert is far better than chance
    assert model.info["test_ppl_before_finetune"] < 0.5 * SPEC.vocab_size
    assert result.perplexity < model.info["test_ppl_before_finetune"]
    hist = np.array(model.info["cluster_histogram"])
    assert hist.sum() == pytest.approx(1.0) and model.info["expert_cluster"] == hist.argmax()
    cost = model.cost
    assert cost.pretraining_flops == record["flops"] > 0
    assert cost.pretraining_params == record["n_params"] > cost.inference_params
    assert cost.specialization_flops == pytest.approx(
        cost.components["finetune"] + cost.components["projection"])


def test_experts_differ_after_pretraining(tiny_run: dict[str, Any]) -> None:
    """Pretraining routed blocks to several experts: their MLPs are distinct models."""
    net = tiny_run["strategy"].projected_
    experts = [net.instantiate(net.E[c].detach()) for c in range(3)]
    w = [e.transformer.h[0].mlp.c_fc.weight for e in experts]
    assert not torch.allclose(w[0], w[1], atol=1e-3) and not torch.allclose(w[1], w[2], atol=1e-3)


def test_histogram_conditioning_runs(tiny_run: dict[str, Any]) -> None:
    mixed = tiny_run["mixed"]
    assert mixed.info["conditioning"] == "histogram" and mixed.info["expert_cluster"] is None
    assert mixed.n_params == SPEC.n_params
    # the same pretrained network was loaded (conditioning is a specialization parameter)
    assert mixed.cost.pretraining_flops == tiny_run["model"].cost.pretraining_flops
    assert mixed.info["test_ppl_before_finetune"] != tiny_run["model"].info[
        "test_ppl_before_finetune"]  # another expert vector
