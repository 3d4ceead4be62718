"""The cheap reuse path: a folder that passed with the same root keeps its previous v0.1 line."""

from __future__ import annotations

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
) -> tuple[bytes, dict[str, Any]] | None:
    """The previous v0.1 line and a `reused` verdict, for a folder that passed with this root.

    None (index the folder) unless: it passed before, its seal files are still regular files,
    its ROOT line still says the previous root, the previous line is a plain passing line for
    this very run_key and root, and the folder is exactly as it was when it last passed
    validation (`passed_unchanged`: names, sizes, mtimes, ctimes, inodes of all its files), so
    an edit that keeps the root line and the size is still re-verified. Never reads run.json.
    """
    run_id = printable(name)
    run_key = f"{root.label}::{run_id}"
    prior = previous.get(run_key)
    if prior is None or prior.status != PASS or prior.manifest_root_sha256 is None:
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
    if raw is None or not _plain_passing_line(raw, root.label, run_id, run_key, manifest_root):
        return None
    if not passed_unchanged(folder, schemas):
        return None
    return raw, {"run_key": run_key, **_status(manifest_root, [], REUSED, None)}


def _plain_passing_line(raw: bytes, label: str, run_id: str, run_key: str, root: str) -> bool:
    """Whether `raw` is the compact v0.1 line this builder writes for a passing folder.

    Compared as bytes (no parsing: it runs once per reused folder): the identity fields up to
    `run_path`, the three seal flags, the root and the passing `warnings`, each exactly where
    this builder writes them. The whole new file is still schema-checked by the blocking check.
    """
    head = (
        _dumps_line(
            {
                "registry_version": "0.1",
                "run_id": run_id,
                "run_root": label,
                "run_key": run_key,
                "run_path": f"{label}/{run_id}/",
            }
        )[:-2]
        + b","
    )
    seal = (
        b',"has_run_json":true,"has_manifest_sha256":true,"has_manifest_json":true,'
        b'"manifest_root_sha256":"' + root.encode("ascii") + b'","files":'
    )
    return raw.startswith(head) and seal in raw and raw.endswith(_PASSING_TAIL)


_PASSING_TAIL = b',"warnings":["seal:' + PASS.encode("ascii") + b'"]}\n'
