"""The drift_signals builder: tri-state signals, null when evidence is missing (never a guess)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from types import MappingProxyType
from typing import Any

from registry_pipeline.core.builders.model import BuildInputs, BuildResult, read_json
from registry_pipeline.core.builders.op_status_table import DETAIL_ARTIFACT as STATUS_DETAIL
from registry_pipeline.core.builders.op_status_table import TABLE_ARTIFACT, detail_operations
from registry_pipeline.core.builders.run_registry import run_lines, seal_status, tampered
from registry_pipeline.core.errors import RegistryError
from registry_pipeline.core.json_strict import dumps_pretty, loads_strict
from registry_pipeline.core.seal.hashing import sha256_file
from registry_pipeline.core.seal.manifest import root_sha256
from registry_pipeline.core.seal.run_id import registry_of
from registry_pipeline.core.seal.schemas import SchemaCatalog
from registry_pipeline.core.seal.verdicts import FAIL, UNSEALED
from registry_pipeline.core.workspace.catalog import RegistryCatalog, load_catalog
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.core.workspace.snapshots import SECOND, Snapshot, newest_valid, read_snapshot
from registry_pipeline.core.workspace.sources import is_pattern

V01_ARTIFACT = "DRIFT_SIGNALS_v0_1.json"
DETAIL_ARTIFACT = "DRIFT_SIGNALS_DETAIL_v0_2.json"
UTC_STAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")

KIND_SEVERITY: Mapping[str, str] = {
    "schema_version": "warning",
    "builder_version": "warning",
    "threshold_pack_version": "warning",
    "operation_stale": "warning",
    "run_folder_invalid": "critical",
    "run_folder_tampered": "critical",
    "run_folder_unsealed": "info",
    "active_snapshot_behind": "warning",
    "schema_changed": "warning",
}
"""Signal kinds in output order, with the severity each carries when its value is true."""


Signal = dict[str, Any]
"""One drift signal as the detail file writes it (`_signal`)."""


def _signal(
    signal_id: str,
    value: bool | None,
    summary: str,
    evidence: Sequence[Any] = (),
    kind: str | None = None,
) -> Signal:
    """One drift signal, its id stable across builds, its severity from its kind and value."""
    kind = kind or signal_id.split(":")[0]
    weight = KIND_SEVERITY[kind]
    severity = (
        weight if value is True else "warning" if value is None and weight == "critical" else "info"
    )
    return {
        "signal_id": signal_id,
        "kind": kind,
        "severity": severity,
        "value": value,
        "summary": summary,
        "evidence": list(evidence),
    }


def _evidence(
    run_id: str, registry_id: str | None, manifest_sha256: str | None, reason: str | None = None
) -> dict[str, Any]:
    """A run folder behind a signal's value, and why it is cited when there is more to say."""
    found = {"run_id": run_id, "registry_id": registry_id, "manifest_sha256": manifest_sha256}
    return found if reason is None else {**found, "reason": reason}


def _snapshot_evidence(snapshot: Snapshot) -> dict[str, Any]:
    return _evidence(snapshot.run_id, snapshot.registry_id, snapshot.root_sha256)


def value_counts(values: Iterable[object]) -> dict[str, int]:
    """Signals by value (`true`, `false`, `unknown`: null), as the detail and the report count."""
    seen = list(values)
    return {"true": seen.count(True), "false": seen.count(False), "unknown": seen.count(None)}


Cited = Mapping[str, Snapshot]
"""The snapshot cited as evidence for a registry: its active one, else its newest valid one."""


def _cited_evidence(refs: Cited, registry_id: str) -> list[dict[str, Any]]:
    """Zero or one evidence ref for `registry_id`."""
    return [_snapshot_evidence(refs[registry_id])] if registry_id in refs else []


def _version_signals(
    kind: str, expected: Mapping[str, str | None], observed: Mapping[str, str | None], refs: Cited
) -> list[Signal]:
    """One signal per name: its observed version against the expected one."""
    return [
        _version_signal(
            f"{kind}:{name}",
            f"{kind.replace('_', ' ')} of {name}",
            expected.get(name),
            observed.get(name),
            _cited_evidence(refs, name),
        )
        for name in sorted(set(observed) | set(expected))
    ]


def _version_signal(
    signal_id: str, what: str, want: str | None, have: str | None, evidence: Sequence[Any] = ()
) -> Signal:
    """A version in use against the expected one: null when either side is unknown."""
    value = None if want is None or have is None else want != have
    shown = ["(none)" if version is None else version for version in (want, have)]
    summary = f"{what}: expected {shown[0]}, observed {shown[1]}"
    return _signal(signal_id, value, summary, evidence)


def _behind_signals(
    active: Mapping[str, Snapshot | None] | None,
    newest: Mapping[str, Snapshot | None],
) -> list[Signal]:
    """Per registry: is its active snapshot older than its newest valid one?"""
    signals = []
    for registry_id in sorted(set(newest) | set(active or {})):
        current = active.get(registry_id) if active is not None else None
        latest = newest.get(registry_id)
        value: bool | None = None
        if active is None:
            summary = f"{registry_id}: no pointer history yet"
        elif current is None or latest is None:
            names = [ref.run_id if ref is not None else "unknown" for ref in (current, latest)]
            summary = f"{registry_id}: active {names[0]}, newest valid {names[1]}"
        else:
            value = latest.order() > current.order()  # the gate's order of snapshots
            summary = f"{registry_id}: active {current.run_id}, newest valid {latest.run_id}"
        evidence = [_snapshot_evidence(ref) for ref in (current, latest) if ref is not None]
        signals.append(_signal(f"active_snapshot_behind:{registry_id}", value, summary, evidence))
    return signals


def _schema_changed_signals(
    now: Mapping[str, str], at_active: Mapping[str, str | None], refs: Cited
) -> list[Signal]:
    """Per registry: has its schema file changed since its active snapshot was built?"""
    signals = []
    for registry_id in sorted(set(now) | set(at_active)):
        before = at_active.get(registry_id)
        after = now.get(registry_id)
        value: bool | None
        if before is None:
            value, summary = None, f"{registry_id}: schema hash at the active snapshot unknown"
        elif after is None:
            value, summary = True, f"{registry_id}: schema file removed since the active snapshot"
        else:
            value = before != after
            summary = f"{registry_id}: schema sha256 {before[:12]} then, {after[:12]} now"
        evidence = _cited_evidence(refs, registry_id)
        signals.append(_signal(f"schema_changed:{registry_id}", value, summary, evidence))
    return signals


def _stale_signals(
    detail: Mapping[str, Any], lines: Sequence[Mapping[str, Any]], as_of: str
) -> list[Signal]:
    """One signal per catalogued operation: stale beyond its threshold pack, or not."""
    roots: dict[str, Any] = {}
    for line in lines:
        roots[str(line.get("run_key"))] = line.get("manifest_root_sha256")
        roots.setdefault(str(line.get("run_id")), line.get("manifest_root_sha256"))
    signals = []
    for entry in detail_operations(detail):
        op_id = str(entry.get("operation_id"))
        limit = entry.get("stale_after_hours")
        value = _staleness(entry, as_of)
        bound = f"stale after {limit} hours" if limit is not None else "no staleness limit"
        summary = f"{op_id}: status {entry.get('status') or 'unknown'}, {bound}"
        last = entry.get("last_run_id")
        root = roots.get(str(entry.get("last_run_key")), roots.get(str(last)))
        evidence = (_evidence(str(last), registry_of(str(last)), root),) if last else ()
        signals.append(_signal(f"operation_stale:{op_id}", value, summary, evidence))
    return signals


def _staleness(entry: Mapping[str, Any], as_of: str) -> bool | None:
    """Stale or not, from the operation's status; a failing one is judged by its last success."""
    status, limit = entry.get("status"), entry.get("stale_after_hours")
    if status == "stale":
        return True
    if limit is None or status not in ("ok", "failing"):
        return None
    if status == "ok":
        return False
    success = entry.get("last_success_utc")
    if success is None:
        return True
    if not isinstance(success, str) or not UTC_STAMP.fullmatch(success):
        return None
    age = datetime.strptime(as_of, SECOND) - datetime.strptime(success, SECOND)
    return age.total_seconds() / 3600 > float(limit)


_FOLDER_KINDS = (
    ("run_folder_invalid", "invalid", FAIL, "failed seal validation"),
    ("run_folder_tampered", "tampered", "TAMPERED", "changed after being indexed as sealed"),
    ("run_folder_unsealed", "unsealed", UNSEALED, "were never sealed"),
)


def _run_folder_signals(lines: Sequence[Mapping[str, Any]]) -> list[Signal]:
    """Invalid, tampered and unsealed run folders, from the verdict of every indexed folder."""
    statuses = []
    for line in lines:
        warnings = tuple(line.get("warnings", ()))
        verdict, reasons = seal_status(warnings)
        statuses.append((line, verdict, "TAMPERED" if tampered(warnings) else None, reasons))
    unknown = sum(1 for _, verdict, _, _ in statuses if verdict is None)
    signals = []
    for kind, suffix, wanted, meaning in _FOLDER_KINDS:
        hits = [
            _evidence(
                str(line.get("run_id")),
                registry_of(str(line.get("run_id"))),
                line.get("manifest_root_sha256"),
                "; ".join(reasons) or None,
            )
            for line, verdict, flag, reasons in statuses
            if wanted in (verdict, flag)
        ]
        hits.sort(key=lambda item: (item["run_id"], item["manifest_sha256"] or ""))
        value: bool | None = True if hits else (None if unknown else False)
        summary = (
            f"{len(hits)} of {len(lines)} run folders {meaning}"
            f" ({unknown} without a recorded seal status)"
        )
        signals.append(_signal(f"run_folders:{suffix}", value, summary, hits, kind=kind))
    return signals


POLICY_RULES = (
    "a signal is true only when sealed evidence shows the drift, false only when evidence shows"
    " none, and null when the evidence needed to decide is missing",
    "operation_stale follows the operation status table: true for status stale, false for ok;"
    " a failing operation is judged by the age of its last success; null for never_run or when"
    " no threshold pack sets stale_after_hours",
    "run folder signals read the seal status the run registry records for every folder",
    "active_snapshot_behind stays null until pointer history exists for the registry",
    "details and evidence refs: DRIFT_SIGNALS_DETAIL_v0_2.json in the same run folder",
    "canon_state is the working tree's state less the registry layer's own files (the pointer"
    " file, its journal, receipts, sealed folders, the tool's .codex state): clean, dirty, or"
    " unknown when git could not say (git_commit null); canon_dirty is true unless it is clean",
)

CANON_UNKNOWN = (
    "git state unknown (git_commit null): git is not on PATH, the workspace is not inside a git"
    " work tree, or git did not answer; the working tree is not known to be clean"
)
"""What an unknown canon state means, said wherever it shows (the build's output, the report)."""


def canon_notes(v01: Mapping[str, Any]) -> list[str]:
    """CANON_UNKNOWN when a v0.1 drift object's canon state is unknown; else none."""
    flags = v01.get("system_drift")
    unknown = isinstance(flags, Mapping) and flags.get("canon_state") == "unknown"
    return [CANON_UNKNOWN] if unknown else []


def _v01_warnings(expected: Mapping[str, Any], signals: Sequence[Signal], canon: str) -> list[str]:
    """Null expectations, an unknown canon state, then `<signal_id>:true|unknown`."""
    warnings = [
        f"expected_{key}_null"
        for key in ("schema_version", "threshold_pack_version")
        if expected.get(key) is None
    ]
    if canon == "unknown":
        warnings.append("canon_state:unknown")
    warnings.extend(
        f"{signal['signal_id']}:{'true' if signal['value'] else 'unknown'}"
        for signal in signals
        if signal["value"] is not False
    )
    warnings.append(f"detail:{DETAIL_ARTIFACT}")
    return warnings


DEFAULT_EXPECTED_SOURCE = "registries/expected_versions/EXPECTED_VERSIONS_v0_1.json"


def build_drift_signals(
    *,
    as_of: str,
    run_registry_lines: Sequence[Mapping[str, Any]] = (),
    op_status_detail: Mapping[str, Any] = MappingProxyType({}),
    expected_versions: Mapping[str, Any] = MappingProxyType({"expected": {}}),
    observed_schema_versions: Mapping[str, str | None] = MappingProxyType({}),
    observed_builder_versions: Mapping[str, str | None] = MappingProxyType({}),
    observed_threshold_pack_version: str | None = None,
    active_snapshots: Mapping[str, Snapshot | None] | None = None,
    newest_valid_snapshots: Mapping[str, Snapshot | None] = MappingProxyType({}),
    schema_hashes_now: Mapping[str, str] = MappingProxyType({}),
    schema_hashes_at_active: Mapping[str, str | None] = MappingProxyType({}),
    git_commit: str | None = None,
    working_tree_state: str | None = None,
    expected_versions_source: str = DEFAULT_EXPECTED_SOURCE,
    unknown: str | None = None,
) -> BuildResult:
    """Both drift documents (same inputs, same bytes); `unknown`: one null signal per kind."""
    if not UTC_STAMP.fullmatch(as_of):
        raise RegistryError.of("BAD_AS_OF", path=as_of)
    if working_tree_state not in ("clean", "dirty", None):
        raise RegistryError.of("BAD_WORKING_TREE_STATE", path=str(working_tree_state))
    expected = expected_versions.get("expected")
    if not isinstance(expected, Mapping):
        raise RegistryError.of("BAD_EXPECTED_VERSIONS")
    active = {rid: ref for rid, ref in (active_snapshots or {}).items() if ref is not None}
    refs = {
        rid: ref for rid, ref in {**newest_valid_snapshots, **active}.items() if ref is not None
    }
    signals = (
        tuple(_signal(f"{kind}:no_history", None, unknown) for kind in KIND_SEVERITY)
        if unknown is not None
        else (
            *_version_signals(
                "schema_version",
                dict.fromkeys(observed_schema_versions, expected.get("schema_version")),
                observed_schema_versions,
                refs,
            ),
            *_version_signals(
                "builder_version",
                _string_map(expected.get("builder_versions")),
                observed_builder_versions,
                refs,
            ),
            _version_signal(
                "threshold_pack_version",
                "threshold pack version",
                expected.get("threshold_pack_version"),
                observed_threshold_pack_version,
            ),
            *_stale_signals(op_status_detail, run_registry_lines, as_of),
            *_run_folder_signals(run_registry_lines),
            *_behind_signals(active_snapshots, newest_valid_snapshots),
            *_schema_changed_signals(schema_hashes_now, schema_hashes_at_active, refs),
        )
    )
    # schema drift: true if any signal is, false if there are some and all are, else unknown
    seen = [s["value"] for s in signals if s["kind"] == "schema_version"]
    schema_drift = True if True in seen else False if seen and None not in seen else None
    threshold = next(s["value"] for s in signals if s["kind"] == "threshold_pack_version")
    # never taken for clean
    canon = working_tree_state if working_tree_state in ("clean", "dirty") else "unknown"
    v01 = {
        "drift_version": "0.1",
        "expected_versions_source": expected_versions_source,
        "generated_utc": as_of,
        "git_commit": git_commit,
        "working_tree_state": working_tree_state,
        "canon_tree_hash": canon_tree_hash(schema_hashes_now),
        "expected": {
            "schema_version": {
                "expected": expected.get("schema_version"),
                "computed": schema_drift is not None,
                "observed": dict(sorted(observed_schema_versions.items())),
                "drift": schema_drift,
                "source_path": expected_versions_source,
            },
            "threshold_pack": {
                "expected": expected.get("threshold_pack_version"),
                "computed": threshold is not None,
                "observed": observed_threshold_pack_version,
                "drift": threshold,
                "source_path": expected_versions_source,
            },
        },
        "system_drift": {
            "canon_dirty": canon != "clean",
            "canon_state": canon,
            "schema_drift": schema_drift,
            "threshold_drift": threshold,
            "threshold_drift_computed": threshold is not None,
        },
        "op_drift_policy": {"op_drift_requires_evidence": True, "rules": list(POLICY_RULES)},
        "warnings": _v01_warnings(expected, signals, canon),
    }
    tally = value_counts(signal["value"] for signal in signals)
    detail = {"detail_version": "0.2", "generated_utc": as_of, "counts": tally, "signals": signals}
    files = {
        V01_ARTIFACT: dumps_pretty(v01, sort_keys=False),
        DETAIL_ARTIFACT: dumps_pretty(detail, sort_keys=False),
    }
    return BuildResult(files, len(signals), dict(tally))


def canon_tree_hash(schema_hashes: Mapping[str, str]) -> str:
    """ROOT_SHA256's recipe over the schema files: SHA-256 of sorted `<sha256>  <key>` lines."""
    return root_sha256(f"{digest}  {key}" for key, digest in schema_hashes.items())


def _string_map(value: Any) -> Mapping[str, str | None]:
    """`value` if it is an object of strings (or nulls), else an empty mapping."""
    if not isinstance(value, Mapping):
        return {}
    return {str(k): v for k, v in value.items() if v is None or isinstance(v, str)}


def build(inputs: BuildInputs) -> BuildResult:
    """The builder: drift between expected versions and the sealed evidence."""
    catalog = load_catalog(inputs.workspace)
    schemas = SchemaCatalog.for_workspace(inputs.workspace.root)
    active = _active_after_build(inputs, catalog)
    result = drift_from_snapshots(
        inputs.workspace,
        inputs.inputs,
        active_snapshots=active,
        newest_valid_snapshots={
            spec.registry_id: newest_valid(inputs.workspace, spec.registry_id, schemas)
            for spec in catalog.registries
            if spec.active_pointer
        },
        schema_hashes_at_active={
            rid: _text(snapshot.envelope().get(SCHEMA_HASH_KEY)) if snapshot else None
            for rid, snapshot in active.items()
        },
        as_of=max(snapshot.second for snapshot in inputs.inputs.values()),
    )
    notes = canon_notes(loads_strict(result.files[V01_ARTIFACT]))  # for the build's output
    return replace(result, summary={**result.summary, "notes": notes}) if notes else result


SCHEMA_HASH_KEY = "schema_sha256"
"""run.json key: SHA-256 of the schema file that governed the registry's primary artifact."""


def _active_after_build(
    inputs: BuildInputs, catalog: RegistryCatalog
) -> dict[str, Snapshot | None]:
    """Per registry with a pointer: the snapshot this build reads, else its pointer's, else None."""
    from registry_pipeline.core.pointers.store import PointerStore

    ids = [spec.registry_id for spec in catalog.registries if spec.active_pointer]
    pointers = PointerStore(inputs.workspace).explained(ids)  # POINTER_MISMATCH: never read
    active: dict[str, Snapshot | None] = dict.fromkeys(ids)
    for registry_id in ids:
        ref = pointers.active(registry_id)
        folder = inputs.workspace.runs_dir / str(ref.run_id) if ref and ref.run_id else None
        if registry_id in inputs.inputs:
            active[registry_id] = inputs.inputs[registry_id]
        elif folder is not None and folder.is_dir():
            active[registry_id] = read_snapshot(folder, registry_id)
    return active


def drift_from_snapshots(
    workspace: Workspace,
    inputs: Mapping[str, Snapshot],
    *,
    active_snapshots: Mapping[str, Snapshot | None] | None,
    newest_valid_snapshots: Mapping[str, Snapshot | None],
    as_of: str,
    schema_hashes_at_active: Mapping[str, str | None] | None = None,
) -> BuildResult:
    """The drift documents from sealed input snapshots and the snapshot refs compared."""
    catalog = load_catalog(workspace)
    schemas = SchemaCatalog.for_workspace(workspace.root)
    registry, status = inputs["run_registry"], inputs["op_status_table"]
    lines = run_lines(registry)
    table = read_json(status, TABLE_ARTIFACT)
    envelope = registry.envelope()
    packs = inputs.get("threshold_packs_file")
    return build_drift_signals(
        run_registry_lines=lines,
        op_status_detail=read_json(status, STATUS_DETAIL),
        expected_versions=read_json(inputs["expected_versions"], "EXPECTED_VERSIONS_v0_1.json"),
        observed_schema_versions={
            "run_registry": _first(lines, "registry_version"),
            "op_status_table": _first(table, "status_version"),
            "run_envelope": None,
        },
        observed_builder_versions={
            registry_id: _builder_version(snapshot)
            for registry_id, snapshot in sorted(inputs.items())
        },
        observed_threshold_pack_version=_pack_version(packs) if packs is not None else None,
        active_snapshots=active_snapshots,
        newest_valid_snapshots=newest_valid_snapshots,
        schema_hashes_now={
            spec.registry_id: digest
            for spec in catalog.registries
            if spec.active_pointer
            and (digest := schema_file_hash(schemas, spec.primary_artifact)) is not None
        },
        schema_hashes_at_active=schema_hashes_at_active
        or {spec.registry_id: None for spec in catalog.registries if spec.active_pointer},
        git_commit=_text(envelope.get("git_commit")),
        working_tree_state=_text(envelope.get("working_tree_state")),
        as_of=as_of,
        expected_versions_source=_source_file(catalog, "expected_versions"),
    )


def _source_file(catalog: RegistryCatalog, registry_id: str) -> str:
    """The one source file of a source registry; the demo's place when it names none or a glob."""
    sources = catalog.get(registry_id).sources if registry_id in catalog.ids else ()
    if len(sources) == 1 and not is_pattern(sources[0]):
        return sources[0]
    return DEFAULT_EXPECTED_SOURCE


def _first(rows: Any, key: str) -> str | None:
    if isinstance(rows, list) and rows and isinstance(rows[0], dict):
        return _text(rows[0].get(key))
    return None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _builder_version(snapshot: Snapshot) -> str | None:
    builder = snapshot.envelope().get("builder")
    return _text(builder.get("version")) if isinstance(builder, dict) else None


def _pack_version(snapshot: Snapshot) -> str | None:
    """`vN` when every pack file is named `*_vN.json` with the same N; otherwise unknown."""
    versions = {relpath.rsplit("_", 1)[-1].removesuffix(".json") for relpath in snapshot.payload()}
    return versions.pop() if len(versions) == 1 else None


def schema_file_hash(schemas: SchemaCatalog, artifact: str) -> str | None:
    """SHA-256 of the schema file that governs `artifact`, None when none does."""
    schema = schemas.for_artifact(artifact)
    return sha256_file(schema.path)[0] if schema is not None else None
