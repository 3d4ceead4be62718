"""The schema catalog: JSON Schemas (draft 2020-12) loaded from disk, mapped by artifact name.

A schema names the artifacts it governs in `x-registry-artifacts` (glob patterns matched against
the relpath, or against the file name alone), and their format (`json` or `jsonl`) in
`x-registry-format`. `$ref`s resolve only among the loaded schemas: nothing is ever fetched.
"""

from __future__ import annotations

import fnmatch
import functools
import hashlib
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from registry_pipeline.core._json import JSONDecodeProblem, loads_strict
from registry_pipeline.core.errors import UsageError

ENVELOPE_ID = "urn:registry-pipeline:schema:run_envelope"
MANIFEST_ID = "urn:registry-pipeline:schema:manifest"
MAX_MESSAGE = 240


@functools.cache
def builtin_schema_dir() -> Path:
    """The schemas shipped with the package (`registry_pipeline/schemas/`)."""
    return Path(__file__).resolve().parents[2] / "schemas"


@dataclass(frozen=True)
class SchemaViolation:
    """One schema error: where in the instance (a JSON pointer) and what is wrong."""

    pointer: str
    message: str

    def __str__(self) -> str:
        return f"{self.pointer or '/'}: {self.message}"


@dataclass(frozen=True)
class ArtifactSchema:
    """A loaded schema and the artifacts it governs."""

    schema_id: str
    path: Path
    document: dict[str, Any]
    patterns: tuple[str, ...]
    format: str

    def matches(self, relpath: str) -> bool:
        """Whether this schema governs the artifact at `relpath`."""
        name = relpath.rsplit("/", 1)[-1]
        return any(
            fnmatch.fnmatchcase(relpath, pattern) or fnmatch.fnmatchcase(name, pattern)
            for pattern in self.patterns
        )


@dataclass
class SchemaCatalog:
    """Every schema from a list of folders; later folders may add schemas, never replace one."""

    schemas: dict[str, ArtifactSchema] = field(default_factory=dict)

    @classmethod
    def load(cls, folders: Sequence[Path]) -> SchemaCatalog:
        """Load `*.schema.json` from each folder that exists; bad schemas are a usage error.

        A later folder may add schemas and may override an earlier folder's schema of the same
        `$id` (a workspace's own copy wins over the built-in one, so a workspace keeps its contract
        across upgrades); one folder holding two different schemas of one `$id` is an error.
        """
        catalog = cls()
        seen: set[Path] = set()
        for folder in folders:
            if not folder.is_dir() or folder.resolve() in seen:
                continue
            seen.add(folder.resolve())
            in_folder: set[str] = set()
            for path in sorted(folder.glob("*.schema.json")):
                in_folder.add(catalog._add(path, in_folder))
        return catalog

    @classmethod
    def for_workspace(cls, workspace_root: Path | None) -> SchemaCatalog:
        """Built-in schemas plus the workspace's own `schemas/` folder."""
        builtin = builtin_schema_dir()
        if not (builtin / "run_envelope.schema.json").is_file():
            # Never validate with fewer schemas than shipped: a broken install is an error.
            raise UsageError(
                "the package's built-in schemas are missing; reinstall registry-pipeline",
                code="SCHEMAS_MISSING",
                path=str(builtin),
            )
        folders = [str(builtin)]
        if workspace_root is not None:
            folders.append(str(workspace_root / "schemas"))
        return _cached_catalog(tuple(folders), _stamp(folders))

    def _add(self, path: Path, in_folder: set[str]) -> str:
        try:
            document = loads_strict(path.read_bytes())
        except (OSError, JSONDecodeProblem) as exc:
            raise UsageError(
                f"cannot read schema: {exc}", code="SCHEMA_UNREADABLE", path=str(path)
            ) from None
        if not isinstance(document, dict) or not isinstance(document.get("$id"), str):
            raise UsageError(
                "a schema must be an object with a string $id",
                code="SCHEMA_INVALID",
                path=str(path),
            )
        schema_id: str = document["$id"]
        if schema_id in self.schemas and self.schemas[schema_id].document == document:
            return schema_id  # an identical copy: keep the first (built-in) one
        if schema_id in in_folder and self.schemas[schema_id].document != document:
            raise UsageError(
                f"duplicate $id {schema_id!r} (also {self.schemas[schema_id].path})",
                code="SCHEMA_INVALID",
                path=str(path),
            )
        patterns = tuple(document.get("x-registry-artifacts", ()))
        self.schemas[schema_id] = ArtifactSchema(
            schema_id, path, document, patterns, str(document.get("x-registry-format", "json"))
        )
        return schema_id

    @functools.cached_property
    def fingerprint(self) -> str:
        """SHA-256 over every schema's `$id` and document: equal catalogs, equal fingerprints."""
        digest = hashlib.sha256()
        for schema_id in sorted(self.schemas):
            document = json.dumps(self.schemas[schema_id].document, sort_keys=True)
            digest.update(f"{schema_id}\0{document}\n".encode())
        return digest.hexdigest()

    def for_artifact(self, relpath: str) -> ArtifactSchema | None:
        """The schema governing the artifact at `relpath`, if any."""
        for schema in self.schemas.values():
            if schema.patterns and schema.matches(relpath):
                return schema
        return None

    def validate(self, schema_id: str, instance: Any, limit: int = 20) -> list[SchemaViolation]:
        """Every violation of `instance` against the schema, up to `limit`, in a stable order."""
        from referencing.exceptions import Unresolvable

        if self._quick_ok(schema_id, instance):
            return []
        validator = self._validator(schema_id)
        try:
            errors = sorted(validator.iter_errors(instance), key=_natural_path)
        except Unresolvable as exc:
            raise UsageError(
                f"unresolvable $ref {exc} (only refs among the loaded schemas resolve; "
                "nothing is fetched)",
                code="SCHEMA_INVALID",
                path=str(self.schemas[schema_id].path),
            ) from None
        found: list[SchemaViolation] = []
        for error in errors:
            pointer = "".join(f"/{part}" for part in error.absolute_path)
            message = error.message
            if len(message) > MAX_MESSAGE:
                message = message[: MAX_MESSAGE - 3] + "..."
            found.append(SchemaViolation(pointer, message))
            if len(found) >= limit:
                break
        return found

    def _quick_ok(self, schema_id: str, instance: Any) -> bool:
        """A conservative fast path for built-in schemas validated once per line of big files."""
        from registry_pipeline.core.seal._quick_checks import QUICK_CHECKS

        quick = QUICK_CHECKS.get(schema_id)
        if quick is None or not self._is_builtin(schema_id):
            return False  # no quick check, or a workspace's own version: only jsonschema knows it
        return quick(instance)

    @functools.cache  # noqa: B019 - a catalog lives as long as the process, by design
    def _is_builtin(self, schema_id: str) -> bool:
        return self.schemas[schema_id].path.parent.resolve() == builtin_schema_dir().resolve()

    def metaschema_problems(self) -> Iterator[tuple[Path, str]]:
        """Schemas that are not themselves valid draft 2020-12 schemas."""
        from jsonschema import Draft202012Validator

        for schema in self.schemas.values():
            for error in Draft202012Validator(Draft202012Validator.META_SCHEMA).iter_errors(
                schema.document
            ):
                yield schema.path, error.message

    @functools.cache  # noqa: B019 - a catalog lives as long as the process, by design
    def _validator(self, schema_id: str) -> Any:
        from jsonschema import Draft202012Validator
        from jsonschema.exceptions import SchemaError
        from referencing import Registry, Resource
        from referencing.exceptions import NoSuchResource
        from referencing.jsonschema import DRAFT202012

        def refuse(uri: str) -> Resource[Any]:
            raise NoSuchResource(ref=uri)  # type: ignore[call-arg]

        registry: Registry[Any] = Registry(retrieve=refuse).with_resources(  # type: ignore[call-arg]
            (sid, DRAFT202012.create_resource(s.document)) for sid, s in self.schemas.items()
        )
        schema = self.schemas[schema_id]
        try:
            Draft202012Validator.check_schema(schema.document)
        except SchemaError as exc:
            raise UsageError(
                f"not a valid draft 2020-12 schema: {exc.message}",
                code="SCHEMA_INVALID",
                path=str(schema.path),
            ) from None
        return Draft202012Validator(schema.document, registry=registry)

    def __hash__(self) -> int:
        return id(self)


@functools.lru_cache(maxsize=16)
def _cached_catalog(folders: tuple[str, ...], stamp: tuple[object, ...]) -> SchemaCatalog:
    return SchemaCatalog.load([Path(folder) for folder in folders])


def _stamp(folders: Sequence[str]) -> tuple[object, ...]:
    """Names, sizes, mtimes and ctimes of the schema files: an edited schema is loaded again
    (a long-lived process such as `dagster dev` sees schema changes)."""
    entries: list[object] = []
    for folder in folders:
        try:
            with os.scandir(folder) as listing:
                for entry in listing:
                    if entry.name.endswith(".schema.json"):
                        info = entry.stat()
                        entries.append(
                            (entry.path, info.st_size, info.st_mtime_ns, info.st_ctime_ns)
                        )
        except OSError:
            entries.append((folder, None))
    return tuple(sorted(entries, key=str))


def _natural_path(error: Any) -> list[tuple[int, int | str]]:
    """Where an error is, in document order: array indexes as numbers (/2 before /10)."""
    return [(0, part) if isinstance(part, int) else (1, str(part)) for part in error.path]


def iter_jsonl(data: bytes) -> Iterable[tuple[int, Any]]:
    """(line number, parsed object) per non-empty line; raises JSONDecodeProblem with the line."""
    for number, line in enumerate(data.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            yield number, loads_strict(line)
        except JSONDecodeProblem as exc:
            raise JSONDecodeProblem(f"line {number}: {exc.message}", exc.code) from None
