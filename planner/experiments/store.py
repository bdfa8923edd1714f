"""The results store: every run is one trial of an Optuna study.

SQLite by default (`sqlite:///specplan.db`), any Optuna RDB URL otherwise (a PostgreSQL
URL, ``postgresql://user:password@host/db``, lets several machines share one sweep), or
``journal:///path/runs.log`` for Optuna's `JournalStorage` on a shared file system without
a database server. `optuna-dashboard URL` opens the same store (``optuna-dashboard
path/runs.log`` for a journal).

A queued run is a WAITING trial (`optuna.study.Study.enqueue_trial`); a worker claims it
(WAITING -> RUNNING, exactly one claimant), sends heartbeats while it trains, and stores
the finished run as that trial, COMPLETE with value = test perplexity and the whole record
(strategy, domain, scale, parameters, measured FLOPs per bucket, wall time, perplexities,
seed, versions, worker, host, tries) as user attributes. A run whose worker died is failed
by the heartbeat check and queued again (Optuna's `RetryHeartbeatStaleTrialCallback`). A
killed run leaves nothing half-written (its training checkpoints live on disk).

SQLite is safe for several local processes: creating the store and claiming a run are
serialized by a file lock next to the database, and every connection waits up to
`SQLITE_TIMEOUT_S` on "database is locked" before a write is retried.

Importing this module does not import torch (optuna and pandas only).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from domains.errors import SpecplanError
from planner.reports.formatting import display_url, json_cells, json_default

DEFAULT_STORAGE = "sqlite:///specplan.db"
STUDY_NAME = "specplan-runs"
#: The store layout this specplan writes (a study user attribute). 1: COMPLETE trials
#: only; 2: queued runs (WAITING trials with a `run_spec`), worker, host and tries.
STORE_VERSION = 2
JOURNAL_PREFIX = "journal://"
#: How long a SQLite connection waits for a lock before "database is locked" (seconds).
SQLITE_TIMEOUT_S = 60.0

# Columns of `load_runs`, in order (the contract the performance model and reports use).
RUN_COLUMNS = [
    "run_key", "strategy", "paper_name", "domain", "source", "scale", "seed", "params",
    "n_domain_tokens", "pretraining_flops", "specialization_flops",
    "inference_flops_per_token", "inference_params", "pretraining_params",
    "test_ppl", "test_nll", "test_tokens", "test_ppl_before_finetune",
    "wall_s", "model_path", "datetime", "versions", "info",
]
#: Who ran each run and in how many tries (absent from runs stored before store version 2).
WORKER_COLUMNS = ["worker", "host", "tries"]

T = TypeVar("T")


class StorageError(SpecplanError):
    """The results storage cannot be opened or read."""


def journal_path(url: str) -> Path | None:
    """The log file of a ``journal:///runs.log`` (relative) or ``journal:////abs/runs.log``
    URL (the slashes follow SQLite's URLs); None for any other URL."""
    if not url.startswith(JOURNAL_PREFIX):
        return None
    rest = url[len(JOURNAL_PREFIX):]
    if not rest.startswith("/") or rest == "/":
        raise StorageError(f"storage URL {url!r}: expected journal:///relative/path.log "
                           "or journal:////absolute/path.log")
    return Path(rest[1:])


def sqlite_path(url: str) -> Path | None:
    """The database file of a ``sqlite:///`` URL; None for other URLs and in-memory ones."""
    if not url.startswith("sqlite:///"):
        return None
    try:
        from sqlalchemy.engine import make_url

        database = make_url(url).database
    except Exception:  # a malformed URL: let optuna report it in one line
        return None
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).expanduser()


@contextlib.contextmanager
def store_lock(url: str) -> Iterator[None]:
    """Serialize, across local processes, what SQLite cannot do atomically on its own:
    creating the schema, claiming a queued run, queueing runs. A file lock next to the
    database (``x.db.lock``); a no-op for servers (PostgreSQL locks the claimed row) and
    journals (the log's order decides)."""
    path = sqlite_path(url)
    if path is None:
        yield
        return
    from filelock import FileLock

    with FileLock(str(path) + ".lock", timeout=SQLITE_TIMEOUT_S * 10):
        yield


def retry_locked(fn: Callable[[], T], *, attempts: int = 20) -> T:
    """`fn()`, retried with backoff while SQLite says "database is locked" (another
    process holds the write lock past `SQLITE_TIMEOUT_S`, or two readers upgraded at
    once); any other error is raised at once."""
    delay = 0.05
    for i in range(attempts):
        try:
            return fn()
        except Exception as err:
            if i == attempts - 1 or "database is locked" not in str(err):
                raise
            time.sleep(delay)
            delay = min(2.0, delay * 2)
    raise AssertionError("unreachable")


def open_storage(url: str, *, heartbeat_interval: int | None = None,
                 grace_period: int | None = None, max_retry: int | None = None) -> Any:
    """The Optuna storage behind `url` (RDB or journal), with heartbeats when
    `heartbeat_interval` (seconds) is given: a RUNNING trial whose last heartbeat is older
    than `grace_period` (default: twice the interval) is failed by
    `optuna.storages.fail_stale_trials` and queued again at most `max_retry` times
    (None: without bound).

    Raises:
        StorageError: the URL cannot be opened (one line; the password hidden).
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    callback = _retry_callback(max_retry) if heartbeat_interval else None
    try:
        journal = journal_path(url)
        if journal is not None:
            return _journal_storage(journal, heartbeat_interval, grace_period, callback)
        _make_sqlite_folder(url)
        # postgresql:// means psycopg 3 (the `postgres` extra), whatever SQLAlchemy's default
        engine_url = url
        if url.startswith("postgresql://"):
            engine_url = "postgresql+psycopg://" + url[len("postgresql://"):]
        kwargs: dict[str, Any] = {}
        if url.startswith("sqlite"):
            kwargs["engine_kwargs"] = {"connect_args": {"timeout": SQLITE_TIMEOUT_S}}
        if heartbeat_interval:
            kwargs.update(heartbeat_interval=int(heartbeat_interval),
                          grace_period=int(grace_period) if grace_period else None)
            kwargs[_callback_kwarg()] = callback
        with store_lock(url), warnings.catch_warnings():  # one process creates the schema
            warnings.simplefilter("ignore")  # ExperimentalWarning: heartbeat_interval
            return retry_locked(lambda: optuna.storages.RDBStorage(engine_url, **kwargs))
    except StorageError:
        raise
    except Exception as err:  # sqlalchemy / optuna / drivers raise many kinds on a bad URL
        raise StorageError(f"cannot open storage URL {display_url(url)!r}: "
                           f"{_first_line(err, url)}") from err


def _first_line(err: BaseException, url: str) -> str:
    text = str(err).strip()
    msg = text.splitlines()[0] if text else type(err).__name__
    if "@" in url:  # drivers may echo the DSN: never print a password
        from sqlalchemy.engine import make_url

        with contextlib.suppress(Exception):
            password = make_url(url).password
            if password:
                msg = msg.replace(str(password), "***")
    return msg


def _callback_kwarg() -> str:
    """Optuna >= 4.9 names the RDB storage's stale-trial callback differently."""
    import inspect

    import optuna

    params = inspect.signature(optuna.storages.RDBStorage.__init__).parameters
    return ("heartbeat_stale_trial_callback" if "heartbeat_stale_trial_callback" in params
            else "failed_trial_callback")


def _retry_callback(max_retry: int | None) -> Any:
    import optuna

    cls = getattr(optuna.storages, "RetryHeartbeatStaleTrialCallback", None)
    if cls is None:  # optuna < 4.9
        cls = optuna.storages.RetryFailedTrialCallback
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ExperimentalWarning
        return cls(max_retry=max_retry)


def retry_history(trial: Any) -> list[int]:
    """The numbers of the earlier tries of `trial` (empty for a first try): Optuna's
    retry callback writes them to the system attribute ``retry_history``."""
    return list(trial.system_attrs.get("retry_history", []))


HEARTBEAT_ATTR = "specplan:heartbeat"


def _journal_storage(path: Path, heartbeat_interval: int | None, grace_period: int | None,
                     callback: Any) -> Any:
    """Optuna's JournalStorage on a log file (NFS-safe open lock), with heartbeats kept as
    a trial system attribute (wall-clock seconds: the machines' clocks must agree to
    within the grace period)."""
    # Optuna documents BaseHeartbeat as the class a storage inherits to support heartbeats;
    # it is not re-exported from optuna.storages.
    from optuna.storages._heartbeat import BaseHeartbeat
    from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock, JournalStorage
    from optuna.trial import TrialState

    class HeartbeatJournalStorage(JournalStorage, BaseHeartbeat):
        def record_heartbeat(self, trial_id: int) -> None:
            self.set_trial_system_attr(trial_id, HEARTBEAT_ATTR, time.time())

        def _get_stale_trial_ids(self, study_id: int) -> list[int]:
            grace = grace_period or 2 * (heartbeat_interval or 0)
            now = time.time()
            return [t._trial_id for t in self.get_all_trials(study_id, deepcopy=False,
                                                             states=(TrialState.RUNNING,))
                    if HEARTBEAT_ATTR in t.system_attrs
                    and now - float(t.system_attrs[HEARTBEAT_ATTR]) > grace]

        def get_heartbeat_interval(self) -> int | None:
            return heartbeat_interval

        def get_heartbeat_stale_trial_callback(self) -> Any:
            return callback

        def get_failed_trial_callback(self) -> Any:  # optuna < 4.9
            return callback

    path.expanduser().parent.mkdir(parents=True, exist_ok=True)
    file = str(path.expanduser())
    return HeartbeatJournalStorage(JournalFileBackend(file, lock_obj=JournalFileOpenLock(file)))


def open_study(storage: str | None = None, *, create: bool = True,
               heartbeat_interval: int | None = None, grace_period: int | None = None,
               max_retry: int | None = None) -> Any:
    """Open (or create) the runs study at an Optuna storage URL (see `open_storage`).

    Raises:
        StorageError: the URL cannot be opened; with ``create=False``, it holds no
            specplan study; the store was written by a newer specplan.
    """
    import optuna

    url = storage or DEFAULT_STORAGE
    backend = open_storage(url, heartbeat_interval=heartbeat_interval,
                           grace_period=grace_period, max_retry=max_retry)
    try:
        if create:
            with store_lock(url):
                study = retry_locked(lambda: optuna.create_study(
                    study_name=STUDY_NAME, storage=backend, direction="minimize",
                    load_if_exists=True))
                version = study.user_attrs.get("specplan_store_version")
                if version is None or int(version) < STORE_VERSION:
                    retry_locked(lambda: study.set_user_attr("specplan_store_version",
                                                             STORE_VERSION))
        else:
            study = optuna.load_study(study_name=STUDY_NAME, storage=backend)
    except KeyError:
        raise StorageError(f"storage {display_url(url)!r} holds no specplan runs yet") from None
    except Exception as err:
        raise StorageError(f"cannot open storage URL {display_url(url)!r}: "
                           f"{_first_line(err, url)}") from err
    version = study.user_attrs.get("specplan_store_version", 1)
    if int(version) > STORE_VERSION:
        raise StorageError(f"storage {display_url(url)!r} was written by a newer specplan "
                           f"(store version {version}; this one reads up to {STORE_VERSION}): "
                           "upgrade specplan")
    return study


def _make_sqlite_folder(url: str) -> None:
    """Create the folder of a new SQLite file (``sqlite:///runs/x.db`` in a fresh checkout)."""
    path = sqlite_path(url)
    if path is not None:
        with contextlib.suppress(OSError):  # a file where a folder should be: optuna says
            path.parent.mkdir(parents=True, exist_ok=True)


def find_run(study: Any, run_key: str) -> dict[str, Any] | None:
    """The stored record of a finished run with this key, if any."""
    import optuna

    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        if trial.user_attrs.get("run_key") == run_key:
            return dict(trial.user_attrs)
    return None


def add_run(study: Any, record: dict[str, Any]) -> None:
    """Store one finished run as a COMPLETE trial (value = test perplexity), without the
    queue (runs measured elsewhere, tests)."""
    import optuna

    attrs = {k: plain(v) for k, v in record.items()}
    # No trial params: an RDB storage requires every trial of a study to share each
    # param's distribution, and a one-value CategoricalDistribution per run (strategy,
    # domain) differs between runs ("does not support dynamic value space"). The user
    # attributes carry the whole record, strategy and domain included.
    trial = optuna.trial.create_trial(
        params={},
        distributions={},
        value=float(record["test_ppl"]),
        user_attrs=attrs,
    )
    retry_locked(lambda: study.add_trial(trial))


def plain(value: Any) -> Any:
    """JSON-safe values for Optuna user attributes."""
    return json.loads(json.dumps(value, default=repr))


def load_runs(storage: str | None = None) -> Any:
    """All stored (COMPLETE) runs as a pandas DataFrame: `RUN_COLUMNS`, then
    `WORKER_COLUMNS`, then any other recorded field (empty if none)."""
    import pandas as pd

    try:
        study = open_study(storage, create=False)
    except StorageError as err:
        if "holds no specplan runs" in str(err):
            return pd.DataFrame(columns=RUN_COLUMNS + WORKER_COLUMNS)
        raise
    rows = [dict(t.user_attrs) for t in study.get_trials(deepcopy=False)
            if t.state.name == "COMPLETE"]
    frame = pd.DataFrame(rows)
    head = RUN_COLUMNS + WORKER_COLUMNS
    for col in head:
        if col not in frame.columns:
            frame[col] = None
    return frame[head + [c for c in frame.columns if c not in head]]


EXPORT_FORMATS = (".csv", ".parquet", ".json")


def export_runs(storage: str | None, path: str, runs: Any = None) -> int:
    """Write the runs to .csv, .parquet or .json; returns the number of rows.

    JSON keeps nested fields (params, info, cost components, data card) as objects; CSV
    and Parquet hold them as JSON text (`json.loads` gives them back).

    Args:
        storage: Optuna storage URL (ignored when `runs` is given).
        path: the file to write; its suffix picks the format.
        runs: a frame from `load_runs` (e.g. filtered) instead of reading `storage`.
    """
    import pandas as pd

    suffix = Path(path).suffix.lower()
    if suffix not in EXPORT_FORMATS:
        raise SpecplanError(f"{path}: unknown export format {suffix or '(no suffix)'!r} "
                            f"(use {', '.join(EXPORT_FORMATS)})")
    frame = load_runs(storage) if runs is None else runs
    if suffix == ".json":
        text = json.dumps(frame.to_dict(orient="records"), indent=1, default=json_default)
        _write(path, text.encode("utf-8"))
        return len(frame)
    flat = json_cells(frame)
    if suffix == ".parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise SpecplanError(f"{path}: Parquet needs pyarrow "
                                "(pip install 'specplan[parquet]')") from None
        buf = io.BytesIO()
        flat.to_parquet(buf, index=False)
        _write(path, buf.getvalue())
    else:
        _write(path, pd.DataFrame(flat).to_csv(index=False).encode("utf-8"))
    return len(frame)


def _write(path: str, data: bytes) -> None:
    from domains.cache import atomic_write_bytes

    try:
        atomic_write_bytes(Path(path), data)
    except OSError as err:
        raise SpecplanError(f"{path}: cannot write ({err.strerror or err})") from None
