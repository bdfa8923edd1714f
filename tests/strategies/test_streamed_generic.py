"""The strategies read the generic corpus from its memory-mapped token files only: the
in-memory paths (the domain's text list, the concatenated token stream, in-RAM document
selection) are broken here, and importance sampling, the mixture's experts and the
projected network's data still build, from the token files and the on-disk assignments."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

pytestmark = pytest.mark.usefixtures("torch_threads")


class _Stop(Exception):
    """Raised by the pretraining spy: the data is built, no need to train."""


@pytest.fixture
def no_corpus_in_ram(micro_ws: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """`micro_ws` with every in-RAM read of the generic corpus failing the test."""
    from domains.base import Domain
    from domains.token_files import TokenFiles
    from domains.tokenizer import TokenizedCorpus
    from strategies.machinery.workspace import Workspace

    ws = micro_ws
    ws.generic_files  # noqa: B018  (written once before the in-RAM paths are broken)
    documents, corpus = Domain.documents, Workspace.corpus

    def guarded_documents(self: Domain, split: str) -> list[str]:
        if self.name == "generic":
            pytest.fail("the generic corpus's texts were read into RAM")
        return documents(self, split)

    def guarded_corpus(self: Workspace, domain: Domain, split: str) -> Any:
        if domain.name == "generic":
            pytest.fail("the generic token stream was read into RAM")
        return corpus(self, domain, split)

    monkeypatch.setattr(Domain, "documents", guarded_documents)
    monkeypatch.setattr(Workspace, "corpus", guarded_corpus)
    stream, generic_folder = TokenFiles.stream, ws.generic_files.folder

    def guarded_stream(self: TokenFiles) -> Any:
        if self.folder == generic_folder:
            pytest.fail("the generic token files were concatenated in RAM")
        return stream(self)  # a domain's split (small by definition)

    monkeypatch.setattr(TokenFiles, "stream", guarded_stream)
    monkeypatch.setattr(TokenizedCorpus, "select", lambda *a: pytest.fail("select() in RAM"))
    yield ws


def _spy_pretrain(ws: Any, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    seen: list[Any] = []

    def spy(spec: Any, data: Any, **kw: Any) -> Any:
        seen.append(data)
        raise _Stop

    monkeypatch.setattr(ws, "pretrain_lm", spy, raising=False)
    return seen


def test_importance_sampling_draws_from_the_token_files(
        no_corpus_in_ram: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from domains import get_domain
    from domains.token_files import BlockView
    from strategies.importance_sampling import ImportanceSamplingStrategy
    from strategies.machinery import clustering as C

    ws = no_corpus_in_ram
    s = ImportanceSamplingStrategy(scale=ws.scale, n_pool_docs=300).pretrain(ws)
    # the pool's clusters are a file stored beside the generic token files (other pools of
    # the same clustering, from other tests sharing the cache, may lie beside it)
    stored = [C.load_assignments(p)
              for p in ws.generic_files.folder.glob(f"clusters-{s.clusters_.key}-k*-pool*.npy")]
    assert any(a is not None and np.array_equal(a[0], s.pool_docs_)
               and np.array_equal(a[1], s.pool_labels_) for a in stored)
    seen = _spy_pretrain(ws, monkeypatch)
    with pytest.raises(_Stop):
        s.specialize(get_domain("news"), ws)
    (data,) = seen
    assert isinstance(data, BlockView)  # read from a memory map, batch by batch
    assert data.files.folder.parent == ws.generic_files.folder / "select"
    # its rows are the drawn documents' tokens, in draw order, read from the generic files
    hist, plan = s.resample(get_domain("news"), ws)
    drawn = s.resampled_docs(plan)
    tokens, _ = ws.generic_files.gather_docs(drawn)
    t = ws.scale.small.n_ctx
    np.testing.assert_array_equal(data[:].numpy().reshape(-1), tokens[: len(data) * t])


def test_mixture_experts_read_their_clusters_from_the_token_files(
        no_corpus_in_ram: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from domains.token_files import BlockView
    from strategies.mixture import MixtureStrategy

    ws = no_corpus_in_ram
    seen = _spy_pretrain(ws, monkeypatch)
    with pytest.raises(_Stop):
        MixtureStrategy(scale=ws.scale, n_experts=2).pretrain(ws)
    (data,) = seen  # expert 0
    assert isinstance(data, BlockView)
    assert data.files.folder.parent == ws.generic_files.folder / "select"


def test_projected_network_data_reads_the_token_files(no_corpus_in_ram: Any) -> None:
    from domains.token_files import BlockView
    from strategies.hypernetwork import projected_pretraining_data
    from strategies.machinery.clustering import workspace_clusters

    ws = no_corpus_in_ram
    clusters = workspace_clusters(ws, 2)
    have = int(ws.generic_doc_lengths[clusters.doc_indices].sum())
    data = projected_pretraining_data(ws, clusters, n_tokens=int(1.3 * have))
    assert isinstance(data["input_ids"], BlockView)
    assert data["input_ids"].numel() >= 1.2 * have  # extra documents decoded and assigned
    assert data["cluster"].shape[0] == data["input_ids"].shape[0]


def test_generic_texts_decode_to_the_documents(micro_ws: Any) -> None:
    """Byte-level BPE round-trips: the texts decoded from the token files are the documents
    (so embeddings, cache keys and clusters are those of the in-RAM path)."""
    ws = micro_ws
    docs = ws.generic.documents("train")
    rows = np.random.default_rng(0).choice(len(docs), 200, replace=False)
    texts = ws.generic_texts(rows)
    assert len(texts) == 200
    assert list(texts) == [docs[i] for i in rows]
    assert texts[3] == docs[rows[3]] and texts[5:7] == [docs[rows[5]], docs[rows[6]]]
    corpus = ws.corpus(ws.generic, "train")
    np.testing.assert_array_equal(ws.generic_doc_lengths, np.diff(corpus.offsets))
    t = ws.scale.small.n_ctx
    np.testing.assert_array_equal(ws.generic_blocks(20 * t)[:].numpy(), corpus.blocks(t)[:20])
