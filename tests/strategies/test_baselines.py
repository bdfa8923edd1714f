"""The paper's Table 4 pattern at `tiny` scale, on real biomedical text: pretraining +
fine-tuning beats pretraining alone, and the large model beats the small one at equal tokens.

SLM ahead of SLM-nopt is not asserted here: with fine-tunes that run to early stopping,
`tiny`'s 5 generic tokens per parameter leave SLM-nopt within noise of SLM (`specplan
study`, 3 seeds: docs/measurements.md); the study reports that claim, with its arithmetic."""

from __future__ import annotations

import pytest

from strategies.large import LargeStrategy
from strategies.small import SmallStrategy
from strategies.small_nopt import SmallNoPretrainStrategy


@pytest.fixture(scope="module")
def results(tiny_ws, biomedical_domain, tiny_small_biomedical):  # type: ignore[no-untyped-def]
    small, model = tiny_small_biomedical  # the session's fine-tune (also test_measurements')
    out = {"small": (model, small.evaluate(model, biomedical_domain, tiny_ws))}
    for cls in (SmallNoPretrainStrategy, LargeStrategy):
        s = cls(scale="tiny").pretrain(tiny_ws)
        model = s.specialize(biomedical_domain, tiny_ws)
        out[cls.name] = (model, s.evaluate(model, biomedical_domain, tiny_ws))
    return out


def test_fine_tuning_beats_pretraining_alone(results) -> None:  # type: ignore[no-untyped-def]
    model, res = results["small"]
    assert res.perplexity < 0.9 * model.info["test_ppl_before_finetune"]


def test_large_beats_small_at_equal_tokens(results) -> None:  # type: ignore[no-untyped-def]
    small, large = results["small"], results["large"]
    assert large[0].info["n_domain_tokens"] == small[0].info["n_domain_tokens"]
    assert large[1].perplexity < small[1].perplexity
    assert large[0].n_params > 3 * small[0].n_params


def test_costs_charged_to_the_right_buckets(results) -> None:  # type: ignore[no-untyped-def]
    nopt = results["small_nopt"][0].cost
    small = results["small"][0].cost
    large = results["large"][0].cost
    assert nopt.pretraining_flops == 0 and nopt.specialization_flops > 0
    assert small.pretraining_flops > 0
    # same generic tokens, ~3.6x the parameters: the large model's pretraining costs more
    assert large.pretraining_flops > 2 * small.pretraining_flops
    assert large.inference_flops_per_token > small.inference_flops_per_token


def test_pretraining_artifact_is_shared_across_domains(tiny_ws, news_domain) -> None:  # type: ignore[no-untyped-def]
    """A second strategy instance (another domain) loads the finished artifact."""
    s = SmallStrategy(scale="tiny").pretrain(tiny_ws)
    path = s.pretrained_["path"]
    mtime = (path / "model.safetensors").stat().st_mtime
    SmallStrategy(scale="tiny").pretrain(tiny_ws)
    assert (path / "model.safetensors").stat().st_mtime == mtime
