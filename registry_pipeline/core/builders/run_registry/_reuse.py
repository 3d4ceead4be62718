"""The cheap reuse path: a folder that passed with the same root keeps its previous v0.1 line."""

from __future__ import annotations

import json
import os
import stat
from typing import Any

from registry_pipeline.core.builders.run_registry._folder import _manifest_root
from registry_pipeline.core.builders.run_registry._model import PASS, REUSED, RunRoot
from registry_pipeline.core.builders.run_registry._previous import PreviousSnapshot
from registry_pipeline.core.builders.run_registry._render import _dumps_line
from registry_pipeline.core.builders.run_registry._verdict import _status
from registry_pipeline.core.seal.manifest import MANIFEST_JSON, MANIFEST_SHA256
from registry_pipeline.core.seal.manifest import RUN_JSON as RUN_JSON_NAME
from registry_pipeline.core.seal.paths import printable
from registry_pipeline.core.seal.schemas import SchemaCatalog
from registry_pipeline.core.seal.validate import passed_unchanged


def _reuse_line(
    root: RunRoot, name: str, previous: PreviousSnapshot, schemas: SchemaCatalog
) -> tuple[bytes, str | None, dict[str, Any]] | None:
    """The previous v0.1 line, its created_utc and a `reused` verdict, for a folder that passed
    with this root.

    None (index the folder) unless: it passed before, its seal files are still regular files,
    its ROOT line still says the previous root, the previous line is a plain passing line for
    this very run_key and root in this builder's current line format, the previous companion
    line listed its nested files, and the folder is exactly as it was when it last passed
    validation (`passed_unchanged`: names, sizes, mtimes, ctimes, inodes of all its files), so
    an edit that keeps the root line and the size is still re-verified. Never reads run.json.
    """
    run_id = printable(name)
    run_key = f"{root.label}::{run_id}"
    prior = previous.get(run_key)
    if (
        prior is None
        or prior.status != PASS
        or prior.manifest_root_sha256 is None
        or prior.nested_files is None
    ):
        return None
    folder = os.path.join(root.path, name)  # str paths: pathlib costs more than the lstat
    for seal_file in (RUN_JSON_NAME, MANIFEST_JSON, MANIFEST_SHA256):
        try:
            if not stat.S_ISREG(os.lstat(os.path.join(folder, seal_file)).st_mode):
                return None
        except OSError:
            return None
    manifest_root = _manifest_root(folder)
    if manifest_root != prior.manifest_root_sha256:
        return None
    raw = previous.registry_line(prior)
    if raw is None:
        return None
    head = _head(root.label, run_id, run_key)
    if not _plain_passing_line(raw, head, manifest_root):
        return None
    readable, created = _created_utc(raw, len(head))
    if not readable or not passed_unchanged(folder, schemas):
        return None
    verdict = _status(manifest_root, [], REUSED, None)
    return raw, created, {"run_key": run_key, **verdict, "nested_files": prior.nested_files}


def _head(label: str, run_id: str, run_key: str) -> bytes:
    """The bytes this builder writes for a folder's line up to `"created_utc":`."""
    identity = {
        "registry_version": "0.1",
        "run_id": run_id,
        "run_root": label,
        "run_key": run_key,
        "run_path": f"{label}/{run_id}/",
    }
    return _dumps_line(identity)[:-2] + b',"created_utc":'


def _plain_passing_line(raw: bytes, head: bytes, root: str) -> bool:
    """Whether `raw` is the compact v0.1 line this builder writes for a passing folder.

    Compared as bytes (no parsing: it runs once per reused folder): the identity fields up to
    `created_utc`, the three seal flags, the root and the empty `warnings`, each exactly where
    this builder writes them. A line of an older format (the verdict in `warnings`, nested files
    in `files`, raw UTF-8) never ends this way, so it is rebuilt. The whole new file is still
    schema-checked by the blocking check.
    """
    seal = (
        b',"has_run_json":true,"has_manifest_sha256":true,"has_manifest_json":true,'
        b'"manifest_root_sha256":"' + root.encode("ascii") + b'","files":'
    )
    return raw.startswith(head) and seal in raw and raw.endswith(_PASSING_TAIL) and raw.isascii()


def _created_utc(raw: bytes, start: int) -> tuple[bool, str | None]:
    """(readable, value): the created_utc value that starts at `raw[start:]`, null or a string."""
    try:
        value, _end = _DECODER.raw_decode(raw.decode("ascii"), start)
    except ValueError:
        return False, None
    return (True, value) if value is None or isinstance(value, str) else (False, None)


_DECODER = json.JSONDecoder()
_PASSING_TAIL = b',"warnings":[]}\n'
