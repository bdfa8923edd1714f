"""The large model's per-domain fine-tune is trained once: the `large` baseline and the own
teacher of `distillation` / `distillation_sequences` load one workspace artifact when
their configuration is the same (in either order), are charged the same FLOPs, and share
nothing when the configuration differs."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from strategies.distillation import DistillationStrategy
from strategies.distillation_sequences import SequenceDistillationStrategy
from strategies.large import LargeStrategy
from strategies.machinery.teachers import TeacherSource, load_teacher, own_teacher_key


@pytest.fixture
def ws(specplan_cache: Any, tmp_path_factory: pytest.TempPathFactory,
       torch_threads: None) -> Any:
    """A fresh `micro` workspace per test: nothing fine-tuned yet."""
    from planner.testing import micro_scale
    from strategies.machinery.workspace import Workspace

    return Workspace(micro_scale(), root=tmp_path_factory.mktemp("shared-ft"), progress=False)


@pytest.fixture
def finetunes(ws: Any, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The `desc` of every fine-tune that actually trains in `ws` (`Workspace.finetune`)."""
    calls: list[str] = []
    real = ws.finetune

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs["desc"])
        return real(*args, **kwargs)

    monkeypatch.setattr(ws, "finetune", counting)
    return calls


def _teacher(strategy: Any, ws: Any, domain: Any) -> Any:
    return load_teacher(TeacherSource("large", "large"), ws, domain, large=strategy.teacher_)


def _assert_same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for name, tensor in sa.items():
        torch.testing.assert_close(sb[name], tensor, rtol=0, atol=0)


def test_distillation_teacher_reuses_the_large_finetune(ws: Any, finetunes: list[str],
                                                        biomedical_domain: Any) -> None:
    large_run = LargeStrategy().pretrain(ws).specialize(biomedical_domain, ws)
    assert finetunes == ["large:biomedical fine-tune"]

    kd = DistillationStrategy().pretrain(ws)
    kd_run = kd.specialize(biomedical_domain, ws)
    # only the student trained: the teacher is `large`'s fine-tune, loaded
    assert finetunes == ["large:biomedical fine-tune", "distillation:biomedical fine-tune"]
    assert large_run.info["finetune_reused"] is False
    assert kd_run.info["teacher_finetune_reused"] is True
    # charged exactly as if the teacher had been fine-tuned here
    assert kd_run.cost.components["teacher_finetune"] == large_run.cost.components["finetune"]
    assert kd_run.cost.components["teacher_finetune"] > 0
    assert kd_run.info["teacher_finetune_steps"] == large_run.info["finetune_steps"]
    assert kd_run.info["teacher_best_valid_loss"] == large_run.info["best_valid_loss"]

    teacher = _teacher(kd, ws, biomedical_domain)
    _assert_same_weights(large_run.model, teacher.model)
    assert teacher.identity["key"] == large_run.info["finetune_artifact"]

    # distillation_sequences' own teacher is the same artifact too
    seq = SequenceDistillationStrategy().pretrain(ws)
    seq_teacher = _teacher(seq, ws, biomedical_domain)
    assert seq_teacher.identity == teacher.identity
    assert seq_teacher.finetune_flops == large_run.cost.components["finetune"]
    _assert_same_weights(large_run.model, seq_teacher.model)
    assert len(finetunes) == 2


def test_large_reuses_the_teacher_finetune(ws: Any, finetunes: list[str],
                                           news_domain: Any) -> None:
    """The other order: the teacher trains first, `large` loads it and charges the same."""
    teacher = _teacher(DistillationStrategy().pretrain(ws), ws, news_domain)
    assert finetunes == ["teacher large:news fine-tune"]

    large = LargeStrategy().pretrain(ws)
    large_run = large.specialize(news_domain, ws)
    assert finetunes == ["teacher large:news fine-tune"]  # nothing trained for `large`
    assert teacher.info["teacher_finetune_reused"] is False
    assert large_run.info["finetune_reused"] is True
    assert large_run.cost.components["finetune"] == teacher.finetune_flops
    assert large_run.cost.specialization_flops == teacher.finetune_flops
    # measured on the pretrained model, before the fine-tuned weights were loaded
    assert large_run.info["test_ppl_before_finetune"] == ws.perplexity(
        large._fresh_model(ws), news_domain).perplexity
    _assert_same_weights(teacher.model, large_run.model)


def test_a_different_configuration_shares_nothing(ws: Any, finetunes: list[str],
                                                 biomedical_domain: Any) -> None:
    large = LargeStrategy().pretrain(ws)
    base = large.specialize(biomedical_domain, ws)
    assert len(finetunes) == 1

    # another teacher pretraining: another pretrained model, another fine-tune
    kd = DistillationStrategy(teacher_pretrain_tokens=8_192).pretrain(ws)
    teacher = _teacher(kd, ws, biomedical_domain)
    assert finetunes[1:] == ["teacher large:biomedical fine-tune"]
    assert teacher.info["teacher_finetune_reused"] is False
    assert teacher.identity["key"] != base.info["finetune_artifact"]

    # another teacher shape
    shaped = DistillationStrategy(teacher_n_layer=1)._teacher()
    assert own_teacher_key(shaped, biomedical_domain, ws) not in {
        base.info["finetune_artifact"], teacher.identity["key"]}

    # same pretrained model, another fine-tuning learning rate
    other_lr = LargeStrategy(finetune_lr=1e-4).pretrain(ws)
    assert other_lr.pretrained_["path"] == large.pretrained_["path"]
    run = other_lr.specialize(biomedical_domain, ws)
    assert len(finetunes) == 3
    assert run.info["finetune_reused"] is False
    assert run.info["finetune_artifact"] != base.info["finetune_artifact"]
    assert not torch.equal(run.model.transformer.h[0].mlp.c_fc.weight,
                           base.model.transformer.h[0].mlp.c_fc.weight)

    # same strategy, another workspace seed
    from strategies.machinery.workspace import Workspace

    ws1 = Workspace(ws.scale, root=ws.root, seed=1, progress=False)
    assert large.finetune_artifact_key(biomedical_domain, ws1) != base.info[
        "finetune_artifact"]


@pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")
def test_concurrent_users_of_one_artifact_train_it_once(ws: Any, finetunes: list[str],
                                                        news_domain: Any) -> None:
    """Two callers (threads here; processes on a shared root alike) that want the same kept
    fine-tune at once: the artifact's lock makes the second wait and load the first's (and
    the waiting one reads no pretrained weights while the other trains)."""
    import threading

    large = LargeStrategy().pretrain(ws)
    results: list[Any] = []

    def want() -> None:
        results.append(large.finetuned(news_domain, ws))

    threads = [threading.Thread(target=want) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(finetunes) == 1 and sorted(r[2] for r in results) == [False, True]
    _assert_same_weights(results[0][0], results[1][0])
    lock = ws.artifact_dir(large.finetune_artifact_key(news_domain, ws))
    assert (lock.parent / f"{lock.name}.lock").exists()
