"""`specplan recommend`: output, one-line errors (exit 2), no torch, reproducibility."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from planner.cli import main

BASE = {"--pretraining-budget": "400gpuh", "--specialization-budget": "2gpuh",
        "--inference-budget": "126M", "--domain-tokens": "8M"}


def _argv(**overrides: str) -> list[str]:
    args = {**BASE, **{f"--{k.replace('_', '-')}": v for k, v in overrides.items()}}
    out = ["recommend"]
    for k, v in args.items():
        out += [k, v]
    return out


def test_text_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(_argv(domains="7")) == 0
    out = capsys.readouterr().out
    assert out.startswith("recommendation: ")
    for needle in ("predicted perplexity", "cost on A100", "total over 7 domains",
                   "runners-up", "why:"):
        assert needle in out


def test_json_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*_argv(domains="7"), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["strategy"] in ("hypernetwork", "mixture")
    assert d["cost"]["total"]["gpu_hours"] >= d["cost"]["pretraining"]["gpu_hours"]
    assert {"predicted_ppl", "interval", "runners_up", "reasons", "configuration"} <= set(d)


INVALID = [
    ({"pretraining_budget": "-400gpuh"}, "--pretraining-budget"),
    ({"pretraining_budget": "0"}, "--pretraining-budget"),
    ({"pretraining_budget": "nan"}, "--pretraining-budget"),
    ({"pretraining_budget": "inf"}, "--pretraining-budget"),
    ({"pretraining_budget": "400 tpuh"}, "--pretraining-budget"),
    ({"specialization_budget": "-2gpuh"}, "--specialization-budget"),
    ({"specialization_budget": "0gpuh"}, "--specialization-budget"),
    ({"specialization_budget": "two"}, "--specialization-budget"),
    ({"inference_budget": "0"}, "--inference-budget"),
    ({"inference_budget": "100M"}, "--inference-budget"),  # below the 126M small model
    ({"inference_budget": "1e8flops/token"}, "--inference-budget"),
    ({"inference_budget": "126 furlongs"}, "--inference-budget"),
    ({"domain_tokens": "0"}, "--domain-tokens"),
    ({"domain_tokens": "-8M"}, "--domain-tokens"),
    ({"domain_tokens": "inf"}, "--domain-tokens"),
    ({"domains": "0"}, "--domains"),
    ({"domains": "-3"}, "--domains"),
    ({"accelerator": "tpu-v5"}, "--accelerator"),
    ({"price_per_hour": "-2"}, "--price-per-hour"),
    ({"price_per_hour": "nan"}, "--price-per-hour"),
    ({"total_budget": "-1gpuh"}, "--total-budget"),
    ({"seed": "-1"}, "--seed"),
    ({"trials": "many"}, "--trials"),
]


@pytest.mark.parametrize(("overrides", "flag"), INVALID)
def test_invalid_value_is_one_line_exit_2(capsys: pytest.CaptureFixture[str],
                                          overrides: dict[str, str], flag: str) -> None:
    assert main(_argv(**overrides)) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"specplan recommend: error: {flag}: "), lines[0]
    assert "Traceback" not in err


def test_infeasible_is_one_line_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(_argv(specialization_budget="0.001gpuh")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--specialization-budget" in err[0] and "cheapest" in err[0]


def test_unknown_strategy_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*_argv(), "--strategies", "hypernetwrk"]) == 2
    err = capsys.readouterr().err
    assert "Did you mean" in err and len(err.strip().splitlines()) == 1


_SCRIPT = """
import json, sys, time
t0 = time.perf_counter()
from planner.cli import main
rc = main({argv!r})
elapsed = time.perf_counter() - t0
assert rc == 0
assert "torch" not in sys.modules, "specplan recommend imported torch"
print(json.dumps({{"elapsed": elapsed}}), file=sys.stderr)
"""


def _run_subprocess(argv: list[str], hashseed: str) -> tuple[str, float]:
    env = {**os.environ, "PYTHONHASHSEED": hashseed}
    proc = subprocess.run([sys.executable, "-c", _SCRIPT.format(argv=argv)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    elapsed = json.loads(proc.stderr.strip().splitlines()[-1])["elapsed"]
    return proc.stdout, elapsed


def test_no_torch_in_a_fresh_interpreter() -> None:
    """`specplan recommend` never imports torch (its cold time is measured by
    `benchmarks/bench_cli.py`, not asserted here)."""
    out, _ = _run_subprocess(_argv(domains="7"), "0")
    assert "recommendation: " in out


def test_same_inputs_same_seed_same_recommendation_across_processes() -> None:
    argv = [*_argv(specialization_budget="150gpuh", domains="3"), "--seed", "7",
            "--trials", "12", "--json"]
    out_a, _ = _run_subprocess(argv, "1")
    out_b, _ = _run_subprocess(argv, "12345")
    assert json.loads(out_a) == json.loads(out_b)
    assert json.loads(out_a)["seed"] == 7


def test_storage_runs_reach_the_recommendation(tmp_path, capsys: pytest.CaptureFixture[str],
                                               ) -> None:
    from planner.experiments.store import add_run, open_study
    from planner.performance.perfmodel import reference_flops

    url = f"sqlite:///{tmp_path / 'runs.db'}"
    study = open_study(url)
    # measured runs at the paper's scale: importance sampling far worse than the figure
    for i, tokens in enumerate((8_000_000, 8_000_000)):
        add_run(study, {
            "run_key": f"is-{i}", "strategy": "importance_sampling", "domain": "legal",
            "scale": "paper", "seed": i, "params": {}, "n_domain_tokens": tokens,
            "pretraining_flops": 0.0,
            "specialization_flops": reference_flops("small", 130.0, "specialization"),
            "test_ppl": 40.0})
    argv = [*_argv(specialization_budget="150gpuh"), "--json"]
    assert main(argv) == 0
    without = json.loads(capsys.readouterr().out)
    assert main([*argv, "--storage", url]) == 0
    with_runs = json.loads(capsys.readouterr().out)
    assert without["strategy"] == "importance_sampling"
    assert with_runs["strategy"] != "importance_sampling" and with_runs["n_runs"] == 2
    assert main([*argv, "--storage", f"sqlite:///{tmp_path / 'empty.db'}"]) == 0
    assert json.loads(capsys.readouterr().out)["n_runs"] == 0
