"""`registry drift backfill`: drift_signals_daily for a range of past days."""

from __future__ import annotations

import argparse
import functools
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from registry_pipeline.cli._args import command, common, parse_day
from registry_pipeline.cli._output import answer, progress
from registry_pipeline.core.errors import RegistryError, problem_text
from registry_pipeline.core.workspace.layout import resolve_workspace

if TYPE_CHECKING:
    from registry_pipeline.lib.drift_backfill import DayOutcome

FIRST_DAY = date(2026, 1, 1)
"""The first partition of drift_signals_daily (defs/drift_daily.py DRIFT_DAILY_START)."""
MAX_DAYS = 3660


DESCRIPTION = """\
Day D of drift_signals_daily is computed from the snapshots that were active at the end of D
according to the pointer journal (every signal unknown where no history exists), sealed as a run
folder <time>__drift_signals_daily_build and checked like any registry. Where the Dagster daemon
runs, the schedule drift_signals_daily_schedule computes each day at 00:30 UTC after it ends;
`registry drift backfill` computes past days."""

EPILOG = """\
examples:
  registry drift backfill --from 2026-11-01 --to 2026-11-20
  registry drift backfill --from 2026-11-20 --to 2026-11-20 --json
  registry drift backfill --workspace /tmp/drift-history --from 2026-11-15 --to 2026-11-19

A day before the workspace's history (its pointer journal's first record, made by its first
build) has every signal unknown: in a fresh clone of the demo workspace, every past day does.
The last example backfills four days of recorded history with real signals, once copied from a
clone of registry-pipeline: cp -r examples/drift-history /tmp/drift-history (README.md, "Drift
by day").

exit codes: 0 every day sealed and checked (or reused), 1 a day failed, 2 bad usage,
130 interrupted"""

BACKFILL = f"""\
Materialize the partitions --from..--to (inclusive, UTC days from {FIRST_DAY} to the last day
that has ended, at most {MAX_DAYS} at once) of drift_signals_daily on the workspace's instance:
each day, in order, one run of drift_signals_daily_job executed in this process (no code server,
no daemon), listed on the job's page in the UI with its partition, all the runs of one backfill
tagged registry-pipeline/drift-backfill=<one id>. A day already computed, whose inputs and
documents are unchanged, is REUSED: its sealed folder, checked again now, without a run (the
instance already records that folder as the day's; else a run records it); only the other days
are run. --in-process is accepted and changes nothing: every day runs in this process (as does
REGISTRY_BUILD_IN_PROCESS). Ctrl-C stops the backfill: the run it interrupts ends CANCELED, the
next days are not run, the days before stay sealed (exit 130). Prints one line per day: OK
(sealed and checked now), REUSED or FAILED, the sealed run id, the signal counts (true, false,
unknown), the registries without history and any problem; --json prints the same as one object
(`status`, `reused`). Exit 0 when every day was sealed or reused and passed its checks, 1 when
any failed, 2 bad usage (BAD_DAY, BAD_RANGE, DAY_NOT_ENDED), 130 interrupted."""


def add_drift(commands: Any) -> None:
    parser = command(
        commands, "drift", "drift signals by day (drift_signals_daily)", DESCRIPTION, EPILOG
    )
    sub = parser.add_subparsers(dest="drift_command", metavar="COMMAND", required=True)
    backfill = command(
        sub,
        "backfill",
        "compute and seal a range of days, one Dagster run a day",
        BACKFILL,
        EPILOG,
    )
    backfill.add_argument(
        "--from", dest="first", required=True, metavar="DAY",
        help=f"the first day, YYYY-MM-DD (UTC, {FIRST_DAY} or later)",
    )  # fmt: skip
    backfill.add_argument(
        "--to", dest="last", required=True, metavar="DAY",
        help="the last day, YYYY-MM-DD, included (UTC, a day that has ended)",
    )  # fmt: skip
    backfill.add_argument("--json", action="store_true", help="print a JSON object")
    backfill.add_argument(
        "--in-process", action="store_true",
        help="accepted, changes nothing: every day already runs in this process",
    )  # fmt: skip
    common(backfill, run_backfill, None)


def day_range(first: date, last: date, today: date) -> list[date]:
    """first..last inclusive, checked: ordered, within the partitions, ended, not absurdly long."""
    bad_range = functools.partial(RegistryError.of, "BAD_RANGE")
    if last < first:
        raise bad_range(reason=f"--to {last} is before --from {first}")
    if first < FIRST_DAY:
        raise bad_range(reason=f"the first day that can be backfilled is {FIRST_DAY}")
    if last >= today:
        raise RegistryError.of("DAY_NOT_ENDED", day=last, last=today - timedelta(1))
    count = (last - first).days + 1
    if count > MAX_DAYS:
        raise bad_range(reason=f"{count} days is more than {MAX_DAYS}; split the range")
    return [first + timedelta(days=offset) for offset in range(count)]


def run_backfill(args: argparse.Namespace) -> int:
    workspace = resolve_workspace(args.workspace).require()
    days = day_range(
        parse_day(args.first, "--from"),
        parse_day(args.last, "--to"),
        datetime.now(UTC).date(),
    )
    from registry_pipeline.definitions import build_definitions
    from registry_pipeline.lib.drift_backfill import DRIFT_DAILY_JOB, run_drift_backfill

    with (
        progress(len(days), "backfilling drift_signals_daily", not args.json) as advance,
        _stdout_to_stderr(),
    ):
        outcomes = run_drift_backfill(
            workspace.root,
            days,
            # the workspace's definitions, loaded only when a day is not reused
            lambda: build_definitions(workspace.root).resolve_job_def(DRIFT_DAILY_JOB),
            lambda _day: advance(),
        )
    ok = all(outcome.success for outcome in outcomes)
    document = {"success": ok, "days": [outcome.as_json() for outcome in outcomes]}
    return answer(args.json, document, _lines(outcomes), 0 if ok else 1)


@contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """fd 1 on stderr for the block: what a run writes there (Dagster mirrors it) is not --json."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def _lines(outcomes: Sequence[DayOutcome]) -> Iterator[str]:
    """A line per day with its problems, then the summary."""
    for outcome in outcomes:
        counts = " ".join(f"{key}={value}" for key, value in sorted(outcome.signals.items()))
        history = outcome.missing_history
        missing = f"  (no history: {', '.join(history)})" if history else ""
        yield f"{outcome.status:<6} {outcome.day}  {outcome.run_id or '-':<52} {counts}{missing}"
        for problem in outcome.problems:
            check = f"{problem['check']}: " if problem.get("check") else ""
            yield f"       {check}{problem_text(problem)}"
    reused = sum(o.success and o.reused for o in outcomes)
    sealed = sum(o.success and not o.reused for o in outcomes)
    line = f"{sealed} of {len(outcomes)} day(s) sealed and checked"
    yield f"{line}, {reused} reused (sealed before, checked now)" if reused else line
