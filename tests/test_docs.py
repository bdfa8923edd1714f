"""The guides' commands run: every fenced block marked ``<!-- runnable -->`` in README.md and
docs/*.md. A ``bash`` block holds `specplan` commands (one per line, ``\\`` continues a line,
``#`` starts a comment), each run in-process and required to exit 0 (``--json`` output must
parse); a ``python`` block is executed. Only fast commands are marked runnable (planning,
``--help``, listings); training commands stay unmarked."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GUIDES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_BLOCK = re.compile(r"<!-- runnable -->\n```(bash|python)\n(.*?)\n```", re.S)


def runnable_blocks() -> list[tuple[str, str, str]]:
    """(file relative to the root, language, code) of every runnable block."""
    out = []
    for path in GUIDES:
        for lang, code in _BLOCK.findall(path.read_text(encoding="utf-8")):
            out.append((str(path.relative_to(ROOT)), lang, code))
    return out


def commands(code: str) -> list[list[str]]:
    """The block's commands as argv lists (continuations joined, comments dropped)."""
    out = []
    for line in code.replace("\\\n", " ").splitlines():
        argv = shlex.split(line, comments=True)
        if argv:
            out.append(argv)
    return out


BLOCKS = runnable_blocks()


def test_the_guides_have_runnable_commands() -> None:
    files = {f for f, _, _ in BLOCKS}
    assert {"README.md", "docs/user-guide.md", "docs/planner.md",
            "docs/strategies.md"} <= files
    assert sum(len(commands(c)) for _, lang, c in BLOCKS if lang == "bash") >= 8


def test_commands_are_split_like_a_shell() -> None:
    code = "specplan recommend --a 1 \\\n    --b '2 3'   # a comment\n\nspecplan strategies\n"
    assert commands(code) == [["specplan", "recommend", "--a", "1", "--b", "2 3"],
                              ["specplan", "strategies"]]


@pytest.mark.parametrize(("path", "lang", "code"), BLOCKS,
                         ids=[f"{f}:{i}" for i, (f, _, _) in enumerate(BLOCKS)])
def test_runnable_block(path: str, lang: str, code: str,
                        capsys: pytest.CaptureFixture[str]) -> None:
    if lang == "python":
        exec(compile(code, f"{path} (python block)", "exec"), {})  # noqa: S102
        return
    from planner.cli import main

    for argv in commands(code):
        assert argv[0] == "specplan", f"{path}: not a specplan command: {argv}"
        try:
            rc = main(argv[1:])
        except SystemExit as stop:  # --help exits through argparse
            rc = int(stop.code or 0)
        out = capsys.readouterr().out
        assert rc == 0, f"{path}: {' '.join(argv)} exited {rc}"
        assert out.strip(), f"{path}: {' '.join(argv)} printed nothing"
        if "--json" in argv:
            json.loads(out)
