"""The project tokenizer and token streams (small vocabulary, few documents: seconds)."""

from __future__ import annotations

import numpy as np
import pytest

from domains import DomainError, cache_dir, get_domain
from domains import tokenizer as tokmod
from domains.tokenizer import TokenizedCorpus, encode_documents, get_tokenizer, tokenize_split

VOCAB, MAX_DOCS = 512, 2000


@pytest.fixture(scope="module")
def tok():  # type: ignore[no-untyped-def]
    return get_tokenizer(VOCAB, max_docs=MAX_DOCS)


def test_tokenizer_contract(tok) -> None:  # type: ignore[no-untyped-def]
    from transformers import PreTrainedTokenizerFast

    assert isinstance(tok, PreTrainedTokenizerFast)
    assert len(tok) == VOCAB
    assert tok.eos_token == tok.pad_token == "<|endoftext|>"
    assert tok.eos_token_id == tok.pad_token_id
    text = "Byte-level BPE round-trips: caf\u00e9, \u00a33,000, \u65e5\u672c, \U0001f600."
    ids = tok(text)["input_ids"]
    assert tok.eos_token_id not in ids  # no special tokens added
    assert tok.decode(ids) == text


def test_tokenizer_cached_on_disk(tok, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    key = tokmod.tokenizer_key(VOCAB, max_docs=MAX_DOCS)
    assert len(key) == 64 and (cache_dir("tokenizers") / key / "tokenizer.json").is_file()
    monkeypatch.setattr(tokmod, "_TOKENIZERS", {})

    def fail(*args: object) -> None:
        raise AssertionError("should load from disk, not train")

    monkeypatch.setattr(tokmod, "_train", fail)
    again = get_tokenizer(VOCAB, max_docs=MAX_DOCS)
    assert again.get_vocab() == tok.get_vocab()
    assert tokmod.tokenizer_hash(again) == tokmod.tokenizer_hash(tok)


def test_bad_vocab_size() -> None:
    with pytest.raises(DomainError, match="vocab_size must be an integer >= 260"):
        get_tokenizer(100)


def test_tokenize_split(tok) -> None:  # type: ignore[no-untyped-def]
    d = get_domain("news")
    tc = tokenize_split(d, "valid", tok)
    docs = d.documents("valid")
    assert len(tc) == len(docs)
    assert tc.tokens.dtype == np.int32 and tc.offsets.dtype == np.int64
    assert tc.offsets[0] == 0 and tc.n_tokens == len(tc.tokens)
    eos = tok.eos_token_id
    for i in (0, len(tc) - 1):
        doc = tc.doc(i)
        assert doc[-1] == eos and eos not in doc[:-1]
        assert tok.decode(doc[:-1].tolist()) == docs[i]
    # cached on disk as token files: a second call reads them and gives the same arrays
    assert list(cache_dir("tokens").glob("news-valid-*/index.json"))
    again = tokenize_split(d, "valid", tok)
    np.testing.assert_array_equal(again.tokens, tc.tokens)
    np.testing.assert_array_equal(again.offsets, tc.offsets)


def test_literal_eos_text_is_not_a_document_boundary(tok) -> None:  # type: ignore[no-untyped-def]
    tc = encode_documents(["before <|endoftext|> after", "second"], tok)
    eos = tok.eos_token_id
    assert len(tc) == 2 and [int(t) for t in tc.tokens].count(eos) == 2
    assert tok.decode(tc.doc(0)[:-1].tolist()) == "before <|endoftext|> after"
    assert tok("a <|endoftext|>")["input_ids"][-1] == eos  # the tokenizer itself is unchanged


def test_max_tokens_truncates(tok) -> None:  # type: ignore[no-untyped-def]
    d = get_domain("news")
    full = tokenize_split(d, "test", tok)
    cut = tokenize_split(d, "test", tok, max_tokens=1000)
    assert cut.n_tokens == 1000 and len(cut.tokens) == 1000
    np.testing.assert_array_equal(cut.tokens, full.tokens[:1000])
    assert cut.offsets[-1] == 1000 and np.all(np.diff(cut.offsets) > 0)
    assert tokenize_split(d, "test", tok, max_tokens=10**9).n_tokens == full.n_tokens


def _toy() -> TokenizedCorpus:
    # three documents: [1 2 0] [3 0] [4 5 6 0]
    return TokenizedCorpus(
        np.array([1, 2, 0, 3, 0, 4, 5, 6, 0], np.int32), np.array([0, 3, 5, 9], np.int64)
    )


def test_select_order_and_repeats() -> None:
    tc = _toy().select([2, 0, 2])
    assert len(tc) == 3
    assert tc.tokens.tolist() == [4, 5, 6, 0, 1, 2, 0, 4, 5, 6, 0]
    assert tc.offsets.tolist() == [0, 4, 7, 11]
    assert tc.doc(1).tolist() == [1, 2, 0]
    empty = _toy().select([])
    assert len(empty) == 0 and empty.n_tokens == 0


def test_blocks() -> None:
    tc = _toy()
    b = tc.blocks(4)
    assert b.dtype == np.int64 and b.shape == (2, 4)
    assert b.tolist() == [[1, 2, 0, 3], [0, 4, 5, 6]]  # remainder [0] dropped
    assert tc.blocks(2, max_tokens=5).tolist() == [[1, 2], [0, 3]]
    assert tc.blocks(20).shape == (0, 20)


def test_truncate() -> None:
    tc = _toy().truncate(4)
    assert tc.tokens.tolist() == [1, 2, 0, 3] and tc.offsets.tolist() == [0, 3, 4]
    assert len(tc) == 2 and tc.doc(1).tolist() == [3]
