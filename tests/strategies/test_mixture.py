"""mixture (SLM-mix): expert selection rules, token split, charging, experts per cluster."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from domains.errors import SpecplanError
from strategies.machinery.flops import forward_flops, train_flops
from strategies.machinery.scales import get_scale
from strategies.machinery.validation import ParameterError
from strategies.mixture import MixtureStrategy, expert_token_budgets, select_expert

# micro models train fastest on one thread (as `planner.experiments.runner.configure_threads`)
pytestmark = pytest.mark.usefixtures("torch_threads")


# ---------------------------------------------------------------------------- selection
def test_selection_rules_on_a_hand_made_example() -> None:
    """Three experts. The domain's most frequent cluster is 1; expert 2 has the lowest
    validation loss before fine-tuning; after fine-tuning every expert, expert 0 wins."""
    histogram = [0.1, 0.6, 0.3]
    before = [3.2, 3.0, 2.9]  # validation loss of each pretrained expert
    after = [2.4, 2.5, 2.45]  # best validation loss of each fine-tuned expert
    assert select_expert("most_frequent", histogram) == 1
    assert select_expert("most_frequent", histogram, before) == 1  # losses are ignored
    assert select_expert("best_loss", histogram, before) == 2
    assert select_expert("finetune_all", histogram, after) == 0
    # ties go to the lowest index
    assert select_expert("most_frequent", [0.5, 0.5]) == 0
    assert select_expert("best_loss", [0.5, 0.5], [1.0, 1.0]) == 0


def test_selection_rules_reject_bad_input() -> None:
    with pytest.raises(SpecplanError, match="unknown expert selection 'oracle'"):
        select_expert("oracle", [1.0])
    with pytest.raises(SpecplanError, match=r"needs one loss per expert \(3\), got 2"):
        select_expert("best_loss", [0.2, 0.3, 0.5], [1.0, 2.0])
    with pytest.raises(SpecplanError, match="needs one loss per expert"):
        select_expert("finetune_all", [0.2, 0.8])
    with pytest.raises(SpecplanError, match="non-finite"):
        select_expert("best_loss", [0.2, 0.8], [1.0, math.nan])


def test_token_budgets_split_the_total() -> None:
    prop = expert_token_budgets([100, 300, 600], 10_000, "proportional")
    assert prop == [1_000, 3_000, 6_000]
    assert expert_token_budgets([100, 300, 600], 9_000, "equal") == [3_000] * 3
    # every expert gets at least one optimizer step
    assert expert_token_budgets([1, 999], 1_000, "proportional", min_tokens=64) == [64, 999]
    with pytest.raises(SpecplanError, match="token_split"):
        expert_token_budgets([1, 2], 10, "random")


# ---------------------------------------------------------------------------- cost
def test_costs_follow_the_paper() -> None:
    scale = get_scale("paper")
    base = MixtureStrategy(scale="paper", n_experts=16)
    cost = base.estimate_cost(n_domain_tokens=1e6, n_specialize_tokens=4e6)
    one_ft = train_flops(scale.small, 4e6)
    # Table 1: 16 experts of 126M = 2,016M pretraining parameters, one served
    assert cost.pretraining_params == 16 * scale.small.n_params
    assert cost.inference_params == scale.small.n_params
    # 6ND summed over experts: the total tokens, whatever their split
    assert cost.pretraining_flops == pytest.approx(train_flops(scale.small, scale.pretrain_tokens))
    assert cost.specialization_flops == pytest.approx(one_ft)
    ft_all = base.clone().set_params(selection="finetune_all").estimate_cost(
        n_domain_tokens=1e6, n_specialize_tokens=4e6)
    assert ft_all.specialization_flops == pytest.approx(16 * one_ft)  # Table 5: 64x for 64
    best = base.clone().set_params(selection="best_loss").estimate_cost(
        n_domain_tokens=1e6, n_specialize_tokens=4e6)
    assert best.specialization_flops == pytest.approx(
        one_ft + 16 * forward_flops(scale.small, scale.valid_tokens))


def test_parameters_are_validated() -> None:
    for name, bad in [("n_experts", 0), ("selection", "oracle"), ("n_jobs", 0),
                      ("token_split", "random")]:
        with pytest.raises(ParameterError, match=repr(name)):
            MixtureStrategy(**{name: bad}).estimate_cost(n_domain_tokens=1e6)
    space = MixtureStrategy.search_space()
    assert set(space) == {"n_experts", "selection"}
    assert set(space["selection"].choices) == {"most_frequent", "best_loss", "finetune_all"}
    # selection and n_jobs do not change the experts: they share the pretraining artifacts
    a, b = MixtureStrategy(selection="best_loss", n_jobs=2), MixtureStrategy()
    assert a.pretrain_key() == b.pretrain_key()
    assert MixtureStrategy(n_experts=5).pretrain_key() != b.pretrain_key()


# ---------------------------------------------------------------------------- end to end
@pytest.fixture(scope="module")
def pretrained(micro_ws: Any) -> tuple[MixtureStrategy, list[dict[str, Any]]]:
    """Two experts at micro scale, with a spy on what each is trained on (removed again:
    `micro_ws` is shared by the session)."""
    calls: list[dict[str, Any]] = []
    original = micro_ws.pretrain_lm

    def spy(spec: Any, data: Any, **kw: Any) -> Any:
        calls.append({"data": data[:].clone(), **kw})
        return original(spec, data, **kw)

    micro_ws.pretrain_lm = spy
    try:
        s = MixtureStrategy(scale=micro_ws.scale, n_experts=2).pretrain(micro_ws)
    finally:
        del micro_ws.pretrain_lm
    return s, calls


def test_each_expert_is_pretrained_only_on_its_cluster(micro_ws: Any, pretrained: Any) -> None:
    s, calls = pretrained
    cm = s.clusters_
    corpus = micro_ws.corpus(micro_ws.generic, "train")
    assert len(calls) == cm.k == 2
    assert len({c["key"] for c in calls}) == 2  # independent artifacts
    t = micro_ws.scale.small.n_ctx
    pool = s.pool_
    for c, call in enumerate(calls):
        docs = pool.docs[pool.labels == c]
        expected = corpus.select(docs).blocks(t)
        np.testing.assert_array_equal(call["data"].numpy(), expected)
    # every pool document sits in the cluster of its most similar centroid
    texts = micro_ws.generic.documents("train")
    assert np.mean(cm.assign([texts[i] for i in pool.docs]) == pool.labels) > 0.95
    assert set(cm.doc_indices) <= set(pool.docs)
    # the total budget is split equally (the paper's equal steps per expert)
    assert sum(c["n_tokens"] for c in calls) == pytest.approx(micro_ws.scale.pretrain_tokens,
                                                              abs=2)
    record = s.pretrained_["record"]
    assert len({e["steps"] for e in record["experts"]}) == 1
    assert record["flops"] == pytest.approx(sum(e["flops"] for e in record["experts"]))
    assert [e["n_blocks"] for e in record["experts"]] == [len(c["data"]) for c in calls]


def test_specialize_with_each_selection_rule(micro_ws: Any, pretrained: Any) -> None:
    from domains import get_domain

    base, _ = pretrained
    domain = get_domain("news")
    k, spec = base.clusters_.k, micro_ws.scale.small
    out = {}
    for rule in ("most_frequent", "best_loss", "finetune_all"):
        s = base.clone().set_params(selection=rule).pretrain(micro_ws)  # cached experts
        out[rule] = s.specialize(domain, micro_ws)
    hist = out["most_frequent"].info["cluster_histogram"]
    assert out["most_frequent"].info["expert"] == int(np.argmax(hist))
    losses = out["best_loss"].info["expert_valid_losses"]
    assert out["best_loss"].info["expert"] == int(np.argmin(losses))
    ft_losses = out["finetune_all"].info["expert_finetuned_valid_losses"]
    assert len(ft_losses) == k and out["finetune_all"].info["expert"] == int(np.argmin(ft_losses))
    steps = [e["steps"] for e in base.pretrained_["record"]["experts"]]
    for m in out.values():
        assert m.info["expert_steps"] == steps
        assert m.info["token_split"] == "equal"
        assert m.n_params == spec.n_params  # one small model is served
        assert m.cost.pretraining_params == k * spec.n_params
        assert m.cost.pretraining_flops == pytest.approx(base.pretrained_["record"]["flops"])
    # finetune_all is charged every expert's fine-tune
    ft_all = out["finetune_all"].cost
    assert ft_all.specialization_flops == pytest.approx(
        ft_all.components["finetune"] + ft_all.components["finetune_other_experts"])
    assert ft_all.components["finetune_other_experts"] > 0
    # best_loss is charged the experts' validation passes
    assert out["best_loss"].cost.components["selection"] > 0


def test_a_cluster_too_small_for_one_block_is_a_clear_error(micro_ws: Any,
                                                            pretrained: Any) -> None:
    import dataclasses

    from strategies.machinery.workspace import Workspace

    s, _ = pretrained
    scale = micro_ws.scale.with_(small=dataclasses.replace(micro_ws.scale.small, n_ctx=10**6))
    ws = Workspace(scale, root=micro_ws.root, progress=False)
    with pytest.raises(SpecplanError, match=r"n_experts=2 hold fewer than one 1000000-token"):
        s._budgets(ws, s.pool_, s.clusters_.k)


@pytest.mark.slow
def test_parallel_experts_match_sequential_ones(tmp_path: Path) -> None:
    """n_jobs=2 (spawned processes) trains the same experts as n_jobs=1."""
    from planner.testing import micro_scale
    from strategies.machinery.workspace import Workspace

    runs = []
    for n_jobs in (1, 2):
        ws = Workspace(micro_scale(), root=tmp_path / f"j{n_jobs}", progress=False)
        s = MixtureStrategy(scale=ws.scale, n_experts=2, n_jobs=n_jobs).pretrain(ws)
        runs.append([s.load_expert(c) for c in range(2)])
    for a, b in zip(*runs):
        for (name, p), q in zip(a.named_parameters(), b.parameters()):
            np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=0,
                                       atol=1e-5, err_msg=name)
