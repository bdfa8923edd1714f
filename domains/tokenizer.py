"""The project tokenizer and token streams.

`get_tokenizer` trains a byte-level BPE (the `tokenizers` library: ByteLevel pre-tokenizer and
decoder, so any text round-trips and nothing is out of vocabulary) on the ``generic`` domain's
train split, and wraps it as a `transformers.PreTrainedTokenizerFast` whose end-of-text token
``<|endoftext|>`` is both `eos_token` and `pad_token`. It is cached on disk under
``cache_dir()/tokenizers/<sha256 of its inputs>`` (recipe, vocabulary size, document cap and
the generic corpus fingerprint): the first call trains (seconds), later calls load.

`tokenize_split` turns a domain split into a `TokenizedCorpus`: one flat int32 stream in which
every document is followed by the eos id, plus document offsets. Streams are cached on disk as
memory-mapped token files with an index (`domains.token_files`, the path corpora at scale take;
never pickle), keyed by the domain fingerprint, the tokenizer's content hash and the split.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from domains.cache import cache_dir, file_stem, stable_hash
from domains.errors import DomainError

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

    from domains.base import Domain
    from domains.token_files import TokenFiles

EOS_TOKEN = "<|endoftext|>"
DEFAULT_VOCAB_SIZE = 8192
MIN_VOCAB_SIZE = 260  # 256 byte symbols + the special token + a few merges
# Bump when the training recipe below changes: part of every tokenizer key.
RECIPE = "bytelevel-bpe-v1;min_frequency=2"
_ENCODE_BATCH = 512
_TOKENIZERS: dict[str, Any] = {}


@dataclass(frozen=True)
class TokenizedCorpus:
    """Documents as one flat token stream.

    Attributes:
        tokens: int32 (n_tokens,): every document's ids followed by the eos id.
        offsets: int64 (n_docs + 1,): document i is ``tokens[offsets[i]:offsets[i + 1]]``.
    """

    tokens: np.ndarray
    offsets: np.ndarray

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def n_tokens(self) -> int:
        return int(self.offsets[-1])

    def doc(self, i: int) -> np.ndarray:
        """Document `i`'s tokens (with its trailing eos, unless a cap cut it)."""
        return self.tokens[self.offsets[i] : self.offsets[i + 1]]

    def select(self, indices: Sequence[int] | np.ndarray) -> TokenizedCorpus:
        """A new corpus of the given documents, in the given order (repeats allowed)."""
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if idx.size == 0:
            return TokenizedCorpus(np.zeros(0, np.int32), np.zeros(1, np.int64))
        starts, ends = self.offsets[idx], self.offsets[idx + 1]
        lengths = ends - starts
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        # position p of the output reads tokens[starts[doc(p)] + p - offsets[doc(p)]]
        doc_of = np.repeat(np.arange(idx.size), lengths)
        src = starts[doc_of] + np.arange(offsets[-1]) - offsets[:-1][doc_of]
        return TokenizedCorpus(self.tokens[src], offsets)

    def truncate(self, max_tokens: int) -> TokenizedCorpus:
        """The first `max_tokens` tokens of the stream (the last document may be cut)."""
        if max_tokens < 0:
            raise ValueError(f"max_tokens must be >= 0, got {max_tokens}")
        if max_tokens >= self.n_tokens:
            return self
        keep = self.offsets[self.offsets < max_tokens]
        return TokenizedCorpus(
            self.tokens[:max_tokens], np.append(keep, max_tokens).astype(np.int64)
        )

    def blocks(self, block_size: int, max_tokens: int | None = None) -> np.ndarray:
        """int64 (n_blocks, block_size): the stream (truncated to `max_tokens` first) cut into
        non-overlapping blocks; the remainder is dropped."""
        if block_size < 1:
            raise ValueError(f"block_size must be >= 1, got {block_size}")
        stream = self.tokens if max_tokens is None else self.tokens[:max_tokens]
        n = len(stream) // block_size
        return stream[: n * block_size].astype(np.int64).reshape(n, block_size)


# -- the tokenizer ---------------------------------------------------------------------------
def tokenizer_key(vocab_size: int = DEFAULT_VOCAB_SIZE, *, max_docs: int | None = None) -> str:
    """The sha256 naming the project tokenizer for these inputs (no training, no transformers)."""
    from domains.base import get_domain

    return stable_hash(RECIPE, vocab_size, max_docs, get_domain("generic").fingerprint)


def _train(vocab_size: int, max_docs: int | None) -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    from domains.base import get_domain

    docs = get_domain("generic").documents("train")
    docs = docs[:max_docs] if max_docs is not None else docs
    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=[EOS_TOKEN],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tk.train_from_iterator(docs, trainer=trainer, length=len(docs))
    return tk


def _wrap(tk: Any) -> PreTrainedTokenizerFast:
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(tokenizer_object=tk, eos_token=EOS_TOKEN, pad_token=EOS_TOKEN)


def get_tokenizer(
    vocab_size: int = DEFAULT_VOCAB_SIZE,
    *,
    max_docs: int | None = None,
    cache: str | Path | bool | None = None,
) -> PreTrainedTokenizerFast:
    """The project's byte-level BPE tokenizer (see the module docstring).

    Args:
        vocab_size: vocabulary size, special token included (8192 by default).
        max_docs: train on the first `max_docs` generic train documents only (faster; tests).
        cache: None: ``cache_dir()/tokenizers``; a folder: that folder; False: no disk cache.

    Returns:
        A `PreTrainedTokenizerFast` with ``eos_token == pad_token == "<|endoftext|>"``.
    """
    if not isinstance(vocab_size, int) or vocab_size < MIN_VOCAB_SIZE:
        raise DomainError(f"vocab_size must be an integer >= {MIN_VOCAB_SIZE}, got {vocab_size!r}")
    if max_docs is not None and (not isinstance(max_docs, int) or max_docs < 1):
        raise DomainError(f"max_docs must be a positive integer, got {max_docs!r}")
    key = tokenizer_key(vocab_size, max_docs=max_docs)
    if key in _TOKENIZERS:
        return _TOKENIZERS[key]
    if cache is False:
        tok = _wrap(_train(vocab_size, max_docs))
    else:
        root = cache_dir("tokenizers") if cache in (None, True) else Path(cache)  # type: ignore[arg-type]
        folder = root / key
        if not (folder / "tokenizer.json").is_file():
            _save(_wrap(_train(vocab_size, max_docs)), folder)
        from transformers import PreTrainedTokenizerFast

        tok = PreTrainedTokenizerFast.from_pretrained(str(folder))
    _TOKENIZERS[key] = tok
    return tok


def _save(tok: PreTrainedTokenizerFast, folder: Path) -> None:
    """Save into a temporary sibling folder, then rename: readers never see half a tokenizer
    (`domains.atomic.atomic_dir`; a full disk is a `WriteError` naming the folder)."""
    from domains.atomic import atomic_dir

    with atomic_dir(folder, replace=False) as tmp:  # a twin written meanwhile is identical
        tok.save_pretrained(str(tmp))


def tokenizer_hash(tok: Any) -> str:
    """A content hash of any Hugging Face tokenizer: its serialized backend (or vocabulary)."""
    h = hashlib.sha256()
    backend = getattr(tok, "backend_tokenizer", None)
    if backend is not None:
        h.update(backend.to_str().encode())
    else:
        h.update(type(tok).__name__.encode())
        h.update(repr(sorted(tok.get_vocab().items())).encode())
    h.update(repr(tok.eos_token_id).encode())
    return h.hexdigest()


# -- token streams ---------------------------------------------------------------------------
def encode_documents(docs: Sequence[str], tok: Any) -> TokenizedCorpus:
    """Tokenize `docs` (no special tokens added) into a stream with an eos after each.

    A literal ``<|endoftext|>`` inside a document is encoded as ordinary text (with a Rust
    backend), so the eos id only ever marks document ends.
    """
    eos = tok.eos_token_id
    if eos is None:
        raise ValueError(f"tokenizer {type(tok).__name__} has no eos_token")
    backend = getattr(tok, "backend_tokenizer", None)
    if backend is None:
        return _encode(docs, tok, None, eos)
    previous = backend.encode_special_tokens
    # a `tok(..., padding=True)` call leaves padding on in the shared backend (transformers
    # 5): encoding through it would pad every document with eos ids
    padding, truncation = backend.padding, backend.truncation
    backend.encode_special_tokens = True
    backend.no_padding()
    backend.no_truncation()
    try:
        return _encode(docs, tok, backend, eos)
    finally:
        backend.encode_special_tokens = previous
        if padding is not None:
            backend.enable_padding(**padding)
        if truncation is not None:
            backend.enable_truncation(**truncation)


def _encode(docs: Sequence[str], tok: Any, backend: Any, eos: int) -> TokenizedCorpus:
    lengths = np.zeros(len(docs), dtype=np.int64)
    chunks: list[np.ndarray] = []
    for start in range(0, len(docs), _ENCODE_BATCH):
        batch = list(docs[start : start + _ENCODE_BATCH])
        if backend is not None:  # the Rust tokenizer directly: no offsets, no Python per token
            ids = [e.ids for e in backend.encode_batch_fast(batch, add_special_tokens=False)]
        else:
            ids = tok(batch, add_special_tokens=False)["input_ids"]
        for j, seq in enumerate(ids):
            lengths[start + j] = len(seq) + 1
            chunks.append(np.asarray(seq, dtype=np.int32))
            chunks.append(np.asarray([eos], dtype=np.int32))
    tokens = np.concatenate(chunks) if chunks else np.zeros(0, np.int32)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    return TokenizedCorpus(tokens, offsets)


def token_folder(domain: Domain, split: str, tok: Any) -> Path:
    """The token-files folder of a domain split (`domains.token_files`), keyed by the
    domain's fingerprint, the tokenizer's content hash and the split."""
    key = stable_hash("tokens-v3", domain.fingerprint, tokenizer_hash(tok), split)
    return cache_dir("tokens") / f"{file_stem(domain.name)}-{split}-{key[:24]}"


def split_token_files(domain: Domain, split: str, tok: Any) -> TokenFiles:
    """A domain split's memory-mapped token files (`domains.token_files`), written on first
    use (shards of `DEFAULT_SHARD_DOCS` documents, resumable) and opened read-only: what
    the strategies read the generic corpus from, without loading it."""
    from domains.token_files import TokenFiles, chunk_documents, write_token_files

    folder = token_folder(domain, split, tok)
    try:
        return TokenFiles(folder)
    except DomainError:  # not written yet, or interrupted: (re)write, resuming by shard
        return write_token_files(folder, chunk_documents(domain.documents(split)), tok)


STREAM_RECIPE = "stream-v1;normalize_text;min_chars"  # part of every streamed folder's key


def source_token_files(
    domain: Domain,
    tok: Any,
    *,
    folder: str | Path | None = None,
    docs_per_shard: int | None = None,
    progress: bool = False,
) -> TokenFiles:
    """A whole corpus read from its domain's source straight into memory-mapped token
    files, shard by shard and resumable, without loading it: how a generic corpus at scale
    (C4 or a Pile subset through the ``hf`` source, or local JSONL / Parquet shards through
    the ``files`` source) becomes what the strategies read (point ``SPECPLAN_GENERIC_TOKENS``
    at the folder).

    Each document is normalized as the domain layer does (`cleaning.normalize_text`) and
    dropped below the spec's `min_chars`. Unlike `Domain.documents`, the corpus is not
    deduplicated across documents nor split into train / valid / test (both need it in
    RAM); it is all pretraining text. The ``files`` source gives one shard per input file
    (resumable by file, `token_files.file_shards`); any other source (``hf``, streamed
    with ``streaming=True``) is cut into shards of `docs_per_shard` documents
    (`token_files.write_stream_token_files`). The ``hf`` source stops at its token cap
    (``max_tokens``) as it does for `Domain.documents`.

    Args:
        domain: the domain whose source to read (e.g. ``get_domain("generic", "hf")``).
        tok: the project tokenizer (`get_tokenizer`) the strategies will use.
        folder: output folder (default: ``cache_dir()/tokens/<name>-<source>-stream-<key>``,
            keyed by the source's configuration, the tokenizer and the shard size).
        docs_per_shard: documents per shard of a stream (default `DEFAULT_SHARD_DOCS`).
        progress: a progress bar over shards.

    Raises:
        DomainError: the source cannot be opened or a shard cannot be read (one line
            naming it; finished shards are kept and a rerun resumes), or the folder holds
            another corpus.
    """
    from domains.cleaning import normalize_text
    from domains.sources.files import list_files, read_file
    from domains.token_files import (
        DEFAULT_SHARD_DOCS,
        write_stream_token_files,
        write_token_files,
    )

    src = domain._source
    per_shard = int(docs_per_shard or DEFAULT_SHARD_DOCS)
    min_chars = domain.spec.min_chars
    if folder is None:
        key = stable_hash(STREAM_RECIPE, src.name, src.cache_key(), min_chars,
                          tokenizer_hash(tok), per_shard)
        folder = cache_dir("tokens") / f"{file_stem(domain.name)}-{src.name}-stream-{key[:24]}"

    def kept(texts: Any) -> Any:
        for text in texts:
            text = normalize_text(text)
            if len(text) >= min_chars:
                yield text

    if src.name == "files":
        opts = {"text_field": src.text_field, "label_field": src.label_field,  # type: ignore[attr-defined]
                "encoding": src.encoding, "one_per_line": src.one_per_line}  # type: ignore[attr-defined]

        def one(path: Path) -> Any:
            return lambda: kept(t for t, _ in read_file(path, **opts))

        paths = list_files(src.path)  # type: ignore[attr-defined]
        return write_token_files(folder, [(str(p), one(p)) for p in paths], tok,
                                 progress=progress)
    name = f"{domain.name}:{src.name}:{src.cache_key()}"
    return write_stream_token_files(folder, lambda: kept(t for t, _ in src.read()), tok,
                                    name=name, docs_per_shard=per_shard, progress=progress)


def tokenize_split(
    domain: Domain, split: str, tok: Any, *, max_tokens: int | None = None
) -> TokenizedCorpus:
    """A domain split as a `TokenizedCorpus`, cached on disk as memory-mapped token files.

    The split goes through the same path as a corpus at scale (`token_files`: shards of
    `DEFAULT_SHARD_DOCS` documents, resumable); the packaged corpora are small, so the
    stream is then read into RAM as int32.

    Args:
        domain: the domain.
        split: ``train``, ``valid`` or ``test``.
        tok: a Hugging Face tokenizer with an eos token (usually `get_tokenizer()`).
        max_tokens: keep only the first `max_tokens` tokens of the stream (documents in
            source order; the last one may be cut).
    """
    files = split_token_files(domain, split, tok)
    tc = TokenizedCorpus(np.asarray(files.stream(), dtype=np.int32), files.doc_offsets())
    return tc if max_tokens is None else tc.truncate(max_tokens)


