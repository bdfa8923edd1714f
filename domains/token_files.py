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
            raise DomainError(f"{self.folder}: tokenization was interrupted "
                              f"({len(index['shards'])} of {len(index['inputs'])} shards); "
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
        rows = np.asarray(idx.cpu() if hasattr(idx, "cpu") else idx, dtype=np.int64).reshape(-1)
        if rows.size and (rows.min() < 0 or rows.max() >= self.n):
            raise IndexError(f"block numbers must lie in [0, {self.n})")
        return torch.from_numpy(self.files.read_blocks(rows, self.block_size))


def _save_npy(path: Path, arr: np.ndarray) -> None:
    import io

    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    atomic_write_bytes(path, buf.getvalue())
