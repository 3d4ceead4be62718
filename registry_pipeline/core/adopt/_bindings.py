"""Schema bindings: `schemas/<registry_id>.schema.json` documents that bind a registry's
artifacts to the repository's own JSON Schema, by naming that file (`x-schema-file`), never by
copying it, so an edit to their schema takes effect at once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from registry_pipeline.core.adopt._collection import PLACEHOLDER
from registry_pipeline.core.adopt.v01 import SeedLayout
from registry_pipeline.core.json_strict import JSONDecodeProblem, loads_strict

BINDING_PREFIX = "urn:registry-pipeline:adopted:"
FORMATS = {".json": "json", ".jsonl": "jsonl"}


def binding(layout: SeedLayout, entry: dict[str, Any]) -> dict[str, Any] | None:
    """The binding of a source or collection entry whose schema file the repository has
    (`<schemas>/<schema_id>.schema.json`), None when there is nothing to bind."""
    if entry["kind"] not in ("source", "collection") or layout.schemas_dir is None:
        return None
    name = f"{entry['schema_id']}.schema.json"
    schema = layout.schemas_dir / name
    if Path(name).name != name or name.startswith(".") or not schema.is_file():
        return None  # only a file directly in their schemas folder
    if entry["kind"] == "collection":
        bound = _members(schema, entry["sources"])
        if bound is None:
            return None
        artifacts, fmt = bound
    elif all(name.endswith(".json") for name in entry["artifacts"]):
        artifacts, fmt = _with_snapshot_names(entry["artifacts"]), "json"
    else:
        return None  # their JSON Schema cannot govern a CSV or Markdown file
    return {
        "$id": BINDING_PREFIX + entry["registry_id"],
        "title": f"{entry['registry_id']}: bound to the repository's own schema",
        "x-registry-artifacts": artifacts,
        "x-registry-format": fmt,
        "x-schema-file": "../" + layout.relpath(schema),
    }


def _members(schema: Path, globs: list[str]) -> tuple[list[str], str] | None:
    """The member names a collection's schema governs, and their format; None unless the
    schema is clearly one of each member.

    A collection's schema is bound only when it says it describes each member file: its title
    or description names the member path (`Schema for artifacts/derived_validation/<uuid>/
    derived_validation_report.json`, or the same path with `*`), and the members are JSON or
    JSONL files of one fixed-extension name. The seed's derived-validation-reports schema is
    such a schema (one report, `required` fields of a report), so each member is checked
    against it. Its evidence-pack schema describes a manifest *entry* (`relpath`, `bytes`,
    `sha256`): no file of a pack is one, so bound to the members it would fail every one;
    a folder per run (`**/*`) is never bound.
    """
    try:
        document = loads_strict(schema.read_bytes())
    except (OSError, JSONDecodeProblem):
        return None
    if not isinstance(document, dict):
        return None
    said = " ".join(
        PLACEHOLDER.sub("*", document[key])
        for key in ("title", "description")
        if isinstance(document.get(key), str)
    )
    names: list[str] = []
    formats: set[str] = set()
    for glob in globs:
        name = glob.rsplit("/", 1)[-1]
        fmt = FORMATS.get(Path(name).suffix)
        if glob not in said or fmt is None or "**" in glob:
            return None
        names.append(name)
        formats.add(fmt)
    return (names, formats.pop()) if len(formats) == 1 else None


def _with_snapshot_names(artifacts: list[str]) -> list[str]:
    """The artifact names, and the names the seed's seal-promotion script gives the same files
    (`EXPECTED_VERSIONS_v0_1_snapshot.json`), so their snapshots are checked by the same schema."""
    names = list(artifacts)
    for name in artifacts:
        stem, dot, suffix = name.rpartition(".")
        names.append(f"{stem}_snapshot{dot}{suffix}" if dot else f"{name}_snapshot")
    return names
