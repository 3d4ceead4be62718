"""Adapters from sealed input snapshots to the pure builders (listed in `registry.py`).

Each adapter reads only sealed snapshots (never live files), calls one pure builder and returns
its artifacts. `as_of` for time-dependent builders is the created_utc of the input run registry
snapshot, so that the same sealed inputs give byte-identical artifacts.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence, Set
from typing import Any

from registry_pipeline.core.builders import (
    drift_signals,
    op_status_table,
    run_registry,
    system_health,
)
from registry_pipeline.core.builders.model import BuildInputs, BuildResult
from registry_pipeline.core.json_strict import loads_strict
from registry_pipeline.core.seal.schemas import SchemaCatalog, iter_jsonl
from registry_pipeline.core.seal.validate import inspect_run_folder
from registry_pipeline.core.workspace.catalog import RegistryCatalog, load_catalog
from registry_pipeline.core.workspace.layout import RUNS_RELPATH, Workspace
from registry_pipeline.core.workspace.snapshots import (
    Snapshot,
    folder_verdict,
    list_snapshots,
    newest_valid,
    read_snapshot,
)
from registry_pipeline.core.workspace.sources import is_pattern


def build_run_registry(build: BuildInputs) -> BuildResult:
    """Index every run folder of the workspace, reusing the previous snapshot's verdicts.

    The previous snapshot's v0.1 file is mapped read-only (not copied) so that a folder that
    passed with the same root reuses its line without being listed again.
    """
    import contextlib
    import mmap
    import os

    roots = load_catalog(build.workspace).run_roots
    with contextlib.ExitStack() as stack:
        previous = None
        status = build.previous.path / run_registry.SEAL_STATUS_ARTIFACT if build.previous else None
        if status is not None and status.is_file():
            lines: bytes | mmap.mmap | None = None
            registry = status.with_name(run_registry.REGISTRY_ARTIFACT)
            if registry.is_file():
                handle = stack.enter_context(registry.open("rb"))
                size = os.fstat(handle.fileno()).st_size
                lines = (
                    stack.enter_context(mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ))
                    if size
                    else b""
                )
            previous = run_registry.load_previous(status.read_bytes(), lines)
        result = run_registry.build_run_registry(
            [run_registry.RunRoot(root, build.workspace.root / root) for root in roots],
            previous=previous,
            full_audit=build.full_audit,
            schemas=SchemaCatalog.for_workspace(build.workspace.root),
        )
    return BuildResult(result.artifacts, result.stats.folders, result.stats.as_json())


def _read(snapshot: Snapshot, relpath: str) -> bytes:
    return snapshot.artifact(relpath).read_bytes()


def _counts(detail: dict[str, Any]) -> dict[str, object]:
    counts = detail.get("counts")
    return dict(counts) if isinstance(counts, dict) else {}


def build_drift_signals(build: BuildInputs) -> BuildResult:
    """Drift between expected versions and the sealed evidence, every signal tri-state."""
    catalog = load_catalog(build.workspace)
    schemas = SchemaCatalog.for_workspace(build.workspace.root)
    active = _active_after_build(build, catalog)
    result = drift_from_snapshots(
        build.workspace,
        build.inputs,
        active_snapshots={rid: drift_ref(snapshot) for rid, snapshot in active.items()},
        newest_valid_snapshots={
            spec.registry_id: drift_ref(newest_valid(build.workspace, spec.registry_id, schemas))
            for spec in catalog.registries
            if spec.active_pointer
        },
        schema_hashes_at_active={
            rid: _text(snapshot.envelope().get(SCHEMA_HASH_KEY)) if snapshot else None
            for rid, snapshot in active.items()
        },
        as_of=max(snapshot.created_utc for snapshot in build.inputs.values()),
    )
    return drift_build_result(result, drift_signals.canon_notes(result.v01))  # git state unknown


SCHEMA_HASH_KEY = "schema_sha256"
"""run.json key: SHA-256 of the schema file that governed the registry's primary artifact."""


def _active_after_build(build: BuildInputs, catalog: RegistryCatalog) -> dict[str, Snapshot | None]:
    """Per registry with a pointer: the snapshot this build reads (the build promotes it with
    its own outputs), else the one its pointer names now, else None."""
    from registry_pipeline.core.pointers.store import PointerStore

    ids = [spec.registry_id for spec in catalog.registries if spec.active_pointer]
    pointers = PointerStore(build.workspace).explained(ids)  # POINTER_MISMATCH: never read
    active: dict[str, Snapshot | None] = {}
    for spec in catalog.registries:
        if not spec.active_pointer:
            continue
        ref = pointers.active(spec.registry_id)
        folder = build.workspace.runs_dir / str(ref.run_id) if ref and ref.run_id else None
        if spec.registry_id in build.inputs:
            active[spec.registry_id] = build.inputs[spec.registry_id]
        elif folder is not None and folder.is_dir():
            active[spec.registry_id] = read_snapshot(folder, spec.registry_id)
        else:
            active[spec.registry_id] = None
    return active


def drift_build_result(result: drift_signals.DriftResult, notes: Sequence[str] = ()) -> BuildResult:
    """A drift result as a builder's result (files, signal count, counts by value; `notes`, for
    the build's output, when there are some)."""
    summary: dict[str, object] = _counts(result.detail())
    if notes:
        summary["notes"] = list(notes)
    return BuildResult(result.files(), len(result.signals), summary)


def drift_from_snapshots(
    workspace: Workspace,
    inputs: Mapping[str, Snapshot],
    *,
    active_snapshots: Mapping[str, drift_signals.SnapshotRef | None] | None,
    newest_valid_snapshots: Mapping[str, drift_signals.SnapshotRef | None],
    as_of: str,
    schema_hashes_at_active: Mapping[str, str | None] | None = None,
) -> drift_signals.DriftResult:
    """The drift documents from sealed input snapshots (run_registry, op_status_table,
    expected_versions, threshold_packs_file) and the snapshot refs the active-behind signal
    compares."""
    catalog = load_catalog(workspace)
    schemas = SchemaCatalog.for_workspace(workspace.root)
    registry = inputs["run_registry"]
    status = inputs["op_status_table"]
    lines = _run_lines(registry)
    table = loads_strict(_read(status, op_status_table.TABLE_ARTIFACT))
    envelope = registry.envelope()
    return drift_signals.build_drift_signals(
        run_registry_lines=lines,
        op_status_detail=loads_strict(_read(status, op_status_table.DETAIL_ARTIFACT)),
        expected_versions=loads_strict(
            _read(inputs["expected_versions"], "EXPECTED_VERSIONS_v0_1.json")
        ),
        observed_schema_versions={
            "run_registry": _first(lines, "registry_version"),
            "op_status_table": _first(table, "status_version"),
            "run_envelope": None,
        },
        observed_builder_versions={
            registry_id: _builder_version(snapshot)
            for registry_id, snapshot in sorted(inputs.items())
        },
        observed_threshold_pack_version=_pack_version(inputs.get("threshold_packs_file")),
        active_snapshots=active_snapshots,
        newest_valid_snapshots=newest_valid_snapshots,
        schema_hashes_now=_schema_hashes(catalog, schemas),
        schema_hashes_at_active=schema_hashes_at_active
        or {spec.registry_id: None for spec in catalog.registries if spec.active_pointer},
        git_commit=_text(envelope.get("git_commit")),
        working_tree_state=_text(envelope.get("working_tree_state")),
        as_of=as_of,
        expected_versions_source=_source_file(catalog, "expected_versions"),
    )


def _source_file(catalog: RegistryCatalog, registry_id: str) -> str:
    """The workspace file a source registry is edited in (its one source), as drift documents
    name it; the demo's place when the catalog names none or a pattern."""
    sources = catalog.get(registry_id).sources if registry_id in catalog.ids else ()
    if len(sources) == 1 and not is_pattern(sources[0]):
        return sources[0]
    return drift_signals.DEFAULT_EXPECTED_SOURCE


def build_system_health_report(build: BuildInputs, builder_ids: Set[str]) -> BuildResult:
    """The rendered health report: per registry and operation, drift, governance scorecard.

    `builder_ids`: the registries that have a builder in code (the report shows which do not).
    """
    status = build.inputs["op_status_table"]
    drift = build.inputs["drift_signals"]
    run_lines = _run_lines(build.inputs["run_registry"])
    files = system_health.build_system_health(
        catalog_summary=_catalog_summary(build, builder_ids),
        op_status_rows=loads_strict(_read(status, op_status_table.TABLE_ARTIFACT)),
        op_status_detail=loads_strict(_read(status, op_status_table.DETAIL_ARTIFACT)),
        drift_v01=loads_strict(_read(drift, drift_signals.V01_ARTIFACT)),
        drift_detail=loads_strict(_read(drift, drift_signals.DETAIL_ARTIFACT)),
        run_registry_lines=run_lines,
        drift_history=_drift_history(build.workspace, run_lines),
        as_of=max(snapshot.created_utc for snapshot in build.inputs.values()),
        input_sources={
            "status_table": _source(status, op_status_table.TABLE_ARTIFACT),
            "registry": _source(build.inputs["run_registry"], run_registry.REGISTRY_ARTIFACT),
            "drift_signals": _source(drift, drift_signals.V01_ARTIFACT),
        },
        write_overrides=_write_overrides(build),
        excluded=load_catalog(build.workspace).excluded,
    )
    markdown = files[system_health.MARKDOWN_ARTIFACT].decode("utf-8")
    sealed = loads_strict(files[system_health.SUMMARY_ARTIFACT])  # the figures, as sealed
    return BuildResult(files, len(files), {"markdown": markdown, "scorecard": sealed["scorecard"]})


DRIFT_HISTORY = 30
"""Earlier drift snapshots the health report's drift chart draws."""


def _drift_history(workspace: Workspace, lines: list[Any]) -> list[dict[str, Any]]:
    """Detail documents of the earlier drift_signals snapshots the input run registry indexes
    as sealed (PASS), oldest first, at most DRIFT_HISTORY; one that cannot be read is left out
    (the same inputs give the same history)."""
    from registry_pipeline.core.errors import RegistryError
    from registry_pipeline.core.seal.run_id import registry_of

    runs = [
        line
        for line in lines
        if isinstance(line, dict)
        and registry_of(str(line.get("run_id"))) == "drift_signals"
        and "seal:PASS" in line.get("warnings", ())
    ]
    history = []
    for line in runs[-DRIFT_HISTORY:]:
        try:
            snapshot = read_snapshot(workspace.root / str(line["run_path"]), "drift_signals")
            history.append(loads_strict(_read(snapshot, drift_signals.DETAIL_ARTIFACT)))
        except (RegistryError, OSError, ValueError, KeyError):
            continue
    return history


def _write_overrides(build: BuildInputs) -> list[dict[str, Any]]:
    """The write path's override records (an unreadable log is shown as one record saying so:
    the report still renders)."""
    from registry_pipeline.core.errors import RegistryError
    from registry_pipeline.core.write_path.logs import OVERRIDES_RELPATH, read_records

    try:
        return read_records(build.workspace.root / OVERRIDES_RELPATH)
    except RegistryError as exc:
        return [{"type": "(log)", "key": OVERRIDES_RELPATH, "reason": f"{exc.code}: {exc}"}]


def _catalog_summary(build: BuildInputs, builder_ids: Set[str]) -> list[dict[str, Any]]:
    """Per catalog registry: the snapshot the report counts, the newest its sealed inputs show
    (`system_health.visible_runs`), and whether it passes its seal and schema."""
    summary = []
    schemas = SchemaCatalog.for_workspace(build.workspace.root)
    shown = system_health.visible_runs(
        _run_lines(build.inputs["run_registry"]),
        {snapshot.run_id: snapshot.envelope() for snapshot in build.inputs.values()},
    )
    for spec in load_catalog(build.workspace).registries:
        snapshots = list_snapshots(build.workspace, spec.registry_id)
        latest = next((s for s in reversed(snapshots) if s.run_id in shown), None)
        verdict = "none"
        if latest is not None:
            report = inspect_run_folder(latest.path, schemas=schemas)
            verdict = folder_verdict(report)[0].status  # as `registry validate` says it
        summary.append(
            {
                "registry_id": spec.registry_id,
                "kind": spec.kind,
                "has_builder": spec.is_source or spec.registry_id in builder_ids,
                "latest_run_id": latest.run_id if latest else None,
                "latest_status": verdict,
                "operation_id": spec.operation_id,
                "in_scorecard": spec.in_scorecard,
                "this_report": spec.registry_id == build.spec.registry_id,
            }
        )
    return summary


def _source(snapshot: Snapshot, relpath: str) -> str:
    """Workspace-relative path of an artifact of a sealed snapshot, as the seed records inputs."""
    return f"{RUNS_RELPATH}/{snapshot.run_id}/{relpath}"


_PARSED: dict[tuple[str, int, int, int, int], list[Any]] = {}
"""The last parsed JSONL artifacts, by path and stat: three builders of one build read the same
sealed run registry, which is parsed once. Sealed files are read-only; any write to one changes
its ctime, so a changed file is parsed again."""


def _jsonl(snapshot: Snapshot, relpath: str) -> list[Any]:
    """The parsed lines of a sealed JSONL artifact (shared between callers: do not mutate)."""
    path = snapshot.path / relpath
    info = path.stat()
    key = (str(path), info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino)
    if key not in _PARSED:
        if len(_PARSED) >= 4:
            _PARSED.clear()
        _PARSED[key] = [line for _, line in iter_jsonl(path.read_bytes())]
    return _PARSED[key]


def _run_lines(snapshot: Snapshot) -> list[Any]:
    """A run registry snapshot's v0.1 lines joined with their companion seal verdicts."""
    statuses = None
    if (snapshot.path / run_registry.SEAL_STATUS_ARTIFACT).is_file():
        statuses = _jsonl(snapshot, run_registry.SEAL_STATUS_ARTIFACT)
    return run_registry.with_seal_warnings(
        _jsonl(snapshot, run_registry.REGISTRY_ARTIFACT), statuses
    )


def _first(rows: Any, key: str) -> str | None:
    if isinstance(rows, list) and rows and isinstance(rows[0], dict):
        return _text(rows[0].get(key))
    return None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _builder_version(snapshot: Snapshot) -> str | None:
    builder = snapshot.envelope().get("builder")
    return _text(builder.get("version")) if isinstance(builder, dict) else None


def _pack_version(snapshot: Snapshot | None) -> str | None:
    """`vN` when every pack file is named `*_vN.json` with the same N; otherwise unknown."""
    if snapshot is None:
        return None
    versions = {relpath.rsplit("_", 1)[-1].removesuffix(".json") for relpath in snapshot.payload()}
    return versions.pop() if len(versions) == 1 else None


def drift_ref(snapshot: Snapshot | None) -> drift_signals.SnapshotRef | None:
    """A snapshot as the drift builder's ref (None stays None)."""
    if snapshot is None:
        return None
    return drift_signals.SnapshotRef(
        snapshot.registry_id, snapshot.run_id, snapshot.root_sha256, snapshot.created_utc
    )


def _schema_hashes(catalog: RegistryCatalog, schemas: SchemaCatalog) -> dict[str, str]:
    hashes = {}
    for spec in catalog.registries:
        digest = schema_file_hash(schemas, spec.primary_artifact)
        if digest is not None and spec.active_pointer:
            hashes[spec.registry_id] = digest
    return hashes


def schema_file_hash(schemas: SchemaCatalog, artifact: str) -> str | None:
    """SHA-256 of the schema file that governs `artifact`, None when none does."""
    schema = schemas.for_artifact(artifact)
    return hashlib.sha256(schema.path.read_bytes()).hexdigest() if schema is not None else None
