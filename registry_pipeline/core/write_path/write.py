"""`registry add-entry`: insert or update one entry by key, checked, spliced, written atomically.

Under the workspace's write lock the files are read again, the entry is validated, the
coordination rules (and a governed source's append-only rules) run on the workspace as it would
be, and only then is the one changed file replaced (temporary file, fsync, rename). Errors block
the write unless `--no-check` with a reason, which appends an override record first, then
writes (`logs.write_audited`). Every place written is checked first (UNSAFE_PATH).
"""

from __future__ import annotations

from typing import Any

from registry_pipeline.core.errors import UsageError
from registry_pipeline.core.lock import DEFAULT_TIMEOUT
from registry_pipeline.core.seal.paths import relpath_problem
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.core.write_path._pipeline import (
    LOCK_RELPATH,
    WriteResult,
    bad,
    finish,
    locked,
    plan,
    target,
)
from registry_pipeline.core.write_path.entry_schema import entry_violations
from registry_pipeline.core.write_path.findings import EntryError
from registry_pipeline.core.write_path.types import EntryType

__all__ = ["LOCK_RELPATH", "MAX_NAME", "WriteResult", "add_entry", "split_entry"]

MAX_NAME = 255
"""Longest file name, in bytes (the usual file system limit)."""


def add_entry(
    workspace: Workspace,
    type_name: str,
    entry: Any,
    *,
    no_check: bool = False,
    reason: str | None = None,
    dry_run: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
) -> WriteResult:
    """Insert or update `entry` in the registry of `type_name` (see the module docstring)."""
    if no_check and not (reason or "").strip():
        raise UsageError("--no-check needs --reason TEXT (it is recorded)", code="REASON_REQUIRED")
    goal = target(workspace, type_name)
    key, value = split_entry(goal.entry_type, entry)
    problems = entry_violations(workspace.root, goal.entry_type, key, value)
    if problems:
        raise EntryError(problems, code="SCHEMA_VIOLATION")
    file = goal.entry_type.file_of(key)
    with locked(goal, [file], timeout) as (contents, cache):
        planned = plan(goal, contents, key, value)
        action = (
            "inserted"
            if planned.old is None
            else "unchanged"
            if planned.old.value == value
            else "updated"
        )
        result = WriteResult(goal.entry_type.name, key, file, action, dry_run=dry_run)
        return finish(workspace.root, result, planned, cache, no_check=no_check, reason=reason)


def split_entry(entry_type: EntryType, entry: Any) -> tuple[str, Any]:
    """(key, value) of an entry as given; ENTRY_INVALID naming the field when it has no usable
    key. A map type's (or key-less files type's) entry is `{key: value}`."""
    name = entry_type.name
    if not isinstance(entry, dict):
        raise EntryError([bad(name, None, "", "an entry must be an object")])
    if entry_type.key is None:
        if len(entry) != 1:
            raise EntryError(
                [
                    bad(
                        name,
                        None,
                        "",
                        f"a {name} entry is {{KEY: VALUE}}: one member, not {len(entry)}",
                    )
                ]
            )
        key, value = next(iter(entry.items()))
        if not key:
            raise EntryError([bad(name, None, "", "the key must be a non-empty string")])
    else:
        key, value = entry.get(entry_type.key), entry
        if not isinstance(key, str) or not key:
            raise EntryError(
                [bad(name, None, f"/{entry_type.key}", "the key must be a non-empty string")]
            )
    if entry_type.layout == "files":
        problem = relpath_problem(entry_type.file_of(key))
        too_long = len((key + entry_type.suffix).encode("utf-8", "surrogatepass")) > MAX_NAME
        if problem or too_long or "/" in key or key.startswith("."):
            why = f"longer than {MAX_NAME} bytes with {entry_type.suffix}" if too_long else ""
            where = f"/{entry_type.key or ''}"
            raise EntryError([bad(name, key[:80], where, f"cannot name a file {why}".strip())])
    return key, value
