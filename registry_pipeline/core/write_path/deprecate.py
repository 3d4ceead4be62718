"""`registry deprecate TYPE KEY --reason TEXT`: seed 002's lifecycle ("explicit deprecation
allowed; removal forbidden") for any registry type, through the write path `add-entry` takes.

The entry keeps its place and every other field; only its lifecycle field changes (the declared
one, else `lifecycle` or `status`: the first the entry has, then the first its schema accepts).
The same lock, the same checks (schema, coordination rules on the workspace as it would be, a
governed source's append-only promises), the same audit: the reason is appended to the notes
log before the file is replaced, and `--no-check` appends an override record first. Nothing
removes an entry.
"""

from __future__ import annotations

import copy
import difflib
from pathlib import Path
from typing import Any

from registry_pipeline.core.errors import RegistryError, UsageError
from registry_pipeline.core.lock import DEFAULT_TIMEOUT
from registry_pipeline.core.seal.schemas import SchemaCatalog
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.core.workspace.safe_write import require_safe_all
from registry_pipeline.core.write_path._pipeline import (
    Record,
    Target,
    WriteResult,
    entry_pointer,
    finish,
    locked,
    plan,
    target,
)
from registry_pipeline.core.write_path.content import Entry, TypeContent, resolve
from registry_pipeline.core.write_path.entry_schema import entry_violations, file_violations
from registry_pipeline.core.write_path.findings import EntryError, Finding
from registry_pipeline.core.write_path.lifecycle import (
    Lifecycle,
    deprecated_by,
    has,
    marked,
    markers,
)
from registry_pipeline.core.write_path.logs import NOTES_RELPATH, actor, stamp


class AlreadyDeprecated(RegistryError):
    """The entry carries its type's lifecycle marker already: nothing to do, refused (exit 1)."""

    code = "ALREADY_DEPRECATED"

    def __init__(self, message: str, *, path: str, field: str) -> None:
        super().__init__(message, path=path)
        self.field = field


def deprecate(
    workspace: Workspace,
    type_name: str,
    key: str,
    *,
    reason: str | None,
    no_check: bool = False,
    dry_run: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
) -> WriteResult:
    """Mark the entry `key` of `type_name` deprecated (see the module docstring)."""
    why = (reason or "").strip()
    if not why:
        raise UsageError("deprecate needs --reason TEXT (it is recorded)", code="REASON_REQUIRED")
    goal = target(workspace, type_name)
    with locked(goal, [], timeout) as (contents, cache):
        content = contents[goal.entry_type.name]
        old = _existing(content, key)
        require_safe_all(workspace.root, [workspace.root / old.file])  # UNSAFE_PATH first
        marker = _marker(goal, content, old)
        value = marked(old.value, marker)
        problems = entry_violations(workspace.root, goal.entry_type, key, value)
        if problems:
            raise EntryError(problems, code="SCHEMA_VIOLATION")
        planned = plan(goal, contents, key, value)
        result = WriteResult(goal.entry_type.name, key, old.file, "deprecated", dry_run=dry_run,
                             field=marker.field, reason=why)  # fmt: skip
        audit = [_record(workspace.root, result, marker)]
        return finish(workspace.root, result, planned, cache, no_check=no_check, reason=why,
                      audit=audit)  # fmt: skip


def _existing(content: TypeContent, key: str) -> Entry:
    """The entry `key`; UNKNOWN_KEY (exit 2) with a "did you mean" when there is none."""
    found = content.entries.get(key)
    if found is not None:
        return found
    name = content.type.name
    close = difflib.get_close_matches(key, sorted(content.entries), n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise UsageError(
        f"no {name} entry {key!r} (deprecate marks an existing entry){hint}",
        code="UNKNOWN_KEY",
        path=content.type.source,
    )


def _marker(goal: Target, content: TypeContent, old: Entry) -> Lifecycle:
    """The lifecycle marker to set: ALREADY_DEPRECATED when the entry carries one already,
    NOT_DEPRECATABLE when no marker fits the type."""
    name = goal.entry_type.name
    declared = goal.coordination.lifecycle.get(name)
    already = deprecated_by(old.value, declared)
    if already is not None:
        raise AlreadyDeprecated(
            f"{name} {old.key!r} is already deprecated ({already.field} is "
            f"{already.deprecated!r}); nothing was written",
            path=old.file,
            field=already.field,
        )
    candidates = sorted(markers(declared), key=lambda m: not has(old.value, m.field))
    for candidate in candidates:
        value = marked(old.value, candidate)
        if value is not None and (declared is not None or _accepts(goal, content, old, value)):
            return candidate
    fields = " or ".join(f"{m.field} {m.deprecated!r}" for m in candidates)
    shape = "" if isinstance(old.value, dict) else " (its entries are not objects)"
    raise UsageError(
        f"{name} has no lifecycle field{shape}: its schema allows neither {fields}; declare "
        f"one in the coordination file (`lifecycle: {{{name}: {{field: /FIELD, deprecated: "
        "VALUE}}`)",
        code="NOT_DEPRECATABLE",
        path=name,
    )


def _accepts(goal: Target, content: TypeContent, old: Entry, value: Any) -> bool:
    """Whether the type's schema (its entry schema, else its file's) accepts the entry as
    `value`; a type no schema governs accepts any."""
    entry_type, root = goal.entry_type, goal.workspace.root
    if entry_type.schema is not None:
        return not entry_violations(root, entry_type, old.key, value)
    parsed = content.files.get(old.file)
    if parsed is None:
        return True
    document = copy.deepcopy(parsed.document)
    pointer = entry_pointer(entry_type, document, old.key)
    if entry_type.layout == "files":
        document = value
    else:
        holder = resolve(document, entry_type.container)
        holder[old.index if entry_type.layout == "list" else old.key] = value
    schemas = SchemaCatalog.for_workspace(root)
    sealed = Path(old.file).name
    return not file_violations(schemas, entry_type, old.key, sealed, document, pointer)


def _record(root: Path, result: WriteResult, marker: Lifecycle) -> Record:
    """The notes-log record of a deprecation: who, when, which field, why."""
    note = Finding(
        "DEPRECATED",
        "record",
        result.type,
        result.key,
        marker.field,
        f"deprecated ({marker.field} set to {marker.deprecated!r}): {result.reason}",
        result.file,
    )
    record = {"recorded_utc": stamp(), "who": actor(), **note.as_json(), "reason": result.reason}
    return root / NOTES_RELPATH, record
