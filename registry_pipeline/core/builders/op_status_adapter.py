"""The op_status_table adapter: the sealed run registry, operations catalogs, coverage matrices
and threshold packs read from their snapshots, then the pure builder (`op_status_table`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import PurePosixPath

from registry_pipeline.core.builders import op_status_table
from registry_pipeline.core.builders.adapters import _counts, _run_lines, _source
from registry_pipeline.core.builders.model import BuildInputs, BuildResult
from registry_pipeline.core.builders.op_status_table import catalog_version_key
from registry_pipeline.core.errors import UsageError
from registry_pipeline.core.json_strict import loads_strict
from registry_pipeline.core.workspace.catalog import load_catalog
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.core.workspace.snapshots import Snapshot


def build_op_status_table(build: BuildInputs) -> BuildResult:
    """Status per operation of the operations catalog, from the sealed run registry."""
    registry = build.inputs["run_registry"]
    lines = _run_lines(registry)
    operations = _allowed_operations(
        build.inputs["allowed_operations"], _coverage_matrices(build.workspace)
    )
    packs = {
        relpath.removesuffix(".json"): loads_strict(path.read_bytes())
        for relpath, path in build.inputs["threshold_packs_file"].payload().items()
        if relpath.endswith(".json")
    }
    commit = registry.envelope().get("git_commit")
    result = op_status_table.build_op_status_table(
        lines,
        operations.document,
        packs,
        as_of=registry.created_utc,
        reference_commit=commit if isinstance(commit, str) else None,
        coverage=operations.coverage,
        catalog_warnings=operations.warnings,
    )
    summary: dict[str, object] = _counts(result.detail)
    listed, total = result.detail["catalog_warnings"], result.detail["catalog_warnings_total"]
    notes = [  # the build goes on: said in the build's output and the detail
        f"catalog line not understood: {w['source']}:{w['line']}: {w['operation_id']}: "
        f"{w['message']}"
        for w in listed
    ]
    if total > len(listed):
        notes.append(f"and {total - len(listed)} more catalog line(s) not understood")
    if notes:
        summary["notes"] = notes
    return BuildResult(op_status_table.render(result), len(result.table), summary)


def _coverage_matrices(workspace: Workspace) -> tuple[str, ...]:
    """The coverage matrices the catalog's allowed_operations entry names (none without one)."""
    try:
        catalog = load_catalog(workspace)
    except UsageError as exc:
        if exc.code != "NO_CATALOG":
            raise
        return ()
    spec = next((s for s in catalog.registries if s.registry_id == "allowed_operations"), None)
    return spec.coverage_matrices if spec is not None else ()


def _allowed_operations(
    snapshot: Snapshot, coverage_matrices: Sequence[str] = ()
) -> op_status_table.OperationsInput:
    """The operations of an allowed_operations snapshot: its one `.json` artifact as it is, or
    its `.md` artifacts (Markdown operations catalogs, any names) parsed and merged, the newest
    version (by file name) winning an id several define; and the coverage levels of the
    artifacts the catalog names as enforcement coverage matrices (`coverage_matrices`: their
    source paths; sealed under their file names)."""
    payload = snapshot.payload()
    matrix_names = {PurePosixPath(path).name for path in coverage_matrices}
    missing = sorted(matrix_names - set(payload))
    if missing:
        raise op_status_table.OpStatusInputError(
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
        raise op_status_table.OpStatusInputError(
            f"allowed_operations snapshot {snapshot.run_id} must hold one .json catalog or "
            f"Markdown (.md) catalogs; it holds {', '.join(found) or 'none'}",
            path=str(snapshot.path),
        )
    coverage, warnings = op_status_table.coverage_levels(
        [_markdown_text(snapshot, name) for name in _by_version(matrix_names)]
    )
    if not markdown:
        document = loads_strict(payload[found[0]].read_bytes())
    else:
        document, found_warnings = op_status_table.merged_operations(
            [_markdown_text(snapshot, relpath) for relpath in _by_version(markdown)]
        )
        warnings = found_warnings + warnings
    return op_status_table.OperationsInput(
        document, coverage if matrix_names else None, tuple(warnings)
    )


def _by_version(names: Iterable[str]) -> list[str]:
    return sorted(names, key=lambda name: (catalog_version_key(name), name))


def _markdown_text(snapshot: Snapshot, relpath: str) -> tuple[str, str]:
    """(text, source) of a sealed Markdown artifact; not UTF-8 is an input error."""
    path = snapshot.payload()[relpath]
    try:
        return path.read_bytes().decode("utf-8"), _source(snapshot, relpath)
    except UnicodeDecodeError as exc:
        raise op_status_table.OpStatusInputError(
            f"not UTF-8 text: {exc.reason} at byte {exc.start}", path=str(path)
        ) from None
