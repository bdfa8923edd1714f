"""Teacher generation (batched, left-padded, cached as JSONL, resumable) and teacher loading
errors. Models here are randomly initialized micro GPT-2s: seconds, no download."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from domains.errors import SpecplanError


class _Interrupt(Exception):
    """Raised from the per-batch hook to simulate a run killed after a batch."""


@pytest.fixture(scope="module")
def tok(specplan_cache: Path, torch_threads: None) -> Any:
    from domains.tokenizer import get_tokenizer
    from strategies.machinery.scales import get_scale

    tiny = get_scale("tiny")
    return get_tokenizer(tiny.vocab_size, max_docs=tiny.tokenizer_docs)


@pytest.fixture(scope="module")
def teacher(tok: Any) -> Any:
    from strategies.machinery.models import build_model
    from strategies.machinery.scales import ModelSpec
    from strategies.machinery.teachers import Teacher, TeacherSource, measured_shape

    spec = ModelSpec(n_layer=1, n_embd=16, n_head=2, vocab_size=tok.vocab_size, n_ctx=48)
    model = build_model(spec, seed=0, eos_token_id=tok.eos_token_id).eval()
    return Teacher(model=model, tokenizer=tok, source=TeacherSource("large", "large"),
                   identity={"kind": "test"}, shape=measured_shape(model))


@pytest.fixture(scope="module")
def prompts() -> list[Any]:
    from strategies.machinery.generation import Prompt

    texts = ["The patients were treated with", "We report a case of", "Results",
             "In this study the expression of the gene was measured in", "Mice", "Cells were"]
    return [Prompt(doc=10 + i, text=t, n_tokens=0) for i, t in enumerate(texts)]


def _sampling(**kw: Any) -> Any:
    from strategies.machinery.generation import SamplingParams

    return SamplingParams(**{"max_new_tokens": 8, "temperature": 1.0, "top_p": 0.9,
                             "batch_size": 4, "seed": 3, **kw})


def test_left_pad_pads_left_and_leaves_the_tokenizer_alone(tok: Any) -> None:
    from strategies.machinery.generation import left_pad

    ids, mask = left_pad(tok, ["a b c d", "a"])
    assert ids.shape == mask.shape and ids.shape[0] == 2
    assert mask[1, -1] == 1 and mask[1, 0] == 0 and ids[1, 0] == tok.pad_token_id
    assert mask[0].all()
    # a padded call through the tokenizer would switch padding on in the shared backend,
    # and the project's token streams would then be padded with eos (a real bug we hit)
    assert tok.backend_tokenizer.padding is None


def test_left_padded_batch_matches_one_prompt_at_a_time(teacher: Any, prompts: list[Any]) -> None:
    """Greedy continuations do not depend on the padding of the batch (positions and
    attention mask are right)."""
    from strategies.machinery.generation import generate_batch

    batch = generate_batch(teacher, prompts[:4], [0, 1, 2, 3], _sampling(temperature=0.0))
    for j in range(4):
        alone = generate_batch(teacher, [prompts[j]], [j], _sampling(temperature=0.0))
        assert alone[0]["completion"] == batch[j]["completion"]
        assert alone[0]["new_tokens"] == batch[j]["new_tokens"]


def test_records_count_tokens_and_flops(teacher: Any, prompts: list[Any], tmp_path: Path) -> None:
    from strategies.machinery.generation import generate_corpus

    res = generate_corpus(teacher, prompts, _sampling(), tmp_path, progress=False)
    assert [r["i"] for r in res.records] == list(range(len(prompts)))
    assert [r["doc"] for r in res.records] == [p.doc for p in prompts]
    assert all(1 <= r["new_tokens"] <= 8 for r in res.records)
    assert res.new_tokens == sum(r["new_tokens"] for r in res.records) > 0
    assert res.tokens_per_s > 0 and res.seconds > 0
    # each batch of B rows runs B x (padded prompt + decode steps) positions, each charged
    # 2N + attention over the window: per row, window * flops_per_token(window)
    for r in res.records:
        assert r["flops"] >= (r["prompt_tokens"] + r["new_tokens"]) * 2 * teacher.shape[
            "n_matmul_params"]
    lines = (tmp_path / "generations.jsonl").read_text().splitlines()
    assert len(lines) == len(prompts)
    assert json.loads((tmp_path / "meta.json").read_text())["teacher"] == {"kind": "test"}


def test_interrupted_generation_resumes_and_matches_an_uninterrupted_run(
        teacher: Any, prompts: list[Any], tmp_path: Path) -> None:
    from strategies.machinery.generation import generate_corpus

    def stop_after_first(b: int, batch: list[Any]) -> None:
        raise _Interrupt

    with pytest.raises(_Interrupt):
        generate_corpus(teacher, prompts, _sampling(), tmp_path / "b", progress=False,
                        on_batch=stop_after_first)
    assert len((tmp_path / "b" / "generations.jsonl").read_text().splitlines()) == 4
    resumed = generate_corpus(teacher, prompts, _sampling(), tmp_path / "b", progress=False)
    assert resumed.n_resumed == 4 and resumed.n_prompts_now == 2
    assert resumed.generated_docs_now == [p.doc for p in prompts[4:]]
    whole = generate_corpus(teacher, prompts, _sampling(), tmp_path / "a", progress=False)
    # every batch samples under its own seed: same corpus however often it was interrupted
    assert [r["completion"] for r in resumed.records] == [r["completion"] for r in whole.records]
    again = generate_corpus(teacher, prompts, _sampling(), tmp_path / "a", progress=False)
    assert again.n_prompts_now == 0 and again.flops == pytest.approx(whole.flops, rel=1e-12)


def test_torn_last_line_is_dropped_and_regenerated(teacher: Any, prompts: list[Any],
                                                    tmp_path: Path) -> None:
    from strategies.machinery.generation import generate_corpus

    generate_corpus(teacher, prompts[:4], _sampling(), tmp_path, progress=False)
    path = tmp_path / "generations.jsonl"
    data = path.read_text().splitlines(keepends=True)
    path.write_text("".join(data[:3]) + data[3][:10])  # a kill in the middle of a write
    res = generate_corpus(teacher, prompts[:4], _sampling(), tmp_path, progress=False)
    assert res.n_resumed == 3 and res.n_prompts_now == 1
    assert len(path.read_text().splitlines()) == 4


def test_corrupt_middle_line_is_an_error(teacher: Any, prompts: list[Any], tmp_path: Path) -> None:
    from strategies.machinery.generation import generate_corpus

    generate_corpus(teacher, prompts[:4], _sampling(), tmp_path, progress=False)
    path = tmp_path / "generations.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    path.write_text(lines[0] + "{not json\n" + "".join(lines[2:]))
    with pytest.raises(SpecplanError, match="corrupt at line 2"):
        generate_corpus(teacher, prompts[:4], _sampling(), tmp_path, progress=False)


def test_cache_key_changes_with_teacher_prompts_and_sampling(prompts: list[Any]) -> None:
    from strategies.machinery.generation import corpus_key

    base = corpus_key({"kind": "a"}, prompts, _sampling())
    assert corpus_key({"kind": "a"}, prompts, _sampling()) == base
    assert corpus_key({"kind": "b"}, prompts, _sampling()) != base
    assert corpus_key({"kind": "a"}, prompts[:-1], _sampling()) != base
    assert corpus_key({"kind": "a"}, prompts, _sampling(temperature=0.7)) != base
    assert corpus_key({"kind": "a"}, prompts, _sampling(max_new_tokens=9)) != base


def test_learned_positions_bound_the_generation() -> None:
    from strategies.machinery.teachers import generation_window

    assert generation_window(16, 24, 64) == (16, 24)
    assert generation_window(32, 128, 64) == (32, 32)  # keep half the context for the prompt
    assert generation_window(50, 10, 48) == (24, 10)
    assert generation_window(50, 10, None) == (50, 10)


# ---------------------------------------------------------------------------- teacher errors
def test_teacher_strings_are_classified() -> None:
    from strategies.machinery.teachers import resolve_teacher

    assert resolve_teacher("large").kind == "large"
    assert resolve_teacher("HuggingFaceTB/SmolLM2-135M").kind == "hub"
    assert not resolve_teacher("large").external
    assert resolve_teacher("HuggingFaceTB/SmolLM2-135M").external


@pytest.mark.parametrize("spec,match", [
    ("/no/such/teacher", "does not exist"),
    ("./missing-model", "does not exist"),
    ("missing.gguf", "does not exist"),
    ("bogus", "unknown teacher 'bogus'"),
])
def test_bad_teacher_strings(spec: str, match: str) -> None:
    from strategies.machinery.teachers import resolve_teacher

    with pytest.raises(SpecplanError, match=match):
        resolve_teacher(spec)


def test_a_plain_file_is_not_a_teacher(tmp_path: Path) -> None:
    from strategies.machinery.teachers import resolve_teacher

    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(SpecplanError, match="is a file, not a model"):
        resolve_teacher(str(tmp_path / "notes.txt"))


def _load(spec: str, **kw: Any) -> Any:
    from strategies.machinery.teachers import load_teacher, resolve_teacher

    return load_teacher(resolve_teacher(spec), None, None, **kw)  # type: ignore[arg-type]


def test_folder_without_config_is_not_a_model(tmp_path: Path) -> None:
    (tmp_path / "weights.bin").write_bytes(b"\0" * 8)
    with pytest.raises(SpecplanError, match=r"not a transformers model \(no readable config"):
        _load(str(tmp_path))


def test_encoder_only_model_is_not_a_causal_lm(tmp_path: Path) -> None:
    from transformers import DistilBertConfig

    DistilBertConfig(vocab_size=64, dim=16, n_layers=1, n_heads=2, hidden_dim=32).save_pretrained(
        tmp_path)
    with pytest.raises(SpecplanError, match="'distilbert' model, not a causal language model"):
        _load(str(tmp_path))


def test_corrupt_gguf_fails_in_one_line(tmp_path: Path) -> None:
    pytest.importorskip("gguf")
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + b"\x00" * 64)
    with pytest.raises(SpecplanError, match="cannot load the GGUF teacher") as info:
        _load(str(bad))
    assert "\n" not in str(info.value)


def test_hub_id_without_network_says_how_to_allow_it() -> None:
    with pytest.raises(SpecplanError, match="allow_download=True"):
        _load("specplan-test/no-such-model")


def test_local_folder_teacher_loads_and_is_sized(tmp_path: Path, teacher: Any) -> None:
    teacher.model.save_pretrained(tmp_path)
    teacher.tokenizer.save_pretrained(tmp_path)
    loaded = _load(str(tmp_path))
    assert loaded.source.external and loaded.pretraining_flops == 0
    assert loaded.shape == teacher.shape
    assert loaded.identity["kind"] == "folder"
