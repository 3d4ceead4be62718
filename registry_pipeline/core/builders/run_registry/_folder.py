"""Reading one run folder: its regular files, its run.json envelope and its MANIFEST ROOT."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from registry_pipeline.core.json_strict import JSONDecodeProblem, loads_strict
from registry_pipeline.core.seal.manifest import HEX64, MANIFEST_JSON, MANIFEST_SHA256, ROOT_LABEL
from registry_pipeline.core.seal.manifest import RUN_JSON as RUN_JSON_NAME
from registry_pipeline.core.seal.paths import printable, sort_key

_ENVELOPE_FIELDS = ("created_utc", "run_type", "option", "operation_id", "git_commit")
_TREE_STATES = frozenset({"clean", "dirty"})


@dataclass
class _Scan:
    """The regular files of one folder, and what could not be read."""

    files: list[tuple[str, int]] = field(default_factory=list)
    """Every regular file (relpath, size), in relpath byte order."""
    top_level: set[str] = field(default_factory=set)
    warnings: list[str] = field(default_factory=list)
    unreadable: bool = False

    def has(self, name: str) -> bool:
        """Whether `name` is a regular file at the top of the folder."""
        return name in self.top_level

    def split(self) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
        """(top-level files, files in subfolders): the seed's `files`, and the rest."""
        top = [item for item in self.files if item[0] in self.top_level]
        return top, [item for item in self.files if item[0] not in self.top_level]


def _scan(folder: Path) -> _Scan:
    """Walk `folder` without following symlinks; an unreadable subfolder becomes a warning."""
    scan = _Scan()
    stack = [("", str(folder))]
    while stack:
        prefix, directory = stack.pop()
        try:
            with os.scandir(directory) as entries:
                for entry in entries:
                    relpath = prefix + entry.name
                    if entry.is_dir(follow_symlinks=False):
                        stack.append((relpath + "/", entry.path))
                    elif entry.is_file(follow_symlinks=False):
                        scan.files.append((relpath, entry.stat(follow_symlinks=False).st_size))
                        if not prefix:
                            scan.top_level.add(relpath)
        except OSError:
            if not prefix:
                scan.unreadable = True
                return scan
            scan.warnings.append(f"scan:UNREADABLE:{printable(prefix.rstrip('/'))}")
    scan.files.sort(key=lambda item: sort_key(item[0]))
    return scan


def _envelope(folder: Path, scan: _Scan) -> tuple[dict[str, Any], list[str]]:
    """The v0.1 fields from run.json (null unless it parses strictly), and the seed's warnings in
    its wording and order: run.json's problem (`missing run.json`, `Failed to parse run.json:
    <reason>`, `run.json top-level is not an object`), then the missing seal files."""
    fields: dict[str, Any] = dict.fromkeys((*_ENVELOPE_FIELDS, "working_tree_state"))
    missing = [
        f"missing {name}"
        for name in (MANIFEST_SHA256, MANIFEST_JSON)
        if not scan.has(name) and not scan.unreadable
    ]
    if not scan.has(RUN_JSON_NAME):
        return fields, ([] if scan.unreadable else [f"missing {RUN_JSON_NAME}"]) + missing
    try:
        raw = (folder / RUN_JSON_NAME).read_bytes()
        data = loads_strict(raw)
    except OSError as exc:
        return fields, [f"Failed to parse {RUN_JSON_NAME}: {exc.strerror or exc}", *missing]
    except JSONDecodeProblem as exc:
        return fields, [f"Failed to parse {RUN_JSON_NAME}: {_parse_reason(raw, exc)}", *missing]
    if not isinstance(data, dict):
        return fields, [f"{RUN_JSON_NAME} top-level is not an object", *missing]
    if not isinstance(data.get("created_utc"), str):
        data = {**data, "created_utc": data.get("created_at")}
    for name in _ENVELOPE_FIELDS:
        value = data.get(name)
        fields[name] = value if isinstance(value, str) and value else None
    state = data.get("working_tree_state")
    fields["working_tree_state"] = state if state in _TREE_STATES else None
    return fields, missing


def _parse_reason(raw: bytes, problem: JSONDecodeProblem) -> str:
    """Why run.json does not parse, in the words the seed's builder uses (Python's decoder
    messages) when Python's decoder refuses it too, else our strict rule (a duplicate key, NaN)."""
    try:
        json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return str(exc)
    except (ValueError, RecursionError) as exc:
        return str(exc)
    return str(problem)


def _manifest_root(folder: Path | str) -> str | None:
    """The ROOT_SHA256 value of MANIFEST.sha256 when it is well formed, else None."""
    try:
        with open(os.path.join(folder, MANIFEST_SHA256), "rb") as handle:
            text = handle.read().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    for row in text.split("\n"):
        if row.startswith(ROOT_LABEL):
            value = row.rstrip("\r")[len(ROOT_LABEL) :]
            ok = value.startswith("  ") and HEX64.fullmatch(value[2:])
            return value[2:] if ok else None
    return None
