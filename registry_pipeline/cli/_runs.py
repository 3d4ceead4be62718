"""`registry runs`: append run records and ask the run index its questions (docs/RUN_INDEX.md)."""

from __future__ import annotations

import argparse
import contextlib
import functools
import itertools
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from registry_pipeline.cli._args import bounded_int, command, common, examples
from registry_pipeline.cli._output import answer, err, json_doc, out, report
from registry_pipeline.core.errors import RegistryError
from registry_pipeline.core.workspace.input_files import MAX_RECORD_FILE_BYTES, human_size

if TYPE_CHECKING:
    from collections.abc import Iterator

    from registry_pipeline.core.run_index import (
        AppendResult,
        FailedRun,
        IndexSpec,
        LogIndex,
        Run,
        RunIndex,
    )

MAX_LIMIT = 1_000_000_000
"""The largest `--limit`."""
PROGRESS_SECONDS = 2.0
"""How often `runs import` says how far it got."""
TABLE_SAMPLE = 1000
"""Rows a table's column widths are measured on before it is streamed."""
WRITE_PIECES = 1000
"""Runs of a JSON answer written at once."""

DESCRIPTION = """\
The run index: every generation run recorded with its lane, inputs, outputs and QA outcomes,
in an append-only JSONL log (a catalog log with a `run_index` block; docs/RUN_INDEX.md).
Records are validated by the log's JSON Schema (its rules are if/then), the workspace's
coordination rules and the index: a record augmenting a run must come after its latest
(ordered by created_utc, then last_updated_utc, absent: created_utc), a file field is an
absolute path and is required at Final Save (qa_gate2 PASS), and a run that passed despite a
failed uniqueness check names an override that is logged for it and covers every failed check.
A run is shown as its latest view: the fields of its latest record.

Appending the same records again is safe: records that are the log's last records already,
byte for byte, are "already appended" (exit 0, nothing written); a batch only partly in the
log is refused once (PARTIAL_RETRY, naming how many matched). Queries never write when the
sidecar index is current, and a read-only workspace is answered from a temporary index.

Exit 0 found (or appended, or already appended); 1 nothing found (show, latest), refused
(append: nothing was written), or appended but the sidecar not updated (SIDECAR_STALE: the
records are in the log); 2 bad usage or bad input."""

EXAMPLES = """\
examples:
  registry runs append --record-file run.json
  registry runs append --record-file runs.jsonl --json       all valid, or nothing written
  registry runs append --record-json '{"record_type": "RUN", "run_id": ...}'
  registry runs show RUN-20260901-0800-3PPB
  registry runs show RUN-20260901-0800-3PPB --history --json
  registry runs list --lane artist_id=ART-iron-harbor --lane genre_id=GEN-worship \\
      --since 2026-09-01 --until 2026-09-30
  registry runs failed --lane artist_id=ART-iron-harbor        failed a uniqueness check
  registry runs failed --gates --json                          any gate or check FAIL
  registry runs latest --lane artist_id=ART-iron-harbor --lane genre_id=GEN-worship
  registry runs append --index run_overrides --record-file override.json
  registry runs import runs.jsonl                            millions, checked as append does
  registry runs repair                                       after an interrupted append"""


def add_runs(commands: Any) -> None:
    """`registry runs {append,import,show,list,failed,latest,repair}`."""
    parser = command(
        commands,
        "runs",
        "append run records to the run index and query it (show, list, failed, latest)",
        DESCRIPTION,
        EXAMPLES,
    )
    sub = parser.add_subparsers(
        dest="runs_command", metavar="COMMAND", required=True, parser_class=type(parser)
    )
    append = _sub(sub, "append", "append records: every one checked first, then all or none",
                  run_append, "registry runs append --record-file runs.jsonl",
                  "registry runs append --record-json '{...}' --json")  # fmt: skip
    given = append.add_mutually_exclusive_group(required=True)
    given.add_argument("--record-json", metavar="JSON", help="one record as a JSON object")
    given.add_argument(
        "--record-file", metavar="F",
        help="one JSON object, or JSONL (one per line); - : stdin. A regular file (a FIFO or "
        f"device is refused: NOT_A_REGULAR_FILE) of at most {human_size(MAX_RECORD_FILE_BYTES)} "
        "(INPUT_TOO_LARGE)",
    )  # fmt: skip

    bulk = _sub(
        sub, "import",
        "append a large file of records (JSONL, or one JSON object) exactly as `runs append "
        "--record-file` does: every record checked first by the same checks, then all or none, "
        "indexed in one transaction; progress on stderr",
        run_import, "registry runs import runs.jsonl", "registry runs import - --json < runs.jsonl",
        "registry runs import overrides.jsonl --index run_overrides",
    )  # fmt: skip
    bulk.add_argument("file", metavar="FILE",
                      help="JSONL (one record per line) or one JSON object; - : stdin. A regular "
                      f"file of at most {human_size(MAX_RECORD_FILE_BYTES)}")  # fmt: skip

    show = _sub(sub, "show", "one run's latest view (--history: every record)", run_show,
                "registry runs show RUN-20260901-0800-3PPB",
                "registry runs show RUN-20260901-0800-3PPB --history --json")  # fmt: skip
    show.add_argument("run_id", metavar="RUN_ID", help="the run (its key, e.g. run_id)")
    show.add_argument("--history", action="store_true",
                      help="every record of the run, oldest first")  # fmt: skip

    for name, help_text, handler, *more in (
        ("list", 'the runs of a lane first recorded in a date range, oldest first (seed 004: '
         '"List runs for ART_y + GEN_z in date range")', run_list),
        ("failed", 'the runs whose latest view FAILed a uniqueness check (seed 004: "Find runs '
         'that failed uniqueness checks"), each with what FAILed and whether its override '
         "covers it; --gates: the catalog's failure predicate (any QA gate or check FAIL)",
         run_failed, "registry runs failed --gates --json"),
    ):  # fmt: skip
        listing = _sub(sub, name, help_text, handler,
                       f"registry runs {name} --lane artist_id=ART-iron-harbor",
                       f"registry runs {name} --since 2026-09-01 --until 2026-09-30 --json",
                       *more)  # fmt: skip
        _lane_option(listing, required=False)
        listing.add_argument(
            "--since", metavar="DATE",
            help="first recorded on or after (YYYY-MM-DD, or a time with its zone: "
            "2026-09-01T10:00Z)",
        )  # fmt: skip
        listing.add_argument(
            "--until", metavar="DATE",
            help="first recorded on or before (a date includes its whole day)",
        )  # fmt: skip
        listing.add_argument("--limit", type=bounded_int(1, MAX_LIMIT), metavar="N",
                             help=f"at most N runs (1 to {MAX_LIMIT})")  # fmt: skip
        if name == "failed":
            listing.add_argument(
                "--gates", action="store_true",
                help="the runs meeting the catalog's failure predicate instead (any QA gate or "
                "uniqueness check FAIL)",
            )  # fmt: skip

    latest = _sub(sub, "latest", "a lane's newest run whose latest view succeeded", run_latest,
                  "registry runs latest --lane artist_id=ART-iron-harbor --lane "
                  "genre_id=GEN-worship")  # fmt: skip
    _lane_option(latest, required=True)

    repair = _sub(
        sub, "repair", "move a torn last line (an interrupted append) aside", run_repair,
        "registry runs repair", "registry runs repair --index run_overrides --json",
        "registry runs repair --reindex      also rebuild the sidecar index from the log",
    )  # fmt: skip
    repair.add_argument(
        "--reindex", action="store_true",
        help="also delete the sidecar index and rebuild it from the log (what stands in its "
        "place that is no SQLite file, a FIFO, a device, a symlink, is set aside under "
        ".codex/quarantine/ first)",
    )  # fmt: skip


def _sub(
    sub: Any, name: str, help_text: str, run: Callable[[argparse.Namespace], int], *lines: str
) -> argparse.ArgumentParser:
    """`registry runs NAME`, its description its help as a sentence, with --index first."""
    description = help_text[0].upper() + help_text[1:] + "."
    parser = command(sub, name, help_text, description, examples(*lines))
    parser.add_argument(
        "--index", metavar="ID", help="the run index (default: the catalog's first)"
    )
    common(parser, run, "print JSON")
    return parser


def _lane_option(parser: argparse.ArgumentParser, *, required: bool) -> None:
    parser.add_argument("--lane", action="append", default=[], required=required,
                        metavar="FIELD=VALUE",
                        help="a lane field and its value (repeat for several fields)")  # fmt: skip


def _open(args: argparse.Namespace) -> RunIndex:
    from registry_pipeline.core.run_index import RunIndex
    from registry_pipeline.core.workspace.layout import resolve_workspace

    return RunIndex.open(resolve_workspace(args.workspace).root, args.index)


@contextlib.contextmanager
def _synced(args: argparse.Namespace) -> Iterator[RunIndex]:
    """The index with its sidecar current, what it could not index said on stderr; closed at
    the block's end, whatever ends it (run in-process, a command leaves no connection open)."""
    with _open(args) as index:
        state = index.sync()
        _say_set_aside(index)
        if (why := index.fallback) is not None:
            err(f"note: {why.code} {why.path}: {why.message}; answered from a temporary index "
                "outside the workspace")  # fmt: skip
        if state.torn:
            err(f"warning: LOG_TORN {index.spec.source}: the last line (bytes {state.covered}.."
                f"{state.size}) is incomplete and not shown; `registry runs repair` moves it "
                "aside")  # fmt: skip
        if state.skipped_count:
            first = "; ".join(f"line {line}: {reason}" for line, reason in state.skipped)
            err(f"warning: LINES_NOT_INDEXED {index.spec.source}: {state.skipped_count} line(s) "
                f"cannot be queried ({first})")  # fmt: skip
        yield index


def _say_set_aside(index: LogIndex) -> None:
    """One `note: SET_ASIDE` line on stderr for each thing the index set aside (said once)."""
    for aside in index.set_aside:
        err(f"note: {aside.note(index.root, 'the sidecar index is rebuilt from the log')}")
    index.set_aside.clear()


def run_append(args: argparse.Namespace) -> int:
    from registry_pipeline.core.run_index.append import append_records
    from registry_pipeline.core.run_index.records import record_from_json

    with _open(args) as index:
        try:
            if args.record_json is None:
                return _appended(args, index, _from_file(index, args.record_file, progress=False))
            records: Any = [(1, record_from_json(args.record_json))]
            return _appended(args, index, append_records(index, records, origin="--record-json"))
        finally:
            _say_set_aside(index)  # refused or not: what was set aside is said


def run_import(args: argparse.Namespace) -> int:
    with _open(args) as index:
        try:
            return _appended(args, index, _from_file(index, args.file, progress=True))
        finally:
            _say_set_aside(index)


def _from_file(index: RunIndex, path: str, *, progress: bool) -> AppendResult:
    """The records of the file at `path` (`-`: stdin) appended; `progress`: said on stderr."""
    from registry_pipeline.core.run_index.append import append_stream
    from registry_pipeline.core.workspace import input_files

    with input_files.open_input_file(
        path,
        limit=input_files.MAX_RECORD_FILE_BYTES,
        what="record file",
        unreadable="RECORD_FILE_UNREADABLE",
    ) as stream:
        return append_stream(index, stream, path, progress=_progress() if progress else None)


def _progress() -> Callable[[int], None]:
    """Says on stderr how many records were checked: once the first block is and more follow,
    then at most once every PROGRESS_SECONDS."""
    said: float | None = None

    def tell(count: int) -> None:
        nonlocal said
        if said is None or time.monotonic() - said >= PROGRESS_SECONDS:
            said = time.monotonic()
            err(f"checked {count:,} records ...")

    return tell


def _appended(args: argparse.Namespace, index: RunIndex, result: AppendResult) -> int:
    """What `runs append` and `runs import` print; 1 when something failed after the commit."""
    code = 1 if result.unfinished else 0
    if args.json:
        json_doc(result.as_json())
        return code
    from registry_pipeline.core.run_index.records import record_text

    for warning in result.warnings:
        err(record_text(warning))
    if result.warning_count > len(result.warnings):
        err(f"... and {result.warning_count - len(result.warnings)} more warning(s)")
    if result.already_appended:
        first = result.first_line or 0
        out(
            f"already appended: the {result.records} record(s) given are lines {first}.."
            f"{first + result.records - 1} of {index.spec.source} ({index.spec.registry_id}), "
            "byte for byte; nothing was written"
        )
        return code
    new = result.appended - result.augmented
    out(
        f"appended {result.appended} record(s) to {index.spec.registry_id} ({index.spec.source}):"
        f" {new} new run(s), {result.augmented} augmenting"
    )
    if result.notes:
        err(f"note: {result.notes} finding(s) recorded in the write path's notes log")
    for unfinished in result.unfinished:
        err(f"error: {unfinished.code} {unfinished.path}: {unfinished.message}")
    return code


def run_show(args: argparse.Namespace) -> int:
    from registry_pipeline.core.run_index import query
    from registry_pipeline.core.run_index.index import history

    with _synced(args) as index:
        found = index.answer(lambda: query.show(index, args.run_id))
        if found is None or not args.history:
            missing = f"no run {args.run_id!r} in {index.spec.registry_id}"
            return _found(args, found, "RUN_NOT_FOUND", missing)
        records = index.answer(lambda: history(index, args.run_id))
    shown = [[f"record {n} of {len(records)}", *fields(r)] for n, r in enumerate(records, start=1)]
    return answer(args.json, records, itertools.chain.from_iterable(shown))


def run_list(args: argparse.Namespace) -> int:
    from registry_pipeline.core.run_index import query

    with _synced(args) as index:
        where = query.window(index, args.lane, args.since, args.until)
        found = index.stream(lambda: query.iter_runs(index, where, limit=args.limit))
        if args.json:
            json_lines(run.raw for run in found)
        elif not _table(_header(index.spec), functools.partial(_cells, index.spec), found):
            err("no runs match")
        return 0


def run_failed(args: argparse.Namespace) -> int:
    from registry_pipeline.core.run_index import query

    with _synced(args) as index:
        where = query.window(index, args.lane, args.since, args.until)
        asked = {"gates": args.gates, "limit": args.limit}
        if args.json:
            json_lines(index.stream(lambda: query.failed_lines(index, where, **asked)))
        else:
            found = index.stream(lambda: query.failed_runs(index, where, **asked))
            if not failed_table(index, found):
                err("no runs match")
        _say_set_aside(index)  # the overrides log's sidecar, read while answering
        return 0


def run_latest(args: argparse.Namespace) -> int:
    from registry_pipeline.core.run_index import query

    with _synced(args) as index:
        where = query.window(index, args.lane)
        found = index.answer(lambda: query.latest_success(index, where))
        missing = f"no successful run in the lane {', '.join(args.lane)}"
        return _found(args, found, "NO_SUCCESS", missing)


def run_repair(args: argparse.Namespace) -> int:
    from registry_pipeline.core.run_index.index import repair

    with _open(args) as index:
        done = repair(index, reindex=args.reindex)
    spec = index.spec
    document = {"index": spec.registry_id, "log": spec.source, "moved_bytes": done.moved,
                "kept_at": done.kept_at, "size": done.size, "reindexed": done.reindexed,
                "set_aside": [aside.as_json() for aside in done.set_aside]}  # fmt: skip
    moved = (f"moved the incomplete last line ({done.moved} bytes) to {done.kept_at}; the log "
             f"ends at its last complete line ({done.size} bytes)")  # fmt: skip
    repaired = moved if done.kept_at is not None else "nothing to repair (every line is complete)"
    lines = [f"{spec.source}: {repaired}"]
    lines += [f"{spec.registry_id}: set aside {aside.path}: it was {aside.found} (kept at "
              f"{aside.kept_at})" for aside in done.set_aside]  # fmt: skip
    rebuilt = f"{spec.registry_id}: rebuilt the sidecar index from {spec.source}"
    return answer(args.json, document, lines + [rebuilt] * done.reindexed)


def _found(args: argparse.Namespace, run: Run | None, code: str, missing: str) -> int:
    """`run` (its latest view) shown; when there is none, the error `code` (exit 1)."""
    if run is None:
        report(args.json, RegistryError(missing, code=code))
        return 1
    record = run.record  # parsed once for both forms
    return answer(args.json, record, describe(run, record))


# --- showing runs: one run's fields, long answers streamed as a table or a JSON list ----------


def describe(run: Run, record: dict[str, Any]) -> list[str]:
    """One run: its key, status, first time and record count, then its latest view's fields
    (`record`, parsed from `run.raw`)."""
    count = f"{run.records} records" if run.records > 1 else "1 record"
    head = f"{run.key}  {run.status}  (first {run.first_time}; {count}; latest at line {run.line})"
    return [head, *fields(record)]


def fields(record: dict[str, Any]) -> list[str]:
    """A record's fields, one a line, aligned."""
    width = max((len(name) for name in record), default=0)
    shown = {k: ", ".join(map(str, v)) if isinstance(v, list) else v for k, v in record.items()}
    return [f"  {name:<{width}}  {value}" for name, value in shown.items()]


def json_lines(lines: Iterator[bytes]) -> None:
    """A JSON list of one value per line, each as given, written as they come."""
    from registry_pipeline.core.run_index.records import batched

    sys.stdout.flush()
    write, before = sys.stdout.buffer.write, b"[\n"
    for part in batched(lines, WRITE_PIECES):
        write(before + b",\n".join(part))
        before = b",\n"
    write(b"\n]\n" if before == b",\n" else b"[]\n")
    sys.stdout.flush()


def failed_table(index: LogIndex, marked: Iterator[FailedRun]) -> bool:
    """A table of failed runs, with what FAILed, the override and whether it covers them."""

    def row(failed: FailedRun) -> list[str]:
        covered = "-" if failed.covered is None else "yes" if failed.covered else "no"
        what = ",".join([*failed.failed_checks, *failed.failed_gates]) or "-"
        return [*_cells(index.spec, failed.run), what, failed.override_id or "-", covered]

    return _table([*_header(index.spec), "FAILED", "OVERRIDE", "COVERED"], row, marked)


def _header(spec: IndexSpec) -> list[str]:
    lanes = [lane.upper() for lane in spec.lanes]
    return [spec.key.upper(), "FIRST", "LATEST", *lanes, "RECORDS", "STATUS"]


def _cells(spec: IndexSpec, run: Run) -> list[str]:
    record = run.record
    lanes = [str(record.get(lane, "")) for lane in spec.lanes]
    latest = str(record.get(spec.updated) or record.get(spec.time, ""))
    return [run.key, run.first_time, latest, *lanes, str(run.records), run.status]


def _table(header: list[str], row: Callable[[Any], list[str]], items: Iterator[Any]) -> bool:
    """The rows of `items` under `header`, streamed; False when there is none (no header)."""
    first = [row(item) for item in itertools.islice(items, TABLE_SAMPLE)]
    widths = [max(len(cells[i]) for cells in [header, *first]) for i in range(len(header))]
    for cells in itertools.chain([header], first, map(row, items)) if first else ():
        out("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip())
    sys.stdout.flush()
    return bool(first)
