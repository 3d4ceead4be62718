"""The no-change shortcut of `registry build`: sources settled before Dagster starts.

A source is settled when its newest snapshot holds exactly its current files and the gate
would admit it as it is (`gate.admissible`: a passing receipt of exactly that root, none that
failed, run by the checks the catalog asks now against what is current), the checks that
read the working tree (parse and schemas, append-only, a log's prefix and rules) pass now,
and every registry its coordination rules refer to is settled too: a referred registry that
is built again re-checks the ones referring to it. The shortcut is exactly as strict as the
path it shortcuts: anything it cannot settle goes through Dagster, visibly.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from registry_pipeline.core.append_only.governed import governed_files
from registry_pipeline.core.errors import RegistryError
from registry_pipeline.core.gate.checks import check_names
from registry_pipeline.core.gate.dependencies import coordination_reads
from registry_pipeline.core.gate.gate import admissible
from registry_pipeline.core.seal.schemas import SchemaCatalog
from registry_pipeline.core.workspace.catalog import RegistryCatalog, RegistrySpec, load_catalog
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.core.workspace.snapshots import Snapshot, list_snapshots
from registry_pipeline.core.workspace.sources import (
    SourcePaths,
    count_records,
    source_paths,
    source_problems,
    unchanged_snapshot,
    unexpected_note,
)


@dataclass(frozen=True)
class Settled:
    """A source this build reuses without Dagster."""

    snapshot: Snapshot
    record_count: int | None
    checks: dict[str, bool]
    notes: list[str]


def settled_sources(workspace: Workspace, in_graph: Iterable[str]) -> dict[str, Settled]:
    """The sources of `in_graph` that need no build (see the module's docstring)."""
    wanted = set(in_graph)
    schemas = SchemaCatalog.for_workspace(workspace.root)
    catalog = load_catalog(workspace)
    settled: dict[str, Settled] = {}
    for spec in catalog.registries:
        if spec.is_source and spec.registry_id in wanted:
            found = _settle(workspace, catalog, spec, schemas)
            if found is not None:
                settled[spec.registry_id] = found
    reads = coordination_reads(workspace.root, catalog)
    changed = True
    while changed:  # one unsettled referred registry unsettles what refers to it, transitively
        changed = False
        for registry_id in list(settled):
            if any(o in wanted and o not in settled for o in reads.get(registry_id, ())):
                del settled[registry_id]
                changed = True
    return settled


def _settle(
    workspace: Workspace,
    catalog: RegistryCatalog,
    spec: RegistrySpec,
    schemas: SchemaCatalog,
) -> Settled | None:
    try:
        source = source_paths(workspace.root, spec.sources, spec.kind)
    except RegistryError:
        return None  # the asset reports it, as its step failure
    try:  # each check reads the files from their paths, a block or a line at a time
        return _settle_files(workspace, catalog, spec, schemas, source)
    except OSError:
        return None  # a file gone or unreadable since it was found: the asset reports it


def _settle_files(
    workspace: Workspace,
    catalog: RegistryCatalog,
    spec: RegistrySpec,
    schemas: SchemaCatalog,
    source: SourcePaths,
) -> Settled | None:
    if source_problems(source.files, schemas):  # the asset's own check: no shortcut past it
        return None
    try:  # the append-only check too: a violation goes through Dagster, visibly failing
        governed = governed_files(workspace, spec, source.files, schemas)
    except RegistryError:
        return None
    if not governed.ok:
        return None
    snapshots = list_snapshots(workspace, spec.registry_id)
    newest = snapshots[-1] if snapshots else None
    if newest is None or unchanged_snapshot(newest.path, governed.files, schemas) != (True, True):
        return None
    try:  # the gate's own rule: a passing receipt that is current, and none that failed
        if admissible(workspace, spec.registry_id, newest.root_sha256) is None:
            return None  # never checked as a whole, failed, or checked against another state
    except RegistryError:
        return None
    # last: a log's checks read every record; a new or changed log is found unsettled first
    if spec.kind == "log" and not _log_checks_pass(workspace, catalog, spec, source.files, schemas):
        return None
    return Settled(
        newest,
        count_records(source.files),
        dict.fromkeys(check_names(spec), True),
        [unexpected_note(path) for path in source.unexpected],
    )


def _log_checks_pass(
    workspace: Workspace,
    catalog: RegistryCatalog,
    spec: RegistrySpec,
    files: dict[str, Path],
    schemas: SchemaCatalog,
) -> bool:
    """A log's append_only check (and a run index's rules check), by the functions the asset
    checks call, each reading the file a block at a time."""
    from registry_pipeline.core.run_index import index_spec, log_problems
    from registry_pipeline.core.run_index.prefix import log_prefix

    path = files.get(spec.primary_artifact)
    if path is None:
        return False
    try:
        with path.open("rb") as current:
            if not log_prefix(workspace, spec, current, schemas).ok:
                return False
        if spec.run_index is None:
            return True
        found = log_problems(workspace.root, catalog, index_spec(catalog, spec.registry_id), path)
    except (RegistryError, OSError):
        return False
    return not any(problem.severity == "error" for problem in found)
