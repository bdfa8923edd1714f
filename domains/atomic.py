"""Atomic writes: every file specplan writes goes through here.

A file is written under a temporary name in its final folder (``.NAME.XXXX.tmp``), flushed
and `os.fsync`-ed, then renamed over the final name with `os.replace` (atomic on POSIX and
Windows). A folder (a saved model, a checkpoint) is filled under a temporary name beside
its final one and renamed the same way. So a reader sees the old file or the new one, never
a torn one, and a crash, a full disk or a kill leaves no partial file under the final name
(at most a hidden ``.tmp`` that the next write of the same name does not need).

Any failure to write (no space left, permission denied, read-only file system, a quota, a
name too long; `OSError` and the `SafetensorError` that safetensors raises for the same
causes) becomes a `WriteError`: a `SpecplanError` whose one-line message names the final
path and the cause, which the command line prints as one line with exit status 2::

    cannot write report/report.html: no space left on device

API:

- `atomic_write_bytes(path, data)`, `atomic_write_text(path, text)`: a whole file at once.
- `atomic_open(path, mode)`: a context manager yielding a file object to stream into.
- `atomic_dir(path)`: a context manager yielding a temporary folder to fill; renamed to
  `path` when the block ends without error (an existing folder at `path` is replaced).
- `atomic_into(folder)`: a context manager yielding a temporary folder whose files are
  moved, each atomically, into `folder` (which keeps its other files): for
  ``save_pretrained`` into an artifact folder that also holds a lock or a record.
- `write_guard(path)`: converts write errors of code that cannot write to a temporary name
  itself into `WriteError`.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from domains.errors import SpecplanError

__all__ = [
    "WriteError",
    "atomic_dir",
    "atomic_into",
    "atomic_open",
    "atomic_write_bytes",
    "atomic_write_text",
    "write_guard",
]

_OS_ERROR = re.compile(r"\(os error (\d+)\)|code: (\d+),")


class WriteError(SpecplanError, OSError):
    """A file or folder could not be written (no space, permission, read-only, ...).

    Attributes:
        path: the final path that was being written.
    """

    def __init__(self, path: str | os.PathLike[str], cause: BaseException) -> None:
        self.path = Path(path)
        reason = _reason(cause)
        self.message = f"cannot write {self.path}: {reason}"
        super().__init__(self.message)
        self.errno = getattr(cause, "errno", None)  # type: ignore[assignment]
        self.strerror = reason  # type: ignore[assignment]
        self.filename = str(self.path)

    def __str__(self) -> str:  # OSError's own would print "[Errno 28] ..."
        return self.message


def _reason(err: BaseException) -> str:
    code = getattr(err, "errno", None)
    if isinstance(code, int) and code in errno.errorcode:
        return os.strerror(code)[:1].lower() + os.strerror(code)[1:]
    text = str(err)
    # safetensors: "Error while serializing: I/O error: No space left on device (os error 28)"
    m = _OS_ERROR.search(text)
    if m is not None:
        msg = os.strerror(int(m.group(1) or m.group(2)))
        return msg[:1].lower() + msg[1:]
    return text.splitlines()[0] if text else type(err).__name__


def _is_write_error(err: BaseException) -> bool:
    """An OSError, or safetensors' error for an I/O failure (it is not an OSError)."""
    if isinstance(err, WriteError):
        return False
    if isinstance(err, OSError):
        return True
    return type(err).__name__ == "SafetensorError" and (
        _OS_ERROR.search(str(err)) is not None or "I/O error" in str(err))


def _fsync_dir(folder: Path) -> None:
    """Persist a rename (POSIX); a no-op where folders cannot be opened (Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def write_guard(path: str | os.PathLike[str]) -> Iterator[None]:
    """Turn a write failure inside the block into a `WriteError` naming `path`."""
    try:
        yield
    except BaseException as err:
        if _is_write_error(err):
            raise WriteError(path, err) from None
        raise


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "wb", *,
                encoding: str | None = None, perm: int = 0o644) -> Iterator[IO[Any]]:
    """Write `path` through a temporary file in its folder, fsync and `os.replace`.

    Args:
        path: the final file.
        mode: ``"wb"`` or ``"w"`` (text; `encoding` defaults to UTF-8).
        encoding: text encoding for ``"w"``.
        perm: the file's permission bits (a temporary file is created 0600).

    Raises:
        WriteError: the folder cannot be created or the file cannot be written; nothing is
            left under `path` (an older file there is kept).
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open: mode must be 'w' or 'wb', got {mode!r}")
    final = Path(path)
    tmp: str | None = None
    with write_guard(final):
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=final.parent, prefix=f".{final.name[:60]}.",
                                   suffix=".tmp")
        try:
            enc = (encoding or "utf-8") if mode == "w" else None
            with os.fdopen(fd, mode, encoding=enc) as f:
                yield f
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, perm)
            os.replace(tmp, final)
            tmp = None
            _fsync_dir(final.parent)
        finally:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write `data` to `path` atomically (see `atomic_open`)."""
    with atomic_open(path, "wb") as f:
        f.write(data)


def atomic_write_text(path: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> None:
    """Write `text` to `path` atomically (see `atomic_open`)."""
    with atomic_open(path, "w", encoding=encoding) as f:
        f.write(text)


def _fsync_tree(folder: Path) -> None:
    for dirpath, _, files in os.walk(folder):
        for name in files:
            p = os.path.join(dirpath, name)
            if os.path.islink(p):
                continue
            fd = os.open(p, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(Path(dirpath))


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str], *, replace: bool = True) -> Iterator[Path]:
    """Fill a temporary folder beside `path`; on success it becomes `path`.

    The files are fsync-ed, then the folder is renamed into place; a folder already at
    `path` is moved aside first and deleted after the rename (so `path` is never missing
    longer than between two renames, and never half-written). With ``replace=False`` a
    folder that appeared at `path` meanwhile (another process wrote the same content-keyed
    cache entry) is kept and the new one discarded.

    Raises:
        WriteError: a write inside the block or the rename failed; the temporary folder is
            removed and an older `path` is kept.
    """
    final = Path(path)
    tmp: Path | None = None
    with write_guard(final):
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name[:60]}.",
                                    suffix=".tmp"))
        try:
            yield tmp
            _fsync_tree(tmp)
            os.chmod(tmp, 0o755)
            old: Path | None = None
            if final.exists() and not replace:
                return  # the finally clause removes tmp
            if final.exists():
                old = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name[:60]}.",
                                            suffix=".old"))
                os.replace(final, old / "x")
            os.replace(tmp, final)
            tmp = None
            _fsync_dir(final.parent)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        finally:
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def atomic_into(folder: str | os.PathLike[str]) -> Iterator[Path]:
    """Fill a temporary folder beside `folder`; on success each of its files is fsync-ed and
    renamed into `folder` (created if needed), replacing a file of the same name.

    ``with atomic_into(path) as tmp: model.save_pretrained(tmp)`` leaves in `path` either
    the old files or the complete new ones, never a torn ``model.safetensors``.

    Raises:
        WriteError: a write or a rename failed; the temporary folder is removed.
    """
    final = Path(folder)
    tmp: Path | None = None
    with write_guard(final):
        final.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name[:60]}.",
                                    suffix=".tmp"))
        try:
            yield tmp
            _fsync_tree(tmp)
            for item in sorted(tmp.iterdir()):
                target = final / item.name
                if item.is_dir() and target.is_dir():
                    shutil.rmtree(target)
                os.replace(item, target)
            _fsync_dir(final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
