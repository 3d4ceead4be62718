"""Writes examples/drift-history/: the demo workspace with four days of real history, recorded by
running the `registry` commands of each day with the clock set to that day.

Usage: .venv/bin/python examples/make_drift_history.py [DEST]   (default examples/drift-history)

The only thing simulated is the date: `registry_pipeline.core.seal.run_id.now_utc`, the one clock
every command reads for run ids, `created_utc`, journal records and receipts, returns the day's
09:00 UTC plus the seconds since that day's commands began. Every folder is sealed, checked and
promoted by the real commands, in this process (`registry_pipeline.cli.main`), so run ids and
hashes differ from one generation to the next while the signals of each day do not.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import registry_pipeline.core.seal.run_id as run_id_module
from registry_pipeline.cli import main

REPO = Path(__file__).resolve().parents[1]
DEST = REPO / "examples" / "drift-history"
KEPT = ("README.md",)
"""Files of DEST written by hand, kept when the history is generated again."""
IN_PROCESS_ENV = "REGISTRY_BUILD_IN_PROCESS"
"""At 1, `registry build` executes its Dagster run in its own process, not in a run worker
the simulated clock cannot reach (lib/build.py)."""

MIGRATION = {
    "file": "sql/005_drift_history.sql",
    "description": "Keep one row of drift signal counts per UTC day",
    "applied_at": "2026-11-17T08:41:12Z",
    "applied_by": "ops-bot",
    "status": "VERIFIED",
}
DAYS: list[tuple[str, list[list[str]]]] = [
    ("2026-11-16", [["build"]]),
    ("2026-11-17", [
        ["add-entry", "--type", "migration_ledger", "--entry-json", json.dumps(MIGRATION)],
        ["build"],
    ]),
    ("2026-11-18", [
        ["add-entry", "--type", "expected_versions", "--entry-json",
         json.dumps({"op_status_table": "0.2.0"})],
        ["build"],
    ]),
    ("2026-11-19", [
        ["pointers", "rollback", "expected_versions", "--to", "{first expected_versions}",
         "--reason", "op_status_table 0.2.0 is not deployed yet"],
    ]),
]  # fmt: skip
"""Each day's commands, run from 09:00 UTC on: the first build; a migration recorded; a new
builder version expected that is not deployed; that expectation rolled back (and held)."""


class _DayClock(datetime):
    """`datetime` whose `now()` is the simulated moment (`run_id.now_utc` calls it)."""

    start = datetime(2026, 1, 1, tzinfo=UTC)
    started = 0.0

    @classmethod
    def now(cls, tz: object = None) -> datetime:  # type: ignore[override]
        moment = cls.start.timestamp() + time.monotonic() - cls.started
        return datetime.fromtimestamp(moment, tz)  # type: ignore[arg-type]


def _set_day(day: str) -> None:
    """From now on every command reads `day` 09:00 UTC plus the seconds elapsed."""
    _DayClock.start = datetime.fromisoformat(f"{day}T09:00:00+00:00")
    _DayClock.started = time.monotonic()
    if run_id_module.now_utc().date().isoformat() != day:  # the clock moved out of reach
        raise SystemExit(f"the commands do not read the simulated clock ({day})")


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _registry(root: Path, argv: Sequence[str]) -> None:
    """`registry ARGV... --workspace ROOT`, echoed like a shell session; stops on a failure."""
    argv = [_resolve(root, arg) for arg in argv]
    _say(f"$ registry {' '.join(argv)}")
    code = main([*argv, "--workspace", str(root)])
    if code != 0:
        raise SystemExit(f"`registry {argv[0]}` exited {code}")


def _require_dated(root: Path, day: str) -> None:
    """Stop unless every run folder so far is dated `day` or before (a command that read another
    clock would have sealed one dated today)."""
    late = [p.name for p in (root / ".codex" / "RUNS").glob("*__*") if p.name[:10] > day]
    if late:
        raise SystemExit(f"sealed on another clock than {day}'s: {', '.join(sorted(late))}")


def _resolve(root: Path, arg: str) -> str:
    """`{first REGISTRY}`: the oldest snapshot of REGISTRY (its run folder name)."""
    if not (arg.startswith("{first ") and arg.endswith("}")):
        return arg
    registry_id = arg[len("{first ") : -1]
    folders = sorted((root / ".codex" / "RUNS").glob(f"*__{registry_id}_build"))
    return folders[0].name


SOURCES_ATTRIBUTES = "# the sources' bytes are those the history sealed\n/registries/** -text\n"
LOCAL_STATE = ("dagster_home", "cache", "build.lock", ".staging")
"""What the commands leave under `.codex/` that is this machine's state, not history."""


def generate(dest: Path) -> None:
    """The demo workspace's sources and schemas, each day's commands run on them, then DEST
    replaced by the result (its hand-written files kept)."""
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch) / "drift-history"
        root.mkdir()
        shutil.copytree(REPO / "registries", root / "registries")
        shutil.copytree(REPO / "schemas", root / "schemas")
        _record(root)
        with (root / ".gitattributes").open("a", encoding="utf-8") as attributes:
            attributes.write(SOURCES_ATTRIBUTES)
        for local in LOCAL_STATE:
            _remove(root / ".codex" / local)
        for entry in list(dest.iterdir()) if dest.exists() else []:
            if entry.name not in KEPT:
                _remove(entry)
        shutil.copytree(root, dest, symlinks=True, dirs_exist_ok=True)
    _say(f"wrote {dest}")


def _record(root: Path) -> None:
    """`registry init`, then each day's commands on the simulated clock."""
    for variable in ("REGISTRY_WORKSPACE", "REGISTRY_STORE", "REGISTRY_DAGSTER_POSTGRES_URL"):
        os.environ.pop(variable, None)  # this folder, on this machine, nowhere else
    os.environ[IN_PROCESS_ENV] = "1"  # the build's run in this process, on this clock
    run_id_module.datetime = _DayClock  # type: ignore[misc]
    try:
        _set_day(DAYS[0][0])
        _say("$ registry init")
        main(["init", str(root)])
        for day, commands in DAYS:
            _set_day(day)
            for argv in commands:
                _registry(root, argv)
            _require_dated(root, day)
    finally:
        run_id_module.datetime = datetime  # type: ignore[misc]


def _remove(path: Path) -> None:
    """Remove a file or a tree, sealed (read-only) folders included."""
    if path.is_dir() and not path.is_symlink():
        for directory, _subdirs, _files in os.walk(path):
            os.chmod(directory, 0o755)
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


if __name__ == "__main__":
    generate(Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else DEST)
