"""What a coordination check reads of other registries: their sealed snapshots, never the tree."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from registry_pipeline.core.append_only.baseline import DIAGNOSTICS_ARTIFACT, published_files
from registry_pipeline.core.errors import Problem, RegistryError
from registry_pipeline.core.gate.receipts import ReceiptStore
from registry_pipeline.core.pointers.store import PointerStore
from registry_pipeline.core.pointers.targets import target_verdict
from registry_pipeline.core.seal.envelope import SealedRef
from registry_pipeline.core.seal.schemas import SchemaCatalog
from registry_pipeline.core.workspace.catalog import RegistryCatalog
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.core.workspace.snapshots import Snapshot, list_snapshots, read_snapshot
from registry_pipeline.core.write_path.content import (
    EntryType,
    Keep,
    TypeContent,
    content_of,
    log_content,
)


class SnapshotReader:
    """Reads entry types from their registries' checked snapshots and remembers which."""

    def __init__(
        self,
        workspace: Workspace,
        refers_to: tuple[str, ...] = (),
        pinned: Mapping[str, Path] | None = None,
    ) -> None:
        self.workspace = workspace
        self.pinned = dict(pinned or {})
        """registry -> the run folder sealed for it in the same build (read first)."""
        self.refers_to = frozenset(refers_to)
        """Registries the checked one refers to: one without a snapshot is DEPENDENCY_NOT_SEALED."""
        self.schemas = SchemaCatalog.for_workspace(workspace.root)
        self.inputs: list[SealedRef] = []

    def read(self, _root: Path, entry_type: EntryType, keep: Keep | None = None) -> TypeContent:
        """`entry_type`'s entries in its registry's checked snapshot, filtered by `keep`."""
        snapshot = self.snapshot_of(entry_type.registry_id)
        if snapshot is None:  # nothing sealed to check against: never the working tree
            self.inputs.append(SealedRef(entry_type.registry_id, "", ""))  # none: root null
            content = TypeContent(entry_type)
            if entry_type.registry_id not in self.refers_to:
                return content  # it refers to the checked one: no entries, no findings
            content.problems.append(Problem.of(
                "DEPENDENCY_NOT_SEALED", subject=(entry_type.name,), field="",
                path=entry_type.source, registry_id=entry_type.registry_id,
            ))  # fmt: skip
            return content
        self.inputs.append(snapshot.ref())
        if entry_type.layout == "log":  # never the whole log in memory, as bytes or records
            payload = snapshot.payload().items()
            sealed = (path for relpath, path in payload if relpath != DIAGNOSTICS_ARTIFACT)
            return log_content(entry_type, sealed, keep)
        files = published_files(snapshot.path, snapshot.registry_id) or {}
        return content_of(entry_type, files)

    def snapshot_of(self, registry_id: str) -> Snapshot | None:
        """The snapshot of `registry_id` sealed in the same build, else its checked snapshot."""
        folder = self.pinned.get(registry_id)
        if folder is not None:
            return read_snapshot(folder, registry_id)
        return checked_snapshot(self.workspace, registry_id, self.schemas)


def checked_snapshot(
    workspace: Workspace, registry_id: str, schemas: SchemaCatalog | None = None
) -> Snapshot | None:
    """The active snapshot of `registry_id`, else the newest with all receipts passed, else None."""
    ref = PointerStore(workspace).recorded(registry_id)  # the active one, as journaled
    verdict = None if ref is None else target_verdict(workspace, registry_id, ref, schemas)
    if verdict is not None and verdict.ok and verdict.folder is not None:  # `validate --active`'s
        return read_snapshot(verdict.folder, registry_id)
    # only with none active: a newer checked snapshot no reader sees is never read
    receipts = ReceiptStore(workspace)
    for snapshot in reversed(list_snapshots(workspace, registry_id)):
        verdicts = receipts.verdicts(snapshot.root_sha256)
        if verdicts.passing and verdicts.failed is None:
            return snapshot
    return None


def coordination_reads(root: Path, catalog: RegistryCatalog) -> dict[str, tuple[str, ...]]:
    """Each registry's others its coordination rules read (empty when the rules are unreadable)."""
    from registry_pipeline.core.write_path.content import entry_types
    from registry_pipeline.core.write_path.rules import load_coordination

    try:
        types = entry_types(catalog)
        coordination = load_coordination(root, catalog.coordination, types)
    except (RegistryError, OSError):  # the checks report it
        return {}
    reads: dict[str, list[str]] = {}
    for rule in coordination.rules:
        if rule.source_type not in types or rule.target_type not in types:
            continue
        source = types[rule.source_type].registry_id
        target = types[rule.target_type].registry_id
        if source != target:
            reads.setdefault(source, []).append(target)
    return {registry_id: tuple(dict.fromkeys(others)) for registry_id, others in reads.items()}


def in_cycle(reads: Mapping[str, tuple[str, ...]], registry_id: str) -> bool:
    """Whether `registry_id` reads, directly or not, a registry that reads it."""
    seen: set[str] = set()
    stack = list(reads.get(registry_id, ()))
    while stack:
        node = stack.pop()
        if node == registry_id:
            return True
        if node not in seen:
            seen.add(node)
            stack.extend(reads.get(node, ()))
    return False
