"""The results store: every run is one COMPLETE trial of an Optuna study.

SQLite by default (`sqlite:///specplan.db`), any Optuna storage URL otherwise (a
PostgreSQL URL lets several machines share one sweep); `optuna-dashboard URL` opens the
same storage. A trial's value is the run's test perplexity; its user attributes hold
the whole record (strategy, domain, scale, parameters, measured FLOPs per bucket, wall
time, tokens, perplexities before and after fine-tuning, seed, package versions).

A trial is written once, when the run has finished, so a finished run is never lost
and a killed run leaves nothing half-written (its training checkpoints live on disk).
Importing this module does not import torch (optuna and pandas only).
"""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path
from typing import Any

from domains.errors import SpecplanError
from planner.reports.formatting import json_cells, json_default

DEFAULT_STORAGE = "sqlite:///specplan.db"
STUDY_NAME = "specplan-runs"

# Columns of `load_runs`, in order (the contract the performance model and reports use).
RUN_COLUMNS = [
    "run_key", "strategy", "paper_name", "domain", "source", "scale", "seed", "params",
    "n_domain_tokens", "pretraining_flops", "specialization_flops",
    "inference_flops_per_token", "inference_params", "pretraining_params",
    "test_ppl", "test_nll", "test_tokens", "test_ppl_before_finetune",
    "wall_s", "model_path", "datetime", "versions", "info",
]


class StorageError(SpecplanError):
    """The results storage cannot be opened or read."""


def open_study(storage: str | None = None, *, create: bool = True) -> Any:
    """Open (or create) the runs study in an Optuna storage URL."""
    import optuna

    url = storage or DEFAULT_STORAGE
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    if create:
        _make_sqlite_folder(url)
    try:
        if create:
            return optuna.create_study(study_name=STUDY_NAME, storage=url,
                                       direction="minimize", load_if_exists=True)
        return optuna.load_study(study_name=STUDY_NAME, storage=url)
    except KeyError:
        raise StorageError(f"storage {url!r} holds no specplan runs yet") from None
    except Exception as err:  # sqlalchemy / optuna raise many kinds on a bad URL
        msg = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise StorageError(f"cannot open storage URL {url!r}: {msg}") from err


def _make_sqlite_folder(url: str) -> None:
    """Create the folder of a new SQLite file (``sqlite:///runs/x.db`` in a fresh checkout)."""
    if not url.startswith("sqlite:///"):
        return
    try:
        from sqlalchemy.engine import make_url

        database = make_url(url).database
    except Exception:  # a malformed URL: let optuna report it in one line
        return
    if database and database != ":memory:" and not database.startswith("file:"):
        try:
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        except OSError:  # e.g. a file where a folder should be: optuna's error says which
            return


def find_run(study: Any, run_key: str) -> dict[str, Any] | None:
    """The stored record of a finished run with this key, if any."""
    import optuna

    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        if trial.user_attrs.get("run_key") == run_key:
            return dict(trial.user_attrs)
    return None


def add_run(study: Any, record: dict[str, Any]) -> None:
    """Store one finished run as a COMPLETE trial (value = test perplexity)."""
    import optuna

    attrs = {k: _plain(v) for k, v in record.items()}
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
    study.add_trial(trial)


def _plain(value: Any) -> Any:
    """JSON-safe values for Optuna user attributes."""
    return json.loads(json.dumps(value, default=repr))


def load_runs(storage: str | None = None) -> Any:
    """All stored runs as a pandas DataFrame with `RUN_COLUMNS` (empty if none)."""
    import pandas as pd

    try:
        study = open_study(storage, create=False)
    except StorageError as err:
        if "holds no specplan runs" in str(err):
            return pd.DataFrame(columns=RUN_COLUMNS)
        raise
    rows = [dict(t.user_attrs) for t in study.get_trials(deepcopy=False)
            if t.state.name == "COMPLETE"]
    frame = pd.DataFrame(rows)
    for col in RUN_COLUMNS:
        if col not in frame.columns:
            frame[col] = None
    return frame[RUN_COLUMNS + [c for c in frame.columns if c not in RUN_COLUMNS]]


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
