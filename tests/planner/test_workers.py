"""Sweeps across workers: the queue in the results store (SQLite, PostgreSQL, a journal
file), exactly-once claims, a worker SIGKILLed mid-run, bad store URLs, the dashboard.

The PostgreSQL tests use the server `.ci/run` starts (``SPECPLAN_TEST_POSTGRES_URL``), or
start a throwaway one with `.ci/postgres`; they skip, saying why, only where no server can
be started.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from planner.cli import main

REPO = Path(__file__).resolve().parents[2]
# The smallest real runs: `small_nopt` (no pretraining) at tiny scale on 2,048 news tokens.
TINY_RUN = ["--strategies", "small_nopt", "--domains", "news", "--scale", "tiny",
            "--domain-tokens", "2048"]
# Dead workers are found within seconds in these tests (defaults: 60 s / 180 s).
FAST_FAULTS = ["--heartbeat-interval", "1", "--grace-period", "3", "--max-retry", "2"]


# ---------------------------------------------------------------------- servers
@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a PostgreSQL server's maintenance database we may create databases on."""
    url = os.environ.get("SPECPLAN_TEST_POSTGRES_URL")
    if url:
        yield url
        return
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("no PostgreSQL driver: pip install 'specplan[postgres]'")
    # not under pytest's tmp folder: as root, the server runs as another user, who must
    # be able to reach its data directory (pytest's folders are private to the test user)
    folder = Path(tempfile.mkdtemp(prefix="specplan-pg-"))
    script = REPO / ".ci" / "postgres"
    started = subprocess.run([str(script), "start", str(folder)], capture_output=True,
                             text=True, timeout=300)
    if started.returncode != 0:
        pytest.skip("no PostgreSQL server could be started: "
                    + (started.stderr.strip().splitlines() or ["?"])[-1])
    try:
        yield started.stdout.strip()
    finally:
        subprocess.run([str(script), "stop", str(folder)], capture_output=True, timeout=120)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh, empty database on the test server; dropped afterwards."""
    import psycopg
    from sqlalchemy.engine import make_url

    base = make_url(postgres_server)
    name = f"specplan_{uuid.uuid4().hex[:12]}"

    def admin(sql: str) -> None:
        with psycopg.connect(host=base.host, port=base.port, user=base.username,
                             password=base.password, dbname=base.database,
                             autocommit=True) as conn:
            conn.execute(sql.encode())

    admin(f'CREATE DATABASE "{name}"')
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "journal", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """One store of each kind (PostgreSQL: skipped where no server can be started)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'runs.db'}"
    if request.param == "journal":
        return f"journal:///{tmp_path / 'runs.log'}"
    return str(request.getfixturevalue("postgres_url"))


def _cli(*args: str, env: dict[str, str] | None = None, timeout: float = 600,
         ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "planner.cli", *args], capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})},
                          cwd=REPO)


def _trials(url: str) -> list:  # type: ignore[type-arg]
    from planner.experiments.store import open_study

    return list(open_study(url, create=False).get_trials(deepcopy=False))


# ---------------------------------------------------------------------- the queue
CLAIMER = """
import json, sys
from planner.experiments.store import open_study
from planner.experiments.worker import Worker
url, out = sys.argv[1], sys.argv[2]
w = Worker(url)
study = open_study(url, create=False)
got = []
while (t := w._claim(study)) is not None:
    got.append(t.number)
open(out, "w").write(json.dumps(got))
"""


def test_each_queued_run_is_claimed_by_exactly_one_worker(store_url: str,
                                                          tmp_path: Path) -> None:
    """Two processes claim 30 queued runs at once: every run once, none twice."""
    from planner.experiments.store import open_study
    from planner.experiments.worker import RunSpec, enqueue

    study = open_study(store_url)
    specs = [RunSpec(strategy="small", domain="news", scale="tiny", seed=i,
                     run_key=f"key{i}", root=str(tmp_path)) for i in range(30)]
    assert enqueue(study, store_url, specs) == {}
    enqueue(study, store_url, specs)  # queued already: not twice
    assert len(_trials(store_url)) == 30
    outs = [tmp_path / f"claims{i}.json" for i in range(2)]
    procs = [subprocess.Popen([sys.executable, "-c", CLAIMER, store_url, str(o)], cwd=REPO)
             for o in outs]
    assert all(p.wait(timeout=300) == 0 for p in procs)
    claims = [json.loads(o.read_text()) for o in outs]
    assert sorted(claims[0] + claims[1]) == list(range(30))
    states = {t.state.name for t in _trials(store_url)}
    assert states == {"RUNNING"}


SQLITE_STARTER = """
import sys, time
from planner.experiments.store import add_run, open_study
url, start, i = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
time.sleep(max(0.0, start - time.time()))
study = open_study(url)
add_run(study, {"run_key": f"k{i}", "strategy": "small", "test_ppl": 10.0 + i})
"""


def test_ten_processes_start_on_a_fresh_sqlite_store_at_once(tmp_path: Path) -> None:
    """The issue's race: `UNIQUE constraint failed: alembic_version` / `table studies
    already exists` when several processes create the same new SQLite store."""
    from planner.experiments.store import load_runs

    url = f"sqlite:///{tmp_path / 'fresh' / 'runs.db'}"
    start = time.time() + 6.0  # after every interpreter has imported what it needs
    procs = [subprocess.Popen([sys.executable, "-c", SQLITE_STARTER, url, str(start), str(i)],
                              cwd=REPO, stderr=subprocess.PIPE, text=True) for i in range(10)]
    errors = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 10, "\n".join(e[-800:] for e in errors)
    assert sorted(load_runs(url)["run_key"]) == sorted(f"k{i}" for i in range(10))


HOLDER = """
import sys, time
from planner.experiments.store import open_study
from planner.experiments.worker import Heartbeat, Worker
url = sys.argv[1]
study = open_study(url, create=False, heartbeat_interval=1, grace_period=2)
trial = Worker(url)._claim(study)
with Heartbeat(study._storage, trial._trial_id, 1):
    print("claimed", trial.number, flush=True)
    time.sleep(600)
"""


@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_a_dead_workers_run_is_retried_a_bounded_number_of_times(kind: str,
                                                                  tmp_path: Path) -> None:
    """A worker that dies holding a run (SIGKILL): the heartbeat check fails the run and
    Optuna's retry callback queues it again, `max_retry` times, then no more."""
    from planner.experiments.store import open_study
    from planner.experiments.worker import Faults, RunSpec, Worker, enqueue, queue_state

    url = (f"sqlite:///{tmp_path / 'runs.db'}" if kind == "sqlite"
           else f"journal:///{tmp_path / 'runs.log'}")
    enqueue(open_study(url), url, [RunSpec(strategy="small", domain="news", scale="tiny",
                                           seed=0, run_key="k", root=str(tmp_path))])
    checker = Worker(url, faults=Faults(heartbeat_interval=1, grace_period=2, max_retry=1))
    study = open_study(url, create=False, heartbeat_interval=1, grace_period=2, max_retry=1)
    for attempt in (1, 2):
        holder = subprocess.Popen([sys.executable, "-c", HOLDER, url], cwd=REPO,
                                  stdout=subprocess.PIPE, text=True)
        assert holder.stdout is not None and holder.stdout.readline().startswith("claimed")
        holder.kill()
        holder.wait()
        time.sleep(3.0)  # past the grace period
        checker._fail_stale(study)
    trials = _trials(url)
    assert [t.state.name for t in trials] == ["FAIL", "FAIL"]  # the run, one retry, no more
    assert trials[1].system_attrs["retry_history"] == [0]
    assert "no retry left" in queue_state(study).failed["k"]


SIGNED_HOLDER = """
import sys, time
from planner.experiments.store import open_study
from planner.experiments.worker import Worker
url = sys.argv[1]
study = open_study(url, create=False)
worker = Worker(url)
trial = worker._claim(study)
worker._sign(study._storage, trial._trial_id, 1)
print("claimed", trial.number, flush=True)
time.sleep(600)
"""


@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_a_run_whose_local_worker_died_is_retried_at_once(kind: str, tmp_path: Path) -> None:
    """A worker process of this host that died holding a run (a killed `specplan run`): the
    next worker here fails the run and queues it again at once, not after the 180 s grace
    period; a live worker's run and another host's are left alone."""
    from optuna.trial import TrialState

    from planner.experiments.store import open_study
    from planner.experiments.worker import (
        RunSpec,
        Worker,
        dead_local_worker,
        enqueue,
        pid_namespace,
    )

    url = (f"sqlite:///{tmp_path / 'runs.db'}" if kind == "sqlite"
           else f"journal:///{tmp_path / 'runs.log'}")
    enqueue(open_study(url), url, [RunSpec(strategy="small", domain="news", scale="tiny",
                                           seed=0, run_key="k", root=str(tmp_path))])
    holder = subprocess.Popen([sys.executable, "-c", SIGNED_HOLDER, url], cwd=REPO,
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().startswith("claimed")
    # the defaults (`Faults`): 60 s heartbeats, 180 s grace period, 2 retries
    study = open_study(url, create=False, heartbeat_interval=60, grace_period=180, max_retry=2)
    checker = Worker(url)
    checker._fail_stale(study)  # the holder is alive: nothing happens
    assert [t.state.name for t in _trials(url)] == ["RUNNING"]
    holder.kill()
    holder.wait()
    checker._fail_stale(study)
    trials = _trials(url)
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.WAITING]
    assert trials[0].user_attrs["error"] == (f"worker {checker.host}:{holder.pid} "
                                             "is no longer running")
    assert trials[1].system_attrs["retry_history"] == [0]
    # another host, another PID namespace, a live process: never failed here
    attrs = dict(trials[0].user_attrs)
    assert dead_local_worker(attrs, checker.host, pid_namespace()) == holder.pid
    assert dead_local_worker({**attrs, "host": "elsewhere"}, checker.host, pid_namespace()) is None
    assert dead_local_worker({**attrs, "pid_namespace": "pid:[1]"}, checker.host,
                             pid_namespace()) is None
    alive = {**attrs, "worker": f"{checker.host}:{os.getppid()}"}
    assert dead_local_worker(alive, checker.host, pid_namespace()) is None


# ---------------------------------------------------------------------- real sweeps
def _checkpoints(root: Path) -> list[Path]:
    return list(root.glob("artifacts/tiny/**/checkpoint/state.json"))  # seed-<n>/<key>/


def _ppl_by_key(url: str) -> dict[str, float]:
    from planner.experiments.store import load_runs

    runs = load_runs(url)
    return dict(zip(runs["run_key"], runs["test_ppl"], strict=True))


def _complete(url: str) -> list:  # type: ignore[type-arg]
    return [t for t in _trials(url) if t.state.name == "COMPLETE"]


SEEDS = ["--seeds", "0,1,2,3,4,5"]


@pytest.fixture(scope="module")
def single_worker_ppl(tmp_path_factory: pytest.TempPathFactory) -> dict[str, float]:
    """Test perplexity by run key of the 6 `TINY_RUN` seeds swept by one worker (in the
    sweep's process) on SQLite: what every multi-worker sweep must reproduce."""
    tmp = tmp_path_factory.mktemp("single-worker")
    url = f"sqlite:///{tmp / 'ref.db'}"
    ref = _cli("sweep", *TINY_RUN, *SEEDS, "--storage", url, "--root", str(tmp / "root"),
               "--quiet", env={"SPECPLAN_THREADS": "1"})
    assert ref.returncode == 0, ref.stderr[-3000:]
    expected = _ppl_by_key(url)
    assert len(expected) == 6
    return expected


def test_postgres_sweep_survives_a_worker_killed_mid_run(
        postgres_url: str, tmp_path: Path, single_worker_ppl: dict[str, float]) -> None:
    """6 tiny runs queued on PostgreSQL, 2 `specplan worker`s, one SIGKILLed during a
    run: every run ends COMPLETE exactly once (the killed one retried by the other worker,
    from its checkpoint), with the perplexities of a single-worker sweep."""
    from sqlalchemy.engine import make_url

    seeds = SEEDS
    env = {"SPECPLAN_CHECKPOINT_EVERY": "2", "SPECPLAN_THREADS": "1"}
    expected = single_worker_ppl

    root = tmp_path / "shared"
    queued = _cli("sweep", *TINY_RUN, *seeds, "--storage", postgres_url, "--root", str(root),
                  "--workers", "0", *FAST_FAULTS, "--quiet", env=env)
    assert queued.returncode == 0, queued.stderr[-3000:]
    assert "queued" in queued.stdout and make_url(postgres_url).password not in queued.stdout
    assert {t.state.name for t in _trials(postgres_url)} == {"WAITING"}

    cmd = [sys.executable, "-m", "planner.cli", "worker", "--storage", postgres_url, "--quiet"]
    logs = [open(tmp_path / f"w{i}.log", "w") for i in range(2)]  # noqa: SIM115
    victim = subprocess.Popen(cmd, stdout=logs[0], stderr=logs[0], cwd=REPO,
                              env={**os.environ, **env})
    victim_name = f"{socket.gethostname()}:{victim.pid}"
    deadline = time.time() + 300
    while not _checkpoints(root) and time.time() < deadline and victim.poll() is None:
        time.sleep(0.02)
    assert _checkpoints(root), "the first worker wrote no checkpoint before the deadline"
    victim.send_signal(signal.SIGKILL)  # mid-run: a fine-tune with a checkpoint on disk
    assert victim.wait() == -signal.SIGKILL
    held = next((t for t in _trials(postgres_url) if t.state.name == "RUNNING"
                 and t.user_attrs.get("worker") == victim_name), None)
    assert held is not None, "the killed worker held no run"
    survivor = subprocess.Popen(cmd, stdout=logs[1], stderr=logs[1], cwd=REPO,
                                env={**os.environ, **env})
    assert survivor.wait(timeout=600) == 0, (tmp_path / "w1.log").read_text()[-3000:]
    assert "resumed from checkpoint at step" in (tmp_path / "w1.log").read_text()

    trials = _trials(postgres_url)
    done = _complete(postgres_url)
    keys = [t.user_attrs["run_key"] for t in done]
    assert len(done) == 6 and sorted(keys) == sorted(expected)  # each run once
    killed = [t for t in trials if t.number == held.number][0]
    assert killed.state.name == "FAIL"
    retried = [t for t in done if t.user_attrs["run_key"] == held.user_attrs["run_key"]]
    assert retried[0].user_attrs["tries"] == 2
    assert retried[0].user_attrs["worker"] == f"{socket.gethostname()}:{survivor.pid}"
    got = _ppl_by_key(postgres_url)
    for key, ppl in expected.items():
        assert got[key] == pytest.approx(ppl, rel=1e-4), key

    listing = _cli("runs", "--storage", postgres_url)
    assert listing.returncode == 0 and "tries" in listing.stdout
    assert f"{socket.gethostname()}:{survivor.pid}" in listing.stdout


def test_journal_store_two_worker_sweep(tmp_path: Path,
                                       single_worker_ppl: dict[str, float]) -> None:
    """Optuna's JournalStorage on a file (the NFS option): `sweep --workers 2` stores every
    run once, with the perplexities of the same runs made by one worker."""
    seeds = ["--seeds", "0,1,2,3"]
    env = {"SPECPLAN_THREADS": "1"}
    url = f"journal:///{tmp_path / 'runs.log'}"
    two = _cli("sweep", *TINY_RUN, *seeds, "--storage", url, "--root", str(tmp_path / "a"),
               "--workers", "2", *FAST_FAULTS, env=env)
    assert two.returncode == 0, two.stderr[-3000:]
    assert "4 of 4 runs stored" in two.stdout
    assert "[w1]" in two.stderr and "[w2]" in two.stderr
    done = _complete(url)
    assert sorted(t.user_attrs["run_key"] for t in done) == sorted(
        set(t.user_attrs["run_key"] for t in done))
    assert len({t.user_attrs["worker"] for t in done}) == 2
    got = _ppl_by_key(url)
    assert len(got) == 4 and set(got) <= set(single_worker_ppl)
    for key, ppl in got.items():
        assert ppl == pytest.approx(single_worker_ppl[key], rel=1e-4), key
    again = _cli("sweep", *TINY_RUN, *seeds, "--storage", url, "--root", str(tmp_path / "a"),
                 "--workers", "2", env=env)  # everything stored: nothing trained again
    assert again.returncode == 0 and again.stderr.count("reused the stored run") == 4
    assert len(_trials(url)) == 4


# ---------------------------------------------------------------------- bad input
def _one_line_error(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_postgres_bad_urls_are_one_line(postgres_url: str,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    from sqlalchemy.engine import make_url

    url = make_url(postgres_url)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    cases = {
        "unreachable": (url.set(port=free), "Connection refused"),
        "credentials": (url.set(password="wrong-password"), "password authentication failed"),
        "no database": (url.set(database="no_such_db"), 'database "no_such_db" does not exist'),
    }
    for bad, message in cases.values():
        text = bad.render_as_string(hide_password=False)
        for command in (["runs"], ["worker", "--quiet"]):
            err = _one_line_error([*command, "--storage", text], capsys)
            assert message in err and "cannot open storage URL" in err
            assert str(bad.password) not in err and "***" in err


def test_store_from_a_newer_specplan_is_refused(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    from planner.experiments.store import STORE_VERSION, open_study

    url = f"sqlite:///{tmp_path / 'runs.db'}"
    open_study(url).set_user_attr("specplan_store_version", STORE_VERSION + 1)
    for command in (["runs"], ["worker"], ["sweep", *TINY_RUN]):
        err = _one_line_error([*command, "--storage", url], capsys)
        assert "written by a newer specplan" in err


def test_worker_with_nothing_queued_exits_0(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    for url in (f"sqlite:///{tmp_path / 'new.db'}", f"journal:///{tmp_path / 'new.log'}"):
        assert main(["worker", "--storage", url]) == 0
        assert "nothing queued" in capsys.readouterr().out


@pytest.mark.parametrize(("command", "message"), [
    (["sweep", *TINY_RUN, "--seeds", "0,x"], "--seeds: expected an integer in [0, "),
    (["run", "--strategy", "small", "--domain", "news", "--seeds", "-1"],
     "--seeds: expected an integer in [0, "),
    (["demo", "--quick", "--seeds", ""], "--seeds: a comma-separated list of integers"),
    (["run", "--strategy", "small", "--domain", "news", "--seed", "1", "--seeds", "2"],
     "--seed and --seeds: give one of them"),
    (["sweep", *TINY_RUN, "--workers", "-1"], "--workers: expected an integer in [0, "),
    (["sweep", *TINY_RUN, "--param", "large.lr=1"], "'large' is not a swept strategy"),
])
def test_bad_seeds_and_sweep_flags(command: list[str], message: str, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    err = _one_line_error([*command, "--storage", f"sqlite:///{tmp_path / 'x.db'}",
                           "--root", str(tmp_path)], capsys)
    assert message in err


@pytest.mark.parametrize(("args", "message"), [
    (["--heartbeat-interval", "0"], "--heartbeat-interval: expected an integer in [1, "),
    (["--heartbeat-interval", "5", "--grace-period", "5"], "must exceed"),
    (["--max-retry", "-1"], "--max-retry: expected an integer in [0, "),
])
def test_bad_fault_settings(args: list[str], message: str, tmp_path: Path,
                            capsys: pytest.CaptureFixture[str]) -> None:
    err = _one_line_error(["worker", "--storage", f"sqlite:///{tmp_path / 'x.db'}", *args],
                          capsys)
    assert message in err


# ---------------------------------------------------------------------- visibility
def test_optuna_dashboard_opens_the_store(tmp_path: Path) -> None:
    """`optuna-dashboard URL` serves the runs study (checked through its WSGI app)."""
    pytest.importorskip("optuna_dashboard")
    from wsgiref.util import setup_testing_defaults

    from optuna_dashboard import wsgi

    from planner.experiments.store import STUDY_NAME, add_run, open_study

    url = f"sqlite:///{tmp_path / 'runs.db'}"
    add_run(open_study(url), {"run_key": "k", "strategy": "small", "test_ppl": 12.5})
    app = wsgi(url)

    def get(path: str) -> dict:  # type: ignore[type-arg]
        environ: dict[str, object] = {"PATH_INFO": path, "REQUEST_METHOD": "GET",
                                      "wsgi.errors": io.StringIO()}
        setup_testing_defaults(environ)
        status: list[str] = []
        body = b"".join(app(environ, lambda s, h, *exc: status.append(s)))
        assert status[0].startswith("200"), environ["wsgi.errors"].getvalue()[-2000:]
        return dict(json.loads(body))

    studies = get("/api/studies")["study_summaries"]
    assert [s["study_name"] for s in studies] == [STUDY_NAME]
    trials = get(f"/api/studies/{studies[0]['study_id']}")["trials"]
    assert [t["values"] for t in trials] == [[12.5]]
