"""The schema catalog: JSON Schemas by artifact name, `$ref`s resolved only among those loaded."""

from __future__ import annotations

import fnmatch
import functools
import hashlib
import json
import os
import stat
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PureWindowsPath
from typing import Any

from registry_pipeline.core.errors import Problem, RegistryError
from registry_pipeline.core.fs import file_stamp
from registry_pipeline.core.json_strict import JSONDecodeProblem, loads_strict

DRAFT = "https://json-schema.org/draft/2020-12/schema"
ENVELOPE_ID = "urn:registry-pipeline:schema:run_envelope"
MANIFEST_ID = "urn:registry-pipeline:schema:manifest"
MAX_MESSAGE = 240
MAX_REMEMBERED = 4096
"""Relpaths whose governing schema the catalogs remember (memory stays flat)."""


BINDING_KEY = "x-schema-file"
BINDING_KEYWORDS = frozenset({"$id", "$schema", "title", "description"})
"""The keywords a binding may hold besides `x-*` ones: a binding is not itself a schema."""


def walk_binding(binding: Path, target: object) -> list[Path]:
    """Every path the OS passes to open `target` from the binding; ValueError if it may leave."""
    if not isinstance(target, str) or not target:
        raise ValueError("must be a non-empty relative path (a string)")
    if "\\" in target or "\0" in target:
        raise ValueError("must use `/` as separator (no backslash, no NUL)")
    if target.startswith("/") or PureWindowsPath(target).drive:
        raise ValueError("is absolute: it must be relative to the binding's folder")
    folder = binding.absolute().parent
    parts = [folder.name]
    walk = [folder]
    for part in target.split("/"):
        if part == "..":
            if not parts:
                raise ValueError(f"leads outside the workspace {folder.parent}")
            parts.pop()
        elif part not in ("", "."):
            parts.append(part)
            walk.append(folder.parent.joinpath(*parts))
    walk.append(folder.parent.joinpath(*parts))
    return walk


def bound_file(binding: Path, declared: dict[str, Any]) -> Path:
    """The file a binding names; SCHEMA_INVALID if it may leave, SCHEMA_UNREADABLE if missing."""
    invalid = functools.partial(RegistryError.of, "SCHEMA_INVALID", path=binding)
    what = f"the schema bound by {binding}"
    unreadable = functools.partial(RegistryError.of, "SCHEMA_UNREADABLE", what=what)
    extra = sorted(k for k in declared if k not in BINDING_KEYWORDS and not k.startswith("x-"))
    if extra:
        raise invalid(reason=f"a binding ({BINDING_KEY}) holds only $id, $schema, title, "
                      "description and x-* keys, not a schema of its own; found "
                      f"{', '.join(map(repr, extra))}")  # fmt: skip
    target = declared[BINDING_KEY]
    try:
        walk = walk_binding(binding, target)
    except ValueError as exc:
        raise invalid(reason=f"{BINDING_KEY} {target!r} {exc}") from None
    for step in dict.fromkeys(walk):  # the file itself comes last
        try:
            info = step.lstat()
        except OSError as exc:
            why = f"{exc.strerror or exc} ({step})"
            raise unreadable(path=walk[-1], reason=why) from None
        if stat.S_ISLNK(info.st_mode):
            raise invalid(reason=f"{BINDING_KEY} {target!r} passes through the symlink {step}: "
                          "the bound file must lie in the workspace itself")  # fmt: skip
    if not stat.S_ISREG(info.st_mode):
        raise unreadable(path=walk[-1], reason="it is not a regular file")
    return walk[-1]


@functools.cache
def builtin_schema_dir() -> Path:
    """The schemas shipped with the package (`registry_pipeline/schemas/`)."""
    return Path(__file__).resolve().parents[2] / "schemas"


def violation_text(problem: Problem) -> str:
    """A schema violation as one line: `pointer: message`, `/` for the whole instance."""
    return f"{problem.field or '/'}: {problem.message}"


def _violation(pointer: str, message: str) -> Problem:
    return Problem.of("SCHEMA_VIOLATION", field=pointer, reason=message)


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

    def matches(self, relpath: str) -> bool:
        """Whether this schema governs `relpath` (a pattern without `/` matches the file name)."""
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

    @classmethod
    def load(cls, folders: Sequence[Path]) -> SchemaCatalog:
        """Load `*.schema.json` from each folder; a later folder may override an `$id`."""
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
            raise RegistryError.of("SCHEMAS_MISSING", path=builtin)
        folders = [str(builtin)]
        if workspace_root is not None:
            folders.append(str(workspace_root / "schemas"))
        return _cached_catalog(tuple(folders), _stamp(folders))

    def _add(self, path: Path, in_folder: set[str], rank: int) -> str:
        declared = _read_schema(path, "the schema")
        invalid = functools.partial(RegistryError.of, "SCHEMA_INVALID", path=path)
        if not isinstance(declared, dict) or not isinstance(declared.get("$id"), str):
            raise invalid(reason="a schema must be an object with a string $id")
        schema_id: str = declared["$id"]
        patterns = tuple(declared.get("x-registry-artifacts", ()))
        fmt = str(declared.get("x-registry-format", "json"))
        if BINDING_KEY in declared:
            target = bound_file(path, declared)
            document = _read_schema(target, f"the schema bound by {path}")
            if not isinstance(document, dict):
                raise invalid(path=target, reason=f"the schema bound by {path} is not an object")
            schema = ArtifactSchema(schema_id, target, document, patterns, fmt, path, declared)
        else:
            schema = ArtifactSchema(schema_id, path, declared, patterns, fmt)
        known = self.schemas.get(schema_id)
        if known is not None and _contents(known) == _contents(schema):
            return schema_id  # an identical copy: keep the first (built-in) one
        if known is not None and schema_id in in_folder:
            also = known.binding or known.path
            raise invalid(reason=f"duplicate $id {schema_id!r} (also {also})")
        self.schemas.pop(schema_id, None)  # an override goes last, in its own folder's order
        self.schemas[schema_id] = schema
        self._rank[schema_id] = rank
        return schema_id

    @functools.cached_property
    def fingerprint(self) -> str:
        """SHA-256 over every schema's `$id` and contents: equal catalogs, equal fingerprints."""
        digest = hashlib.sha256()
        for schema_id in sorted(self.schemas):
            contents = "\0".join(
                json.dumps(part, sort_keys=True) for part in _contents(self.schemas[schema_id])
            )
            digest.update(f"{schema_id}\0{contents}\n".encode())
        return digest.hexdigest()

    @functools.lru_cache(maxsize=MAX_REMEMBERED)  # noqa: B019 - a loaded catalog never changes
    def for_artifact(self, relpath: str) -> ArtifactSchema | None:
        """The schema governing `relpath`, if any (later folder's, then by file name); cached."""
        found: ArtifactSchema | None = None
        for schema in self.schemas.values():
            if schema.patterns and schema.matches(relpath):
                rank = self._rank.get(schema.schema_id, 0)
                if found is None or rank > self._rank.get(found.schema_id, 0):
                    found = schema
        return found

    def validate(self, schema_id: str, instance: Any, limit: int = 20) -> list[Problem]:
        """Every violation of `instance` up to `limit`, in document order, worded as jsonschema."""
        validator = self._validator(schema_id)
        try:
            if validator.is_valid(instance):
                return []
            errors = sorted(validator.iter_errors(instance), key=_natural_path)
        except (ValueError, TypeError) as exc:  # e.g. a lone surrogate, which no JSON holds
            return [_violation("", f"cannot be checked: {exc}")]
        found: list[Problem] = []
        for error in errors[:limit]:
            pointer = "".join(f"/{part}" for part in error.instance_path)
            message = engine_message(error)
            if len(message) > MAX_MESSAGE:
                message = message[: MAX_MESSAGE - 3] + "..."
            found.append(_violation(pointer, message))
        return found

    def is_all_valid(self, schema_id: str, instances: list[Any]) -> bool:
        """Whether `validate` finds no violation in any of `instances`, in one engine call."""
        try:
            return bool(self._batch_validator(schema_id).is_valid(instances))
        except (ValueError, TypeError):
            return not any(self.validate(schema_id, instance, limit=1) for instance in instances)

    @functools.cache  # noqa: B019 - a catalog lives as long as the process, by design
    def _validator(self, schema_id: str) -> Any:
        """jsonschema-rs compiled for the schema; SCHEMA_INVALID naming the file if it cannot be."""
        return self._compile(schema_id, self.schemas[schema_id].document)

    @functools.cache  # noqa: B019 - a catalog lives as long as the process, by design
    def _batch_validator(self, schema_id: str) -> Any:
        wrapper = {"$schema": DRAFT, "type": "array", "items": {"$ref": schema_id}}
        self._validator(schema_id)  # its own errors name its own file
        return self._compile(schema_id, wrapper)

    def _compile(self, schema_id: str, document: dict[str, Any]) -> Any:
        import jsonschema_rs

        path = self.schemas[schema_id].path
        invalid = functools.partial(RegistryError.of, "SCHEMA_INVALID", path=path)
        shadowed = sorted(set(_embedded_ids(document, top=True)) & self.schemas.keys())
        if shadowed:  # which of the two a `$ref` reaches is the engine's choice: refuse both
            said = f"embeds a schema of $id {shadowed[0]!r}, the $id of another loaded schema"
            raise invalid(reason=said)
        try:
            registry = jsonschema_rs.Registry(
                [(sid, s.document) for sid, s in self.schemas.items()],
                draft=jsonschema_rs.Draft202012,
            )
            return _validator(jsonschema_rs, document, registry)
        except jsonschema_rs.ValidationError as exc:
            raise invalid(reason=f"not a valid draft 2020-12 schema: {exc.message}") from None
        except (ValueError, jsonschema_rs.ReferencingError) as exc:
            said = f"unresolvable $ref ({exc}): only refs among the loaded schemas resolve"
            raise invalid(reason=f"{said}; nothing is fetched") from None

    def __hash__(self) -> int:
        return id(self)


def _validator(jsonschema_rs: Any, document: dict[str, Any], registry: Any) -> Any:
    """The engine's validator of `document`, patterns matched by `regex` (fancy-regex if needed)."""
    try:
        return jsonschema_rs.Draft202012Validator(
            document,
            validate_formats=False,
            registry=registry,
            pattern_options=jsonschema_rs.RegexOptions(),
        )
    except jsonschema_rs.ValidationError as exc:
        if not str(exc.message).endswith('is not a "regex"'):
            raise
    return jsonschema_rs.Draft202012Validator(document, validate_formats=False, registry=registry)


@functools.lru_cache(maxsize=16)
def _cached_catalog(folders: tuple[str, ...], stamp: tuple[object, ...]) -> SchemaCatalog:
    return SchemaCatalog.load([Path(folder) for folder in folders])


def _stamp(folders: Sequence[str]) -> tuple[object, ...]:
    """`file_stamp`s of the schema files and bound files: `dagster dev` sees an edited schema."""
    entries: list[object] = []
    for folder in folders:
        try:
            with os.scandir(folder) as listing:
                for entry in listing:
                    if entry.name.endswith(".schema.json"):
                        stamp = file_stamp(entry.path)
                        entries.append((entry.path, stamp))
                        bound = _bound_name(entry.path, stamp)
                        if bound is not None:
                            entries.append((bound, file_stamp(bound)))
        except OSError:
            entries.append((folder, None))
    return tuple(sorted(entries, key=str))


@functools.lru_cache(maxsize=1024)
def _bound_name(path: str, _state: object) -> str | None:
    """The file a binding names (None: not a usable binding), read again when its stat changes."""
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
        raise RegistryError.of("SCHEMA_UNREADABLE", path=path, what=what, reason=exc) from None


def _contents(schema: ArtifactSchema) -> tuple[dict[str, Any], ...]:
    """What a schema is made of: its document, and the binding's own object when bound."""
    if schema.binding_document is None:
        return (schema.document,)
    return (schema.binding_document, schema.document)


def _natural_path(error: Any) -> list[tuple[int, int | str]]:
    """Where an error is, in document order: array indexes as numbers (/2 before /10)."""
    return [(0, part) if isinstance(part, int) else (1, str(part)) for part in error.instance_path]


def _embedded_ids(node: Any, top: bool = False) -> Iterator[str]:
    """The `$id`s of the schemas embedded in `node` (`const` and `enum` are data, not schemas)."""
    if isinstance(node, list):
        for item in node:
            yield from _embedded_ids(item)
    elif isinstance(node, dict):
        if not top and isinstance(node.get("$id"), str):
            yield node["$id"]
        for key, value in node.items():
            if key not in ("const", "enum"):
                yield from _embedded_ids(value)


def engine_message(error: Any) -> str:
    """The error as jsonschema (the reference engine) words it, for the keywords our schemas use."""
    kind, shown = error.kind, repr(error.instance)
    name = kind.name
    if name in _WORDS:
        return _WORDS[name](kind, shown)
    if name == "additionalProperties":
        extra = sorted(kind.unexpected, key=str)
        verb = "was" if len(extra) == 1 else "were"
        listed = ", ".join(map(repr, extra))
        return f"Additional properties are not allowed ({listed} {verb} unexpected)"
    if name in ("minLength", "minItems", "maxLength", "maxItems"):
        edge, empty, short_or_long = _SIZE_WORDS[name[:3]]
        return f"{shown} {empty if kind.limit == edge else short_or_long}"
    bound = name.removeprefix("exclusive").lower()  # minimum, maximum, and their exclusive forms
    if bound in _BOUND_WORDS:
        equal = " or equal to" if name != bound else ""
        return f"{shown} is {_BOUND_WORDS[bound]}{equal} the {bound} of {kind.limit!r}"
    if name in ("anyOf", "oneOf") and "not valid" in error.message:
        return f"{shown} is not valid under any of the given schemas"
    return str(error.message)


_WORDS: dict[str, Callable[[Any, str], str]] = {
    "required": lambda kind, _: f"{kind.property!r} is a required property",
    "type": lambda kind, shown: f"{shown} is not of type {', '.join(map(repr, kind.types))}",
    "enum": lambda kind, shown: f"{shown} is not one of {kind.options!r}",
    "const": lambda kind, _: f"{kind.expected_value!r} was expected",
    "pattern": lambda kind, shown: f"{shown} does not match {kind.pattern!r}",
    "uniqueItems": lambda _, shown: f"{shown} has non-unique elements",
    "falseSchema": lambda _, shown: f"False schema does not allow {shown}",
    "not": lambda kind, shown: f"{shown} should not be valid under {kind.schema!r}",
}
"""jsonschema's words for a keyword, from the error's kind and its instance's repr."""
_SIZE_WORDS = {
    "min": (1, "should be non-empty", "is too short"),
    "max": (0, "is expected to be empty", "is too long"),
}
"""min/max Length/Items: the limit at which jsonschema says "empty", its words then, otherwise."""
_BOUND_WORDS = {"minimum": "less than", "maximum": "greater than"}
