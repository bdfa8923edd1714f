"""Shared test fixtures. Keep this file small and generic; add fixtures with targeted edits."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def specplan_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Every test session gets its own empty specplan cache (and never reaches the network)."""
    path = tmp_path_factory.mktemp("specplan-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SPECPLAN_CACHE", str(path))
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("HF_DATASETS_OFFLINE", "1")
        mp.setenv("TRANSFORMERS_OFFLINE", "1")
        mp.setenv("TOKENIZERS_PARALLELISM", "false")
        yield path


@pytest.fixture(scope="session")
def torch_threads() -> None:
    """Tiny models train faster on one thread (and do not fight the other tests)."""
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def news_domain(specplan_cache: Path):  # type: ignore[no-untyped-def]
    from domains import get_domain

    return get_domain("news")


@pytest.fixture(scope="session")
def biomedical_domain(specplan_cache: Path):  # type: ignore[no-untyped-def]
    from domains import get_domain

    return get_domain("biomedical")


@pytest.fixture(scope="session")
def micro_ws(specplan_cache: Path, tmp_path_factory: pytest.TempPathFactory, torch_threads: None):  # type: ignore[no-untyped-def]
    """A workspace at the `micro` scale (smaller than tiny), shared by the session's micro
    strategy tests (importance_sampling, mixture): undo any patch made on it."""
    from planner.testing import micro_scale
    from strategies.machinery.workspace import Workspace

    return Workspace(micro_scale(), root=tmp_path_factory.mktemp("micro-ws"), progress=False)


@pytest.fixture(scope="session")
def tiny_ws(specplan_cache: Path, tmp_path_factory: pytest.TempPathFactory, torch_threads: None):  # type: ignore[no-untyped-def]
    """A workspace at the `tiny` scale, shared by the strategy tests of a session."""
    from strategies.machinery.workspace import Workspace

    return Workspace("tiny", root=tmp_path_factory.mktemp("tiny-ws"), progress=False)


@pytest.fixture(scope="session")
def tiny_small_biomedical(tiny_ws, biomedical_domain):  # type: ignore[no-untyped-def]
    """`small` at `tiny` pretrained in `tiny_ws` and fine-tuned on biomedical, trained once
    for the session: (strategy, specialized model). The Table 4 baselines and the
    early-stopping test read the same fine-tune; treat both as read-only."""
    from strategies.small import SmallStrategy

    s = SmallStrategy(scale="tiny").pretrain(tiny_ws)
    return s, s.specialize(biomedical_domain, tiny_ws)


@pytest.fixture(scope="session")
def tiny_ws_8k(specplan_cache: Path, tmp_path_factory: pytest.TempPathFactory,
               torch_threads: None):  # type: ignore[no-untyped-def]
    """`tiny` models and schedule with 8k domain tokens, so each fine-tune is ~30 steps
    (the distillation and projected-network end-to-end tests)."""
    from strategies.machinery.workspace import Workspace

    return Workspace("tiny", root=tmp_path_factory.mktemp("tiny-8k-ws"),
                     n_domain_tokens=8192, progress=False)


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """`tmpfs(size)` mounts a real tmpfs of `size` (mount's syntax: "64k", "700k") under
    `tmp_path` and returns its path; every one is unmounted after the test. Skips, saying
    why, where a tmpfs cannot be mounted (not root, or no permission): the full-disk tests."""
    mounted: list[Path] = []

    def mount(size: str) -> Path:
        if os.geteuid() != 0:
            pytest.skip("a real full disk needs `mount -t tmpfs` (root); not root here")
        path = tmp_path / f"disk-{uuid.uuid4().hex[:6]}"
        path.mkdir(parents=True)
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs",
                               str(path)], capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip() or done.returncode}")
        mounted.append(path)
        return path

    try:
        yield mount
    finally:
        for path in reversed(mounted):
            subprocess.run(["umount", "-l", str(path)], capture_output=True)


@pytest.fixture
def fast_faults() -> Callable[[str], None]:
    """`fast_faults(storage)` writes fault settings into the results store at `storage`
    (`planner.experiments.worker.enqueue` with nothing to queue): a run whose process was
    killed is found dead 3 s after its last heartbeat. With the defaults (60 s / 180 s) a
    rerun after a SIGKILL sits idle for 3 minutes first: the kill-and-resume tests."""

    def write(storage: str) -> None:
        from planner.experiments.store import open_study
        from planner.experiments.worker import Faults, enqueue

        enqueue(open_study(storage), storage, [],
                faults=Faults(heartbeat_interval=1, grace_period=3))

    return write
