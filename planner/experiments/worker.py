"""The one experiment loop behind `specplan run`, `sweep`, `demo` and `worker`: runs are
queued in the results store and workers pull them.

    specs = plan_runs(["small", "small_nopt"], ["news"], scale="tiny", seeds=[0, 1])
    outcome = run_queued(specs, storage="sqlite:///specplan.db", workers=2)

1. `plan_runs` turns strategies x domains x seeds into `RunSpec`s, each with its run key
   (`planner.experiments.runner.run_key`);
2. `enqueue` writes each spec not stored yet as a WAITING trial of the runs study
   (Optuna's `enqueue_trial`; the spec is the trial's ``run_spec`` user attribute). A run
   already stored is never queued again; one already queued is not queued twice;
3. a `Worker` claims WAITING trials one at a time (WAITING -> RUNNING: exactly one worker
   wins a trial), sends heartbeats while it trains, and stores the finished record in the
   same trial (COMPLETE). It fails stale trials (a worker that died: no heartbeat for the
   grace period, or at once when the worker was a process of this host, in this PID
   namespace, that no longer exists) so that Optuna's retry callback queues them again, at
   most `max_retry` times; the retry resumes from the training checkpoints when the
   artifact folder is shared. A worker pulls until nothing it may run is waiting or running;
4. `run_queued` enqueues, runs `workers` local workers (this process for one; spawned
   processes otherwise) and collects the records from the store.

`specplan worker --storage URL` is step 3 on any machine that reaches the store.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Collection, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from domains.errors import SpecplanError

__all__ = ["DEFAULT_GRACE_PERIOD", "DEFAULT_HEARTBEAT_INTERVAL", "DEFAULT_MAX_RETRY",
           "Faults", "Heartbeat", "QueueOutcome", "RunSpec", "Worker",
           "enqueue", "family_of", "plan_runs", "run_queued"]

#: Seconds between a running trial's heartbeats (Optuna's ``heartbeat_interval``).
DEFAULT_HEARTBEAT_INTERVAL = 60
#: Seconds without a heartbeat after which a running trial is failed and retried
#: (Optuna's ``grace_period``).
DEFAULT_GRACE_PERIOD = 180
#: Times a run whose worker died is queued again (Optuna's ``max_retry``).
DEFAULT_MAX_RETRY = 3

@dataclass(frozen=True)
class Faults:
    """How workers find and retry the runs of a worker that died (Optuna's names).

    Args:
        heartbeat_interval: seconds between a running trial's heartbeats.
        grace_period: seconds without a heartbeat before the trial is failed (default:
            twice the interval).
        max_retry: times a failed-by-heartbeat run is queued again (None: the default).

    A field left None takes the value the sweep wrote to the store, else the default.
    """

    heartbeat_interval: int | None = None
    grace_period: int | None = None
    max_retry: int | None = None

    def resolve(self, stored: dict[str, Any]) -> Faults:
        """These settings, with the store's (then the defaults) where None."""
        defaults = Faults(DEFAULT_HEARTBEAT_INTERVAL, DEFAULT_GRACE_PERIOD, DEFAULT_MAX_RETRY)
        return Faults(**{k: v if v is not None else stored.get(k, getattr(defaults, k))
                         for k, v in asdict(self).items()})


def family_of(strategy: str) -> str:
    """The family whose pretraining artifacts `strategy` shares, as the strategy declares it
    (`Strategy.artifact_family`; its own name when it declares none or is unknown here). A
    worker prefers runs of the family it ran last, then families no other worker is running,
    so two workers rarely wait on the same pretraining (the workspace lock makes them wait
    rather than train it twice)."""
    from strategies.registry import get_strategy_class

    try:
        return get_strategy_class(strategy).artifact_family or strategy
    except (KeyError, ImportError):
        return strategy


@dataclass(frozen=True)
class RunSpec:
    """One queued run: what a worker needs to train it on any machine.

    `domain` is as given (a packaged name or ``NAME=PATH``: the path must exist where the
    worker runs); `root` holds artifacts, checkpoints and saved models (shared storage lets
    a retry resume another worker's checkpoint); `tag` is the run's place in its plan
    (``[3/8]``), for log lines.
    """

    strategy: str
    domain: str
    scale: str
    seed: int
    run_key: str
    root: str
    params: dict[str, Any] = field(default_factory=dict)
    n_domain_tokens: int | None = None
    force: bool = False
    tag: str = ""
    #: the source options given with a ``NAME=PATH`` domain (``--text-field`` and co.)
    domain_options: dict[str, Any] = field(default_factory=dict)

    @property
    def family(self) -> str:
        return family_of(self.strategy)

    def label(self) -> str:
        seed = f" (seed {self.seed})" if self.seed else ""
        return f"{self.tag + ' ' if self.tag else ''}{self.strategy} on " \
               f"{_domain_name(self.domain)}{seed}"

    def to_attrs(self) -> dict[str, Any]:
        from planner.experiments.store import plain

        return plain(asdict(self))

    @classmethod
    def from_attrs(cls, attrs: dict[str, Any]) -> RunSpec:
        return cls(**{k: v for k, v in attrs.items() if k in cls.__dataclass_fields__})


def _absolute(domain: str) -> str:
    """``NAME=PATH`` with PATH made absolute (a worker may start in another folder);
    other domain names as they are."""
    name, eq, path = domain.partition("=")
    if not eq or not path or "://" in path:
        return domain
    return f"{name}={Path(path).expanduser().resolve()}"


def _domain_name(domain: str) -> str:
    return domain.split("=", 1)[0] if "=" in domain else domain


def plan_runs(strategies: Sequence[str], domains: Sequence[str], *, scale: str = "tiny",
              seeds: Sequence[int] = (0,), params: dict[str, dict[str, Any]] | None = None,
              n_domain_tokens: int | None = None, root: str | Path | None = None,
              force: bool = False,
              on_error: Callable[[str, BaseException], None] | None = None) -> list[RunSpec]:
    """Every strategy on every domain for every seed, as `RunSpec`s with their run keys
    (seed, then strategy, then domain order).

    Args:
        strategies: canonical strategy names.
        domains: domain names or ``NAME=PATH``.
        params: per-strategy parameter overrides.
        root: artifacts folder (default ``.specplan``), stored absolute.
        on_error: called with (strategy, error) for a strategy that cannot be created,
            which is then skipped; None raises the error (bad input, before any work).
    """
    from domains import get_domain
    from planner.experiments.runner import run_key
    from strategies.machinery.scales import get_scale
    from strategies.registry import create_strategy

    s = get_scale(scale)
    tokens = n_domain_tokens or s.domain_train_tokens
    folder = str(Path(root if root is not None else ".specplan").expanduser().resolve())
    loaded = [(_absolute(d), dict(getattr(d, "options", {})), get_domain(d)) for d in domains]
    params = params or {}
    specs: list[RunSpec] = []
    broken: set[str] = set()
    for seed in seeds:
        for name in strategies:
            if name in broken:
                continue
            try:
                strategy = create_strategy(name, **{"scale": s.name, "seed": seed,
                                                    **params.get(name, {})})
            except Exception as err:
                if on_error is None:
                    raise
                on_error(name, err)
                broken.add(name)
                continue
            for given, options, domain in loaded:
                specs.append(RunSpec(
                    strategy=name, domain=given, domain_options=options, scale=s.name,
                    seed=int(seed),
                    run_key=run_key(strategy, domain, s.name, tokens, int(seed)), root=folder,
                    params=dict(params.get(name, {})), n_domain_tokens=n_domain_tokens,
                    force=force))
    n = len(specs)
    return [RunSpec(**{**asdict(sp), "tag": f"[{i + 1}/{n}]"}) for i, sp in enumerate(specs)]


@dataclass
class QueueState:
    """The store's trials by run key: finished records, and keys waiting or running."""

    stored: dict[str, dict[str, Any]]
    waiting: set[str]
    running: set[str]
    failed: dict[str, str]  # key -> the error of its latest failed try


def queue_state(study: Any) -> QueueState:
    state = QueueState({}, set(), set(), {})
    for t in study.get_trials(deepcopy=False):
        key = t.user_attrs.get("run_key")
        if key is None:
            continue
        name = t.state.name
        if name == "COMPLETE":  # the latest, for a run redone with `force`
            state.stored[key] = dict(t.user_attrs)
        elif name == "WAITING":
            state.waiting.add(key)
        elif name == "RUNNING":
            state.running.add(key)
        elif name == "FAIL":
            tries = len(t.system_attrs.get("retry_history", [])) + 1
            state.failed[key] = str(t.user_attrs.get("error") or
                                    f"its worker stopped sending heartbeats (try {tries}; "
                                    "no retry left)")
    return state


def enqueue(study: Any, storage: str, specs: Sequence[RunSpec],
            faults: Faults | None = None) -> dict[str, dict[str, Any]]:
    """Queue every spec whose run is not stored, waiting or running yet; returns the
    records already stored (by run key), which are reused, not queued (unless the spec
    says ``force``). The `faults` settings given are written to the study, for the workers
    that join later."""
    from planner.experiments.store import plain, retry_locked, store_lock

    with store_lock(storage):
        if faults is not None:
            for name, value in asdict(faults).items():
                if value is not None and study.user_attrs.get(name) != value:
                    retry_locked(partial(study.set_user_attr, name, value))
        state = queue_state(study)
        reused: dict[str, dict[str, Any]] = {}
        for spec in specs:
            key = spec.run_key
            if key in state.stored and not spec.force:
                reused[key] = state.stored[key]
            elif key not in state.waiting and key not in state.running:
                attrs = {"run_key": key, "run_spec": plain(spec.to_attrs())}
                retry_locked(partial(study.enqueue_trial, params={}, user_attrs=attrs))
                state.waiting.add(key)
    return reused


class Heartbeat:
    """A thread that records a running trial's heartbeat every `interval` seconds (the
    storage's `record_heartbeat`), so that a dead worker's trial can be told apart."""

    def __init__(self, storage: Any, trial_id: int, interval: int | None) -> None:
        self._storage, self._trial_id, self._interval = storage, trial_id, interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Heartbeat:
        if self._interval:
            self._beat()  # at once: a trial without a heartbeat is never found stale
            self._thread = threading.Thread(target=self._loop, daemon=True,
                                            name=f"heartbeat-{self._trial_id}")
            self._thread.start()
        return self

    def _beat(self) -> None:
        from planner.experiments.store import retry_locked

        with contextlib.suppress(Exception):  # a lost beat is retried at the next interval
            retry_locked(lambda: self._storage.record_heartbeat(self._trial_id), attempts=3)

    def _loop(self) -> None:
        assert self._interval
        while not self._stop.wait(self._interval):
            self._beat()

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


@dataclass
class WorkerReport:
    """What one worker did: the keys it stored, and failures as (label, error)."""

    name: str
    completed: list[str] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)


class Worker:
    """Pulls queued runs from the store at `storage` and runs them, one at a time.

    Args:
        storage: the store's URL.
        keys: run only these run keys (None: any queued run).
        name: how the store records this worker (default ``host:pid``).
        faults: heartbeats and retries (None fields: the store's, else the defaults).
        poll_s: seconds between looks at the queue while other workers' runs are running.
        root: artifacts folder instead of each spec's (a machine that mounts the shared
            folder elsewhere).
        threads: torch threads (None: `planner.experiments.runner.configure_threads`).
        progress: progress bars while training.
        echo: where progress lines go.
    """

    def __init__(self, storage: str, *, keys: Collection[str] | None = None,
                 name: str | None = None, faults: Faults | None = None,
                 poll_s: float | None = None, root: str | Path | None = None,
                 threads: int | None = None, progress: bool = False,
                 echo: Callable[[str], None] = print) -> None:
        self.storage = storage
        self.keys = set(keys) if keys is not None else None
        self.host = socket.gethostname()
        self.name = name or f"{self.host}:{os.getpid()}"
        self.pid_namespace = pid_namespace()
        self.faults = faults or Faults()
        self.poll_s = poll_s
        self.root = root
        self.threads = threads
        self.progress = progress
        self.echo = echo
        self._workspaces: dict[tuple[Any, ...], Any] = {}
        self._last_family: str | None = None

    # ------------------------------------------------------------------ the loop
    def run(self) -> WorkerReport:
        """Pull and run until nothing this worker may run is waiting or running."""
        from planner.experiments.store import StorageError, open_study

        report = WorkerReport(self.name)
        try:
            probe = open_study(self.storage, create=False)
        except StorageError as err:
            if "holds no specplan runs" in str(err):
                return report
            raise
        faults = self.faults.resolve(probe.user_attrs)
        study = open_study(self.storage, create=False, **asdict(faults))
        poll = self.poll_s if self.poll_s is not None else min(
            5.0, float(faults.heartbeat_interval or 5))
        waited = False
        while True:
            self._fail_stale(study)
            trial = self._claim(study)
            if trial is None:
                state = self._state(study)
                if not state.waiting and not state.running:
                    return report
                if not waited:
                    self.echo(f"{self.name}: waiting on {len(state.running)} run(s) held by "
                              "other workers (retried here if their worker dies)")
                    waited = True
                time.sleep(poll)
                continue
            waited = False
            self._execute(study, trial, report)

    def _mine(self, key: str | None) -> bool:
        return key is not None and (self.keys is None or key in self.keys)

    def _state(self, study: Any) -> QueueState:
        state = queue_state(study)
        state.waiting = {k for k in state.waiting if self._mine(k)}
        state.running = {k for k in state.running if self._mine(k)}
        return state

    def _fail_stale(self, study: Any) -> None:
        import optuna

        from planner.experiments.store import retry_locked, store_lock

        with warnings.catch_warnings(), store_lock(self.storage):
            warnings.simplefilter("ignore")  # ExperimentalWarning
            retry_locked(lambda: optuna.storages.fail_stale_trials(study))
        self._fail_dead_here(study)

    def _fail_dead_here(self, study: Any) -> None:
        """Fail, at once, the RUNNING trials whose worker was a process of this host and
        PID namespace that no longer exists (a `specplan run` killed or crashed here), and
        queue them again through the store's retry callback, as `fail_stale_trials` does
        after the grace period. A worker on another host, or in another container sharing
        the host name, is left to the heartbeat."""
        from optuna.exceptions import UpdateFinishedTrialError
        from optuna.trial import TrialState

        from planner.experiments.store import retry_locked, store_lock

        storage = study._storage
        callback = (storage.get_heartbeat_stale_trial_callback()
                    if hasattr(storage, "get_heartbeat_stale_trial_callback") else None)
        if callback is None:  # no heartbeats, no retries: the run is not ours to requeue
            return
        failed = []
        with store_lock(self.storage):
            running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            for t in running:
                pid = dead_local_worker(t.user_attrs, self.host, self.pid_namespace)
                if pid is None:
                    continue
                try:
                    retry_locked(partial(storage.set_trial_user_attr, t._trial_id, "error",
                                         f"worker {self.host}:{pid} is no longer running"))
                    if retry_locked(partial(storage.set_trial_state_values, t._trial_id,
                                            state=TrialState.FAIL)):
                        failed.append(t._trial_id)
                except UpdateFinishedTrialError:  # finished meanwhile, or failed by another
                    continue
        for trial_id in failed:
            callback(study, storage.get_trial(trial_id))

    def _claim(self, study: Any) -> Any:
        """WAITING -> RUNNING on one of this worker's trials, or None. The storage decides
        who wins a trial (a row lock on PostgreSQL, the log's order in a journal, the store
        lock on SQLite); the loser tries the next one."""
        import optuna
        from optuna.exceptions import UpdateFinishedTrialError
        from optuna.trial import TrialState

        from planner.experiments.store import retry_locked, store_lock

        storage = study._storage
        with store_lock(self.storage):
            trials = study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
            running = {family_of(str((t.user_attrs.get("run_spec") or {}).get("strategy")))
                       for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
            mine = [t for t in trials if self._mine(t.user_attrs.get("run_key"))]

            def rank(t: Any) -> tuple[int, int]:
                fam = family_of(str((t.user_attrs.get("run_spec") or {}).get("strategy")))
                return (0 if fam == self._last_family else 1 if fam not in running else 2,
                        t.number)

            for t in sorted(mine, key=rank):
                try:
                    won = retry_locked(partial(storage.set_trial_state_values, t._trial_id,
                                               state=TrialState.RUNNING))
                except UpdateFinishedTrialError:
                    continue
                if won:
                    return optuna.Trial(study, t._trial_id)
        return None

    # ------------------------------------------------------------------ one run
    def _sign(self, storage: Any, trial_id: int, tries: int) -> dict[str, Any]:
        """Record who runs the trial (worker, host, tries; and the PID namespace, which lets
        a worker on this host fail the trial at once if this process dies). Returns the
        fields the stored record repeats."""
        from planner.experiments.store import retry_locked

        who = {"worker": self.name, "host": self.host, "tries": tries}
        for k, v in who.items():
            retry_locked(partial(storage.set_trial_user_attr, trial_id, k, v))
        if self.pid_namespace is not None:
            retry_locked(partial(storage.set_trial_user_attr, trial_id, "pid_namespace",
                                 self.pid_namespace))
        return who

    def _execute(self, study: Any, trial: Any, report: WorkerReport) -> None:
        from optuna.trial import TrialState

        from planner.experiments.store import retry_history, retry_locked

        storage = study._storage
        frozen = storage.get_trial(trial._trial_id)
        spec = RunSpec.from_attrs(frozen.user_attrs["run_spec"])
        tries = len(retry_history(frozen)) + 1
        who = self._sign(storage, trial._trial_id, tries)
        self._last_family = spec.family
        label = spec.label()
        retry = f" (try {tries})" if tries > 1 else ""
        self.echo(f"{label} ...{retry}")
        t0 = time.perf_counter()
        finished = False
        try:
            with Heartbeat(storage, trial._trial_id,
                           storage.get_heartbeat_interval()
                           if hasattr(storage, "get_heartbeat_interval") else None):
                done = None if spec.force else _stored_record(study, spec.run_key)
                if done is not None:  # queued twice by two sweeps at once: not trained again
                    retry_locked(lambda: storage.set_trial_user_attr(
                        trial._trial_id, "error", "duplicate: this run is already stored"))
                    retry_locked(lambda: study.tell(trial, state=TrialState.FAIL))
                    finished = True
                    self.echo(f"{label}: already stored by another worker; skipped")
                    return
                record = {**self.measure_spec(spec), **who}
                store_record(study, trial, record)
                finished = True
        except Exception as err:
            error = f"{type(err).__name__}: {err}" if not isinstance(err, SpecplanError) \
                else str(err)
            log = _log_failure(Path(self.root or spec.root), spec, err)
            with contextlib.suppress(Exception):
                retry_locked(lambda: storage.set_trial_user_attr(trial._trial_id, "error",
                                                                 error))
                retry_locked(lambda: study.tell(trial, state=TrialState.FAIL))
            finished = True
            report.failures.append((label, error))
            self.echo(f"{label} FAILED after {time.perf_counter() - t0:.0f} s: {error} "
                      f"(traceback in {log})")
            return
        finally:
            if not finished:  # Ctrl-C: the run goes back to FAIL at once, not after grace
                with contextlib.suppress(Exception):
                    storage.set_trial_user_attr(trial._trial_id, "error", "interrupted")
                    study.tell(trial, state=TrialState.FAIL)
        report.completed.append(spec.run_key)
        before = record.get("test_ppl_before_finetune")
        self.echo(f"{label}: test perplexity {record['test_ppl']:.2f} (before fine-tuning "
                  f"{before if before is None else format(before, '.2f')}) in "
                  f"{time.perf_counter() - t0:.0f} s{retry}, stored as {spec.run_key}")

    def measure_spec(self, spec: RunSpec) -> dict[str, Any]:
        """Train and evaluate `spec` in this process (`planner.experiments.runner.measure`);
        returns its record without writing the store."""
        from domains import DomainRef, get_domain
        from planner.experiments.runner import (
            configure_threads,
            measure,
            quiet_transformers,
            run_key,
            set_threads,
        )
        from strategies.machinery.workspace import Workspace
        from strategies.registry import create_strategy

        root = Path(self.root or spec.root)
        configure_threads(spec.scale)
        set_threads(self.threads)
        if not self.progress:
            quiet_transformers()
        wkey = (spec.scale, str(root), spec.seed, spec.n_domain_tokens)
        ws = self._workspaces.get(wkey)
        if ws is None:
            ws = self._workspaces[wkey] = Workspace(
                spec.scale, root=root, seed=spec.seed, n_domain_tokens=spec.n_domain_tokens,
                progress=self.progress)
        strategy = create_strategy(spec.strategy, **{"scale": spec.scale, "seed": spec.seed,
                                                     **spec.params})
        domain = get_domain(DomainRef(spec.domain, **spec.domain_options)
                            if spec.domain_options else spec.domain)
        key = run_key(strategy, domain, spec.scale, ws.n_domain_tokens, spec.seed)
        if key != spec.run_key:
            raise SpecplanError(f"{spec.label()}: the run key here ({key}) differs from the "
                                f"queued one ({spec.run_key}): the domain's files or the "
                                "strategy's code differ on this machine")
        return measure(strategy, domain, ws, root=root, run_key=key)


def pid_namespace() -> str | None:
    """This process's PID namespace (Linux: ``pid:[inode]``), or None where unknown. Two
    containers that share a host name have different ones."""
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return None


def _process_exists(pid: int) -> bool:
    """Whether `pid` is a live (not zombie) process of this PID namespace."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        return True
    try:  # a killed child its parent has not reaped yet is a zombie: dead
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


def dead_local_worker(attrs: dict[str, Any], host: str, namespace: str | None) -> int | None:
    """The PID of a trial's worker when it ran on `host` in PID `namespace` and that
    process no longer exists, else None (another host or namespace, a worker named by the
    user, a process still running, or no namespace to compare)."""
    worker = str(attrs.get("worker") or "")
    if (namespace is None or attrs.get("host") != host
            or attrs.get("pid_namespace") != namespace or not worker.startswith(f"{host}:")):
        return None
    pid_text = worker[len(host) + 1:]
    if not pid_text.isdigit() or int(pid_text) == os.getpid():
        return None
    pid = int(pid_text)
    return None if _process_exists(pid) else pid


def store_record(study: Any, trial: Any, record: dict[str, Any]) -> None:
    """Write a finished run's record into its claimed trial (user attributes), then mark
    it COMPLETE with value = test perplexity: a COMPLETE trial always holds its record."""
    from planner.experiments.store import plain, retry_locked

    storage = study._storage
    for k, v in record.items():
        retry_locked(partial(storage.set_trial_user_attr, trial._trial_id, k, plain(v)))
    retry_locked(lambda: study.tell(trial, float(record["test_ppl"])))


def _stored_record(study: Any, key: str) -> dict[str, Any] | None:
    from planner.experiments.store import find_run

    return find_run(study, key)


def _log_failure(root: Path, spec: RunSpec, err: BaseException) -> Path:
    from domains.cache import file_stem

    stem = file_stem(f"{spec.strategy}-{_domain_name(spec.domain)}"
                     + (f"-seed{spec.seed}" if spec.seed else ""), limit=200)
    path = root / "logs" / f"{stem}.log"
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(traceback.format_exception(err)), encoding="utf-8")
    return path


# ---------------------------------------------------------------------- local workers
@dataclass
class QueueOutcome:
    """What `run_queued` did: the records in plan order, failures as (label, error), how
    many were reused from the store, and the workers' reports."""

    records: list[dict[str, Any]]
    failures: list[tuple[str, str]]
    reused: int
    workers: list[str]


def run_queued(specs: Sequence[RunSpec], *, storage: str | None = None, workers: int = 1,
               faults: Faults | None = None, threads: int | None = None,
               progress: bool = False, echo: Callable[[str], None] = print,
               prepare: Callable[[], None] | None = None) -> QueueOutcome:
    """Queue `specs` and run them with `workers` local workers (1: in this process; more:
    spawned processes, each on one thread; 0: queue only, for `specplan worker`s
    elsewhere); returns the outcome once no run of `specs` is waiting or running.

    Args:
        prepare: called once before spawned workers start (build what they all read:
            tokenizer, tokenized corpora), so they do not race to build it.
    """
    from planner.experiments.store import DEFAULT_STORAGE, open_study

    url = storage or DEFAULT_STORAGE
    faults = faults or Faults()
    study = open_study(url)
    reused = enqueue(study, url, specs, faults)
    for spec in specs:
        if spec.run_key in reused:
            echo(f"{spec.label()}: reused the stored run (test perplexity "
                 f"{reused[spec.run_key]['test_ppl']:.2f})")
    keys = [s.run_key for s in specs]
    names: list[str] = []
    failures: list[tuple[str, str]] = []
    todo = len(set(keys) - set(reused))
    if todo and workers == 1:
        worker = Worker(url, keys=keys, threads=threads, progress=progress, echo=echo,
                        faults=faults)
        names.append(worker.name)
        failures += worker.run().failures
    elif todo and workers > 1:
        if prepare is not None:
            prepare()
        names, failures = _spawn(url, keys, min(workers, todo), faults, threads, echo)
    records, unfinished = _collect(url, specs)
    labels = {label for label, _ in failures}
    for spec, error in unfinished:
        if spec.label() not in labels and workers != 0:
            failures.append((spec.label(), error))
    return QueueOutcome(records, failures, len(reused), names)


def run_launched(specs: Sequence[RunSpec], *, storage: str | None = None,
                 echo: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Run `specs` in plan order in every process of a launched group (torchrun /
    ``accelerate launch``: ``WORLD_SIZE`` > 1), all processes on the same run (DDP); the
    main process alone reads the store (a stored run is reused by all, the decision
    broadcast) and writes each record. Returns the records in plan order.

    Raises:
        SpecplanError: a run failed (every process raises the same error).
    """
    from planner.experiments.store import DEFAULT_STORAGE, add_run, find_run, open_study
    from strategies.machinery import distributed as dist

    url = storage or DEFAULT_STORAGE
    study = open_study(url) if dist.is_main_process() else None
    runner = Worker(url, progress=dist.is_main_process(), echo=echo)
    records: list[dict[str, Any]] = []
    for spec in specs:
        done = (find_run(study, spec.run_key) if study is not None and not spec.force
                else None)
        done = dist.broadcast(done)
        if done is not None:
            echo(f"{spec.label()}: reused the stored run (test perplexity "
                 f"{done['test_ppl']:.2f})")
            records.append(done)
            continue
        record = runner.measure_spec(spec)
        if study is not None:
            add_run(study, record)
        echo(f"{spec.label()}: test perplexity {record['test_ppl']:.2f} "
             f"({dist.world_size()} processes), stored as {spec.run_key}")
        records.append(record)
    return records


def _collect(url: str, specs: Sequence[RunSpec],
             ) -> tuple[list[dict[str, Any]], list[tuple[RunSpec, str]]]:
    from planner.experiments.store import open_study

    state = queue_state(open_study(url, create=False))
    records, missing = [], []
    for spec in specs:
        if spec.run_key in state.stored:
            records.append(state.stored[spec.run_key])
        elif spec.run_key in state.waiting or spec.run_key in state.running:
            missing.append((spec, "still queued"))
        else:
            missing.append((spec, state.failed.get(spec.run_key, "not run")))
    return records, missing


def _spawn(url: str, keys: list[str], n: int, faults: Faults,
           threads: int | None, echo: Callable[[str], None],
           ) -> tuple[list[str], list[tuple[str, str]]]:
    """`n` worker processes (spawned: a clean interpreter, no forked torch state) pulling
    `keys`; a worker that dies leaves its run to the heartbeat check of the others (and,
    when all died, of a worker in this process)."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_worker_main, args=(url, keys, faults, threads,
                                                    f"[w{i + 1}]", queue), daemon=False)
             for i in range(n)]
    for p in procs:
        p.start()
    names: list[str] = []
    failures: list[tuple[str, str]] = []
    alive = set(range(n))
    while alive:
        try:
            kind, label, payload = queue.get(timeout=1.0)
        except Exception:  # queue.Empty: see who died
            for i in list(alive):
                if not procs[i].is_alive():
                    alive.discard(i)
                    if procs[i].exitcode:
                        echo(f"[w{i + 1}] worker died (exit code {procs[i].exitcode})")
            continue
        if kind == "line":
            echo(f"{label} {payload}")
        elif kind == "done":
            names.append(payload[0])
            failures += payload[1]
    for p in procs:
        p.join()
    from planner.experiments.store import open_study

    if _state_for(open_study(url, create=False), keys):  # every worker died: finish here
        echo("no local worker left; finishing the queue in this process")
        worker = Worker(url, keys=keys, threads=threads, echo=echo, faults=faults)
        names.append(worker.name)
        failures += worker.run().failures
    return names, failures


def _state_for(study: Any, keys: Collection[str]) -> bool:
    state = queue_state(study)
    return bool((state.waiting | state.running) & set(keys))


def _worker_main(url: str, keys: list[str], faults: Faults,
                 threads: int | None, label: str, queue: Any) -> None:
    """A spawned local worker: one OpenMP thread unless told otherwise (set before torch
    loads); its lines and its report go back through `queue`."""
    os.environ.setdefault("OMP_NUM_THREADS", str(threads or 1))

    def echo(line: str) -> None:
        queue.put(("line", label, line))

    worker = Worker(url, keys=keys, threads=threads or 1, echo=echo, faults=faults)
    try:
        report = worker.run()
    except SpecplanError as err:
        echo(f"worker stopped: {err}")
        report = WorkerReport(worker.name, failures=[(label, str(err))])
    queue.put(("done", label, (report.name, report.failures)))
