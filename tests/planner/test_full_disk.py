"""Case 4 of the bad-input issue, for real: `specplan report --out` and `specplan run --root`
on a tiny tmpfs end in one line naming the path, exit 2, no partial file under the final name,
finished work kept. Skipped (with the reason) where a tmpfs cannot be mounted."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from planner.cli import main


@pytest.fixture
def disk_100k(tmpfs: Callable[[str], Path]) -> Path:
    return tmpfs("100k")


@pytest.fixture
def disk_700k(tmpfs: Callable[[str], Path]) -> Path:
    return tmpfs("700k")


def _one_error_line(err: str, command: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err[-2000:]
    assert lines[0].startswith(f"specplan {command}: error: cannot write "), lines[0]
    return lines[0]


def test_case4_report_on_a_full_disk(disk_100k: Path, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    out = disk_100k / "report"
    out.mkdir()
    (out / "report.html").write_text("<html>the finished report</html>")
    rc = main(["report", "--storage", f"sqlite:///{tmp_path}/empty.db", "--out", str(out),
               "--format", "html,pdf", "--grid", "2"])
    err = capsys.readouterr().err
    assert rc == 2
    line = _one_error_line(err, "report")
    assert line.endswith("report.html: no space left on device")
    # the old report is intact; nothing partial sits under a final name
    assert (out / "report.html").read_text() == "<html>the finished report</html>"
    assert sorted(p.name for p in out.iterdir()) == ["report.html"]


@pytest.mark.slow
def test_case4_run_on_a_full_disk(disk_700k: Path, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    """A checkpoint that does not fit: one line (was a raw SafetensorError traceback)."""
    rc = main(["run", "--strategy", "small_nopt", "--domain", "legal", "--scale", "tiny",
               "--quiet", "--root", str(disk_700k / "root"),
               "--storage", f"sqlite:///{tmp_path}/runs.db"])
    err = capsys.readouterr().err
    assert rc == 2
    assert _one_error_line(err, "run").endswith(": no space left on device")
    partial = [p for p in disk_700k.rglob("*.safetensors") if not p.name.startswith(".")
               and not any(part.startswith(".") for part in p.parts)]
    assert partial == []
