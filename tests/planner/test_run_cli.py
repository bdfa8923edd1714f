"""`specplan run` / `strategies` / `sweep`: results, resume after SIGKILL, bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from planner.cli import main
from planner.experiments.store import load_runs


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    rc = main(args)
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_strategies_lists_every_strategy_with_its_charging(capsys) -> None:  # type: ignore[no-untyped-def]
    rc, out, _ = _run(["strategies", "--json"], capsys)
    assert rc == 0
    rows = {r["name"]: r for r in json.loads(out)}
    assert {"small", "small_nopt", "large"} <= set(rows)
    assert rows["large"]["paper_name"] == "LLM"
    assert "slm" in rows["small"]["aliases"]
    for r in rows.values():
        assert set(r["charging"]) >= {"pretraining", "specialization", "inference"}


def test_strategies_does_not_import_torch() -> None:
    code = ("import sys\nfrom planner.cli import main\nmain(['strategies'])\n"
            "assert 'torch' not in sys.modules\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--strategy", "smal", "--domain", "news"],
         "unknown strategy 'smal'. Did you mean: small"),
        (["--strategy", "small", "--domain", "news", "--scale", "huge"], "unknown scale 'huge'"),
        (["--strategy", "small", "--domain", "nowhere"], "nowhere"),
        (["--strategy", "small", "--domain", "news", "--param", "oops"], "expected KEY=VALUE"),
        (["--strategy", "small", "--domain", "news", "--param", "n_pretrain_tokens=-5"],
         "'n_pretrain_tokens' parameter of SmallStrategy"),
        (["--strategy", "small", "--domain", "news", "--param", "colour=red"],
         "has no parameter 'colour'"),
        (["--strategy", "small", "--domain", "news", "--kmeans-backend", "scipy"],
         "--kmeans-backend 'scipy': choose one of auto, sklearn, faiss"),
        (["--strategy", "small", "--domain", "news", "--generic-tokens", "/no/such/folder"],
         "/no/such/folder: no token files"),
    ],
)
def test_bad_input_one_line_nonzero(args, message, capsys, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    for var in ("SPECPLAN_GENERIC_TOKENS", "SPECPLAN_KMEANS_BACKEND"):  # the flags set them
        monkeypatch.setenv(var, "")
    rc, _, err = _run(["run", *args, "--root", str(tmp_path), "--quiet",
                       "--storage", f"sqlite:///{tmp_path}/s.db"], capsys)
    assert rc == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_storage_that_cannot_be_opened(capsys, tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "a-file").write_text("not a folder")
    bad = f"sqlite:///{tmp_path}/a-file/x.db"
    rc, _, err = _run(["run", "--strategy", "small", "--domain", "news", "--quiet",
                       "--storage", bad], capsys)
    assert rc == 2 and "cannot open storage URL" in err
    rc, _, err = _run(["run", "--strategy", "small", "--domain", "news", "--quiet",
                       "--storage", "nosuchdb://x"], capsys)
    assert rc == 2 and "cannot open storage URL" in err


def test_budget_too_small_for_one_step(capsys, tmp_path, torch_threads) -> None:  # type: ignore[no-untyped-def]
    rc, _, err = _run(["run", "--strategy", "small", "--domain", "news", "--quiet",
                       "--param", "n_pretrain_tokens=10", "--root", str(tmp_path),
                       "--storage", f"sqlite:///{tmp_path}/s.db"], capsys)
    assert rc == 2
    assert "too small to take one training step" in err


def test_corrupt_checkpoint_is_one_clear_line(capsys, tmp_path, torch_threads) -> None:  # type: ignore[no-untyped-def]
    from strategies.small import SmallStrategy

    key = SmallStrategy(scale="tiny").pretrain_key()
    ckpt = tmp_path / "artifacts" / "tiny" / "seed-0" / key / "checkpoint"
    ckpt.mkdir(parents=True)
    (ckpt / "state.json").write_text('{"step": 3')  # truncated
    (ckpt / "model.safetensors").write_bytes(b"\x00" * 10)
    rc, _, err = _run(["run", "--strategy", "small", "--domain", "news", "--quiet",
                       "--root", str(tmp_path), "--storage", f"sqlite:///{tmp_path}/s.db"],
                      capsys)
    assert rc == 2
    assert "corrupt or truncated" in err and str(ckpt) in err


def _checkpoints(root: Path) -> list[Path]:
    return list(root.glob("artifacts/tiny/**/checkpoint/state.json"))


def test_sigkill_then_resume_then_reuse(tmp_path, fast_faults) -> None:  # type: ignore[no-untyped-def]
    """Kill `specplan run` mid-training (SIGKILL); the rerun resumes from the last
    checkpoint; a third run reuses the stored result without training. (Pretraining and
    domain data capped as in tests/strategies/test_distributed.py: ~60 pretraining steps,
    checkpoints every 10, a 4k-token fine-tune; the full tiny run adds nothing here.)"""
    storage = f"sqlite:///{tmp_path}/runs.db"
    cmd = [sys.executable, "-m", "planner.cli", "run", "--strategy", "small", "--domain",
           "news", "--scale", "tiny", "--param", "n_pretrain_tokens=60000",
           "--domain-tokens", "4096", "--root", str(tmp_path), "--storage", storage]
    env = {**os.environ, "SPECPLAN_CHECKPOINT_EVERY": "10", "SPECPLAN_THREADS": "1"}
    fast_faults(storage)  # the rerun finds the killed run dead in seconds
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while not _checkpoints(tmp_path) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert _checkpoints(tmp_path), "no checkpoint appeared before the deadline"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert len(load_runs(storage)) == 0  # nothing half-written in the store

    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "resumed from checkpoint at step" in again.stderr
    runs = load_runs(storage)
    assert len(runs) == 1 and runs.iloc[0]["strategy"] == "small"

    third = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert third.returncode == 0
    assert "reused" in third.stderr + third.stdout
    assert len(load_runs(storage)) == 1


def test_reloaded_model_gives_same_perplexity(tmp_path, capsys, torch_threads) -> None:  # type: ignore[no-untyped-def]
    """A specialized model reloaded with AutoModelForCausalLM.from_pretrained gives the
    same perplexity (within 1e-4 relative)."""
    from transformers import AutoModelForCausalLM

    from domains import get_domain
    from strategies.machinery.evaluation import perplexity
    from strategies.machinery.workspace import Workspace

    storage = f"sqlite:///{tmp_path}/runs.db"
    rc, out, _ = _run(["run", "--strategy", "small_nopt", "--domain", "news", "--quiet",
                       "--root", str(tmp_path), "--storage", storage, "--json"], capsys)
    assert rc == 0
    record = json.loads(out)[0]
    model = AutoModelForCausalLM.from_pretrained(record["model_path"])
    ws = Workspace("tiny", root=tmp_path, progress=False)
    again = perplexity(model, ws.test_blocks(get_domain("news")))
    assert again.perplexity == pytest.approx(record["test_ppl"], rel=1e-4)


def test_large_run_shares_its_kept_weights_on_disk(capsys, tmp_path, tiny_ws) -> None:  # type: ignore[no-untyped-def]
    """`large` keeps its fine-tune as a workspace artifact (the distillation teacher); the
    saved model is a hard link to it, not a second copy, and still loads. (The session's
    tiny workspace root: its large pretraining is shared with the strategy tests.)"""
    from transformers import GPT2LMHeadModel

    root = tiny_ws.root  # a 4k-token fine-tune: the link, not the fit, is checked here
    rc, _, err = _run(["run", "--strategy", "large", "--domain", "news", "--quiet",
                       "--domain-tokens", "4096", "--root", str(root),
                       "--storage", f"sqlite:///{tmp_path}/s.db"], capsys)
    assert rc == 0, err
    rec = load_runs(f"sqlite:///{tmp_path}/s.db").iloc[0]
    saved = Path(rec["model_path"]) / "model.safetensors"
    kept = root / "artifacts" / "tiny" / "seed-0" / rec["info"]["finetune_artifact"]
    assert saved.samefile(kept / "model.safetensors") and saved.stat().st_nlink == 2
    assert GPT2LMHeadModel.from_pretrained(rec["model_path"]).num_parameters() > 0


def test_unreadable_generic_token_shard_is_one_line(capsys, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A generic corpus on disk (--generic-tokens, or SPECPLAN_GENERIC_TOKENS) with a
    truncated shard, then an unfinished one: one line naming the file (or the folder),
    exit 2, before any training."""
    from domains.token_files import chunk_documents, write_token_files
    from strategies.machinery.workspace import Workspace

    docs = [f"generic document {i} with a few words of text" for i in range(40)]
    folder = tmp_path / "c4-tokens"
    write_token_files(folder, chunk_documents(docs, 20), Workspace("tiny").tokenizer)
    monkeypatch.setenv("SPECPLAN_GENERIC_TOKENS", "")  # the flag sets it; undone after
    (folder / "shard-00001.bin").write_bytes(b"\x00")
    args = ["run", "--strategy", "small", "--domain", "news", "--quiet", "--root",
            str(tmp_path / "root"), "--storage", f"sqlite:///{tmp_path}/s.db"]
    rc, _, err = _run([*args, "--generic-tokens", str(folder)], capsys)
    assert rc == 2 and "Traceback" not in err
    assert "shard-00001.bin: missing or truncated" in err and len(err.strip().splitlines()) == 1
    index = json.loads((folder / "index.json").read_text())
    (folder / "index.json").write_text(json.dumps({**index, "complete": False}))
    rc, _, err = _run(args, capsys)
    assert rc == 2 and "tokenization was interrupted" in err and "rerun it to resume" in err
