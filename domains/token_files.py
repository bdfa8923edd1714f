"""Memory-mapped token files: corpora tokenized once, in shards, read per rank from disk.

A corpus at scale (C4, a Pile subset, a folder of JSONL/Parquet shards) does not fit in
RAM, and neither does its token stream. `write_token_files` tokenizes it shard by shard
with the `tokenizers` batch API (Rust, parallel over a batch; `TOKENIZERS_PARALLELISM`),
and writes, per shard::

    <folder>/shard-00000.bin       raw token ids (uint16 when the vocabulary fits, else uint32),
                                   every document followed by the eos id
    <folder>/shard-00000.idx.npy   int64 (n_docs + 1,) document offsets into the .bin

plus ``<folder>/index.json``: the tokenizer's content hash, the dtype and the finished
shards (documents, tokens). A shard's files are written under a temporary name and renamed,
then the index is rewritten (atomically), so an interrupted run keeps every finished shard
and the next run resumes at the first missing one; a shard that cannot be read names its
input and stops the run with a `DomainError`. Peak memory is one shard's tokens, whatever
the corpus size.

`TokenFiles` opens a folder read-only with `numpy.memmap`: nothing is loaded until read.
Its blocks of `block_size` tokens are cut per shard (a shard's remainder is dropped, so a
block never straddles two files), numbered across shards in shard order; `read_blocks`
gathers any block numbers, and `rank_blocks` gives rank r of W the blocks r, r + W, ...
(deterministic, the same for every run). The training loop draws a global batch of block
numbers from the seed and the step and gives each rank its slice, so the batches do not
depend on the number of processes.

The packaged corpora take the same path (`domains.tokenizer.tokenize_split` writes token
files), so tests exercise the code that runs at scale.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from domains.cache import atomic_write_bytes
from domains.errors import DomainError

FORMAT = "specplan-token-files-v1"
INDEX = "index.json"
DEFAULT_SHARD_DOCS = 100_000  # documents per shard when cutting a stream into shards

ShardInput = tuple[str, Callable[[], Iterable[str]]]


def token_dtype(vocab_size: int) -> np.dtype[Any]:
    """uint16 when every id fits (vocabulary <= 65,536, the paper's 32k included), else
    uint32: half the disk and page cache of int32 for the usual vocabularies."""
    return np.dtype(np.uint16) if vocab_size <= 1 << 16 else np.dtype(np.uint32)


def _shard_name(i: int) -> str:
    return f"shard-{i:05d}"


def _read_index(folder: Path) -> dict[str, Any] | None:
    path = folder / INDEX
    if not path.exists():
        return None
    try:
        index = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise DomainError(f"{path}: unreadable token-file index ({err}); delete "
                          f"{folder} to tokenize again") from err
    if not isinstance(index, dict) or index.get("format") != FORMAT:
        raise DomainError(f"{path}: not a {FORMAT} index; delete {folder} to tokenize again")
    return index


def _write_index(folder: Path, index: dict[str, Any]) -> None:
    atomic_write_bytes(folder / INDEX, json.dumps(index, indent=1).encode("utf-8"))


def _encode_shard(texts: Iterable[str], tok: Any, dtype: np.dtype[Any]) -> tuple[np.ndarray,
                                                                                   np.ndarray]:
    """(tokens (n_tokens,) of `dtype`, offsets int64 (n_docs + 1,)) of one shard."""
    from domains.tokenizer import encode_documents

    tc = encode_documents(list(texts), tok)
    return tc.tokens.astype(dtype, copy=False), tc.offsets


def write_token_files(
    folder: str | os.PathLike[str],
    shards: Sequence[ShardInput],
    tok: Any,
    *,
    progress: bool = False,
) -> TokenFiles:
    """Tokenize each input shard into memory-mapped token files under `folder`; resumable.

    Args:
        folder: output folder (created); an existing index there must name the same
            tokenizer and the same shard names, else `DomainError`.
        shards: (name, texts factory) per shard, in corpus order; the factory is called only
            for shards not yet written (e.g. ``lambda: read_texts(path)``).
        tok: a Hugging Face tokenizer with an eos token (`domains.tokenizer.get_tokenizer`).
        progress: a progress bar over shards.

    Returns:
        The finished `TokenFiles`.

    Raises:
        DomainError: an input shard cannot be read (the message names it; finished shards
            are kept), or the folder holds token files of another tokenizer or corpus.
    """
    from tqdm.auto import tqdm

    from domains.tokenizer import tokenizer_hash

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    tok_hash = tokenizer_hash(tok)
    dtype = token_dtype(len(tok))
    names = [name for name, _ in shards]
    index = _read_index(out) or {"format": FORMAT, "tokenizer": tok_hash, "dtype": dtype.name,
                                 "eos_id": int(tok.eos_token_id), "inputs": names,
                                 "shards": [], "complete": False}
    if index["tokenizer"] != tok_hash or index["inputs"] != names:
        raise DomainError(f"{out}: holds token files of another tokenizer or corpus; "
                          "use another folder or delete this one")
    done = {s["input"] for s in index["shards"]}
    bar = tqdm(total=len(shards), initial=len(done), desc="tokenize", unit="shard",
               disable=not progress, leave=False)
    for i, (name, texts) in enumerate(shards):
        if name in done:
            continue
        try:
            tokens, offsets = _encode_shard(texts(), tok, dtype)
        except DomainError:
            raise
        except (OSError, ValueError, UnicodeDecodeError) as err:
            raise DomainError(f"input shard {name}: cannot be read ({type(err).__name__}: "
                              f"{err}); the {len(done)} finished shard(s) in {out} are kept, "
                              "rerun to resume") from err
        stem = _shard_name(i)
        atomic_write_bytes(out / f"{stem}.bin", tokens.tobytes())
        _save_npy(out / f"{stem}.idx.npy", offsets)
        index["shards"].append({"input": name, "file": stem, "n_docs": int(offsets.size - 1),
                                "n_tokens": int(offsets[-1])})
        index["shards"].sort(key=lambda s: s["file"])
        _write_index(out, index)
        done.add(name)
        bar.update(1)
    bar.close()
    index["complete"] = True
    _write_index(out, index)
    return TokenFiles(out)


def write_stream_token_files(
    folder: str | os.PathLike[str],
    docs: Callable[[], Iterable[str]],
    tok: Any,
    *,
    name: str,
    docs_per_shard: int = DEFAULT_SHARD_DOCS,
    progress: bool = False,
) -> TokenFiles:
    """Tokenize a stream of documents of unknown length (an `hf` streaming dataset: C4, the
    Pile) into token files, `docs_per_shard` documents per shard; resumable by shard.

    The stream is read once, a shard at a time (peak memory: one shard's text and tokens).
    After each shard the index records it; an interrupted run keeps every finished shard
    and the next one skips their documents in the stream (`itertools.islice`: read again,
    not tokenized again) and continues. The index is marked complete when the stream ends.

    Args:
        folder: output folder; an existing index there must name the same tokenizer,
            stream `name` and shard size, else `DomainError`.
        docs: a factory of the stream (called once per run), in the same order every time.
        tok: a Hugging Face tokenizer with an eos token.
        name: names the stream (its configuration) in the index and in errors.
        docs_per_shard: documents per shard.
        progress: a progress bar over shards.

    Raises:
        DomainError: the stream fails while a shard is read (the message names the stream
            and the shard's documents; finished shards are kept), or the folder holds
            another corpus.
    """
    from tqdm.auto import tqdm

    from domains.tokenizer import tokenizer_hash

    if docs_per_shard < 1:
        raise DomainError(f"docs_per_shard must be >= 1, got {docs_per_shard}")
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    tok_hash = tokenizer_hash(tok)
    dtype = token_dtype(len(tok))
    inputs = [f"stream:{name}:{docs_per_shard}"]
    index = _read_index(out) or {"format": FORMAT, "tokenizer": tok_hash, "dtype": dtype.name,
                                 "eos_id": int(tok.eos_token_id), "inputs": inputs,
                                 "stream": True, "shards": [], "complete": False}
    if index["tokenizer"] != tok_hash or index["inputs"] != inputs:
        raise DomainError(f"{out}: holds token files of another tokenizer or corpus; "
                          "use another folder or delete this one")
    if index["complete"]:
        return TokenFiles(out)
    done = int(sum(sh["n_docs"] for sh in index["shards"]))
    bar = tqdm(initial=len(index["shards"]), desc="tokenize", unit="shard",
               disable=not progress, leave=False)
    stream = iter(docs())
    try:
        for _ in itertools.islice(stream, done):  # finished shards: skipped, not tokenized
            pass
    except Exception as err:
        raise _stream_error(name, done, None, out, len(index["shards"]), err) from err
    while True:
        i = len(index["shards"])
        try:
            texts = list(itertools.islice(stream, docs_per_shard))
        except DomainError:
            raise
        except Exception as err:  # network, a corrupt file of the dataset, a bad row
            raise _stream_error(name, done, docs_per_shard, out, i, err) from err
        if not texts:
            break
        tokens, offsets = _encode_shard(texts, tok, dtype)
        stem = _shard_name(i)
        atomic_write_bytes(out / f"{stem}.bin", tokens.tobytes())
        _save_npy(out / f"{stem}.idx.npy", offsets)
        index["shards"].append({"input": f"{name}[{done}:{done + len(texts)}]", "file": stem,
                                "n_docs": len(texts), "n_tokens": int(offsets[-1])})
        _write_index(out, index)
        done += len(texts)
        bar.update(1)
        if len(texts) < docs_per_shard:
            break
    bar.close()
    index["complete"] = True
    _write_index(out, index)
    return TokenFiles(out)


def _stream_error(name: str, start: int, n: int | None, out: Path, finished: int,
                  err: BaseException) -> DomainError:
    where = f"documents {start}-{start + n - 1}" if n else f"the first {start} documents"
    first = (str(err).splitlines() or [""])[0]
    return DomainError(f"input stream {name} ({where}): cannot be read "
                       f"({type(err).__name__}: {first}); the {finished} finished shard(s) in "
                       f"{out} are kept, rerun to resume")


def chunk_documents(docs: Iterable[str], docs_per_shard: int = DEFAULT_SHARD_DOCS,
                    n_docs: int | None = None) -> list[ShardInput]:
    """Shard inputs for a stream of documents (an `hf` streaming dataset, a generator):
    shard i holds documents [i * docs_per_shard, (i + 1) * docs_per_shard).

    With a known `n_docs` the shards are listed up front. A shard's factory skips the
    documents before it (`itertools.islice`, no tokenization), so a resumed run re-reads
    but does not re-tokenize finished shards. A re-iterable `docs` (a list, a dataset) is
    required: each factory iterates it anew.
    """
    if docs_per_shard < 1:
        raise DomainError(f"docs_per_shard must be >= 1, got {docs_per_shard}")
    if n_docs is None:
        n_docs = len(docs) if isinstance(docs, Sequence) else None
    if n_docs is None:
        raise DomainError("chunk_documents needs n_docs for a stream of unknown length")

    def shard(i: int) -> Callable[[], Iterator[str]]:
        return lambda: itertools.islice(iter(docs), i * docs_per_shard,
                                        (i + 1) * docs_per_shard)

    n_shards = max(1, -(-n_docs // docs_per_shard))
    return [(f"docs[{i * docs_per_shard}:{min(n_docs, (i + 1) * docs_per_shard)}]", shard(i))
            for i in range(n_shards)]


def file_shards(paths: Sequence[str | os.PathLike[str]], *, text_field: str = "text",
                encoding: str = "utf-8") -> list[ShardInput]:
    """One shard input per local file (``.txt``, ``.jsonl``, ``.csv``, ``.parquet``, read by
    `domains.sources.files.read_file`); the shard is named by the file's path."""
    from domains.sources.files import read_file

    def texts(p: Path) -> Callable[[], Iterator[str]]:
        return lambda: (t for t, _ in read_file(p, text_field=text_field, encoding=encoding))

    return [(str(Path(p)), texts(Path(p))) for p in paths]


@dataclass(frozen=True)
class _Shard:
    tokens: np.ndarray  # memmap (n_tokens,)
    offsets: np.ndarray  # int64 (n_docs + 1,)


class TokenFiles:
    """A folder of finished token files, opened read-only (memory-mapped).

    Args:
        folder: written by `write_token_files`.

    Raises:
        DomainError: no index, an unfinished tokenization, or a missing/truncated shard file.
    """

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        index = _read_index(self.folder)
        if index is None:
            raise DomainError(f"{self.folder}: no token files ({INDEX} missing)")
        if not index.get("complete"):
            of = "" if index.get("stream") else f" of {len(index['inputs'])}"
            raise DomainError(f"{self.folder}: tokenization was interrupted "
                              f"({len(index['shards'])}{of} shards finished); "
                              "rerun it to resume")
        self.index = index
        self.dtype = np.dtype(index["dtype"])
        self.eos_id = int(index["eos_id"])
        self._shards: list[_Shard] = []
        for s in index["shards"]:
            bin_path = self.folder / f"{s['file']}.bin"
            expect = s["n_tokens"] * self.dtype.itemsize
            if not bin_path.exists() or bin_path.stat().st_size != expect:
                raise DomainError(f"{bin_path}: missing or truncated (expected {expect:,} "
                                  f"bytes); delete {self.folder} to tokenize again")
            tokens = (np.memmap(bin_path, dtype=self.dtype, mode="r") if s["n_tokens"]
                      else np.zeros(0, self.dtype))
            offsets = np.load(self.folder / f"{s['file']}.idx.npy", allow_pickle=False)
            self._shards.append(_Shard(tokens, offsets.astype(np.int64)))

    @property
    def n_shards(self) -> int:
        return len(self._shards)

    @property
    def n_tokens(self) -> int:
        return int(sum(s.tokens.size for s in self._shards))

    @property
    def n_docs(self) -> int:
        return int(sum(s.offsets.size - 1 for s in self._shards))

    def shard(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Shard `i`'s (memory-mapped tokens, int64 document offsets)."""
        s = self._shards[i]
        return s.tokens, s.offsets

    def doc_offsets(self) -> np.ndarray:
        """int64 (n_docs + 1,): every document's start in the concatenated stream."""
        parts, base = [np.zeros(1, np.int64)], 0
        for s in self._shards:
            parts.append(s.offsets[1:] + base)
            base += int(s.tokens.size)
        return np.concatenate(parts)

    def doc_lengths(self) -> np.ndarray:
        """int64 (n_docs,): every document's length in tokens (its eos included)."""
        if not self._shards:
            return np.zeros(0, np.int64)
        return np.concatenate([np.diff(s.offsets) for s in self._shards]).astype(np.int64)

    def _doc_starts(self) -> np.ndarray:
        """int64 (n_shards + 1,): the first global document number of every shard."""
        return np.concatenate([[0], np.cumsum([s.offsets.size - 1 for s in self._shards])]
                              ).astype(np.int64)

    def doc_tokens(self, i: int) -> np.ndarray:
        """Document `i`'s tokens (global number, shards in order; its eos included), read
        from the memory map."""
        starts = self._doc_starts()
        if not 0 <= i < starts[-1]:
            raise IndexError(f"document numbers must lie in [0, {starts[-1]}), got {i}")
        s = int(np.searchsorted(starts, i, side="right") - 1)
        sh, j = self._shards[s], int(i - starts[s])
        return sh.tokens[int(sh.offsets[j]) : int(sh.offsets[j + 1])]

    def gather_docs(self, docs: Sequence[int] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(tokens of `dtype` (sum of lengths,), int64 offsets (len(docs) + 1,)): the given
        documents concatenated in that order (repeats allowed), read from the memory maps;
        what `TokenizedCorpus.select` gives for a corpus in RAM. Vectorized per shard."""
        idx = np.asarray(docs, dtype=np.int64).reshape(-1)
        starts = self._doc_starts()
        if idx.size and (idx.min() < 0 or idx.max() >= starts[-1]):
            raise IndexError(f"document numbers must lie in [0, {starts[-1]}), got "
                             f"[{idx.min()}, {idx.max()}]")
        shard_of = np.searchsorted(starts, idx, side="right") - 1
        local = idx - starts[shard_of]
        lengths = np.zeros(idx.size, np.int64)
        begin = np.zeros(idx.size, np.int64)
        for s in np.unique(shard_of):
            m = shard_of == s
            off = self._shards[s].offsets
            begin[m], lengths[m] = off[local[m]], off[local[m] + 1] - off[local[m]]
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        out = np.empty(int(offsets[-1]), dtype=self.dtype)
        doc_of = np.repeat(np.arange(idx.size), lengths)  # output position -> row of idx
        pos = np.arange(offsets[-1]) - offsets[:-1][doc_of] + begin[doc_of]
        for s in np.unique(shard_of):
            m = shard_of[doc_of] == s
            out[m] = self._shards[s].tokens[pos[m]]
        return out, offsets

    def stream(self) -> np.ndarray:
        """The whole token stream as int32 in RAM (small corpora only: the packaged ones);
        a single shard is returned as its memory map."""
        if len(self._shards) == 1:
            return self._shards[0].tokens
        if not self._shards:
            return np.zeros(0, np.int32)
        return np.concatenate([s.tokens for s in self._shards]).astype(np.int32)

    # -------------------------------------------------------------- blocks
    def block_counts(self, block_size: int) -> np.ndarray:
        """int64 (n_shards,): blocks of `block_size` tokens per shard (remainder dropped)."""
        if block_size < 1:
            raise ValueError(f"block_size must be >= 1, got {block_size}")
        return np.array([s.tokens.size // block_size for s in self._shards], dtype=np.int64)

    def n_blocks(self, block_size: int) -> int:
        return int(self.block_counts(block_size).sum())

    def read_blocks(self, indices: Sequence[int] | np.ndarray, block_size: int) -> np.ndarray:
        """int64 (len(indices), block_size): the given global block numbers, in that order,
        read from the memory maps (only those pages are touched)."""
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        counts = self.block_counts(block_size)
        starts = np.concatenate([[0], np.cumsum(counts)])
        if idx.size and (idx.min() < 0 or idx.max() >= starts[-1]):
            raise IndexError(f"block numbers must lie in [0, {starts[-1]}), got "
                             f"[{idx.min()}, {idx.max()}]")
        out = np.empty((idx.size, block_size), dtype=np.int64)
        shard_of = np.searchsorted(starts, idx, side="right") - 1
        for row, (b, s) in enumerate(zip(idx, shard_of, strict=True)):
            lo = int(b - starts[s]) * block_size
            out[row] = self._shards[s].tokens[lo : lo + block_size]
        return out

    def rank_blocks(self, rank: int, world_size: int, block_size: int) -> np.ndarray:
        """Global block numbers read by `rank` of `world_size` when a corpus is split
        statically across ranks: rank, rank + W, rank + 2W, ... (int64)."""
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must lie in [0, {world_size}), got {rank}")
        return np.arange(rank, self.n_blocks(block_size), world_size, dtype=np.int64)


class BlockView:
    """(n, block_size) token blocks of `TokenFiles`, indexable like a tensor by the
    training loop (`shape`, `view[idx]` -> int64 torch tensor), without loading the corpus.

    Args:
        files: the token files.
        block_size: tokens per block (the model's context).
        max_blocks: use only the first `max_blocks` blocks (a token cap).
    """

    def __init__(self, files: TokenFiles, block_size: int, max_blocks: int | None = None) -> None:
        self.files = files
        self.block_size = block_size
        n = files.n_blocks(block_size)
        self.n = n if max_blocks is None else min(n, max_blocks)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n, self.block_size)

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, idx: Any) -> Any:
        import torch

        if isinstance(idx, slice):  # view[i:j], as evaluation reads consecutive rows
            idx = np.arange(self.n)[idx]
        one = isinstance(idx, (int, np.integer))  # view[i]: one (block_size,) row
        rows = np.asarray(idx.cpu() if hasattr(idx, "cpu") else idx, dtype=np.int64).reshape(-1)
        if rows.size and (rows.min() < 0 or rows.max() >= self.n):
            raise IndexError(f"block numbers must lie in [0, {self.n})")
        out = torch.from_numpy(self.files.read_blocks(rows, self.block_size))
        return out[0] if one else out

    def numel(self) -> int:
        """Tokens in the view (as `torch.Tensor.numel`)."""
        return self.n * self.block_size


SELECT_CHUNK_DOCS = 4096  # documents gathered per write when selecting (bounds the RAM)


def select_token_files(files: TokenFiles, groups: Sequence[np.ndarray],
                       folder: str | os.PathLike[str], *,
                       chunk_docs: int = SELECT_CHUNK_DOCS) -> TokenFiles:
    """Token files holding chosen documents of `files`: one shard per group, each the
    group's documents concatenated in the given order (repeats allowed), written through a
    memory map `chunk_docs` documents at a time, so RAM does not grow with the selection.

    What a resampled corpus (importance sampling's draws) or a cluster's documents (an
    expert's data) is made of: `BlockView` over the result reads blocks that never straddle
    two groups, exactly ``TokenizedCorpus.select(group).blocks(T)`` per group, in group order.
    A finished `folder` is reused (name it by the selection); it is written into a
    temporary folder and renamed, so it is never seen half-written.

    Args:
        files: the source token files.
        groups: int64 document numbers (global, shards in order) per output shard.
        folder: the output folder.
        chunk_docs: documents gathered per write.

    Returns:
        The selection's `TokenFiles`.
    """
    from domains.atomic import atomic_dir

    out = Path(folder)
    try:
        return TokenFiles(out)
    except DomainError:
        pass
    lengths = files.doc_lengths()
    names = [f"group-{g}" for g in range(len(groups))]
    index: dict[str, Any] = {"format": FORMAT, "tokenizer": files.index["tokenizer"],
                             "dtype": files.dtype.name, "eos_id": files.eos_id,
                             "inputs": names, "shards": [], "complete": True,
                             "selected_from": str(files.folder)}
    with atomic_dir(out, replace=False) as tmp:
        for g, docs in enumerate(groups):
            docs = np.asarray(docs, dtype=np.int64).reshape(-1)
            offsets = np.concatenate([[0], np.cumsum(lengths[docs])]).astype(np.int64)
            stem = _shard_name(g)
            n = int(offsets[-1])
            with open(tmp / f"{stem}.bin", "wb") as fh:
                for lo in range(0, docs.size, chunk_docs):
                    toks, _ = files.gather_docs(docs[lo : lo + chunk_docs])
                    fh.write(toks.tobytes())
            np.save(tmp / f"{stem}.idx.npy", offsets, allow_pickle=False)
            index["shards"].append({"input": names[g], "file": stem,
                                    "n_docs": int(docs.size), "n_tokens": n})
        (tmp / INDEX).write_text(json.dumps(index, indent=1), encoding="utf-8")
    return TokenFiles(out)


class DocumentTexts(Sequence[str]):
    """The texts of documents of `TokenFiles`, decoded from their tokens on demand: a
    sequence that never holds the corpus's text in RAM (iterate it, or slice it, to read a
    batch at a time; `embeddings.embed_to_disk` does).

    Byte-level BPE round-trips any text exactly, so a document's decoded text is the text
    that was tokenized (the tokenizer's backend decodes, without transformers' clean-up of
    spaces).

    Args:
        files: the token files.
        tok: the tokenizer they were written with (checked by its content hash).
        indices: global document numbers (default: all documents, in order).
        batch: documents decoded per call when iterating.

    Raises:
        DomainError: `tok` is not the tokenizer of `files`.
    """

    def __init__(self, files: TokenFiles, tok: Any, indices: Sequence[int] | np.ndarray | None
                 = None, *, batch: int = 1024) -> None:
        from domains.tokenizer import tokenizer_hash

        if tokenizer_hash(tok) != files.index["tokenizer"]:
            raise DomainError(f"{files.folder}: written with another tokenizer; cannot decode")
        self.files, self.tok, self.batch = files, tok, batch
        self.indices = (np.arange(files.n_docs, dtype=np.int64) if indices is None
                        else np.asarray(indices, dtype=np.int64).reshape(-1))

    def __len__(self) -> int:
        return int(self.indices.size)

    def _decode(self, docs: np.ndarray) -> list[str]:
        toks, offsets = self.files.gather_docs(docs)
        eos = self.files.eos_id
        seqs = []
        for i in range(docs.size):
            ids = toks[offsets[i] : offsets[i + 1]]
            if ids.size and ids[-1] == eos:  # every document ends with the eos id
                ids = ids[:-1]
            seqs.append(ids.tolist())
        backend = getattr(self.tok, "backend_tokenizer", None)
        if backend is not None:
            return list(backend.decode_batch(seqs, skip_special_tokens=False))
        return [self.tok.decode(s, clean_up_tokenization_spaces=False) for s in seqs]

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return self._decode(self.indices[i])
        return self._decode(self.indices[[int(i)]])[0]

    def __iter__(self) -> Iterator[str]:
        for lo in range(0, len(self), self.batch):
            yield from self._decode(self.indices[lo : lo + self.batch])

    def take(self, indices: Sequence[int] | np.ndarray) -> DocumentTexts:
        """The texts of `indices` (positions in this sequence), still lazy."""
        return DocumentTexts(self.files, self.tok,
                             self.indices[np.asarray(indices, dtype=np.int64)], batch=self.batch)


def _save_npy(path: Path, arr: np.ndarray) -> None:
    import io

    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    atomic_write_bytes(path, buf.getvalue())
