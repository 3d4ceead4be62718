"""The rules on one record's own fields beyond its schema, for `registry runs append` and the
build's `log_problems` alike (`field_problems`):

- a file field (the catalog's `file_fields`: seed 004's `run_log_filepath_abs`, the "Run Log
  absolute path") is an absolute path, POSIX (`/srv/...`) or Windows (`C:\\...`, `C:/...`,
  `\\\\server\\share\\...`): the index serves two machines, and a relative path names nothing on
  either (PATH_NOT_ABSOLUTE); one holding a control character (a newline, a tab, NUL...) or a
  root alone (`/`, `C:\\`) names no file (PATH_INVALID), the value shown escaped;
- "Run Log absolute path is stored at Final Save" (seed 004, PASS checklist): a record that
  meets the success predicate (qa_gate2 PASS: the seed asks the work and its versions then, so
  that is when a run's outputs are saved) carries every file field (REQUIRED_AT_FINAL_SAVE);
- `last_updated_utc`, when given, is a time (TIME_INVALID) no earlier than the record's
  `created_utc` (UPDATED_BEFORE_CREATED).
"""

from __future__ import annotations

import itertools
import operator
import os
import re
import unicodedata
from pathlib import PurePath, PurePosixPath, PureWindowsPath
from typing import Any

from registry_pipeline.core.run_index.records import RecordProblem
from registry_pipeline.core.run_index.spec import IndexSpec, parse_time

CONTROL = "\x00-\x1f\x7f-\x9f"
"""The Unicode category Cc (control characters), as a regular-expression class."""
_PLAIN_POSIX = re.compile(f"/[^{CONTROL}]*[^{CONTROL}/.]")
"""A POSIX absolute path without control characters whose last component is neither empty nor
`.`: it names a file (`path_problem` is None), decided without building a path object."""
NATIVE_POSIX = os.name != "nt"
"""Whether this machine's paths are POSIX paths (`is_native`)."""


def is_absolute(path: str) -> bool:
    """Whether `path` is absolute on a POSIX or a Windows machine."""
    return PurePosixPath(path).is_absolute() or PureWindowsPath(path).is_absolute()


def is_native(path: str) -> bool:
    """Whether `path` is absolute in this machine's form (only such a path can be looked for
    here: a Windows path on POSIX, or a POSIX one on Windows, names the other machine's file)."""
    if NATIVE_POSIX:
        return path.startswith("/")  # what PurePosixPath(path).is_absolute() says
    return PurePath(path).is_absolute()


def path_problem(value: str) -> tuple[str, str] | None:
    """(code, message) of a file field's value that names no file, or None."""
    if _PLAIN_POSIX.fullmatch(value):
        return None  # what `named_file_problem` says of it, without path objects
    return named_file_problem(value)


def odd_paths(values: list[Any]) -> list[int]:
    """The positions of the values that are not plain POSIX absolute paths (strings that
    `path_problem` passes without path objects): only those need asking."""
    match = _PLAIN_POSIX.fullmatch
    if set(map(type, values)) == {str}:
        return list(itertools.compress(itertools.count(), map(operator.not_, map(match, values))))
    return [at for at, value in enumerate(values) if type(value) is not str or not match(value)]


def named_file_problem(value: str) -> tuple[str, str] | None:
    """`path_problem`, asked of the path objects of both machines' forms."""
    if any(unicodedata.category(c) == "Cc" for c in value):
        return "PATH_INVALID", f"{value!r} holds a control character: it names no file"
    if not is_absolute(value):
        return (
            "PATH_NOT_ABSOLUTE",
            f"{value!r} is not an absolute path (POSIX /..., Windows C:\\... or "
            "\\\\server\\share\\...)",
        )
    flavour = PurePosixPath if PurePosixPath(value).is_absolute() else PureWindowsPath
    if not flavour(value).name:
        return "PATH_INVALID", f"{value!r} is a root alone: it names no file"
    return None


def saved(spec: IndexSpec, record: dict[str, Any]) -> bool:
    """Whether `record` is a Final Save: it meets the index's success predicate."""
    return spec.success is not None and spec.success(record)


def field_problems(spec: IndexSpec, line: int, record: dict[str, Any]) -> list[RecordProblem]:
    """Every problem of `record`'s file fields and update time (see the module)."""
    key = record.get(spec.key)
    shown = key if isinstance(key, str) else None
    problems: list[RecordProblem] = []
    final: bool | None = None
    for field in spec.file_fields:
        value = record.get(field)
        if isinstance(value, str) and value:
            found = path_problem(value)
            if found is not None:
                problems.append(RecordProblem(line, f"/{field}", *found, shown))
            continue
        if final is None:
            final = saved(spec, record)
        if final:
            problems.append(
                RecordProblem(
                    line,
                    f"/{field}",
                    "REQUIRED_AT_FINAL_SAVE",
                    f"is required at Final Save ({spec.success}): the absolute path of the file",
                    shown,
                )
            )
    updated = record.get(spec.updated)
    if updated is not None:
        problems.extend(_updated_problems(spec, line, record, updated, shown))
    return problems


def _updated_problems(
    spec: IndexSpec, line: int, record: dict[str, Any], updated: Any, key: str | None
) -> list[RecordProblem]:
    written = parse_time(updated)
    if written is None:
        message = "must be an ISO 8601 UTC time"
        return [RecordProblem(line, f"/{spec.updated}", "TIME_INVALID", message, key)]
    created = parse_time(record.get(spec.time))
    if created is not None and written < created:
        return [
            RecordProblem(
                line,
                f"/{spec.updated}",
                "UPDATED_BEFORE_CREATED",
                f"{updated} is before the record's {spec.time} {record.get(spec.time)}",
                key,
            )
        ]
    return []
