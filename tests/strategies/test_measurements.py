"""Measurements a decision can rest on (issue 12): fine-tunes end by early stopping and
record their curve; a capped run is marked not converged; the seed is part of every
artifact's address."""

from __future__ import annotations

import math

import pytest

from strategies.registry import list_strategies
from strategies.small import SmallStrategy

AVAILABLE = list_strategies(available_only=True)


def test_tiny_finetune_ends_by_early_stopping_before_its_cap(  # type: ignore[no-untyped-def]
        tiny_ws, biomedical_domain, tiny_small_biomedical) -> None:
    model = tiny_small_biomedical[1]  # `small`'s fine-tune, shared with test_baselines
    info = model.info
    blocks = tiny_ws.train_blocks(biomedical_domain).shape[0]
    cap = round(tiny_ws.scale.finetune_max_epochs * blocks / tiny_ws.scale.batch_size)
    assert info["finetune_stopped_early"] is True
    assert info["finetune_steps"] < cap
    assert info["finetune_best_step"] < info["finetune_steps"]
    assert info["finetune_converged"] is True
    curve = info["finetune_curve"]
    # one point per validation check, every `eval_every` steps, up to the last step run
    assert [st for st, _ in curve] == list(range(tiny_ws.scale.eval_every,
                                                 info["finetune_steps"] + 1,
                                                 tiny_ws.scale.eval_every))
    best = min(curve, key=lambda p: p[1])
    assert best[0] == info["finetune_best_step"]
    assert math.isclose(best[1], info["best_valid_loss"], rel_tol=1e-12)


def test_a_capped_finetune_is_not_converged(micro_ws, news_domain, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A cap of a quarter pass stops a run that is still improving: best step == last."""
    from strategies.machinery.models import build_model
    from strategies.machinery.workspace import Workspace

    ws = Workspace(micro_ws.scale, root=tmp_path, progress=False)
    model = build_model(ws.scale.small, seed=0, eos_token_id=ws.eos_id)
    blocks = ws.train_blocks(news_domain).shape[0]
    steps = round(0.25 * blocks / ws.scale.batch_size)
    assert steps >= 1
    result = ws.finetune(model, news_domain, key="capped", desc="capped", max_epochs=0.25)
    assert result.steps == steps and not result.stopped_early
    assert result.best_step == result.steps
    assert result.converged is False
    assert result.curve and result.curve[-1][0] == result.steps


def test_seeds_give_different_pretraining_artifacts(micro_ws, news_domain, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Same strategy parameters (seed 0) in workspaces of seed 0 and 1: two artifacts,
    two different models; before the fix seed 1 reloaded seed 0's weights."""
    import torch
    from transformers import GPT2LMHeadModel

    from strategies.machinery.workspace import Workspace

    paths, weights = [], []
    for seed in (0, 1):
        ws = Workspace(micro_ws.scale, root=tmp_path, seed=seed, progress=False)
        s = SmallStrategy(scale=micro_ws.scale, seed=0).pretrain(ws)
        paths.append(s.pretrained_["path"])
        weights.append(GPT2LMHeadModel.from_pretrained(s.pretrained_["path"])
                       .transformer.wte.weight.detach())
    assert paths[0] != paths[1]
    assert "seed-0" in paths[0].parts and "seed-1" in paths[1].parts
    assert not torch.equal(weights[0], weights[1])


# ------------------------------------------------------------------ estimate_cost vs measured
def _micro_params(name: str) -> dict:  # type: ignore[type-arg]
    """Parameters whose effect `estimate_cost` cannot know from token counts alone, set
    explicitly: the importance-sampling pool (fast: the clustered subset) and the number of
    prompts (the micro news split gives one per document)."""
    return {"importance_sampling": {"n_pool_docs": 200},
            "distillation_sequences": {"n_prompts": 4}}.get(name, {})


@pytest.mark.parametrize("name", AVAILABLE)
def test_estimate_cost_within_10pct_of_measured(name: str, micro_ws, news_domain) -> None:  # type: ignore[no-untyped-def]
    """For every strategy, the analytic `estimate_cost` (default fine-tune length: the
    scale's expected passes, capped) agrees with the FLOPs the run measured, per bucket."""
    from strategies.registry import create_strategy

    s = create_strategy(name, scale=micro_ws.scale, **_micro_params(name)).pretrain(micro_ws)
    model = s.specialize(news_domain, micro_ws)
    est = s.estimate_cost(n_domain_tokens=micro_ws.n_domain_tokens, scale=micro_ws.scale)
    got = model.cost
    assert est.pretraining_flops == pytest.approx(got.pretraining_flops, rel=0.10)
    assert est.specialization_flops == pytest.approx(got.specialization_flops, rel=0.10)
    assert est.inference_flops_per_token == pytest.approx(got.inference_flops_per_token,
                                                          rel=0.10)


def test_is_pool_is_ten_times_the_draw_or_the_whole_corpus(micro_ws) -> None:  # type: ignore[no-untyped-def]
    from strategies.machinery.clustering import IS_POOL_TOKEN_FACTOR, pool_indices

    offsets = micro_ws.corpus(micro_ws.generic, "train").offsets
    n_docs, total = len(offsets) - 1, int(offsets[-1])
    pool = pool_indices(micro_ws, 16_384, factor=IS_POOL_TOKEN_FACTOR)
    assert (offsets[pool + 1] - offsets[pool]).sum() >= 10 * 16_384
    # a draw of more than a tenth of the corpus: the pool is all of it
    assert len(pool_indices(micro_ws, total / 5, factor=IS_POOL_TOKEN_FACTOR)) == n_docs


def test_is_cluster_count_bounded_by_domain_documents() -> None:
    from strategies.importance_sampling import ImportanceSamplingStrategy
    from strategies.machinery.scales import get_scale

    demo = get_scale("demo")
    assert demo.n_clusters_is == 16
    default = ImportanceSamplingStrategy(scale="demo")
    assert default.effective_clusters(5, demo) == 5  # 5 legal documents: 5 bins, not 16
    assert default.effective_clusters(100, demo) == 16
    assert default.effective_clusters(0, demo) == 1
    explicit = ImportanceSamplingStrategy(scale="demo", n_clusters=16)
    assert explicit.effective_clusters(5, demo) == 16  # asked for: used as given
