"""Atomic writes (bad-input issue, case 4): temp name + fsync + rename, one `WriteError` line
naming the path on any write failure, never a partial file under the final name.

The full-disk tests use a real, tiny tmpfs (``mount -t tmpfs``, as root); where mounting is
not allowed they are skipped with the reason, and the monkeypatched tests still run.
"""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from domains.atomic import (
    WriteError,
    atomic_dir,
    atomic_into,
    atomic_open,
    atomic_write_bytes,
    atomic_write_text,
)
from domains.errors import SpecplanError


@pytest.fixture
def small_disk(tmpfs: Callable[[str], Path]) -> Path:
    """A 64 KiB file system."""
    return tmpfs("64k")


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*"))


def test_write_then_replace(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "a.txt"
    atomic_write_text(path, "one")
    atomic_write_text(path, "two ✓")
    assert path.read_text(encoding="utf-8") == "two ✓"
    assert _leftovers(tmp_path / "sub") == ["a.txt"]
    assert oct(path.stat().st_mode & 0o777) == oct(0o644)


def test_write_error_is_one_line_naming_the_path(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "report.html"
    path.write_text("the old report")

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(WriteError) as info:
        atomic_write_text(path, "x" * 10_000)
    assert str(info.value) == f"cannot write {path}: no space left on device"
    assert isinstance(info.value, SpecplanError) and isinstance(info.value, OSError)
    assert path.read_text() == "the old report"  # the finished file is kept
    assert _leftovers(tmp_path) == ["report.html"]  # no temporary file left behind


def test_other_errors_pass_through_and_clean_up(tmp_path: Path) -> None:
    path = tmp_path / "a.bin"
    with pytest.raises(ZeroDivisionError), atomic_open(path) as f:
        f.write(b"partial")
        1 / 0  # noqa: B018 - a bug in the writer, not a write error
    assert _leftovers(tmp_path) == []


def test_atomic_dir_replaces_a_folder_whole(tmp_path: Path) -> None:
    final = tmp_path / "model"
    with atomic_dir(final) as tmp:
        (tmp / "a").write_text("1")
        (tmp / "b").write_text("1")
    with atomic_dir(final) as tmp:
        (tmp / "a").write_text("2")
    assert _leftovers(final) == ["a"] and (final / "a").read_text() == "2"
    assert _leftovers(tmp_path) == ["a", "model"]
    with pytest.raises(RuntimeError), atomic_dir(final) as tmp:
        (tmp / "a").write_text("3")
        raise RuntimeError("stop")
    assert (final / "a").read_text() == "2"  # the old folder is kept whole
    assert _leftovers(tmp_path) == ["a", "model"]


def test_atomic_into_keeps_other_files(tmp_path: Path) -> None:
    final = tmp_path / "artifact"
    final.mkdir()
    (final / "result.json").write_text("{}")
    with atomic_into(final) as tmp:
        (tmp / "model.safetensors").write_bytes(b"weights")
    assert _leftovers(final) == ["model.safetensors", "result.json"]
    assert _leftovers(tmp_path) == ["artifact", "model.safetensors", "result.json"]


def test_full_disk_for_real(small_disk: Path) -> None:
    old = small_disk / "old.bin"
    atomic_write_bytes(old, b"k" * 1000)
    with pytest.raises(WriteError, match=r"cannot write .*big\.bin: no space left on device$"):
        atomic_write_bytes(small_disk / "big.bin", os.urandom(200_000))
    assert _leftovers(small_disk) == ["old.bin"] and old.read_bytes() == b"k" * 1000
    # safetensors raises its own SafetensorError (not an OSError) on a full disk
    torch = pytest.importorskip("torch")
    from safetensors.torch import save_file

    with pytest.raises(WriteError, match=r"cannot write .*ckpt: no space left on device$"), \
            atomic_dir(small_disk / "ckpt") as tmp:
        save_file({"w": torch.zeros(100_000)}, str(tmp / "model.safetensors"))
    assert _leftovers(small_disk) == ["old.bin"]


def test_read_only_for_real(small_disk: Path) -> None:
    atomic_write_text(small_disk / "kept.txt", "finished work")
    done = subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], capture_output=True)
    if done.returncode != 0:
        pytest.skip("cannot remount the tmpfs read-only")
    with pytest.raises(WriteError, match="read-only file system"):
        atomic_write_text(small_disk / "kept.txt", "new")
    assert (small_disk / "kept.txt").read_text() == "finished work"


def test_atomic_dir_can_keep_a_twin(tmp_path: Path) -> None:
    """A content-keyed cache entry written meanwhile by another process is kept."""
    final = tmp_path / "tok"
    with atomic_dir(final, replace=False) as tmp:
        (tmp / "a").write_text("first")
        final.mkdir()
        (final / "a").write_text("twin")
    assert (final / "a").read_text() == "twin" and _leftovers(tmp_path) == ["a", "tok"]
