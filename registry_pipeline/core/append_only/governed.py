"""Append-only rules in a workspace: a source's JSON files against its published snapshot."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from registry_pipeline.core.append_only.baseline import (
    DIAGNOSTICS_ARTIFACT,
    check_files,
    diagnostics_jsonl,
)
from registry_pipeline.core.append_only.check import Report
from registry_pipeline.core.append_only.rules import Rules, parse_rules
from registry_pipeline.core.errors import UsageError
from registry_pipeline.core.pointers.store import PointerStore
from registry_pipeline.core.pointers.targets import target_verdict
from registry_pipeline.core.seal.schemas import SchemaCatalog
from registry_pipeline.core.workspace.catalog import RegistrySpec
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.core.workspace.snapshots import newest_valid, read_snapshot


@dataclass(frozen=True)
class Governed:
    """A source registry's files checked against its published snapshot."""

    files: dict[str, bytes | Path]
    """The files to seal: the source files (bytes, or paths) and the diagnostics file."""
    reports: dict[str, Report]
    """Per checked file."""
    published: str | None
    """The run id of the published snapshot; None for a first publish."""

    @property
    def ok(self) -> bool:
        """True when no file breaks a promise."""
        return all(report.ok for report in self.reports.values())


def rules_of(spec: RegistrySpec) -> Rules | None:
    """The entry's append-only rules, None when it has none (RULES_INVALID names the field)."""
    if spec.append_only is None:
        return None
    return parse_rules(spec.append_only, f"catalog: {spec.registry_id}/append_only")


def published_snapshot(
    workspace: Workspace, spec: RegistrySpec, schemas: SchemaCatalog, *, checked: str | None = None
) -> Path | None:
    """The folder a new snapshot is checked against: the active snapshot as the journal records
    it (it must validate: BASELINE_INVALID), else the newest valid snapshot before `checked`
    (never itself), else None."""
    if spec.active_pointer:
        ref = PointerStore(workspace, schemas).recorded(spec.registry_id)  # never a hand edit
        if ref is not None and ref.run_id:  # the verdict `validate --active` prints
            verdict = target_verdict(workspace, spec.registry_id, ref, schemas)
            if not verdict.ok or verdict.folder is None:
                raise UsageError(
                    f"the active snapshot of {spec.registry_id} is missing or does not "
                    f"validate ({verdict.code}); the append-only check has no trustworthy "
                    "baseline",
                    code="BASELINE_INVALID",
                    path=verdict.path or str(workspace.runs_dir / ref.run_id),
                )
            return verdict.folder
    newest = newest_valid(workspace, spec.registry_id, schemas, before=checked)
    return newest.path if newest is not None else None


def published_files(folder: Path | None, registry_id: str) -> dict[str, bytes] | None:
    """The sealed files of a published snapshot (relpath -> bytes), the diagnostics excepted."""
    if folder is None:
        return None
    payload = read_snapshot(folder, registry_id).payload()
    return {rel: path.read_bytes() for rel, path in payload.items() if rel != DIAGNOSTICS_ARTIFACT}


def governed_files(
    workspace: Workspace,
    spec: RegistrySpec,
    files: Mapping[str, bytes | Path],
    schemas: SchemaCatalog,
    *,
    checked: str | None = None,
) -> Governed:
    """`files` (bytes, or paths) checked against the published snapshot, plus the diagnostics
    file; as they are when the entry has no rules."""
    rules = rules_of(spec)
    if rules is None:
        return Governed(dict(files), {}, None)
    own = {rel: data for rel, data in files.items() if rel != DIAGNOSTICS_ARTIFACT}
    folder = published_snapshot(workspace, spec, schemas, checked=checked)
    run_id = folder.name if folder else None
    checked_files = {  # only the JSON files are checked (and read)
        rel: data.read_bytes() if isinstance(data, Path) else data
        for rel, data in own.items()
        if rel.endswith(".json")
    }
    reports = check_files(checked_files, published_files(folder, spec.registry_id), rules, run_id)
    return Governed({**own, DIAGNOSTICS_ARTIFACT: diagnostics_jsonl(reports)}, reports, run_id)
