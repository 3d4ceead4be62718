"""The registry catalog: which registries a workspace has, their kinds, files and dependencies."""

from __future__ import annotations

import difflib
import functools
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from registry_pipeline.core.errors import Problem, RegistryError, UsageError
from registry_pipeline.core.fs import escape_problem, file_stamp
from registry_pipeline.core.json_strict import JSONDecodeProblem, loads_strict
from registry_pipeline.core.objstore.store import parse_store_url
from registry_pipeline.core.seal.gitstate import CATALOG_RELPATH as CATALOG_RELPATH
from registry_pipeline.core.seal.gitstate import DEFAULT_POINTER_FILE
from registry_pipeline.core.seal.paths import relpath_problem
from registry_pipeline.core.seal.run_id import registry_of
from registry_pipeline.core.seal.schemas import SchemaCatalog, violation_text
from registry_pipeline.core.workspace.input_files import MAX_CATALOG_FILE_BYTES, read_regular_file
from registry_pipeline.core.workspace.layout import RUNS_RELPATH, Workspace
from registry_pipeline.core.workspace.sources import is_pattern, pattern_base

CATALOG_SCHEMA_ID = "urn:registry-pipeline:schema:registry_catalog_v0_2"
POINTER_FILE_RELPATH = DEFAULT_POINTER_FILE
MAX_LISTED = 50
"""Schema problems listed per catalog error; the error says when there were more."""


class CatalogCode(StrEnum):
    """The reason codes of a catalog (or coordination file) that cannot be used."""

    CATALOG_INVALID = "CATALOG_INVALID"
    COORDINATION_INVALID = "COORDINATION_INVALID"
    ADOPT_UNSUPPORTED = "ADOPT_UNSUPPORTED"


def catalog_error(
    path: str,
    details: Sequence[str],
    code: str = CatalogCode.CATALOG_INVALID.value,
    subject: str = "the registry catalog",
) -> UsageError:
    """The catalog cannot be used; each `details` line (`/pointer: message`) one Problem."""
    capped = any(detail.startswith("(stopped after") for detail in details)
    count = f"more than {len(details) - 1}" if capped else str(len(details))
    problems = [_problem(code, path, detail) for detail in details]
    said = f"{count} problem(s) in {subject}"
    return UsageError.of(code, path=path, problems=problems, reason=said)


def _problem(code: str, path: str, detail: str) -> Problem:
    """One `details` line as a problem: `/pointer: message` (or `(root): ...`) names its field."""
    field, said, message = detail.partition(": ")
    if said and (field.startswith("/") or field == "(root)"):
        return Problem.of(code, path=path, field=field, reason=message)
    return Problem.of(code, path=path, reason=detail)


@dataclass(frozen=True)
class DeltaCoverage:
    """Whether the delta log covers a registry, and why not when it does not."""

    covered: bool
    reason: str | None = None


@dataclass(frozen=True)
class RegistrySpec:
    """One catalog entry."""

    registry_id: str
    kind: str
    schema_id: str
    artifact_type: str
    write_policy: str
    artifacts: tuple[str, ...]
    depends_on: tuple[str, ...]
    active_pointer: bool
    delta_log: DeltaCoverage
    sources: tuple[str, ...] = ()
    operation_id: str | None = None
    description: str = ""
    append_only: Any = None
    """The entry's append-only rules as written (a preset name or a rule block), or None."""
    entries: Any = None
    """The entry layout `registry add-entry` writes by (a block as written), or None."""
    run_index: Any = None
    """A record log's key, time, lanes and predicates (a block as written), or None."""
    coverage_matrices: tuple[str, ...] = ()
    """Which of `sources` are enforcement coverage matrices (an operations catalog only)."""
    in_scorecard: bool = True
    """False for a registry adoption added to feed a builder: the scorecard leaves it out."""

    @property
    def is_source(self) -> bool:
        """Sealed from workspace files: a source, a collection, or a log with `sources`."""
        return self.kind in ("source", "collection") or (self.kind == "log" and bool(self.sources))

    @property
    def primary_artifact(self) -> str:
        """The artifact a pointer names (`active_ref.relpath`)."""
        return self.artifacts[0]

    def __str__(self) -> str:
        return f"{self.registry_id} ({self.kind})"


@dataclass(frozen=True)
class RegistryCatalog:
    """The checked catalog: entries in dependency order (dependencies first, then catalog order)."""

    registries: tuple[RegistrySpec, ...]
    path: Path
    run_roots: tuple[str, ...] = (RUNS_RELPATH,)
    """Workspace-relative folders whose subfolders run_registry indexes."""
    pointer_file: str = POINTER_FILE_RELPATH
    """Where the active pointer file lives (an adopted repository keeps its own place)."""
    excluded: tuple[tuple[str, str], ...] = ()
    """(registry_id, reason) of an adopted catalog's registries that are not assets here."""
    coordination: str | None = None
    """Workspace-relative path of the coordination rules (`core.write_path`), or None."""
    store: str | None = None
    """`s3://BUCKET/PREFIX` where the shared state lives (`core.workspace.remote`), or None."""

    def get(self, registry_id: str) -> RegistrySpec:
        """The entry of `registry_id`; a usage error naming the known ids when absent."""
        for spec in self.registries:
            if spec.registry_id == registry_id:
                return spec
        raise unknown_registry(registry_id, self.ids)

    @property
    def ids(self) -> tuple[str, ...]:
        """Registry ids in dependency order."""
        return tuple(spec.registry_id for spec in self.registries)


def unknown_registry(registry_id: str, known: Iterable[str]) -> UsageError:
    """UNKNOWN_REGISTRY (exit 2) naming the id, a close match if any, and the known ids."""
    ids = sorted(set(known))
    known_ids, close = ", ".join(ids) or "none", guess(registry_id, ids)
    return UsageError.of("UNKNOWN_REGISTRY", registry_id=registry_id, guess=close,
                         known=known_ids)  # fmt: skip


def guess(given: str, known: Iterable[str]) -> str:
    """`did you mean 'x'? ` when one of `known` is close to `given`, else nothing."""
    close = difflib.get_close_matches(given, list(known), n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}? " if close else ""


def require_known(workspace: Workspace, registry_id: str, seen: Iterable[str]) -> None:
    """UNKNOWN_REGISTRY unless the catalog or `seen` knows `registry_id`: a typo is refused."""
    catalog = catalog_or_none(workspace)
    known = set(seen) | set(catalog.ids if catalog is not None else ())
    if registry_id not in known:
        raise unknown_registry(registry_id, known)


def load_catalog(workspace: Workspace, schemas: SchemaCatalog | None = None) -> RegistryCatalog:
    """Read, validate and order the workspace's catalog; every problem is reported at once."""
    path = workspace.root / CATALOG_RELPATH
    try:  # a FIFO or a device there: NOT_A_REGULAR_FILE, never a hang
        data = read_regular_file(path, limit=MAX_CATALOG_FILE_BYTES, what="registry catalog")
        document = loads_strict(data)
    except FileNotFoundError:
        raise RegistryError.of("NO_CATALOG", path=path, relpath=CATALOG_RELPATH) from None
    except (OSError, JSONDecodeProblem) as exc:
        raise catalog_error(str(path), [f"cannot read: {exc}"]) from None
    return check_catalog(document, workspace.root, str(path), schemas)


def catalog_or_none(workspace: Workspace) -> RegistryCatalog | None:
    """The workspace's catalog; None without one. Any other problem with it is raised."""
    try:
        return load_catalog(workspace)
    except RegistryError as exc:
        if exc.code != "NO_CATALOG":
            raise
        return None


def check_catalog(
    document: Any, root: Path, path: str, schemas: SchemaCatalog | None = None
) -> RegistryCatalog:
    """The catalog `document` of `root`, validated (CATALOG_INVALID), in dependency order."""
    catalog = schemas or SchemaCatalog.for_workspace(root)
    violations = [
        violation_text(v)
        for v in catalog.validate(CATALOG_SCHEMA_ID, document, limit=MAX_LISTED + 1)
    ]
    if len(violations) > MAX_LISTED:
        violations[MAX_LISTED:] = [
            f"(stopped after {MAX_LISTED} problems: fix these and run again to see the rest)"
        ]
    if violations:
        raise catalog_error(path, violations)
    specs = [_spec(entry) for entry in document["registries"]]
    roots = tuple(document.get("run_roots", (RUNS_RELPATH,)))
    pointer_file = str(document.get("pointer_file", POINTER_FILE_RELPATH))
    coordination, store = document.get("coordination"), document.get("store")
    problems = list(_semantic_problems(specs, root))
    problems += [f"/run_roots: {r!r} {relpath_problem(r)}" for r in roots if relpath_problem(r)]
    if not problems:  # main's order: before the checks below, any of which may touch it
        _refuse_unsafe_run_root(root, roots)
    for key, relpath in (("pointer_file", pointer_file), ("coordination", coordination)):
        escape = relpath is not None and (
            relpath_problem(relpath) or (escape_problem(root, relpath) or (None,))[0]
        )
        if escape:
            problems.append(f"/{key}: {relpath!r} {escape}")
    try:
        if store is not None:
            parse_store_url(store, field="/store")
    except RegistryError as exc:
        problems.append(f"/store: {exc.message}")
    listable = escape_problem(root, RUNS_RELPATH) is None  # never list a run root that escapes
    added, clashes = override_log_entries(document["registries"], root, list_runs=listable)
    if problems or clashes:  # every problem in one pass
        raise catalog_error(path, [*problems, *clashes])
    excluded = tuple((e["registry_id"], e["reason"]) for e in document.get("excluded", ()))
    ordered = tuple(_dependency_order([*specs, *map(_spec, added)], path))
    return RegistryCatalog(ordered, Path(path), roots, pointer_file, excluded, coordination, store)


def _refuse_unsafe_run_root(root: Path, run_roots: Iterable[str]) -> None:
    """UNSAFE_RUN_ROOT for the first run root not a real folder in the workspace."""
    for run_root in run_roots:
        if (problem := escape_problem(root, run_root)) is not None:
            raise RegistryError.of("UNSAFE_RUN_ROOT", path=problem[1], run_root=run_root,
                                   reason=problem[0])  # fmt: skip


def pointer_file_path(workspace: Workspace) -> Path:
    """The workspace's pointer file: the catalog's `pointer_file`, else the default place."""
    path = workspace.root / CATALOG_RELPATH
    try:
        stamp = file_stamp(path.stat())
    except FileNotFoundError:
        return workspace.root / POINTER_FILE_RELPATH
    except OSError:
        stamp = None
    return workspace.root / _pointer_file_of(str(workspace.root), stamp)


@functools.lru_cache(maxsize=32)
def _pointer_file_of(root: str, stamp: object) -> str:
    """The catalog's pointer file, loaded once per catalog version (`stamp`)."""
    return load_catalog(Workspace(Path(root))).pointer_file


def _spec(entry: dict[str, Any]) -> RegistrySpec:
    delta = entry["delta_log"]
    fields: dict[str, Any] = {key: entry[key] for key in SPEC_REQUIRED}
    fields.update({key: entry[key] for key in SPEC_OPTIONAL if key in entry})
    fields.update({key: tuple(entry.get(key, ())) for key in SPEC_LISTS})
    return RegistrySpec(
        **fields,
        delta_log=DeltaCoverage(delta["covered"], delta.get("reason")),
        operation_id=entry.get("build_operation_id"),
    )


SPEC_REQUIRED = ("registry_id", "kind", "schema_id", "artifact_type", "write_policy",
                 "active_pointer")  # fmt: skip
SPEC_OPTIONAL = ("description", "append_only", "entries", "run_index", "in_scorecard")
SPEC_LISTS = ("artifacts", "depends_on", "sources", "coverage_matrices")
"""The catalog's arrays, read as tuples; other keys are read as they are."""


def _semantic_problems(specs: list[RegistrySpec], root: Path) -> list[str]:
    problems: list[str] = []
    ids = [spec.registry_id for spec in specs]
    for index, spec in enumerate(specs):
        where = f"/registries/{index}"
        if ids.count(spec.registry_id) > 1 and ids.index(spec.registry_id) != index:
            problems.append(f"{where}/registry_id: duplicate registry id {spec.registry_id!r}")
        for dependency in spec.depends_on:
            if dependency not in ids:
                problems.append(f"{where}/depends_on: unknown registry {dependency!r}")
            elif dependency == spec.registry_id:
                problems.append(f"{where}/depends_on: {spec.registry_id!r} depends on itself")
        problems += [
            f"{where}/artifacts: {artifact!r} {reason}"
            for artifact in spec.artifacts
            if (reason := relpath_problem(artifact))
        ]
        for source in spec.sources:
            reason = relpath_problem(source)
            if reason:
                problems.append(f"{where}/sources: {source!r} {reason}")
            elif is_pattern(source):
                if not (root / pattern_base(source)).is_dir():
                    problems.append(
                        f"{where}/sources: the folder of pattern {source!r} "
                        f"({pattern_base(source)}) does not exist in the workspace"
                    )
            elif not (root / source).exists():
                problems.append(f"{where}/sources: {source!r} does not exist in the workspace")
        for key, done in (("append_only", "checked"), ("entries", "written")):
            if getattr(spec, key) is not None and spec.kind != "source":
                problems.append(f"{where}/{key}: only a source registry's files are {done}")
        if spec.sources and spec.kind not in ("source", "log", "collection"):
            problems.append(
                f"{where}/sources: only a source, a collection or a log is sealed from files"
            )
        problems += [
            f"{where}/coverage_matrices: {matrix!r} is not one of the entry's sources"
            for matrix in spec.coverage_matrices
            if matrix not in spec.sources
        ]
        problems.extend(_run_index_problems(spec, where))
    return problems


def _run_index_problems(spec: RegistrySpec, where: str) -> list[str]:
    """A run index is a log sealed from one JSONL file, and its key and time are not lanes."""
    block = spec.run_index
    if block is None:
        return []
    if spec.kind != "log" or len(spec.sources) != 1 or not spec.sources[0].endswith(".jsonl"):
        return [f"{where}/run_index: a run index is a log with exactly one .jsonl file in sources"]
    if is_pattern(spec.sources[0]):
        return [f"{where}/run_index: its source must be one file, not the glob {spec.sources[0]!r}"]
    lanes = block.get("lanes", [])
    return [
        f"{where}/run_index/lanes: {field!r} is the {role} field, not a lane"
        for role in ("key", "time")
        for field in lanes
        if field == block[role]
    ]


def _dependency_order(specs: list[RegistrySpec], path: str) -> list[RegistrySpec]:
    """Dependencies first; among ready entries, catalog order. Cycles are an error."""
    remaining = list(specs)
    done: set[str] = set()
    ordered: list[RegistrySpec] = []
    while remaining:
        ready = [spec for spec in remaining if set(spec.depends_on) <= done]
        if not ready:
            cycle = ", ".join(spec.registry_id for spec in remaining)
            raise catalog_error(path, [f"/registries: dependency cycle among {cycle}"])
        first = ready[0]
        ordered.append(first)
        done.add(first.registry_id)
        remaining.remove(first)
    return ordered


WRITE_OVERRIDES_RELPATH = "registries/WRITE_OVERRIDES_v0_1.jsonl"
"""The write path's override log: the audit of every `add-entry --no-check` write."""
WRITE_OVERRIDES_ID = "write_overrides"
OVERRIDE_LOG_ENTRY: dict[str, Any] = {
    "registry_id": WRITE_OVERRIDES_ID,
    "schema_id": "REGISTRY_write_overrides_v0_1",
    "schema_version": "0.1",
    "artifact_type": "jsonl_registry",
    "description": "The write path's override log: one record per `registry add-entry "
    "--no-check` write, appended before the write. Append-only: a log that does not extend "
    "its sealed snapshot fails the build's append_only check.",
    "write_policy": "append_only",
    "build_operation_id": None,
    "kind": "log",
    "artifacts": [Path(WRITE_OVERRIDES_RELPATH).name],
    "depends_on": [],
    "active_pointer": True,
    "delta_log": {
        "covered": False,
        "reason": "the write path's audit log: sealed by every build and append-only checked; "
        "not among the delta log's dependencies",
    },
    "sources": [WRITE_OVERRIDES_RELPATH],
    "in_scorecard": False,
}
"""The catalog entry of the override log, as a catalog would declare it."""


def override_log_entries(
    declared: list[dict[str, Any]], root: Path, *, list_runs: bool = True
) -> tuple[list[dict[str, Any]], list[str]]:
    """The override log's entries to add to the catalog `declared`, and the problems."""
    if any(WRITE_OVERRIDES_RELPATH in entry.get("sources", ()) for entry in declared):
        return [], []
    logged = os.path.lexists(root / WRITE_OVERRIDES_RELPATH)
    if not (logged or (list_runs and _sealed(root / RUNS_RELPATH))):
        return [], []
    if any(entry["registry_id"] == WRITE_OVERRIDES_ID for entry in declared):
        return [], [
            f"/registries: {WRITE_OVERRIDES_ID!r} is the registry of the write path's override "
            f"log ({WRITE_OVERRIDES_RELPATH}); give this registry another id, or list that "
            "file as its source"
        ]
    return [OVERRIDE_LOG_ENTRY], []


def _sealed(runs: Path) -> bool:
    """Whether `runs` holds a run folder of the override log (cached per mtime of the folder)."""
    stamp = file_stamp(runs)
    return stamp is not None and _has_folder(str(runs), stamp)


@functools.lru_cache(maxsize=32)
def _has_folder(runs: str, _state: object) -> bool:
    try:
        with os.scandir(runs) as entries:
            return any(
                WRITE_OVERRIDES_ID in entry.name and registry_of(entry.name) == WRITE_OVERRIDES_ID
                for entry in entries
            )
    except OSError:
        return False
