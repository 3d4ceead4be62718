"""Validating one entry: its type's own schema (JSON or YAML) or, without one, the schema that
governs the whole file once the entry is in it."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from registry_pipeline.core.errors import UsageError
from registry_pipeline.core.json_strict import JSONDecodeProblem
from registry_pipeline.core.seal.schemas import MAX_MESSAGE, SchemaCatalog
from registry_pipeline.core.write_path.content import parse_file
from registry_pipeline.core.write_path.findings import Finding
from registry_pipeline.core.write_path.types import EntryType


def entry_violations(
    root: Path, entry_type: EntryType, key: str | None, value: Any
) -> list[Finding]:
    """Every violation of `value` against the type's entry schema (none without one)."""
    if entry_type.schema is None:
        return []
    path = str(root / entry_type.schema)
    validator = _validator(path, _stamp(root / entry_type.schema))
    try:
        errors = sorted(
            validator.iter_errors(value), key=lambda e: [str(p) for p in e.absolute_path]
        )
    except (
        Exception
    ) as exc:  # referencing's errors: a $ref that does not resolve (nothing is fetched)
        if type(exc).__module__.split(".")[0] not in ("referencing", "jsonschema"):
            raise
        raise UsageError(
            f"the entry schema cannot be applied: {exc} (a $ref resolves only inside the schema; "
            "nothing is fetched)",
            code="SCHEMA_INVALID",
            path=path,
        ) from None
    return [
        Finding(
            "SCHEMA_VIOLATION",
            "error",
            entry_type.name,
            key,
            "".join(f"/{part}" for part in error.absolute_path),
            _short(error.message),
            entry_type.file_of(key) if key else None,
        )
        for error in errors
    ]


def file_violations(
    schemas: SchemaCatalog,
    entry_type: EntryType,
    key: str,
    sealed_name: str,
    document: Any,
    pointer: str,
) -> list[Finding]:
    """Violations under the entry's `pointer` of the file's own schema (types without an entry
    schema): the rest of the file is not the entry's doing."""
    schema = schemas.for_artifact(sealed_name)
    if schema is None:
        return []
    return [
        Finding(
            "SCHEMA_VIOLATION",
            "error",
            entry_type.name,
            key,
            violation.pointer[len(pointer) :],
            violation.message,
            entry_type.file_of(key),
        )
        for violation in schemas.validate(schema.schema_id, document, limit=200)
        if violation.pointer == pointer or violation.pointer.startswith(pointer + "/")
    ]


def schema_paths(entry_types: Iterable[EntryType]) -> list[str]:
    """The entry schemas the types name."""
    return sorted({t.schema for t in entry_types if t.schema})


def _short(message: str) -> str:
    return message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 3] + "..."


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_mtime_ns, info.st_size


@functools.lru_cache(maxsize=64)
def _validator(path: str, stamp: object) -> Any:
    """A draft 2020-12 validator for the schema file at `path`; SCHEMA_INVALID / SCHEMA_UNREADABLE
    naming it. Nothing is fetched: a `$ref` outside the document is unresolvable."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError
    from referencing import Registry

    try:
        document = parse_file(path, Path(path).read_bytes()).document
    except (OSError, JSONDecodeProblem) as exc:
        raise UsageError(
            f"cannot read the entry schema: {exc}", code="SCHEMA_UNREADABLE", path=path
        ) from None
    if not isinstance(document, dict):
        raise UsageError("an entry schema must be an object", code="SCHEMA_INVALID", path=path)
    try:
        Draft202012Validator.check_schema(document)
    except SchemaError as exc:
        raise UsageError(
            f"not a valid draft 2020-12 schema: {exc.message}", code="SCHEMA_INVALID", path=path
        ) from None
    return Draft202012Validator(document, registry=Registry())
