"""The schema catalog: JSON Schemas (draft 2020-12) loaded from disk, mapped by artifact name.

A schema names the artifacts it governs in `x-registry-artifacts` (glob patterns matched against
the relpath, or against the file name alone), and their format (`json` or `jsonl`) in
`x-registry-format`. `$ref`s resolve only among the loaded schemas: nothing is ever fetched.

A *binding* is a schema file that only names another file's schema (`x-schema-file`, relative to
the binding's folder, inside the workspace, no symlink on the way) and adds our `$id`, patterns
and format: an adopted repository's schemas are validated where they live, never copied.
"""

from __future__ import annotations

import fnmatch
import functools
import hashlib
import json
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from registry_pipeline.core.errors import UsageError
from registry_pipeline.core.json_strict import JSONDecodeProblem, loads_strict
from registry_pipeline.core.seal._schema_bindings import BINDING_KEY, bound_file, walk_binding
from registry_pipeline.core.seal.hashing import jsonl_records

ENVELOPE_ID = "urn:registry-pipeline:schema:run_envelope"
MANIFEST_ID = "urn:registry-pipeline:schema:manifest"
MAX_MESSAGE = 240
MAX_REMEMBERED = 4096
"""Relpaths whose governing schema a catalog remembers."""


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
    """The file whose document validates (for a binding, the file it names)."""
    document: dict[str, Any]
    patterns: tuple[str, ...]
    format: str
    binding: Path | None = None
    """The binding file that named `path`; None for a schema file used as it is."""
    binding_document: dict[str, Any] | None = None
    """The binding's own object (its `$id`, patterns and format), when bound."""

    @property
    def origin(self) -> Path:
        """The file of the schema folder this schema was loaded from."""
        return self.binding or self.path

    def matches(self, relpath: str) -> bool:
        """Whether this schema governs the artifact at `relpath`: a pattern with a `/` matches
        the relpath, one without matches the file name; `*` never crosses a `/` (a collection's
        `p1/outputs/evidence_pack_v0_2/meta.json` is no `*_pack_v[0-9]*.json`)."""
        name = relpath.rsplit("/", 1)[-1]
        depth = relpath.count("/")
        return any(
            fnmatch.fnmatchcase(relpath, pattern)
            if "/" in pattern
            else fnmatch.fnmatchcase(name, pattern)
            for pattern in self.patterns
            if "/" not in pattern or pattern.count("/") == depth
        )


@dataclass
class SchemaCatalog:
    """Every schema from a list of folders; later folders may add schemas, never replace one."""

    schemas: dict[str, ArtifactSchema] = field(default_factory=dict)
    _rank: dict[str, int] = field(default_factory=dict, repr=False)
    """The index of the folder each schema came from: a later folder's schema wins an artifact."""
    _governing: dict[str, ArtifactSchema | None] = field(default_factory=dict, repr=False)
    """`for_artifact`'s answers by relpath (a loaded catalog never changes)."""

    @classmethod
    def load(cls, folders: Sequence[Path]) -> SchemaCatalog:
        """Load `*.schema.json` from each folder that exists; bad schemas are a usage error.

        A later folder may add schemas and may override an earlier folder's schema of the same
        `$id` (a workspace's own copy wins over the built-in one, so a workspace keeps its contract
        across upgrades); one folder holding two different schemas of one `$id` is an error.
        A binding (`x-schema-file`) brings the document of the file it names.
        """
        catalog = cls()
        seen: set[Path] = set()
        for rank, folder in enumerate(folders):
            if not folder.is_dir() or folder.resolve() in seen:
                continue
            seen.add(folder.resolve())
            in_folder: set[str] = set()
            for path in sorted(folder.glob("*.schema.json")):
                in_folder.add(catalog._add(path, in_folder, rank))
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

    def _add(self, path: Path, in_folder: set[str], rank: int) -> str:
        declared = _read_schema(path, "cannot read schema")
        if not isinstance(declared, dict) or not isinstance(declared.get("$id"), str):
            raise UsageError(
                "a schema must be an object with a string $id",
                code="SCHEMA_INVALID",
                path=str(path),
            )
        schema_id: str = declared["$id"]
        patterns = tuple(declared.get("x-registry-artifacts", ()))
        fmt = str(declared.get("x-registry-format", "json"))
        if BINDING_KEY in declared:
            target = bound_file(path, declared)
            document = _read_schema(target, f"cannot read the schema bound by {path}")
            if not isinstance(document, dict):
                raise UsageError(
                    f"the schema bound by {path} must be a JSON object",
                    code="SCHEMA_INVALID",
                    path=str(target),
                )
            schema = ArtifactSchema(schema_id, target, document, patterns, fmt, path, declared)
        else:
            schema = ArtifactSchema(schema_id, path, declared, patterns, fmt)
        known = self.schemas.get(schema_id)
        if known is not None and _contents(known) == _contents(schema):
            return schema_id  # an identical copy: keep the first (built-in) one
        if known is not None and schema_id in in_folder:
            raise UsageError(
                f"duplicate $id {schema_id!r} (also {known.origin})",
                code="SCHEMA_INVALID",
                path=str(path),
            )
        self._governing.clear()
        self.schemas.pop(schema_id, None)  # an override goes last, in its own folder's order
        self.schemas[schema_id] = schema
        self._rank[schema_id] = rank
        return schema_id

    @functools.cached_property
    def fingerprint(self) -> str:
        """SHA-256 over every schema's `$id` and document (for a binding, the binding's object
        and the bound document): equal catalogs, equal fingerprints."""
        digest = hashlib.sha256()
        for schema_id in sorted(self.schemas):
            contents = "\0".join(
                json.dumps(part, sort_keys=True) for part in _contents(self.schemas[schema_id])
            )
            digest.update(f"{schema_id}\0{contents}\n".encode())
        return digest.hexdigest()

    def for_artifact(self, relpath: str) -> ArtifactSchema | None:
        """The schema governing the artifact at `relpath`, if any: a workspace schema wins over a
        built-in one (the later folder wins), then the first in file-name order. Remembered per
        relpath: matching every pattern costs more than the rest of checking a small folder."""
        known = self._governing
        if relpath not in known:
            if len(known) >= MAX_REMEMBERED:
                known.clear()  # a long-lived process sees ever new names: memory stays flat
            known[relpath] = self._find_artifact(relpath)
        return known[relpath]

    def _find_artifact(self, relpath: str) -> ArtifactSchema | None:
        found: ArtifactSchema | None = None
        for schema in self.schemas.values():
            if schema.patterns and schema.matches(relpath):
                rank = self._rank.get(schema.schema_id, 0)
                if found is None or rank > self._rank.get(found.schema_id, 0):
                    found = schema
        return found

    def validate(self, schema_id: str, instance: Any, limit: int = 20) -> list[SchemaViolation]:
        """Every violation of `instance` against the schema, up to `limit`, in a stable order.

        jsonschema-rs, compiled once per schema, decides first; jsonschema (the reference, whose
        verdict this always is) is asked only when it finds a violation or cannot vouch for the
        schema or the instance (see `_compiled_schema`), and writes the messages.
        """
        fast = self._fast_check(schema_id)
        if fast is not None and fast(instance):
            return []
        from referencing.exceptions import Unresolvable

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

    def is_all_valid(self, schema_id: str, instances: list[Any], *, plain: bool = False) -> bool:
        """Whether `validate` finds no violation in any of `instances`: one jsonschema-rs call
        over them all decides when it vouches for them, else each is validated (up to the first
        invalid one). `plain`: the caller knows them plain (`_compiled_schema.plain`)."""
        batch = self._batch_check(schema_id)
        if batch is not None and batch(instances, plain):
            return True
        return not any(self.validate(schema_id, instance, limit=1) for instance in instances)

    @functools.cache  # noqa: B019 - a catalog lives as long as the process, by design
    def _batch_check(self, schema_id: str) -> Callable[[list[Any], bool], bool] | None:
        """`_fast_check` of many instances in one call (`compile_batch_check`), or None."""
        from registry_pipeline.core.seal._compiled_schema import compile_batch_check

        if self._fast_check(schema_id) is None:
            return None
        documents = {sid: schema.document for sid, schema in self.schemas.items()}
        return compile_batch_check(schema_id, documents)

    def prepare(self, *schema_ids: str) -> None:
        """Compile these schemas' checks now (e.g. before forking workers, which inherit them)."""
        for schema_id in schema_ids:
            self._fast_check(schema_id)

    @functools.cache  # noqa: B019 - a catalog lives as long as the process, by design
    def _fast_check(self, schema_id: str) -> Callable[[Any], bool] | None:
        """jsonschema-rs compiled for the schema (True: valid); None when it cannot vouch.

        A workspace's schema is first checked by jsonschema (one it refuses stays a usage error);
        the built-in ones are not, so that a valid folder never imports jsonschema: a test holds
        them valid draft 2020-12 schemas.
        """
        from registry_pipeline.core.seal._compiled_schema import compile_check

        if not self._is_builtin(schema_id):
            self._validator(schema_id)
        documents = {sid: schema.document for sid, schema in self.schemas.items()}
        return compile_check(schema_id, documents)

    @functools.cache  # noqa: B019 - a catalog lives as long as the process, by design
    def _is_builtin(self, schema_id: str) -> bool:
        return self.schemas[schema_id].origin.parent.resolve() == builtin_schema_dir().resolve()

    def metaschema_problems(self) -> Iterator[tuple[Path, str]]:
        """Schemas that are not themselves valid draft 2020-12 schemas (a bound document is
        reported with its own path)."""
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
    """Names, sizes, mtimes and ctimes of the schema files and of the files bindings name: an
    edited schema is loaded again (a long-lived process such as `dagster dev` sees changes)."""
    entries: list[object] = []
    for folder in folders:
        try:
            with os.scandir(folder) as listing:
                for entry in listing:
                    if entry.name.endswith(".schema.json"):
                        info = entry.stat()
                        key = (info.st_size, info.st_mtime_ns, info.st_ctime_ns)
                        entries.append((entry.path, *key))
                        bound = _bound_name(entry.path, *key)
                        if bound is not None:
                            entries.append(_file_stamp(bound))
        except OSError:
            entries.append((folder, None))
    return tuple(sorted(entries, key=str))


def _file_stamp(path: str) -> tuple[object, ...]:
    try:
        info = os.stat(path)
    except OSError:
        return (path, None)
    return (path, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


@functools.lru_cache(maxsize=1024)
def _bound_name(path: str, size: int, mtime_ns: int, ctime_ns: int) -> str | None:
    """The file a binding names, read again only when the binding's stat changes; None for a
    schema, an unreadable file or a reference that leaves the workspace (loading refuses it)."""
    try:
        declared = loads_strict(Path(path).read_bytes())
    except (OSError, JSONDecodeProblem):
        return None
    if not isinstance(declared, dict) or BINDING_KEY not in declared:
        return None
    try:
        return str(walk_binding(Path(path), declared[BINDING_KEY])[-1])
    except ValueError:
        return None


def _read_schema(path: Path, what: str) -> Any:
    try:
        return loads_strict(path.read_bytes())
    except (OSError, JSONDecodeProblem) as exc:
        raise UsageError(f"{what}: {exc}", code="SCHEMA_UNREADABLE", path=str(path)) from None


def _contents(schema: ArtifactSchema) -> tuple[dict[str, Any], ...]:
    """What a schema is made of: its document, and the binding's own object when bound."""
    if schema.binding_document is None:
        return (schema.document,)
    return (schema.binding_document, schema.document)


def _natural_path(error: Any) -> list[tuple[int, int | str]]:
    """Where an error is, in document order: array indexes as numbers (/2 before /10)."""
    return [(0, part) if isinstance(part, int) else (1, str(part)) for part in error.path]


def iter_jsonl(data: bytes) -> Iterable[tuple[int, Any]]:
    """(line number, parsed object) per non-empty line; raises JSONDecodeProblem with the line
    (`hashing.jsonl_records` over the lines of `data`: one rule for whole and streamed files)."""
    return jsonl_records(data.split(b"\n"))
