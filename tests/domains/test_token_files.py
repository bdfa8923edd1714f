"""Memory-mapped token files: sharded tokenization, resume, and deterministic reads by rank."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from domains.errors import DomainError
from domains.token_files import (
    BlockView,
    TokenFiles,
    chunk_documents,
    file_shards,
    token_dtype,
    write_token_files,
)
from domains.tokenizer import encode_documents, get_tokenizer


@pytest.fixture(scope="module")
def tok():  # noqa: ANN201
    return get_tokenizer(512, max_docs=300)


def _docs(n: int) -> list[str]:
    return [f"document {i}: " + " ".join(f"w{(i * 7 + j) % 50}" for j in range(5 + i % 13))
            for i in range(n)]


def test_shards_concatenate_to_the_in_memory_encoding(tok, tmp_path: Path) -> None:
    docs = _docs(230)
    files = write_token_files(tmp_path / "tf", chunk_documents(docs, 50), tok)
    ref = encode_documents(docs, tok)
    assert files.n_shards == 5 and files.n_docs == 230
    assert files.dtype == token_dtype(len(tok)) == np.uint16
    np.testing.assert_array_equal(np.asarray(files.stream(), np.int32), ref.tokens)
    np.testing.assert_array_equal(files.doc_offsets(), ref.offsets)
    assert isinstance(files.shard(0)[0], np.memmap)


def test_blocks_and_rank_reads_are_deterministic(tok, tmp_path: Path) -> None:
    docs = _docs(230)
    files = write_token_files(tmp_path / "a", chunk_documents(docs, 40), tok)
    again = TokenFiles(write_token_files(tmp_path / "b", chunk_documents(docs, 40), tok).folder)
    t = 16
    counts = files.block_counts(t)
    # blocks are cut per shard: block 0 of shard 1 starts at that shard's first token
    first = files.read_blocks([counts[0]], t)[0]
    np.testing.assert_array_equal(first, np.asarray(files.shard(1)[0][:t], np.int64))
    ranks = [files.rank_blocks(r, 3, t) for r in range(3)]
    assert sorted(np.concatenate(ranks).tolist()) == list(range(files.n_blocks(t)))
    for r in range(3):
        np.testing.assert_array_equal(files.read_blocks(ranks[r], t),
                                      again.read_blocks(again.rank_blocks(r, 3, t), t))
    view = BlockView(files, t, max_blocks=10)
    assert view.shape == (10, t)
    np.testing.assert_array_equal(view[np.array([3, 1])].numpy(), files.read_blocks([3, 1], t))
    np.testing.assert_array_equal(view[2:4].numpy(), files.read_blocks([2, 3], t))
    with pytest.raises(IndexError):
        view[np.array([10])]


def test_interrupted_tokenization_resumes_by_shard(tok, tmp_path: Path) -> None:
    docs = _docs(120)
    good = [f"doc {i}" for i in range(3)]
    calls: list[str] = []

    def reader(i: int, fail: bool):  # noqa: ANN202
        def texts() -> list[str]:
            calls.append(f"s{i}")
            if fail:
                raise OSError("disk read error")
            return docs[i * 40 : (i + 1) * 40] if i < 3 else good
        return texts

    shards = [(f"s{i}", reader(i, fail=i == 2)) for i in range(4)]
    with pytest.raises(DomainError, match=r"input shard s2: cannot be read .*2 finished"):
        write_token_files(tmp_path / "tf", shards, tok)
    index = json.loads((tmp_path / "tf" / "index.json").read_text())
    assert [s["input"] for s in index["shards"]] == ["s0", "s1"] and not index["complete"]
    with pytest.raises(DomainError, match="interrupted"):
        TokenFiles(tmp_path / "tf")
    calls.clear()
    fixed = [(f"s{i}", reader(i, fail=False)) for i in range(4)]
    files = write_token_files(tmp_path / "tf", fixed, tok)
    assert calls == ["s2", "s3"]  # finished shards are not tokenized again
    ref = encode_documents(docs + good, tok)
    np.testing.assert_array_equal(np.asarray(files.stream(), np.int32), ref.tokens)


def test_local_file_shards_and_bad_inputs(tok, tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    for i in range(2):
        (src / f"part{i}.jsonl").write_text(
            "\n".join(json.dumps({"text": d}) for d in _docs(20)[i * 10 : (i + 1) * 10]) + "\n")
    (src / "bad.jsonl").write_bytes(b'{"text": "ok"}\n{broken\n')
    paths = sorted(src.glob("part*.jsonl"))
    files = write_token_files(tmp_path / "tf", file_shards(paths), tok)
    assert files.n_docs == 20
    with pytest.raises(DomainError, match="bad.jsonl"):
        write_token_files(tmp_path / "tf2", file_shards([*paths, src / "bad.jsonl"]), tok)
    with pytest.raises(DomainError, match="another tokenizer or corpus"):
        write_token_files(tmp_path / "tf", file_shards(paths[:1]), tok)
    (tmp_path / "tf" / "shard-00001.bin").write_bytes(b"\x00")
    with pytest.raises(DomainError, match="truncated"):
        TokenFiles(tmp_path / "tf")


def test_the_training_loop_reads_blocks_from_token_files(tok, tmp_path: Path) -> None:
    import torch

    from strategies.machinery.models import build_model
    from strategies.machinery.scales import ModelSpec
    from strategies.machinery.training import TrainConfig, mean_loss, train

    files = write_token_files(tmp_path / "tf", chunk_documents(_docs(230), 60), tok)
    view = BlockView(files, 16)
    spec = ModelSpec(n_layer=1, n_embd=16, n_head=2, vocab_size=len(tok), n_ctx=16)
    a, b = build_model(spec, seed=0), build_model(spec, seed=0)
    cfg = TrainConfig(lr=1e-3, batch_size=4, max_steps=3, progress=False, precision="fp32")
    train(a, view, cfg)  # from the memory maps
    train(b, torch.from_numpy(files.read_blocks(np.arange(len(view)), 16)), cfg)  # in RAM
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(pa, pb, rtol=0, atol=0)
    assert mean_loss(a, view) == pytest.approx(mean_loss(b, view[0 : len(view)]))


# ---------------------------------------------------------------------------- streams, hf
def test_a_stream_is_tokenized_shard_by_shard_and_resumes(tok, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import domains.token_files as TF
    from domains.token_files import DocumentTexts, write_stream_token_files

    docs = _docs(25)

    def broken():  # noqa: ANN202  (the network drops after 15 documents)
        yield from docs[:15]
        raise ConnectionError("connection reset by peer")

    with pytest.raises(DomainError, match=r"input stream c4 \(documents 10-19\): cannot be "
                                          r"read \(ConnectionError.*1 finished shard"):
        write_stream_token_files(tmp_path / "tf", broken, tok, name="c4", docs_per_shard=10)
    with pytest.raises(DomainError, match=r"interrupted \(1 shards finished\)"):
        TokenFiles(tmp_path / "tf")
    encoded: list[int] = []
    real = TF._encode_shard
    monkeypatch.setattr(TF, "_encode_shard",
                        lambda texts, *a: (encoded.append(len(texts)), real(texts, *a))[1])
    files = write_stream_token_files(tmp_path / "tf", lambda: iter(docs), tok, name="c4",
                                     docs_per_shard=10)
    assert encoded == [10, 5]  # the finished shard was skipped, not tokenized again
    assert files.n_shards == 3 and files.n_docs == 25
    np.testing.assert_array_equal(files.gather_docs(np.arange(25))[0].astype(np.int32),
                                  encode_documents(docs, tok).tokens)
    assert list(DocumentTexts(files, tok)) == docs  # byte-level BPE round-trips the text
    with pytest.raises(DomainError, match="another tokenizer or corpus"):
        write_stream_token_files(tmp_path / "tf", lambda: iter(docs), tok, name="pile")


def test_hf_source_streams_into_token_files(tok, tmp_path: Path) -> None:
    """The generic corpus from the `hf` source (C4's format: one "text" field per row),
    streamed with `datasets` (streaming=True) from a local JSONL mirror, offline."""
    pytest.importorskip("datasets")
    from domains import get_domain
    from domains.cleaning import normalize_text
    from domains.token_files import DocumentTexts
    from domains.tokenizer import source_token_files

    rows = [{"text": f"  web page {i}:\n\n\n" + "some c4 text " * (1 + i % 4),
             "url": f"https://example.org/{i}"} for i in range(23)]
    rows.append({"text": "short", "url": "x"})  # below generic's min_chars: dropped
    path = tmp_path / "c4-en-train.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    generic = get_domain("generic", source="hf", hf_path=path)
    files = source_token_files(generic, tok, folder=tmp_path / "c4", docs_per_shard=10)
    assert [s["n_docs"] for s in files.index["shards"]] == [10, 10, 3]
    assert list(DocumentTexts(files, tok)) == [normalize_text(r["text"]) for r in rows[:23]]
    again = source_token_files(generic, tok, folder=tmp_path / "c4", docs_per_shard=10)
    assert again.index == files.index  # finished: opened, not read again


def test_the_workspace_reads_the_generic_corpus_from_a_token_folder(
        tok, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from planner.testing import micro_scale
    from strategies.machinery.workspace import Workspace

    ws = Workspace(micro_scale(), root=tmp_path / "ws", progress=False)
    docs = _docs(300)
    folder = tmp_path / "mine"
    write_token_files(folder, chunk_documents(docs, 100), ws.tokenizer)
    monkeypatch.setenv("SPECPLAN_GENERIC_TOKENS", str(folder))
    assert ws.generic_files.folder == folder and ws.generic_files.n_docs == 300
    assert ws.generic_texts([5, 200])[:] == [docs[5], docs[200]]
    # models pretrained on it live apart from the packaged corpus's
    assert ws.artifact_dir("small-x").parent.parent.name.startswith("generic-")
    other = Workspace(micro_scale(), root=tmp_path / "ws", progress=False)
    write_token_files(tmp_path / "other", chunk_documents(docs, 100), tok)
    monkeypatch.setenv("SPECPLAN_GENERIC_TOKENS", str(tmp_path / "other"))
    with pytest.raises(DomainError, match="another tokenizer"):
        other.generic_files  # noqa: B018


def test_local_shards_stream_into_token_files_one_per_file(tok, tmp_path: Path) -> None:
    from domains import get_domain
    from domains.token_files import DocumentTexts
    from domains.tokenizer import source_token_files

    src = tmp_path / "shards"
    src.mkdir()
    docs = _docs(30)
    for i in range(3):
        (src / f"part{i}.jsonl").write_text(
            "".join(json.dumps({"body": d}) + "\n" for d in docs[i * 10 : (i + 1) * 10]))
    mine = get_domain(f"mine={src}", text_field="body")
    files = source_token_files(mine, tok, folder=tmp_path / "tf")
    assert [s["input"] for s in files.index["shards"]] == [str(p) for p in
                                                           sorted(src.glob("*.jsonl"))]
    assert list(DocumentTexts(files, tok)) == docs
