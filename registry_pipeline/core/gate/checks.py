"""The blocking checks: each judges one promise of one sealed snapshot, naming what else it read."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from registry_pipeline.core.errors import Problem, RegistryError, render
from registry_pipeline.core.fs import open_file, read_regular
from registry_pipeline.core.gate.verdict import CheckVerdict
from registry_pipeline.core.seal.envelope import SealedRef
from registry_pipeline.core.seal.schemas import SchemaCatalog
from registry_pipeline.core.seal.validate import inspect_run_folder
from registry_pipeline.core.workspace.catalog import RegistrySpec, load_catalog
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.core.workspace.snapshots import read_snapshot

SCHEMA_CODES = frozenset({"SCHEMA_VIOLATION", "JSON_INVALID"})
MAX_LISTED = 50


def folder_check(
    path: Path, workspace: Workspace, _registry_id: str, *, schema: bool = False
) -> CheckVerdict:
    """The folder's inspection, keeping its schema problems (`schema`) or all the others."""
    report = inspect_run_folder(path, schemas=SchemaCatalog.for_workspace(workspace.root))
    problems = [p for p in report.problems if (p.code in SCHEMA_CODES) == schema]
    more = f" (+{len(problems) - 5} more)" if len(problems) > 5 else ""
    return CheckVerdict(
        "",
        not problems,
        "; ".join(str(problem) for problem in problems[:5]) + more or None,
        {
            "run_id": report.run_id or path.name,
            "path": str(path),
            "reason_codes": sorted({str(p.code) for p in problems}),
            "problems": [p.as_json() for p in problems[:MAX_LISTED]],
            "problem_count": len(problems),
        },
    )


def delta_append_only_check(path: Path, _workspace: Workspace, _registry_id: str) -> CheckVerdict:
    """The delta log's previous snapshot (the one its run.json names) is an exact prefix."""
    from registry_pipeline.core.delta_log import (
        LOG_ARTIFACT,
        LOG_REGISTRY_ID,
        check_append_only,
        load_previous_log,
    )
    from registry_pipeline.core.delta_log.build import previous_folder
    from registry_pipeline.core.delta_log.records import PREVIOUS_LOG, previous_input

    link = previous_input(path)  # the one rule for run.json's link, as the chain's
    if isinstance(link, Problem):
        raise RegistryError(link.message, code=link.code, path=str(path))
    inputs: tuple[SealedRef, ...] = ()
    previous = None
    if link is not None:
        folder = previous_folder(path.parent, link[0])  # the chain's rule: never read outside
        if folder is None:
            raise RegistryError.of("MISSING_SNAPSHOT", path=path, previous_run_id=link[0])
        previous = load_previous_log(read_snapshot(folder, LOG_REGISTRY_ID))
        inputs = (SealedRef(LOG_REGISTRY_ID, folder.name, previous.root_sha256 or ""),)
        if previous.root_sha256 != link[1]:
            raise RegistryError.of("ROOT_MISMATCH", path=folder, against=PREVIOUS_LOG)
    findings = check_append_only(  # appended records must name this very folder
        read_regular(path / LOG_ARTIFACT), previous, derivation_run_id=path.name
    )
    return CheckVerdict(
        "",
        not findings,
        "; ".join(str(f) for f in findings[:5]) or None,
        {
            "previous_log": previous.run_id if previous else "(none: the first log)",
            "reason_codes": sorted({str(f.code) for f in findings}),
            "problems": [f.as_json() for f in findings[:MAX_LISTED]],
            "problem_count": len(findings),
        },
        inputs,
    )


def catalog_append_only_check(path: Path, workspace: Workspace, registry_id: str) -> CheckVerdict:
    """A governed source's snapshot against its published one, from its sealed files."""
    from registry_pipeline.core.append_only.baseline import (
        governed_files,
        published_files,
        violation_rows,
    )
    from registry_pipeline.core.append_only.check import location

    spec = load_catalog(workspace).get(registry_id)
    schemas = SchemaCatalog.for_workspace(workspace.root)
    files = published_files(path, registry_id) or {}  # the snapshot's own sealed files
    governed = governed_files(workspace, spec, files, schemas, checked=path.name)
    violations = violation_rows(governed.reports)
    said = [
        f"{v.code} {file}{location(v)}: {v.message}"  # the entry named beside its pointer
        for file, report in sorted(governed.reports.items())
        for v in report.violations
    ]
    return CheckVerdict(
        "",
        governed.ok,
        "; ".join(said[:5]) or None,
        {
            "baseline": governed.published or "(none: a first publish)",
            "reason_codes": sorted({str(v["code"]) for v in violations}),
            "violations": violations[:MAX_LISTED],
            "violation_count": len(violations),
        },
        _baseline(workspace, registry_id, governed.published),
    )


def coordination_check(
    path: Path,
    workspace: Workspace,
    registry_id: str,
    *,
    pinned: Mapping[str, Path] | None = None,
) -> CheckVerdict:
    """A source's sealed entries against schema and coordination rules; others read sealed."""
    from registry_pipeline.core.append_only.baseline import published_files
    from registry_pipeline.core.gate.dependencies import SnapshotReader, coordination_reads
    from registry_pipeline.core.write_path import workspace_findings
    from registry_pipeline.core.write_path.content import finding_json, finding_text

    catalog = load_catalog(workspace)
    refers_to = coordination_reads(workspace.root, catalog).get(registry_id, ())
    reader = SnapshotReader(workspace, refers_to, pinned)
    files = published_files(path, registry_id) or {}
    findings = workspace_findings(workspace, catalog, registry_id, files, read=reader.read)
    errors = [f for f in findings if f.severity == "error"]
    return CheckVerdict(
        "",
        not errors,
        "; ".join(finding_text(f) for f in errors[:5]) or None,
        {
            "reason_codes": sorted({str(f.code) for f in errors}),
            "error_count": len(errors),
            "warning_count": sum(f.severity == "warning" for f in findings),
            "findings": [finding_json(f) for f in findings[:MAX_LISTED]],
        },
        tuple(reader.inputs),
    )


def log_prefix_check(path: Path, workspace: Workspace, registry_id: str) -> CheckVerdict:
    """A log sealed from the workspace: the previous snapshot's log is an exact prefix of it."""
    from registry_pipeline.core.run_index import log_prefix

    spec = load_catalog(workspace).get(registry_id)
    schemas = SchemaCatalog.for_workspace(workspace.root)
    with open_file(path / spec.primary_artifact) as current:
        report = log_prefix(workspace, spec, current, schemas, checked=path.name)
    return CheckVerdict(
        "",
        report.ok,
        None if report.broken is None else report.broken.describe(),
        {
            "previous_log": report.baseline or "(none: the first snapshot)",
            "reason_codes": [] if report.ok else ["LOG_REWRITTEN"],
        },
        _baseline(workspace, registry_id, report.baseline),
    )


def run_rules_check(
    path: Path,
    workspace: Workspace,
    registry_id: str,
    *,
    pinned: Mapping[str, Path] | None = None,
) -> CheckVerdict:
    """A run index's snapshot under `registry runs append`'s checks; other logs read sealed."""
    from registry_pipeline.core.gate.dependencies import SnapshotReader, coordination_reads
    from registry_pipeline.core.run_index import index_spec, log_problems
    from registry_pipeline.core.run_index.records import record_text
    from registry_pipeline.core.run_index.rules import overrides_log

    catalog = load_catalog(workspace)
    spec = index_spec(catalog, registry_id)
    log = overrides_log(catalog, spec)
    refers_to = (
        *coordination_reads(workspace.root, catalog).get(registry_id, ()),
        *(() if log is None else (log.registry_id,)),
    )
    reader = SnapshotReader(workspace, refers_to, pinned)
    artifact = path / spec.artifact  # read a block at a time, never whole
    problems = log_problems(workspace.root, catalog, spec, artifact, read=reader.read)
    errors = [p for p in problems if p.severity == "error"]
    return CheckVerdict(
        "",
        not errors,
        "; ".join(record_text(p) for p in errors[:5]) or None,
        {
            "reason_codes": sorted({p.code for p in errors}),
            "error_count": len(errors),
            "warning_count": sum(p.severity == "warning" for p in problems),
            "problems": [p.as_json() for p in (errors or problems)[:MAX_LISTED]],
        },
        tuple(dict.fromkeys(reader.inputs)),
    )


def _baseline(workspace: Workspace, registry_id: str, run_id: str | None) -> tuple[SealedRef, ...]:
    return (read_snapshot(workspace.runs_dir / run_id, registry_id).ref(),) if run_id else ()


# -- which checks a registry has (one list for its Dagster asset and for the gate) ----------


Evaluate = Callable[..., CheckVerdict]
"""`(path, workspace, registry_id)`, and `pinned=` for a check that reads other registries."""
APPEND_ONLY = "append_only"
COORDINATION = "coordination"
RULES = "rules"


@dataclass(frozen=True)
class RegistryCheck:
    """One blocking check of a registry: its name, what it says, the function deciding it."""

    name: str
    description: str
    evaluate: Evaluate
    reads_others: bool = False
    """It reads other registries' snapshots: `run` hands it those sealed in the same build."""

    def run(
        self,
        path: Path | None,
        workspace: Workspace,
        registry_id: str,
        pinned: Mapping[str, Path] | None = None,
    ) -> CheckVerdict:
        """Its verdict on `path`: NO_MATERIALIZATION without a folder, an unreadable one's code."""
        if path is None:
            said = render("NO_MATERIALIZATION")
            return CheckVerdict(self.name, False, said, {"reason_codes": ["NO_MATERIALIZATION"]})
        others = {"pinned": pinned} if self.reads_others else {}
        try:
            verdict = self.evaluate(path, workspace, registry_id, **others)
        except (RegistryError, OSError) as exc:  # what it reads cannot be read
            code, where = getattr(exc, "code", "UNREADABLE"), getattr(exc, "path", None)
            where = where or getattr(exc, "filename", None)  # an OSError names its file so
            metadata = {"reason_codes": [str(code)], "path": None if where is None else str(where)}
            return CheckVerdict(self.name, False, str(exc), metadata)
        return replace(verdict, name=self.name)


SEAL_VALID = RegistryCheck(
    "seal_valid", "The run folder satisfies the seal contract (hashes, root, files).", folder_check
)
SCHEMA_VALID = RegistryCheck(
    "schema_valid",
    "Every artifact parses and matches the schema of its name.",
    functools.partial(folder_check, schema=True),
)
DELTA_APPEND_ONLY = RegistryCheck(
    APPEND_ONLY,
    "The previous log snapshot is an exact prefix of this one, and every appended record is "
    "valid and chained (no record dropped, altered or reordered).",
    delta_append_only_check,
)
LOG_PREFIX = RegistryCheck(
    APPEND_ONLY,
    "The previous sealed log (the active snapshot) is an exact prefix of this one: no record "
    "removed, altered or reordered.",
    log_prefix_check,
)
CATALOG_APPEND_ONLY = RegistryCheck(
    APPEND_ONLY,
    "Against the active snapshot: no id removed or reused, no alias colliding, no published "
    "contract removed or changed (docs/APPEND_ONLY.md).",
    catalog_append_only_check,
)
COORDINATION_CHECK = RegistryCheck(
    COORDINATION,
    "Every entry parses, has a unique key, matches its schema and passes the coordination "
    "rules of severity error against the other registries' checked snapshots "
    "(docs/WRITE_PATH.md); warnings are listed, not blocking.",
    coordination_check,
    reads_others=True,
)
RULES_CHECK = RegistryCheck(
    RULES,
    "Every line is complete and parses; a run's records come in time order (an augmenting "
    "record is later); the coordination rules hold (e.g. a named override exists); the "
    "declared warnings are listed, not blocking (docs/RUN_INDEX.md); the other logs (the "
    "overrides) read from their checked snapshots, never the working tree.",
    run_rules_check,
    reads_others=True,
)
SEALED_ONLY = (SEAL_VALID, SCHEMA_VALID)
"""The checks of a snapshot whose registry the catalog does not list (`registry seal`)."""


def registry_checks(spec: RegistrySpec | None) -> tuple[RegistryCheck, ...]:
    """The blocking checks of a registry, one list for its Dagster asset and for the gate."""
    if spec is None:
        return SEALED_ONLY
    checks = list(SEALED_ONLY)
    if spec.kind == "log":
        checks.append(LOG_PREFIX if spec.is_source else DELTA_APPEND_ONLY)
    elif spec.append_only is not None:
        checks.append(CATALOG_APPEND_ONLY)
    if spec.entries is not None:
        checks.append(COORDINATION_CHECK)
    if spec.run_index is not None:
        checks.append(RULES_CHECK)
    return tuple(checks)


def check_names(spec: RegistrySpec | None) -> tuple[str, ...]:
    """The names of a registry's blocking checks, in the order they are evaluated."""
    return tuple(check.name for check in registry_checks(spec))
