"""The adoption plan: what each v0.1 registry becomes in our catalog and why (docs/ADOPTING.md)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from registry_pipeline.core.builders.operations_catalog import catalog_version_key
from registry_pipeline.core.errors import Problem, UsageError
from registry_pipeline.core.fs import escape_problem
from registry_pipeline.core.json_strict import JSONDecodeProblem, loads_strict
from registry_pipeline.core.seal.paths import relpath_problem
from registry_pipeline.core.seal.schemas import SchemaCatalog
from registry_pipeline.core.workspace.catalog import (
    CATALOG_RELPATH,
    CatalogCode,
    catalog_error,
    check_catalog,
)
from registry_pipeline.core.workspace.snapshots import snapshot_name
from registry_pipeline.core.workspace.sources import is_pattern, pattern_base, pattern_matches

DEFAULT_CATALOG = "docs/phase_2_2/REGISTRY_CATALOG_v0_1.json"
ADDENDA = "REGISTRY_CATALOG_ADDENDUM_v0_1__*.json"
POINTER_FILE = "ACTIVE_REGISTRY_POINTERS_v0_1.json"
OPERATIONS = "OVC_ALLOWED_OPERATIONS_CATALOG_v*.md"
COVERAGE = "OVC_ENFORCEMENT_COVERAGE_MATRIX_v*.md"
REGISTRY_ID = re.compile(r"[a-z][a-z0-9_]{0,63}")
MARKER = "Adopted by `registry adopt`"
"""How the catalog adopt writes begins its description: a catalog it may write over."""


@dataclass(frozen=True)
class SeedLayout:
    """The files of a seed-system repository that adoption reads (never writes)."""

    root: Path
    catalog: Path
    addenda: tuple[Path, ...]
    pointer_file: Path | None
    schemas_dir: Path | None
    operations: tuple[Path, ...]
    """The operations catalogs, oldest version first (each newer one supersedes the older)."""
    coverage: tuple[Path, ...] = ()
    """The enforcement coverage matrices (each operation's C0..C5 level), oldest first."""

    def relpath(self, path: Path) -> str:
        """`path` relative to the repository's root, POSIX style."""
        return path.relative_to(self.root).as_posix()


def find_layout(root: Path, catalog: Path | None = None) -> SeedLayout:
    """The seed layout of the repository at `root`; NO_SEED_CATALOG when its catalog is absent."""
    root = root.resolve()  # one spelling of every path, so relpaths never fail (a symlinked DIR)
    path = root / (catalog or DEFAULT_CATALOG)
    if not path.is_file():
        raise UsageError.of("NO_SEED_CATALOG", path=path, looked=f" (looked for {DEFAULT_CATALOG})")
    path = path.resolve()
    if not path.is_relative_to(root):
        raise UsageError.of("NO_SEED_CATALOG", path=path, looked="")
    folder = path.parent
    pointer = folder / POINTER_FILE
    schemas = folder / "schemas"
    return SeedLayout(
        root=root,
        catalog=path,
        addenda=tuple(sorted(folder.glob(ADDENDA))),
        pointer_file=pointer if pointer.is_file() else None,
        schemas_dir=schemas if schemas.is_dir() else None,
        operations=_versions(OPERATIONS, folder, root),
        coverage=_versions(COVERAGE, folder, root),
    )


def _versions(pattern: str, *folders: Path) -> tuple[Path, ...]:
    """Every file matching `pattern` in `folders`, one per name (the first wins), oldest first."""
    found: dict[str, Path] = {}
    for folder in folders:
        for path in folder.glob(pattern):
            if path.is_file() and not path.is_symlink():  # a folder or a link is no document
                found.setdefault(path.name, path)
    return tuple(sorted(found.values(), key=lambda path: catalog_version_key(path.name)))


def read_entries(layout: SeedLayout) -> list[tuple[str, dict[str, Any]]]:
    """(relpath, entry) of every registry, catalog then addenda; a repeated id: CATALOG_INVALID."""
    entries: list[tuple[str, dict[str, Any]]] = []
    seen: dict[str, str] = {}
    for path in (layout.catalog, *layout.addenda):
        where = layout.relpath(path)
        invalid = partial(UsageError, code="CATALOG_INVALID", path=str(path))
        try:
            document = loads_strict(path.read_bytes())
        except (OSError, JSONDecodeProblem) as exc:
            raise invalid(f"cannot read: {exc}") from None
        registries = document.get("registries") if isinstance(document, dict) else None
        if not isinstance(registries, list):
            raise invalid("no `registries` array")
        for index, entry in enumerate(registries):
            problem = _entry_problem(entry)
            if problem is not None:
                raise invalid(f"/registries/{index}/{problem}")
            registry_id = entry["registry_id"]
            if registry_id in seen:
                raise invalid(f"{registry_id!r} is defined in {seen[registry_id]} and again here")
            seen[registry_id] = where
            entries.append((where, entry))
    return entries


def _entry_problem(entry: Any) -> str | None:
    """What is wrong with the types of a v0.1 entry as adoption reads it (`field: reason`)."""
    if not isinstance(entry, dict):
        return ": an entry must be a JSON object"
    registry_id = entry.get("registry_id")
    if not isinstance(registry_id, str) or not REGISTRY_ID.fullmatch(registry_id):
        return f"registry_id: not a registry id (a-z, 0-9, _, a letter first): {registry_id!r}"
    for key in ("schema_id", "artifact_type", "write_policy", "description"):
        if key in entry and not isinstance(entry[key], str):
            return f"{key}: must be a string"
    sources = entry.get("authoritative_sources", [])
    if not isinstance(sources, list):
        return "authoritative_sources: must be an array"
    for number, source in enumerate(sources):
        if not isinstance(source, dict) or not isinstance(source.get("path", ""), str):
            return f"authoritative_sources/{number}: must be an object whose path is a string"
    return None


def operation_ids(text: str) -> set[str]:
    """Every operation id a Markdown operations catalog mentions, ranges expanded."""
    ids = set(re.findall(r"\bOP-[A-Z]+\d+\b", text))
    for family, first, last in re.findall(
        r"\bOP-([A-Z]+)(\d+)\s+(?:through|to|-|–|—)\s+OP-\1(\d+)\b", text
    ):
        width = len(first)
        ids.update(f"OP-{family}{n:0{width}d}" for n in range(int(first), int(last) + 1))
    return ids


@dataclass(frozen=True)
class Decision:
    """What one v0.1 registry becomes: a kind, or `excluded` with the reason."""

    registry_id: str
    kind: str
    reason: str
    defined_in: str
    sources: tuple[str, ...] = ()

    def as_json(self) -> dict[str, object]:
        return {**asdict(self), "sources": list(self.sources)}


def adopt_warning(
    code: str, path: str | None = None, registry_id: str | None = None, **fields: Any
) -> Problem:
    """What the adopted workspace lacks, what it costs and what to do: an adopt warning."""
    extra = {"registry_id": registry_id}
    return Problem.of(code, path=path, registry_id=registry_id, severity="warning", extra=extra,
                      **fields)  # fmt: skip


@dataclass(frozen=True)
class AdoptionPlan:
    """Everything `registry adopt` writes, and every decision and warning behind it."""

    layout: SeedLayout
    catalog: dict[str, Any]
    bindings: dict[str, dict[str, Any]]
    """Workspace relpath -> schema binding document (`schemas/<registry_id>.schema.json`)."""
    decisions: list[Decision]
    warnings: list[Problem] = field(default_factory=list)

    @property
    def files(self) -> dict[str, dict[str, Any]]:
        """Every file adoption writes, by workspace relpath."""
        return {CATALOG_RELPATH: self.catalog, **self.bindings}


def plan_adoption(layout: SeedLayout) -> AdoptionPlan:
    """Our catalog for the repository of `layout`: their ids, their files, their pointer file."""
    warnings: list[Problem] = []
    known_ops = set().union(*(operation_ids(_operations_text(p)) for p in layout.operations))
    if not layout.operations:
        where = layout.relpath(layout.catalog.parent)
        warnings.append(adopt_warning("NO_OPERATIONS_CATALOG", where))
    decisions: list[Decision] = []
    entries: list[dict[str, Any]] = []
    bindings: dict[str, dict[str, Any]] = {}
    run_roots: dict[str, None] = {}  # in order, each once
    for defined_in, entry in read_entries(layout):
        registry_id = entry["registry_id"]
        primary = [
            str(source.get("path"))
            for source in entry.get("authoritative_sources", [])
            if isinstance(source, dict) and source.get("authority_class") == "primary"
        ]
        found = (_run_root(path) for path in primary)
        run_roots.update(dict.fromkeys(root for root in found if root is not None))
        reason, ours = _decide(layout, registry_id, entry, primary, known_ops, warnings)
        kind, sources = (ours["kind"], ours.get("sources", ())) if ours else ("excluded", ())
        decisions.append(Decision(registry_id, kind, reason, defined_in, tuple(sources)))
        if ours is not None:
            entries.append(ours)
            bound = binding(layout, ours)
            if bound is not None:
                bindings[f"schemas/{registry_id}.schema.json"] = bound
    if layout.operations and OPERATIONS_ID not in {e["registry_id"] for e in entries}:
        entries.append(_operations_entry(layout))
        relpaths = tuple(layout.relpath(path) for path in layout.operations)
        coverage = tuple(layout.relpath(path) for path in layout.coverage)
        merged = " (read together, newest last)" if len(relpaths) > 1 else ""
        matrices = (
            f"; coverage levels from {', '.join(coverage)}"
            if coverage
            else "; no enforcement coverage matrix (OVC_ENFORCEMENT_COVERAGE_MATRIX_v*.md): "
            "coverage levels are C0"
        )
        reason = (
            "added: the operations catalog op_status_table reads (no pointer: not an id of the "
            f"v0.1 catalog){merged}{matrices}"
        )
        sources = relpaths + coverage
        decisions.append(Decision(OPERATIONS_ID, "source", reason, relpaths[-1], sources))
    _complete_dependencies(entries, warnings)
    for root in run_roots:
        if not (layout.root / root).is_dir() and root != ".codex/RUNS":  # adopt creates that
            warnings.append(adopt_warning("RUN_ROOT_MISSING", root))
    run_roots.update(dict.fromkeys(SEED_BUILDER_ROOTS))
    existing_roots = [root for root in run_roots if (layout.root / root).is_dir()]
    if ".codex/RUNS" not in existing_roots:
        existing_roots.insert(0, ".codex/RUNS")
    catalog: dict[str, Any] = {
        "catalog_version": "0.2",
        "description": f"{MARKER} from {layout.relpath(layout.catalog)}"
        + "".join(f" + {layout.relpath(p)}" for p in layout.addenda)
        + "; those files are never modified. Re-run `registry adopt` after editing them.",
        "run_roots": existing_roots,
        "registries": entries,
        "excluded": [
            {"registry_id": d.registry_id, "reason": d.reason}
            for d in decisions
            if d.kind == "excluded"
        ],
    }
    if layout.pointer_file is not None:
        catalog["pointer_file"] = layout.relpath(layout.pointer_file)
    _check_plan(layout, catalog, decisions)
    return AdoptionPlan(layout, catalog, bindings, decisions, warnings)


def _check_plan(layout: SeedLayout, catalog: dict[str, Any], decisions: list[Decision]) -> None:
    """ADOPT_UNSUPPORTED, before any write, when `registry build` would refuse the catalog."""
    defined_in = {decision.registry_id: decision.defined_in for decision in decisions}
    ids = [entry["registry_id"] for entry in catalog["registries"]]

    def located(problem: Problem) -> str:
        found = re.match(r"/registries/(\d+)(\S*)", problem.field or "")
        if found is None or int(found[1]) >= len(ids):
            return f"{problem.field}: {problem.message}" if problem.field else problem.message
        registry_id = ids[int(found[1])]
        where = f"{registry_id} (in {defined_in.get(registry_id, 'added by adopt')})"
        return f"{where}{found[2]}: {problem.message}"

    try:
        check_catalog(catalog, layout.root, str(layout.catalog), SchemaCatalog.for_workspace(None))
    except UsageError as exc:  # or a run root that leaves the repository (UNSAFE_RUN_ROOT)
        catalogs = {code.value for code in CatalogCode}
        details = [located(p) for p in exc.problems] if exc.code in catalogs else [exc.message]
        raise catalog_error(
            str(layout.catalog), details, code=CatalogCode.ADOPT_UNSUPPORTED.value
        ) from None


def _operations_text(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8-sig")
    except (UnicodeDecodeError, OSError) as exc:
        said = (f"not UTF-8 (byte {exc.start})" if isinstance(exc, UnicodeDecodeError)
                else exc.strerror or exc)  # fmt: skip
        raise UsageError.of("OPERATIONS_UNREADABLE", path=path, reason=said) from None


def _decide(
    layout: SeedLayout,
    registry_id: str,
    entry: dict[str, Any],
    primary: list[str],
    known_ops: set[str],
    warnings: list[Problem],
) -> tuple[str, dict[str, Any] | None]:
    """Why, and our entry for their `entry` (None: excluded, the reason says why)."""
    artifact_type = str(entry.get("artifact_type", ""))
    if artifact_type == "external_database":
        return "external database: nothing in the repository to seal", None
    built = BUILT.get(registry_id)
    if built is not None:
        operation = built.operation_id if built.operation_id in known_ops else None
        if operation is None and known_ops:
            where = layout.relpath(layout.operations[-1])
            warnings.append(adopt_warning("OPERATION_NOT_LISTED", where, registry_id,
                                          operation=built.operation_id))  # fmt: skip
        ours = _entry(entry, built.kind, built.artifacts, built.depends_on, operation,
                      built.active_pointer, uncovered=built.delta_reason)  # fmt: skip
        return f"built by registry-pipeline's {registry_id} builder", ours
    if any(PLACEHOLDER.search(path) for path in primary):
        collection = plan_collection(layout.root, primary)
        if not collection.sources:
            return collection.reason, None
        operation = _operation(entry, known_ops)
        ours = _entry(entry, "collection", collection.artifacts, (), operation,
                      sources=collection.sources)  # fmt: skip
        return collection.reason, ours
    if artifact_type == "run_folder" or not primary:
        shown = artifact_type or "no primary source"
        return f"collection: one folder or file per run ({shown}), no single snapshot to seal", None
    missing = [path for path in primary if not (layout.root / path).is_file()]
    if missing:
        return f"its files are not in this repository: {', '.join(missing)}", None
    for path in primary:  # the build reads a source only as the regular file it is, by a path
        parts = Path(path).parts  # without a link in any folder of it either
        if any((layout.root / Path(*parts[: n + 1])).is_symlink() for n in range(len(parts))):
            kind = "a symbolic link or lies under one (a build reads only regular files)"
            warnings.append(adopt_warning("NOT_A_REGULAR_FILE", path, registry_id, kind=kind))
    artifacts = sorted(Path(path).name for path in primary)
    sources = _sources(layout, primary)
    ours = _entry(entry, "source", artifacts, (), _operation(entry, known_ops), sources=sources)
    return "hand-edited files named by authoritative_sources", ours


def _entry(
    entry: dict[str, Any],
    kind: str,
    artifacts: Sequence[str],
    depends_on: Sequence[str],
    operation: str | None,
    active_pointer: bool = True,
    sources: Sequence[str] | None = None,
    uncovered: str | None = None,
) -> dict[str, Any]:
    """Our catalog entry for their `entry` (their strings kept, our defaults for the rest)."""
    ours: dict[str, Any] = {
        key: entry[key]
        for key in ("registry_id", "schema_id", "schema_version", "artifact_type",
                    "description", "write_policy")
        if isinstance(entry.get(key), str)
    }  # fmt: skip
    ours.setdefault("schema_id", f"REGISTRY_{entry['registry_id']}_v0_1")
    ours.setdefault("artifact_type", "json_snapshot")
    ours.setdefault("write_policy", "append_new_snapshot")
    delta_log = {"covered": True} if uncovered is None else {"covered": False, "reason": uncovered}
    ours.update(
        kind=kind,
        artifacts=list(artifacts),
        depends_on=list(depends_on),
        active_pointer=active_pointer,
        delta_log=delta_log,
        build_operation_id=operation,
    )
    if sources is not None:
        ours["sources"] = list(sources)
    return ours


def _sources(layout: SeedLayout, primary: list[str]) -> tuple[str, ...]:
    """The files, or one glob when they are all of one folder's files of their extension."""
    folders = {str(Path(path).parent) for path in primary}
    suffixes = {Path(path).suffix for path in primary}
    if len(primary) > 1 and len(folders) == 1 and len(suffixes) == 1:
        folder, suffix = folders.pop(), suffixes.pop()
        present = {p.name for p in (layout.root / folder).glob(f"*{suffix}") if p.is_file()}
        if present == {Path(path).name for path in primary}:
            return (f"*{suffix}" if folder == "." else f"{folder}/*{suffix}",)
    return tuple(primary)


def _operation(entry: dict[str, Any], known_ops: set[str]) -> str | None:
    found = re.search(r"\bOP-[A-Z]+\d+\b", str(entry.get("build_operation_id") or ""))
    return found.group() if found and (not known_ops or found.group() in known_ops) else None


def _operations_entry(layout: SeedLayout) -> dict[str, Any]:
    """The operations catalogs and coverage matrices as one source outside the registries."""
    files = (*layout.operations, *layout.coverage)
    theirs = {
        "registry_id": OPERATIONS_ID,
        "schema_id": "OVC_ALLOWED_OPERATIONS_CATALOG",
        "artifact_type": "markdown_catalog",
        "description": "The repository's operations catalog (Markdown tables) and enforcement "
        "coverage matrices, read by op_status_table.",
        "write_policy": "append_only",
    }
    uncovered = "added by registry adopt; not a registry of the v0.1 catalog"
    sources = [layout.relpath(path) for path in files]
    names = [path.name for path in files]
    entry = _entry(theirs, "source", names, (), None, False, sources, uncovered)
    entry["in_scorecard"] = False
    if layout.coverage:
        entry["coverage_matrices"] = [layout.relpath(path) for path in layout.coverage]
    return entry


def _complete_dependencies(entries: list[dict[str, Any]], warnings: list[Problem]) -> None:
    """Keep only inputs the repository has (warning each other); the log depends on all covered."""
    ids = {entry["registry_id"] for entry in entries}
    for entry in entries:
        missing = [d for d in entry["depends_on"] if d not in ids]
        for dependency in missing:
            registry_id = entry["registry_id"]
            warnings.append(adopt_warning("DEPENDENCY_MISSING", None, registry_id,
                                          dependency=dependency))  # fmt: skip
        entry["depends_on"] = [d for d in entry["depends_on"] if d in ids]
        if entry["kind"] == "log":
            entry["depends_on"] = [
                other["registry_id"]
                for other in entries
                if other is not entry and other["delta_log"].get("covered")
            ]


SEED_BUILDER_ROOTS = (".codex/RUNS", "reports/runs", "reports/path1/evidence/runs")
"""The folders the seed's run-registry builder indexes; each present one is a run root too."""


def _run_root(path: str) -> str | None:
    """`.codex/RUNS` of `.codex/RUNS/<run_id>/X`: where a catalog path's run folders live."""
    found = re.match(r"(.+?)/<run_id>(?:/|$)", path)
    return found.group(1).rstrip("/") if found else None


OPERATIONS_ID = "allowed_operations"
THRESHOLD_PACKS = "threshold_packs_file"


@dataclass(frozen=True)
class Built:
    """What one of our builders makes: its kind, artifacts, inputs, operation and pointer."""

    kind: str
    artifacts: tuple[str, ...]
    depends_on: tuple[str, ...]
    operation_id: str
    active_pointer: bool
    delta_reason: str | None = None


BUILT: dict[str, Built] = {
    "run_registry": Built(
        "built", ("RUN_REGISTRY_v0_1.jsonl", "RUN_REGISTRY_SEAL_STATUS_v0_2.jsonl"), (),
        "OP-QA07", True,
    ),
    "op_status_table": Built(
        "built", ("OPERATION_STATUS_TABLE_v0_1.json", "OPERATION_STATUS_DETAIL_v0_2.json"),
        ("run_registry", OPERATIONS_ID, THRESHOLD_PACKS), "OP-QA08", True,
    ),
    "drift_signals": Built(
        "built", ("DRIFT_SIGNALS_v0_1.json", "DRIFT_SIGNALS_DETAIL_v0_2.json"),
        ("op_status_table", "run_registry", "expected_versions", THRESHOLD_PACKS), "OP-QA09",
        True,
    ),
    "system_health_report": Built(
        "presentation",
        ("SYSTEM_HEALTH_REPORT_v0_1.md", "SYSTEM_HEALTH_SUMMARY_v0_1.json",
         "SYSTEM_HEALTH_REPORT_v0_1.html"),
        ("op_status_table", "drift_signals", "run_registry"), "OP-QA10", False,
        "presentation-only: no active pointer, no meaningful delta semantics",
    ),
    "registry_delta_log": Built(
        "log", ("REGISTRY_DELTA_LOG_v0_1.jsonl", "REGISTRY_DELTA_LOG_STATE_v0_2.json"), (),
        "OP-QA11", False, "the log itself: it records the other registries' transitions",
    ),
}  # fmt: skip
"""What each of our builders produces and reads (a test holds it to the demo catalog)."""


PLACEHOLDER = re.compile(r"<[^>]+>")
"""A v0.1 path's per-run part: `<uuid>`, `<run_id>`."""


@dataclass(frozen=True)
class CollectionPlan:
    """A collection's globs with members now (none: excluded, with `reason`)."""

    reason: str
    sources: tuple[str, ...]
    """The globs that match at least one file now (empty: excluded)."""
    artifacts: tuple[str, ...]
    """Each glob as the relpaths of its members inside a snapshot (the catalog's artifacts)."""


def collection_glob(path: str) -> str:
    """The glob of a placeholder path (`runs/<run_id>/out/` -> `runs/*/out/**/*`)."""
    literal = [re.sub(r"[*?[]", lambda found: f"[{found[0]}]", part)
               for part in PLACEHOLDER.split(path)]  # fmt: skip
    glob = "*".join(literal)
    return glob.rstrip("/") + "/**/*" if glob.endswith("/") else glob


def member_pattern(glob: str, several: bool) -> str:
    """Where a glob's members lie in a snapshot, as `source_paths` seals them."""
    if not is_pattern(glob):
        return Path(glob).name
    base = pattern_base(glob)
    relative = glob[len(base) + 1 :] if base != "." else glob
    return f"{Path(base).name}/{relative}" if several and base != "." else relative


def plan_collection(root: Path, primary: list[str]) -> CollectionPlan:
    """The collection of the repository at `root` whose primary paths are `primary`."""
    globs = [collection_glob(path) for path in primary]
    for glob in globs:
        folder = pattern_base(glob) if is_pattern(glob) else str(Path(glob).parent)
        problem = relpath_problem(glob) or (escape_problem(root, folder) or (None,))[0]
        if problem is not None:  # never listed: the repository's own files only
            return CollectionPlan(f"collection: {glob} {problem}; nothing to snapshot", (), ())
    found = {glob: _members(root, glob) for glob in globs}
    matched = [glob for glob in globs if found[glob]]
    empty = [glob for glob in globs if not found[glob]]
    if not matched:
        return CollectionPlan(
            f"collection: no file matches {', '.join(empty)}; nothing to snapshot", (), ()
        )
    count = sum(len(found[glob]) for glob in matched)
    per_run = "a folder" if all(glob.endswith("/**/*") for glob in matched) else "a file"
    now = "1 file now matches" if count == 1 else f"{count} files now match"
    reason = (
        f"{per_run} per run: {now} {', '.join(matched)}; all sealed together as one snapshot, "
        "a new one when a member is added or changed"
    )
    if empty:
        reason += f"; no file matches {', '.join(empty)} yet: left out"
    several = len(matched) > 1
    return CollectionPlan(
        reason, tuple(matched), tuple(member_pattern(glob, several) for glob in matched)
    )


def _members(root: Path, glob: str) -> list[str]:
    if is_pattern(glob):
        return pattern_matches(root, glob)
    return [glob] if (root / glob).is_file() else []


BINDING_PREFIX = "urn:registry-pipeline:adopted:"
FORMATS = {".json": "json", ".jsonl": "jsonl"}


def binding(layout: SeedLayout, entry: dict[str, Any]) -> dict[str, Any] | None:
    """The binding of a source or collection entry to the repository's schema file, or None."""
    if entry["kind"] not in ("source", "collection") or layout.schemas_dir is None:
        return None
    name = f"{entry['schema_id']}.schema.json"
    schema = layout.schemas_dir / name
    if Path(name).name != name or name.startswith(".") or not schema.is_file():
        return None  # only a file directly in their schemas folder
    if entry["kind"] == "collection":
        bound = _schema_members(schema, entry["sources"])
        if bound is None:
            return None
        artifacts, fmt = bound
    elif all(name.endswith(".json") for name in entry["artifacts"]):
        # with the names the seed's seal-promotion script gives the same files
        # (`EXPECTED_VERSIONS_v0_1_snapshot.json`): their snapshots checked by the same schema
        artifacts = [*entry["artifacts"], *map(snapshot_name, entry["artifacts"])]
        fmt = "json"
    else:
        return None  # their JSON Schema cannot govern a CSV or Markdown file
    return {
        "$id": BINDING_PREFIX + entry["registry_id"],
        "title": f"{entry['registry_id']}: bound to the repository's own schema",
        "x-registry-artifacts": artifacts,
        "x-registry-format": fmt,
        "x-schema-file": "../" + layout.relpath(schema),
    }


def _schema_members(schema: Path, globs: list[str]) -> tuple[list[str], str] | None:
    """The member names and format a collection's schema clearly governs; None unless it does."""
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
        # its title or description must name the member path: the seed's evidence-pack schema
        # describes a manifest entry, so it is never bound (every member would fail it)
        if glob not in said or fmt is None or "**" in glob:
            return None
        names.append(name)
        formats.add(fmt)
    return (names, formats.pop()) if len(formats) == 1 else None
