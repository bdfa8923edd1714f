"""`--processes N`: run a training command as N processes through `torchrun`.

specplan spawns nothing of its own: `specplan run ... --processes 2` re-executes the same
command line under ``python -m torch.distributed.run --standalone --nproc_per_node N -m
planner.cli ...`` (one host; torchrun picks a free port). For several hosts, or a tuned
setup, launch specplan yourself with your own accelerate config::

    accelerate launch --config_file 8gpu.yaml -m planner.cli run --strategy small ...

Inside, `strategies.machinery.distributed` reads the rank and world size that the launcher
set, and the training loop runs DDP (docs/scale.md).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Sequence


def add_processes(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--processes", default=1, type=processes_arg, metavar="N",
        help="train with N processes on this host (DDP through torchrun: one per GPU, or "
             "gloo on CPU cores); for several hosts use `accelerate launch -m planner.cli` "
             "(docs/scale.md)")


KMEANS_BACKENDS = ("auto", "sklearn", "faiss")  # strategies.machinery.clustering's


def add_data_options(parser: argparse.ArgumentParser) -> None:
    """`--kmeans-backend` and `--generic-tokens`: how a run at scale clusters and where it
    reads the generic corpus; passed to every process as environment variables
    (`apply_data_options`)."""
    parser.add_argument(
        "--kmeans-backend", default=None, type=kmeans_backend_arg, metavar="auto|sklearn|faiss",
        help="k-means engine for clusterings of more than 50,000 documents: faiss when it is "
             "installed, else scikit-learn's MiniBatchKMeans (auto, the default), or either "
             "one (SPECPLAN_KMEANS_BACKEND; docs/scale.md)")
    parser.add_argument(
        "--generic-tokens", default=None, metavar="DIR",
        help="read the generic pretraining corpus from these token files, e.g. C4 streamed "
             "from the hf source by domains.tokenizer.source_token_files "
             "(SPECPLAN_GENERIC_TOKENS; docs/scale.md)")


def kmeans_backend_arg(text: str) -> str:
    """``type=`` for `--kmeans-backend`: one of `KMEANS_BACKENDS`.

    Raises:
        FlagValueError: any other name.
    """
    from planner.costing.numbers import FlagValueError

    if text not in KMEANS_BACKENDS:
        raise FlagValueError(f"--kmeans-backend {text!r}: choose one of "
                             f"{', '.join(KMEANS_BACKENDS)}")
    return text


def apply_data_options(args: argparse.Namespace) -> None:
    """Set ``SPECPLAN_KMEANS_BACKEND`` / ``SPECPLAN_GENERIC_TOKENS`` from the flags, for
    this process and every process it starts (torchrun, worker pools)."""
    from pathlib import Path

    backend = getattr(args, "kmeans_backend", None)
    if backend:
        os.environ["SPECPLAN_KMEANS_BACKEND"] = backend
    tokens = getattr(args, "generic_tokens", None)
    if tokens:
        os.environ["SPECPLAN_GENERIC_TOKENS"] = str(Path(tokens).expanduser().resolve())


def processes_arg(text: str) -> int:
    """``type=`` for `--processes`: a whole number in [1, devices] (GPUs when there are any,
    else CPU cores), read by the one number parser.

    Raises:
        FlagValueError: not a whole number, below 1, or more than the devices.
    """
    from planner.costing.numbers import FlagValueError, NumberError, parse_number

    try:
        n = int(parse_number(text, flag="--processes", integer=True, minimum=1,
                             maximum=1_000_000))
    except NumberError as err:
        raise FlagValueError(str(err)) from None
    devices, kind = _devices()
    if n > devices:
        raise FlagValueError(f"--processes {n}: this host has only {devices} {kind}")
    return n


def _devices() -> tuple[int, str]:
    import torch

    if torch.cuda.is_available():
        return torch.cuda.device_count(), "CUDA device(s)"
    return os.cpu_count() or 1, "CPU core(s)"


def relaunch(argv: Sequence[str], processes: int) -> int:
    """Run `argv` (this command line) again as `processes` processes under torchrun and
    return its exit status (2 when a process failed: its own one-line error is above)."""
    args = _without_processes(argv)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
           "--nproc_per_node", str(processes), "-m", "planner.cli", *args]
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get(
        "OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // processes)))}
    code = subprocess.run(cmd, env=env).returncode
    return 0 if code == 0 else 2


def _without_processes(argv: Sequence[str]) -> list[str]:
    out: list[str] = []
    skip = False
    for a in argv:
        if skip:
            skip = False
            continue
        if a == "--processes":
            skip = True
            continue
        if a.startswith("--processes="):
            continue
        out.append(a)
    return out
