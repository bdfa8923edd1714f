"""The on-disk cache shared by every layer: parsed corpora, tokenizers, token streams.

Everything under `cache_dir()` is derived data: deleting the folder is always safe (it is
rebuilt on the next use). Entries are keyed by content hashes or by the size and modification
time of their source files, never by position, so a stale entry is never read. Files are
written to a temporary name and renamed into place, so two processes that fill the same
entry at once cannot leave a torn file behind. Nothing is pickled: JSON, `.npz` and the
tokenizer's own JSON files only.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ENV_VAR = "SPECPLAN_CACHE"


def cache_dir(*parts: str) -> Path:
    """The cache folder: `$SPECPLAN_CACHE` if set, else `~/.cache/specplan`; created on use.

    Args:
        *parts: optional sub-folders (e.g. ``cache_dir("tokenizers")``), created too.
    """
    root = os.environ.get(ENV_VAR) or os.path.join(os.path.expanduser("~"), ".cache", "specplan")
    path = Path(root).joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def stable_hash(*items: Any, length: int = 64) -> str:
    """A sha256 hex digest of JSON-serialisable items (dict keys sorted); stable across runs."""
    h = hashlib.sha256()
    for item in items:
        h.update(json.dumps(item, sort_keys=True, default=str).encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()[:length]


def file_stem(name: str, limit: int = 40) -> str:
    """`name` made safe as part of a file name: characters outside ``[A-Za-z0-9_.-]`` become
    ``_`` and the result is cut to `limit`. Not unique on its own: callers add a content key,
    so two domains whose names map to the same stem never share an entry."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._")[:limit]
    return stem or "domain"


def file_stamp(paths: Iterable[Path]) -> list[tuple[str, int, int]]:
    """(absolute path, size, mtime in ns) per file: a cheap key that changes when a file does."""
    out = []
    for p in paths:
        st = Path(p).stat()
        out.append((str(Path(p).resolve()), st.st_size, st.st_mtime_ns))
    return out


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file, fsync and a rename
    (`domains.atomic.atomic_write_bytes`; a failure is a `WriteError` naming `path`)."""
    from domains.atomic import atomic_write_bytes as write

    write(path, data)


def write_json(path: Path, obj: Any) -> None:
    """Atomically write `obj` as compact UTF-8 JSON."""
    atomic_write_bytes(path, json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode())


def read_json(path: Path) -> Any | None:
    """The JSON in `path`, or None when it is missing or unreadable (a cache miss)."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None
