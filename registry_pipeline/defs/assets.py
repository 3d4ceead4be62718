"""Registry assets from the catalog, one per registry with its checks (docs/ASSET_GRAPH.md)."""

import hashlib
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import dagster as dg

from registry_pipeline._version import __version__
from registry_pipeline.core.append_only.baseline import governed_files
from registry_pipeline.core.append_only.check import violation_text
from registry_pipeline.core.builders.drift_signals import SCHEMA_HASH_KEY, schema_file_hash
from registry_pipeline.core.builders.model import Builder, BuildInputs
from registry_pipeline.core.builders.registry import buildable
from registry_pipeline.core.gate.checks import RegistryCheck, registry_checks
from registry_pipeline.core.gate.dependencies import in_cycle
from registry_pipeline.core.gate.gate import record
from registry_pipeline.core.gate.receipts import failed_before
from registry_pipeline.core.pointers.store import PointerStore
from registry_pipeline.core.seal.schemas import SchemaCatalog
from registry_pipeline.core.workspace.catalog import RegistryCatalog, RegistrySpec
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.core.workspace.snapshots import (
    file_digests,
    list_snapshots,
    newest_valid,
    read_snapshot,
)
from registry_pipeline.core.workspace.sources import (
    count_records,
    source_error,
    source_paths,
    source_problems,
    unchanged_snapshot,
    unexpected_note,
)
from registry_pipeline.lib.build_run import BuildRun, RegistryWorkspace, Settled
from registry_pipeline.lib.failures import as_check_result, as_step_failure
from registry_pipeline.lib.io_manager import (
    UNEXPECTED_FILES,
    RegistryOutput,
    materialized_path,
    resolve_inputs,
)

IO_MANAGER_KEY = "registry_io_manager"
SETTLED_NOTES = "notes"
"""Materialization metadata: what a settled source's build noticed without failing."""


def registry_assets(
    catalog: RegistryCatalog,
    builders: Mapping[str, Builder],
    reads: Mapping[str, tuple[str, ...]],
) -> tuple[list[dg.AssetsDefinition], list[dg.AssetChecksDefinition]]:
    """One asset per buildable registry, and a later check step for a source that reads others."""
    specs = buildable(catalog, builders)
    sources = {spec.registry_id: spec for spec in specs if spec.is_source}
    later = [
        registry_id
        for registry_id, others in reads.items()
        if others and registry_id in sources and _reading_check(sources[registry_id]) is not None
    ]
    assets = [
        _source_asset(spec, spec.registry_id in later)
        if spec.is_source
        else _built_asset(spec, builders[spec.registry_id])
        for spec in specs
    ]
    steps = [
        _coordination_step(
            sources[registry_id],
            tuple(other for other in reads[registry_id] if other in sources),
            blocking=not in_cycle(reads, registry_id),
        )
        for registry_id in later
    ]
    return assets, steps


def _reading_check(spec: RegistrySpec) -> RegistryCheck | None:
    """The check of `spec` that reads other registries (`coordination`, `rules`), if any."""
    return next((check for check in registry_checks(spec) if check.reads_others), None)


def _coordination_step(
    spec: RegistrySpec, others: tuple[str, ...], *, blocking: bool
) -> dg.AssetChecksDefinition:
    """A source's coordination check, after the registries it reads; blocking unless in a cycle."""
    key = dg.AssetKey(spec.registry_id)
    reading = _reading_check(spec)
    assert reading is not None  # registry_assets makes a step only for such a registry

    @dg.asset_check(
        asset=key,
        name=reading.name,
        description=reading.description,
        # not blocking (a cycle): a failure still fails the build and its receipt refuses the
        # snapshot, but what is built from it in the same run is not skipped
        blocking=blocking,
        additional_deps=[dg.AssetKey(other) for other in others],
    )
    def _coordination(
        context: dg.AssetCheckExecutionContext,
        registry_workspace: RegistryWorkspace,
        build_run: BuildRun,
    ) -> dg.AssetCheckResult:
        settled = build_run.settled.get(spec.registry_id)
        if settled is not None:  # settled with every registry it refers to (lib.build_run)
            return _settled_result(reading.name, settled)
        run_id = context.run.run_id
        path = materialized_path(context.instance, key, run_id)
        store = PointerStore(registry_workspace.workspace)  # a held one stays as it is
        pinned = {  # what this run sealed of the registries it refers to: exactly those
            other: folder
            for other in others
            if (folder := materialized_path(context.instance, dg.AssetKey(other), run_id))
            and store.held(other) is None
        }
        with as_step_failure():  # every check again, then the receipt of them all
            results = evaluate_checks(
                key, registry_checks(spec), path, registry_workspace.workspace, run_id, pinned
            )
        (result,) = [r for r in results if r.check_name == reading.name]
        return result

    return _coordination


def check_specs(key: dg.AssetKey, checks: Iterable[RegistryCheck]) -> list[dg.AssetCheckSpec]:
    """The checks as blocking `AssetCheckSpec`s of the asset `key`."""
    return [
        dg.AssetCheckSpec(check.name, asset=key, blocking=True, description=check.description)
        for check in checks
    ]


def evaluate_checks(
    key: dg.AssetKey,
    checks: Iterable[RegistryCheck],
    path: Path | None,
    workspace: Workspace,
    dagster_run_id: str | None = None,
    pinned: Mapping[str, Path] | None = None,
) -> list[dg.AssetCheckResult]:
    """Each check's result on the sealed folder `path` (None: none), verdicts first in receipts."""
    registry_id = key.to_user_string()
    verdicts = [check.run(path, workspace, registry_id, pinned) for check in checks]
    root = read_snapshot(path, registry_id).root_sha256 if path is not None else None
    if path is not None and root is not None and dagster_run_id is not None:
        build = {"kind": "dagster_run", "id": dagster_run_id}
        record(workspace, registry_id, path, root, verdicts, build)
    return [as_check_result(verdict, key) for verdict in verdicts]


def content_version(files: Mapping[str, bytes | Path]) -> str:
    """Hash of the artifact content (names and bytes): equal content, equal data version."""
    return _version_of(file_digests(files))


def _version_of(digests: Mapping[str, str]) -> str:
    """`content_version` of the files of these SHA-256 digests (relpath -> hex)."""
    digest = hashlib.sha256()
    for relpath in sorted(digests):
        digest.update(f"{relpath}\0{digests[relpath]}\n".encode())
    return digest.hexdigest()


def _asset_kwargs(spec: RegistrySpec, checks: tuple[RegistryCheck, ...]) -> dict[str, Any]:
    return {
        "name": spec.registry_id,
        # the builders' version (run.json's builder_version): a new release shows as a code
        # version change in the UI, so its registries show as stale until built again
        "code_version": __version__,
        "check_specs": check_specs(dg.AssetKey(spec.registry_id), checks),
        "deps": [dg.AssetKey(dependency) for dependency in spec.depends_on],
        "group_name": "sources" if spec.is_source else "registries",
        "description": spec.description or None,
        "io_manager_key": IO_MANAGER_KEY,
        "kinds": {"json"},
        "metadata": {
            "registry_kind": spec.kind,
            "artifacts": list(spec.artifacts),
            "active_pointer": spec.active_pointer,
            "operation_id": spec.operation_id or "",
        },
    }


def _built_asset(spec: RegistrySpec, builder: Builder) -> dg.AssetsDefinition:
    @dg.asset(**_asset_kwargs(spec, registry_checks(spec)))
    def _build(
        context: dg.AssetExecutionContext,
        registry_workspace: RegistryWorkspace,
        build_run: BuildRun,  # the run's build slot, start and end: every door the same build
    ) -> Iterator[dg.MaterializeResult[RegistryOutput] | dg.AssetCheckResult]:
        settled = build_run.settled.get(spec.registry_id)
        if settled is not None:  # nothing changed since the last build: its snapshot reused
            yield from _reuse_settled(context, spec, registry_checks(spec), settled)
            return
        workspace = registry_workspace.workspace
        with as_step_failure():
            inputs, rules = resolve_inputs(context, workspace, spec.depends_on)
            schemas = SchemaCatalog.for_workspace(workspace.root)
            previous = newest_valid(workspace, spec.registry_id, schemas)
            result = builder(
                BuildInputs(workspace, spec, inputs, previous, registry_workspace.full_audit)
            )
        plan = result.seal
        output = RegistryOutput(
            registry_id=spec.registry_id,
            operation_id=spec.operation_id,
            files=None if plan and plan.reuse else result.files,
            reuse=plan.reuse if plan else None,
            inputs=tuple(inputs[d].ref() for d in spec.depends_on)
            + (plan.extra_inputs if plan else ()),
            input_rules=rules,
            record_count=result.record_count,
            extra=_schema_extra(schemas, spec.primary_artifact),
            run_id=plan.run_id if plan and not plan.reuse else None,
            moment=plan.moment if plan and not plan.reuse else None,
        )
        yield dg.MaterializeResult(
            value=output,
            data_version=dg.DataVersion(content_version(result.files)),
            metadata=_summary_metadata(result.summary),
        )
        yield from sealed_checks(context, registry_checks(spec), registry_workspace)

    return _build


def _source_asset(spec: RegistrySpec, coordination_later: bool) -> dg.AssetsDefinition:
    checks = registry_checks(spec)
    if coordination_later:  # checked in its own step (`registry_assets`), with the receipt
        checks = tuple(check for check in checks if not check.reads_others)

    @dg.asset(**_asset_kwargs(spec, checks))
    def _seal_source(
        context: dg.AssetExecutionContext,
        registry_workspace: RegistryWorkspace,
        build_run: BuildRun,  # the run's build slot, start and end: every door the same build
    ) -> Iterator[dg.MaterializeResult[RegistryOutput] | dg.AssetCheckResult]:
        settled = build_run.settled.get(spec.registry_id)
        if settled is not None:  # unchanged and admitted: decided once for the run (lib.build_run)
            yield from _reuse_settled(context, spec, checks, settled)
            return
        workspace = registry_workspace.workspace
        schemas = SchemaCatalog.for_workspace(workspace.root)
        with as_step_failure():  # the files by path: read a block or a line at a time
            source = source_paths(workspace.root, spec.sources, spec.kind)
            # hashed before any check reads them: the seal copies exactly these bytes or
            # refuses with SOURCE_CHANGED, whenever a file changes after this point
            checked = file_digests(source.files)
        with as_step_failure(lambda path: source.origins.get(path or "", path)):
            problems = source_problems(source.files, schemas)
            if problems:  # never sealed: the step fails, downstream is skipped
                raise source_error(problems)
        for path in source.unexpected:
            context.log.warning(f"{spec.registry_id}: {unexpected_note(path)}")
        with as_step_failure():  # with append-only rules: checked, diagnostics sealed beside
            governed = governed_files(workspace, spec, source.files, schemas)
        for relpath, report in governed.reports.items():
            for violation in report.violations:
                context.log.warning(f"{spec.registry_id}: {relpath}: {violation_text(violation)}")
        files = governed.files
        newest = next(reversed(list_snapshots(workspace, spec.registry_id)), None)
        with as_step_failure():  # a file gone since it was found: the step fails
            digests = file_digests({k: v for k, v in files.items() if k not in checked})
            digests.update({k: v for k, v in checked.items() if k in files})
            reusable, _valid = unchanged_snapshot(newest.path if newest else None, files, schemas)
            record_count = count_records(source.files)
        reuse = newest if reusable and not failed_before(workspace, newest) else None
        output = RegistryOutput(
            registry_id=spec.registry_id,
            operation_id=None,  # sealing files is no run of the operation that wrote them
            files=None if reuse else files,
            reuse=reuse,
            record_count=record_count,
            extra=_schema_extra(schemas, spec.primary_artifact),
            digests=digests,
        )
        context.log.info(
            f"{spec.registry_id}: " + (f"unchanged, reusing {reuse.run_id}" if reuse else "sealing")
        )
        yield dg.MaterializeResult(
            value=output,
            data_version=dg.DataVersion(_version_of(digests)),
            metadata={UNEXPECTED_FILES: dg.MetadataValue.json(list(source.unexpected))}
            if source.unexpected
            else {},
        )
        yield from sealed_checks(
            context, checks, registry_workspace, receipt=not coordination_later
        )

    return _seal_source


def _reuse_settled(
    context: dg.AssetExecutionContext,
    spec: RegistrySpec,
    checks: tuple[RegistryCheck, ...],
    settled: Settled,
) -> Iterator[dg.MaterializeResult[RegistryOutput] | dg.AssetCheckResult]:
    """A settled source: its newest snapshot reused, with the verdicts that settled it."""
    snapshot = settled.snapshot
    context.log.info(f"{spec.registry_id}: unchanged and admitted, reusing {snapshot.run_id}")
    for note in settled.notes:
        context.log.warning(f"{spec.registry_id}: {note}")
    output = RegistryOutput(
        registry_id=spec.registry_id,
        operation_id=None,
        reuse=snapshot,
        record_count=settled.record_count,
    )
    yield dg.MaterializeResult(
        value=output,
        data_version=dg.DataVersion(_version_of(snapshot.digests())),
        metadata={SETTLED_NOTES: dg.MetadataValue.json(settled.notes)} if settled.notes else {},
    )
    for check in checks:
        yield _settled_result(check.name, settled)


def _settled_result(check_name: str, settled: Settled) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        check_name=check_name,
        passed=bool(settled.checks.get(check_name, True)),
        description=settled.why,
        metadata={"settled": True, "root_sha256": settled.snapshot.root_sha256 or ""},
    )


def sealed_checks(
    context: dg.AssetExecutionContext,
    checks: tuple[RegistryCheck, ...],
    registry_workspace: RegistryWorkspace,
    *,
    receipt: bool = True,
) -> Iterator[dg.AssetCheckResult]:
    """The asset's blocking checks on the run folder its output was just sealed into."""
    key = context.asset_key
    path = materialized_path(context.instance, key, context.run.run_id)
    run_id = context.run.run_id if receipt else None  # None: a later step writes the receipt
    with as_step_failure():  # the receipt is written before any result is yielded
        results = evaluate_checks(key, checks, path, registry_workspace.workspace, run_id)
    yield from results


def _schema_extra(schemas: SchemaCatalog, artifact: str) -> dict[str, str]:
    """run.json's record of the schema the primary artifact was built against (drift_signals')."""
    digest = schema_file_hash(schemas, artifact)
    return {SCHEMA_HASH_KEY: digest} if digest is not None else {}


def _summary_metadata(summary: Mapping[str, object]) -> dict[str, Any]:
    """A builder's summary as metadata; a `markdown` entry renders in the Dagster UI."""
    metadata: dict[str, Any] = {}
    for key, value in summary.items():
        if key == "markdown" and isinstance(value, str):
            metadata["report"] = dg.MetadataValue.md(value)
        else:
            metadata[key] = (
                dg.MetadataValue.json(value) if isinstance(value, dict | list) else value
            )
    return metadata
