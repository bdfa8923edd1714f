"""Bad-input issue, cases 1 and 6: the files options reach every command that takes
``--domain NAME=PATH``, and ``--json`` leaves exactly one JSON document on stdout for every
subcommand. One tiny `small_nopt` run is trained; the other commands reuse it."""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import pytest

from planner.cli import main
from planner.cli.main import COMMANDS

pytestmark = pytest.mark.usefixtures("torch_threads")


def _clauses(n: int = 120) -> list[str]:
    words = ("supplier purchase goods delivery payment invoice warranty damages notice "
             "liability confidential termination arbitration jurisdiction force majeure").split()
    return [f"Clause {i}. " + " ".join(words[(i * 7 + j) % len(words)] for j in range(60))
            + f" Section {i} ends here." for i in range(n)]


@pytest.fixture(scope="module")
def body_jsonl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Case 1's input: 120 clauses whose text is in the field ``body``."""
    path = tmp_path_factory.mktemp("case1") / "body.jsonl"
    path.write_text("\n".join(json.dumps({"id": i, "body": t})
                              for i, t in enumerate(_clauses())), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def where(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    d = tmp_path_factory.mktemp("store")
    return {"storage": f"sqlite:///{d}/runs.db", "root": str(d / "root"),
            "out": str(d / "report")}


def _cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    rc = main(argv)
    out = capsys.readouterr()
    return rc, out.out, out.err


def _one_json(stdout: str) -> Any:
    """stdout must be one JSON document and nothing else (``... --json | jq`` works)."""
    doc, end = json.JSONDecoder().raw_decode(stdout.lstrip())
    assert stdout.lstrip()[end:].strip() == "", f"text after the JSON: {stdout[end:][:200]!r}"
    json.loads(stdout, parse_constant=lambda c: pytest.fail(f"non-standard JSON {c}"))
    return doc


def test_files_options_cover_the_files_source() -> None:
    """Every option of the files source is a flag (so a new one cannot be forgotten)."""
    from domains.sources.files import FilesSource
    from planner.cli.commands._common import FILES_OPTIONS

    params = {p.name for p in inspect.signature(FilesSource.__init__).parameters.values()
              if p.kind is inspect.Parameter.KEYWORD_ONLY}
    assert set(FILES_OPTIONS) == params - {"path"}


@pytest.mark.parametrize("command", ["run", "sweep", "demo", "domains"])
def test_every_domain_command_takes_the_files_options(command: str) -> None:
    from planner.cli.commands._common import FILES_OPTIONS
    from planner.cli.main import build_parser

    sub = build_parser(only=command)._subparsers._group_actions[0].choices[command]  # type: ignore[union-attr]
    flags = {s for a in sub._actions for s in a.option_strings}
    assert {flag for flag, _ in FILES_OPTIONS.values()} <= flags


def test_case1_and_6_run_with_text_field_prints_only_json(
        body_jsonl: Path, where: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    """`run --domain mine=body.jsonl --text-field body --json` (progress on): stdout is
    the JSON document, the log lines are on stderr."""
    rc, out, err = _cli(["run", "--strategy", "small_nopt", "--domain", f"mine={body_jsonl}",
                         "--text-field", "body", "--scale", "tiny", "--json",
                         "--storage", where["storage"], "--root", where["root"]], capsys)
    assert rc == 0, err
    [record] = _one_json(out)
    assert record["domain"] == "mine" and record["source"] == "files"
    assert record["data"]["documents"]  # the card of the files read with text_field=body


def test_case1_without_text_field_says_which_field(
        body_jsonl: Path, where: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = _cli(["run", "--strategy", "small_nopt", "--domain", f"mine={body_jsonl}",
                         "--scale", "tiny", "--quiet", "--storage", where["storage"],
                         "--root", where["root"]], capsys)
    assert rc == 2 and out == ""
    assert "no 'text' field (fields: id, body)" in err and "--text-field" in err


@pytest.mark.parametrize("command", ["sweep", "demo"])
def test_case1_sweep_and_demo_take_text_field(
        command: str, body_jsonl: Path, where: dict[str, str],
        capsys: pytest.CaptureFixture[str]) -> None:
    """The run stored above is found again: the domain was read with ``body``."""
    argv = {"sweep": ["sweep", "--strategies", "small_nopt", "--domains",
                      f"mine={body_jsonl}", "--scale", "tiny"],
            "demo": ["demo", "--quick", "--strategies", "small_nopt", "--domains",
                     f"mine={body_jsonl}", "--no-report", "--workers", "1",
                     "--seeds", "0"]}[command]
    rc, out, err = _cli([*argv, "--text-field", "body", "--json", "--quiet",
                         "--storage", where["storage"], "--root", where["root"]], capsys)
    assert rc == 0, err
    doc = _one_json(out)
    records = doc["runs"] if command == "sweep" else doc["records"]
    assert [r["domain"] for r in records] == ["mine"]


_JSON_ARGV: dict[str, list[str]] = {
    "strategies": ["strategies"],
    "domains": ["domains", "--domain", "news", "--no-tokens"],
    "recommend": ["recommend", "--pretraining-budget", "400gpuh", "--specialization-budget",
                  "2gpuh", "--inference-budget", "126M", "--domain-tokens", "8M"],
    "runs": ["runs", "--storage", "{storage}"],
    "report": ["report", "--storage", "{storage}", "--out", "{out}", "--format", "csv",
               "--grid", "2"],
    "run": ["run", "--strategy", "small_nopt", "--domain", "mine={body}", "--text-field",
            "body", "--scale", "tiny", "--storage", "{storage}", "--root", "{root}"],
    "sweep": ["sweep", "--strategies", "small_nopt", "--domains", "mine={body}",
              "--text-field", "body", "--storage", "{storage}", "--root", "{root}"],
    "demo": ["demo", "--quick", "--strategies", "small_nopt", "--domains", "mine={body}",
             "--text-field", "body", "--no-report", "--workers", "1", "--seeds", "0", "--storage",
             "{storage}", "--root", "{root}"],
    "worker": ["worker", "--storage", "{storage}"],
    "study": ["study", "--claims-only", "--domains", "news", "--storage", "{storage}",
              "--root", "{root}"],  # one domain: the JSON, not biomedical's XML, is tested
}


def test_json_argv_covers_every_subcommand() -> None:
    assert set(_JSON_ARGV) == set(COMMANDS)


@pytest.mark.parametrize("command", sorted(_JSON_ARGV))
def test_case6_every_subcommand_json_is_one_document(
        command: str, body_jsonl: Path, where: dict[str, str],
        capsys: pytest.CaptureFixture[str]) -> None:
    """Run after the tests above (same module): run / sweep / demo reuse the stored run."""
    argv = [a.format(body=body_jsonl, **where) for a in _JSON_ARGV[command]]
    rc, out, err = _cli([*argv, "--json"], capsys)
    assert rc == 0, err
    _one_json(out)


def test_json_stdout_holds_only_the_document_even_for_child_processes() -> None:
    """With --json, prints, raw writes to file descriptor 1 and child processes (the demo's
    workers inherit it) all land on stderr; NaN becomes null (strict JSON)."""
    import subprocess
    import sys

    code = ("import os, subprocess, sys\n"
            "from planner.cli.commands._common import emit_json, json_stdout\n"
            "with json_stdout(True):\n"
            "    print('a print')\n"
            "    os.write(1, b'a raw write\\n')\n"
            "    subprocess.run([sys.executable, '-c', 'print(\"a child\")'])\n"
            "    emit_json({'ppl': float('nan'), 'n': [1, 2]})\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert _one_json(done.stdout) == {"ppl": None, "n": [1, 2]}
    assert {"a print", "a raw write", "a child"} <= set(done.stderr.splitlines())
