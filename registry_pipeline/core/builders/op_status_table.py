"""op_status_table: each operation's last run, success and status (docs/ASSET_GRAPH.md)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import PurePosixPath
from typing import Any

from registry_pipeline.core.builders.model import (
    BuildInputs,
    BuildResult,
    artifact_source,
    templates,
)
from registry_pipeline.core.builders.operations_catalog import (
    Coverage,
    catalog_version_key,
    catalog_warning,
    coverage_levels,
    input_error,
    merged_operations,
    warning_json,
)
from registry_pipeline.core.builders.run_registry import (
    LINE_ENDINGS_CONVERTED,
    run_lines,
    seal_status,
    tampered,
)
from registry_pipeline.core.errors import Problem
from registry_pipeline.core.json_strict import dumps_pretty, loads_strict
from registry_pipeline.core.workspace.catalog import catalog_or_none
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.core.workspace.snapshots import Snapshot

STATUS_VERSION = "0.1"
DETAIL_VERSION = "0.2"
TABLE_ARTIFACT = "OPERATION_STATUS_TABLE_v0_1.json"
DETAIL_ARTIFACT = "OPERATION_STATUS_DETAIL_v0_2.json"
STATUSES = ("ok", "failing", "stale", "never_run")
BELOW_C3 = ("C0", "C1", "C2")
"""The coverage levels a row warns about (`coverage_below_C3:<level>`) and the counts count."""
_OLDEST = datetime.min.replace(tzinfo=UTC)
LINE_ENDINGS_DIAGNOSIS = f"seal:DIAGNOSIS:{LINE_ENDINGS_CONVERTED}"
"""The run registry's warning for a folder matching its seal once line endings convert back."""


@dataclass(frozen=True)
class RunFact:
    """What the builder reads from one run registry line (strings null when absent or empty)."""

    run_key: str
    """`<run_root>::<run_id>`, unique across roots."""
    run_id: str
    operation_id: str | None
    created_utc: str | None
    created: datetime | None
    """`created_utc` parsed (timezone-aware), or None when absent or unreadable."""
    seal: str
    """TAMPERED if flagged, else the folder's verdict (`seal_status`), else UNKNOWN."""
    seal_warnings: tuple[str, ...]
    """The line's `seal:...` warnings, in order."""
    has_run_json: bool | None
    has_manifest_sha256: bool | None
    git_commit: str | None
    working_tree_state: str | None

    @property
    def folder(self) -> str:
        """The run folder, workspace-relative (`<run_root>/<run_id>`)."""
        return self.run_key.replace("::", "/", 1)

    @property
    def line_endings_converted(self) -> bool:
        """Whether its seal fails only because git converted its text files' line endings."""
        return LINE_ENDINGS_DIAGNOSIS in self.seal_warnings


def _parse_utc(text: object) -> datetime | None:
    """A timezone-aware datetime from ISO 8601 text, or None (absent, unreadable or naive)."""
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _run_fact(line: Mapping[str, Any], index: int) -> RunFact:
    """Read one run registry line; a line without run_key or run_id is an input error."""
    for key in ("run_key", "run_id"):
        if not isinstance(line.get(key), str) or not line[key]:
            raise input_error(f"run registry line has no {key}", path=f"line {index + 1}")
    seal_warnings = tuple(
        warning
        for warning in line.get("warnings") or ()
        if isinstance(warning, str) and warning.startswith("seal:")
    )
    return RunFact(
        run_key=line["run_key"],
        run_id=line["run_id"],
        operation_id=_text(line.get("operation_id")),
        created_utc=_text(line.get("created_utc")),
        created=_parse_utc(line.get("created_utc")),
        seal="TAMPERED" if tampered(seal_warnings) else seal_status(seal_warnings)[0] or "UNKNOWN",
        seal_warnings=seal_warnings,
        has_run_json=_flag(line.get("has_run_json")),
        has_manifest_sha256=_flag(line.get("has_manifest_sha256")),
        git_commit=_text(line.get("git_commit")),
        working_tree_state=_text(line.get("working_tree_state")),
    )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _flag(value: object) -> bool | None:
    return value if isinstance(value, bool) else None


UNKNOWN_ENFORCEMENT_LEVEL = "C0"
"""The level of an operation nothing gives one: "no enforcement evidence", as the seed writes."""
CANONICAL_OPTIONS = frozenset({"A", "B", "C", "D", "QA"})
"""The v0.1 table's option enum: an operation of another family is never canonical."""


def _operations(
    document: Mapping[str, Any], coverage: Mapping[str, Coverage] | None, warnings: list[Problem]
) -> list[tuple[Mapping[str, Any], dict[str, Any]]]:
    """The catalog's operations in order with their detail fields; duplicates are errors."""
    entries = document.get("operations")
    if not isinstance(entries, list):
        raise input_error("allowed_operations has no operations array", path="/operations")
    operations: list[tuple[Mapping[str, Any], dict[str, Any]]] = []
    for index, entry in enumerate(entries):
        where = f"/operations/{index}"
        for key in ("operation_id", "name", "option", "enforcement_level"):
            if not isinstance(entry, Mapping) or not isinstance(entry.get(key), str):
                if key == "enforcement_level" and key in entry and entry[key] is None:
                    continue
                raise input_error(f"missing or non-string {key}", path=f"{where}/{key}")
        if any(op["operation_id"] == entry["operation_id"] for _, op in operations):
            raise input_error(
                f"duplicate operation {entry['operation_id']!r}", path=f"{where}/operation_id"
            )
        said = entry.get("canonical")
        canonical = entry["option"] in CANONICAL_OPTIONS and said is not False
        if said is True and not canonical:
            warnings.append(_not_a_family(entry))
        level, source = _level(entry, coverage) if canonical else (None, None)
        executables = entry.get("executables")
        detail = {
            "operation_id": entry["operation_id"],
            "option": entry["option"],
            "canonical": canonical,
            "defined_in": _text(entry.get("defined_in")),
            "coverage_level": level,
            "coverage_source": source,
            "executables": [item for item in executables or () if isinstance(item, str)],
        }
        operations.append((entry, detail))
    return operations


def _not_a_family(entry: Mapping[str, Any]) -> Problem:
    where = _text(entry.get("defined_in")) or "allowed_operations:0"
    source, _, line = where.rpartition(":")
    return catalog_warning(
        source,
        int(line) if line.isdigit() else 0,
        entry["operation_id"],
        f"option {entry['option']} is none of the canonical families "
        f"({', '.join(sorted(CANONICAL_OPTIONS))}): counted as non-canonical",
    )


def _level(
    entry: Mapping[str, Any], coverage: Mapping[str, Coverage] | None
) -> tuple[str, str | None]:
    """(level, where it was read): the matrices', else the catalog entry's, else the floor."""
    found = coverage.get(entry["operation_id"]) if coverage is not None else None
    if found is not None:
        return found.level, found.source
    if entry["enforcement_level"] is not None:
        return entry["enforcement_level"], "catalog"
    return UNKNOWN_ENFORCEMENT_LEVEL, None


def _stale_after_hours(
    name: str | None, packs: Mapping[str, Mapping[str, Any]]
) -> tuple[int | float | None, list[str]]:
    """The pack's `thresholds.max_age_hours` (or a flat pack's `max_age_hours`), by pack name."""
    if name is None:
        return None, []
    pack = packs.get(name, packs.get(f"{name}.json"))
    if pack is None:
        return None, [f"threshold_pack_missing:{name}"]
    thresholds = pack.get("thresholds")
    value = (thresholds if isinstance(thresholds, Mapping) else pack).get("max_age_hours")
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None, [f"threshold_pack_without_max_age_hours:{name}"]
    return value, []


SEAL_FAILING = ("FAIL", "TAMPERED", "CONVERTED", "INTACT_OLDER_FORMAT")
"""Verdicts that make a run fail, as the seed decides (`registry validate` passes the last two)."""


def _detail(
    op: Mapping[str, Any], runs: Sequence[RunFact], limit: int | float | None, as_of: datetime
) -> dict[str, Any]:
    """The companion's entry for one operation (`runs` oldest first), its status included."""
    last = runs[-1] if runs else None
    success = next((run for run in reversed(runs) if run.seal == "PASS"), None)
    status = "never_run" if last is None else "failing" if last.seal in SEAL_FAILING else "ok"
    fresh = success is not None and (
        limit is None
        or (success.created is not None and as_of - success.created <= timedelta(hours=limit))
    )
    if status == "ok" and not fresh:
        status = "stale"
    return {
        **op,
        "notes": _notes(last),
        "last_run_id": last.run_id if last else None,
        "last_run_key": last.run_key if last else None,
        "last_seal_status": last.seal if last else None,
        "last_success_run_id": success.run_id if success else None,
        "last_success_utc": success.created_utc if success else None,
        "run_count": len(runs),
        "failed_count": sum(1 for run in runs if run.seal in SEAL_FAILING),
        "status": status,
        "stale_after_hours": limit,
        "evidence": sorted(run.run_key for run in runs),
    }


def _row(
    name: str,
    runs: Sequence[RunFact],
    as_of: datetime,
    legacy: bool,
    detail: Mapping[str, Any],
    reference_commit: str | None,
) -> dict[str, Any]:
    """The v0.1 row of a canonical operation (its companion entry: `detail`), in seed order."""
    last = runs[-1] if runs else None
    warnings = [f"status:{detail['status']}"]
    if last is None:
        warnings.append("runs_legacy_only" if legacy else "runs_unobserved")
    else:
        warnings.extend(_last_run_warnings(last, as_of))
    drift, reasons, unknown = _op_drift(last, reference_commit)
    if unknown:
        warnings.append(f"op_drift_unknown:{unknown}")
        warnings.extend(detail["notes"])
    if detail["coverage_level"] in BELOW_C3:
        warnings.append(f"coverage_below_C3:{detail['coverage_level']}")
    # whole days from the last run to `as_of` (never negative), or None when unknown
    created = last.created if last else None
    staleness_days = max(0, (as_of - created) // timedelta(days=1)) if created else None
    return {
        "status_version": STATUS_VERSION,
        "option": detail["option"],
        "operation_id": detail["operation_id"],
        "operation_name": name,
        "coverage_level": detail["coverage_level"],
        "last_run_id": last.run_id if last else None,
        "last_run_created_utc": last.created_utc if last else None,
        "run_evidence_state": "OBSERVED" if last else ("LEGACY_ONLY" if legacy else "UNOBSERVED"),
        "manifest_state": _presence(last.has_manifest_sha256 if last else None),
        "run_json_state": _presence(last.has_run_json if last else None),
        "staleness_days": staleness_days,
        "op_drift": drift,
        "op_drift_reasons": reasons,
        "warnings": warnings,
    }


def _presence(flag: bool | None) -> str:
    return "UNKNOWN" if flag is None else ("PRESENT" if flag else "MISSING")


def _last_run_warnings(last: RunFact, as_of: datetime) -> list[str]:
    """Codes for what v0.1 cannot say about the last run: its seal, missing files, odd times."""
    warnings = [f"last_run_{warning}" for warning in last.seal_warnings]
    warnings = warnings or ["last_run_seal:UNKNOWN"]
    if last.has_manifest_sha256 is False:
        warnings.append("last_run_manifest_missing")
    if last.created is None:
        warnings.append("last_run_created_utc_unknown")
    elif last.created > as_of:
        warnings.append("last_run_after_as_of")
    return warnings


def _op_drift(
    last: RunFact | None, reference_commit: str | None
) -> tuple[bool | None, list[str], str | None]:
    """(op_drift, reasons, why unknown) for the last run, by the module docstring's rules."""
    if last is None:
        return None, [], "no_run"
    if last.seal != "PASS":
        return None, [], f"last_run_seal_{last.seal}"
    reasons: list[str] = []
    if last.working_tree_state == "dirty":
        reasons.append("op_drift_last_run_dirty")
    if reference_commit and last.git_commit and last.git_commit != reference_commit:
        reasons.append("op_drift_commit_mismatch")
    if reasons:
        return True, reasons, None
    if last.git_commit is None:
        return None, [], "no_git_commit"
    if last.working_tree_state != "clean":
        return None, [], "no_working_tree_state"
    return False, [], None


def _notes(last: RunFact | None) -> list[str]:
    """Why op_drift cannot be decided from the last run (`templates/op_drift_note.j2`)."""
    if last is None or last.seal == "PASS":
        return []
    codes = sorted({w.split(":")[2] for w in last.seal_warnings if w.count(":") >= 2})
    note = templates().get_template("op_drift_note.j2").render(last=last, codes=codes)
    return [note.removesuffix("\n")]


MAX_WARNINGS = 50
"""Catalog warnings the detail lists (`catalog_warnings_total` counts them all)."""


def build_op_status_table(
    run_registry_lines: Sequence[Mapping[str, Any]],
    allowed_operations: Mapping[str, Any],
    threshold_packs: Mapping[str, Mapping[str, Any]],
    *,
    as_of: str,
    reference_commit: str | None = None,
    coverage: Mapping[str, Coverage] | None = None,
    catalog_warnings: Sequence[Problem] = (),
) -> BuildResult:
    """Both artifacts at `as_of`; `catalog_warnings` (lines not understood) are also the notes."""
    moment = _parse_utc(as_of)
    if moment is None:
        raise input_error(f"as_of {as_of!r} is not an ISO 8601 UTC time", path="as_of")
    facts = [_run_fact(line, index) for index, line in enumerate(run_registry_lines)]
    found = list(catalog_warnings)
    operations = _operations(allowed_operations, coverage, found)
    by_op: dict[str, list[RunFact]] = {}
    for fact in sorted(facts, key=lambda f: (f.created or _OLDEST, f.run_key)):  # oldest first
        if fact.operation_id:
            by_op.setdefault(fact.operation_id, []).append(fact)
    legacy = any(fact.has_run_json is False for fact in facts)
    table: list[dict[str, Any]] = []
    details: list[dict[str, Any]] = []
    for entry, op in operations:
        runs = by_op.get(op["operation_id"], [])
        pack = _text(entry.get("threshold_pack"))
        limit, pack_warnings = _stale_after_hours(pack, threshold_packs)
        detail = _detail(op, runs, limit, moment)
        details.append(detail)
        if not op["canonical"]:
            continue  # in the detail only: the v0.1 table (and the seed's) has no row for it
        row = _row(entry["name"], runs, moment, legacy, detail, reference_commit)
        row["warnings"].extend(pack_warnings)
        table.append(row)
    known = {op["operation_id"] for _, op in operations}
    unauthorized: list[dict[str, Any]] = [  # seen in runs, absent from the catalog, by id
        {"operation_id": op_id, "run_count": len(runs), "run_keys": sorted(r.run_key for r in runs)}
        for op_id, runs in sorted(by_op.items())
        if op_id not in known
    ]
    non_canonical = [op["operation_id"] for _, op in operations if not op["canonical"]]
    by_status = Counter(str(detail["status"]) for detail in details)
    tally = {  # operations by status, canonical or not, below C3 (rows), runs, unauthorized
        **{status: by_status[status] for status in STATUSES},
        "operations": len(details),
        "canonical_operations": len(details) - len(non_canonical),
        "non_canonical_operations": len(non_canonical),
        "coverage_below_c3": sum(1 for row in table if row["coverage_level"] in BELOW_C3),
        "runs_indexed": len(facts),
        "runs_with_operation_id": sum(1 for fact in facts if fact.operation_id),
        "unauthorized_operations": len(unauthorized),
        "unauthorized_runs": sum(entry["run_count"] for entry in unauthorized),
    }
    document = {
        "detail_version": DETAIL_VERSION,
        "as_of": as_of,
        "reference_commit": reference_commit,
        "operations": details,
        "non_canonical": {"count": len(non_canonical), "operation_ids": non_canonical},
        "catalog_warnings": [warning_json(warning) for warning in found[:MAX_WARNINGS]],
        "catalog_warnings_total": len(found),
        "unauthorized": unauthorized,
        "counts": tally,
    }
    summary: dict[str, object] = dict(tally)
    notes = [  # the build goes on: said in the build's output and the detail
        f"catalog line not understood: {w.path}:{w.line}: {w.field}: {w.message}"
        for w in found[:MAX_WARNINGS]
    ]
    if len(found) > MAX_WARNINGS:
        notes.append(f"and {len(found) - MAX_WARNINGS} more catalog line(s) not understood")
    if notes:
        summary["notes"] = notes
    files = {
        TABLE_ARTIFACT: dumps_pretty(table, sort_keys=False),
        DETAIL_ARTIFACT: dumps_pretty(document, sort_keys=True),
    }
    return BuildResult(files, len(table), summary)


def build(inputs: BuildInputs) -> BuildResult:
    """Status per operation of the operations catalog, from the sealed run registry."""
    registry = inputs.inputs["run_registry"]
    lines = run_lines(registry)
    catalog = allowed_operations(
        inputs.inputs["allowed_operations"], _coverage_matrices(inputs.workspace)
    )
    packs = {
        relpath.removesuffix(".json"): loads_strict(path.read_bytes())
        for relpath, path in inputs.inputs["threshold_packs_file"].payload().items()
        if relpath.endswith(".json")
    }
    commit = registry.envelope().get("git_commit")
    return build_op_status_table(
        lines,
        threshold_packs=packs,
        as_of=registry.created_utc,
        reference_commit=commit if isinstance(commit, str) else None,
        **catalog,
    )


def _coverage_matrices(workspace: Workspace) -> tuple[str, ...]:
    """The coverage matrices the catalog's allowed_operations entry names (none without one)."""
    catalog = catalog_or_none(workspace)
    if catalog is None or "allowed_operations" not in catalog.ids:
        return ()
    return catalog.get("allowed_operations").coverage_matrices


def allowed_operations(snapshot: Snapshot, coverage_matrices: Sequence[str] = ()) -> dict[str, Any]:
    """`build_op_status_table`'s keyword arguments from an allowed_operations snapshot."""
    payload = snapshot.payload()
    matrix_names = {PurePosixPath(path).name for path in coverage_matrices}
    missing = sorted(matrix_names - set(payload))
    if missing:
        raise input_error(
            f"allowed_operations snapshot {snapshot.run_id} lacks the coverage matrices the "
            f"catalog names: {', '.join(missing)}",
            path=str(snapshot.path),
        )
    found = sorted(
        relpath
        for relpath in payload
        if relpath.lower().endswith((".json", ".md")) and relpath not in matrix_names
    )
    markdown = [relpath for relpath in found if relpath.lower().endswith(".md")]
    if not found or (markdown != found and len(found) != 1):
        raise input_error(
            f"allowed_operations snapshot {snapshot.run_id} must hold one .json catalog or "
            f"Markdown (.md) catalogs; it holds {', '.join(found) or 'none'}",
            path=str(snapshot.path),
        )
    coverage, warnings = coverage_levels(_markdown_texts(snapshot, matrix_names))
    if not markdown:
        document = loads_strict(payload[found[0]].read_bytes())
    else:
        document, found_warnings = merged_operations(_markdown_texts(snapshot, markdown))
        warnings = found_warnings + warnings
    return {
        "allowed_operations": document,
        "coverage": coverage if matrix_names else None,
        "catalog_warnings": tuple(warnings),
    }


def _markdown_texts(snapshot: Snapshot, relpaths: Iterable[str]) -> list[tuple[str, str]]:
    """(text, source) of sealed Markdown artifacts, oldest version first (UTF-8 or refused)."""
    texts = []
    for relpath in sorted(relpaths, key=lambda name: (catalog_version_key(name), name)):
        path = snapshot.payload()[relpath]
        try:
            texts.append((path.read_bytes().decode("utf-8"), artifact_source(snapshot, relpath)))
        except UnicodeDecodeError as exc:
            raise input_error(
                f"not UTF-8 text: {exc.reason} at byte {exc.start}", path=str(path)
            ) from None
    return texts


def detail_operations(detail: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """A status detail's per-operation entries by operation id: what drift and health read."""
    raw = detail.get("operations", ())
    entries = (
        [{"operation_id": key, **value} for key, value in raw.items() if isinstance(value, Mapping)]
        if isinstance(raw, Mapping)
        else [entry for entry in raw if isinstance(entry, Mapping)]
    )
    return sorted(entries, key=lambda entry: str(entry.get("operation_id")))
