"""`specplan worker`: pull queued runs from a shared results store until none is left.

    specplan sweep --strategies small,large --domains news,legal --seeds 0,1,2 \\
        --storage postgresql://me@db.lab/specplan --workers 0      # queue only
    specplan worker --storage postgresql://me@db.lab/specplan      # on every machine

Each run is claimed by exactly one worker; a run already stored is never trained again.
A worker sends heartbeats while it trains; the run of a worker that died (SIGKILL, lost
machine) is failed after the grace period and retried by another worker, at most
--max-retry times, resuming from its checkpoints when --root is on shared storage.
"""

from __future__ import annotations

import argparse
import sys

from planner.cli.commands._common import add_json, add_storage, count_arg, emit_json
from planner.experiments.worker import Faults


def add_fault_options(parser: argparse.ArgumentParser) -> None:
    """--heartbeat-interval, --grace-period and --max-retry (Optuna's names)."""
    from planner.experiments.worker import (
        DEFAULT_GRACE_PERIOD,
        DEFAULT_HEARTBEAT_INTERVAL,
        DEFAULT_MAX_RETRY,
    )

    parser.add_argument("--heartbeat-interval", default=None, metavar="S",
                        type=count_arg("--heartbeat-interval", minimum=1, maximum=86_400),
                        help="seconds between a running run's heartbeats (default: the "
                             f"store's, else {DEFAULT_HEARTBEAT_INTERVAL})")
    parser.add_argument("--grace-period", default=None, metavar="S",
                        type=count_arg("--grace-period", minimum=1, maximum=7 * 86_400),
                        help="seconds without a heartbeat before a run is failed and "
                             f"retried (default: the store's, else {DEFAULT_GRACE_PERIOD})")
    parser.add_argument("--max-retry", default=None, metavar="N",
                        type=count_arg("--max-retry", minimum=0, maximum=1000),
                        help="times a run whose worker died is retried (default: the "
                             f"store's, else {DEFAULT_MAX_RETRY})")


def fault_settings(args: argparse.Namespace) -> Faults:
    """The fault flags, checked: positive interval and grace, grace above the interval."""
    from domains.errors import SpecplanError

    for flag, value, low in (("--heartbeat-interval", args.heartbeat_interval, 1),
                             ("--grace-period", args.grace_period, 1),
                             ("--max-retry", args.max_retry, 0)):
        if value is not None and value < low:
            raise SpecplanError(f"{flag}: must be at least {low}, got {value}")
    if (args.heartbeat_interval and args.grace_period
            and args.grace_period <= args.heartbeat_interval):
        raise SpecplanError(f"--grace-period {args.grace_period}: must exceed "
                            f"--heartbeat-interval {args.heartbeat_interval}")
    return Faults(args.heartbeat_interval, args.grace_period, args.max_retry)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = __doc__.split("\n\n", 1)[1]
    add_storage(parser)
    parser.add_argument("--root", default=None, metavar="DIR",
                        help="artifacts folder instead of the one each run was queued with "
                             "(where this machine mounts the shared folder)")
    parser.add_argument("--threads", type=count_arg("--threads", maximum=4096), default=None,
                        metavar="N",
                        help="torch threads (default: 1 for small models, else every core)")
    add_fault_options(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    add_json(parser)


def run(args: argparse.Namespace) -> int:
    from domains.errors import SpecplanError
    from planner.experiments.store import DEFAULT_STORAGE, display_url
    from planner.experiments.worker import Worker

    faults = fault_settings(args)
    if args.threads is not None and args.threads < 1:
        raise SpecplanError(f"--threads: must be at least 1, got {args.threads}")
    url = args.storage or DEFAULT_STORAGE

    def echo(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    worker = Worker(url, root=args.root, threads=args.threads, progress=not args.quiet,
                    echo=echo, faults=faults)
    report = worker.run()
    summary = {"worker": worker.name, "storage": display_url(url),
               "stored": report.completed,
               "failures": [{"run": label, "error": error} for label, error in report.failures]}
    if args.json:
        emit_json(summary)
    elif not report.completed and not report.failures:
        print(f"worker {worker.name}: nothing queued in {display_url(url)}")
    else:
        print(f"worker {worker.name}: {len(report.completed)} run(s) stored, "
              f"{len(report.failures)} failed, in {display_url(url)}")
    return 1 if report.failures else 0
