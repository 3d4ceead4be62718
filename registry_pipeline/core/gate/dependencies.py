"""What a coordination check reads of the other registries: their sealed snapshots, never the
working tree, each named (registry, run id, root) in the receipt.

The snapshot of a dependency is the newest one that validates and did not fail its own checks
(a failing receipt): in a build, the one sealed in the same run (a registry that refers to
others is checked for coordination in a step after they are sealed), else the one before. A
registry with no such snapshot cannot be checked against (DEPENDENCY_NOT_SEALED): build it
too.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from registry_pipeline.core.append_only.governed import published_files
from registry_pipeline.core.errors import RegistryError, UsageError
from registry_pipeline.core.gate.receipts import ReceiptStore
from registry_pipeline.core.gate.verdict import InputRef
from registry_pipeline.core.seal.schemas import SchemaCatalog
from registry_pipeline.core.seal.validate import inspect_run_folder
from registry_pipeline.core.workspace.catalog import RegistryCatalog
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.core.workspace.snapshots import Snapshot, list_snapshots
from registry_pipeline.core.write_path.content import TypeContent, content_of
from registry_pipeline.core.write_path.findings import Finding
from registry_pipeline.core.write_path.types import EntryType


class SnapshotReader:
    """Reads entry types from their registries' checked snapshots and remembers which."""

    def __init__(
        self, workspace: Workspace, catalog: RegistryCatalog, refers_to: tuple[str, ...] = ()
    ) -> None:
        self.workspace = workspace
        self.catalog = catalog
        self.refers_to = frozenset(refers_to)
        """The registries the checked one refers to: without a snapshot of one, nothing can be
        checked (DEPENDENCY_NOT_SEALED); one that refers to it has no entries yet instead."""
        self.schemas = SchemaCatalog.for_workspace(workspace.root)
        self.receipts = ReceiptStore(workspace)
        self.inputs: list[InputRef] = []

    def read(self, _root: Path, entry_type: EntryType) -> TypeContent:
        """`entry_type`'s entries as its registry's checked snapshot holds them."""
        snapshot = self.snapshot_of(entry_type.registry_id)
        if snapshot is None:  # nothing sealed to check against: never the working tree
            self.inputs.append(InputRef(entry_type.registry_id, "", None))
            content = TypeContent(entry_type)
            if entry_type.registry_id not in self.refers_to:
                return content  # it refers to the checked one: no entries, no findings
            content.problems.append(
                Finding(
                    "DEPENDENCY_NOT_SEALED",
                    "error",
                    entry_type.name,
                    None,
                    "",
                    f"{entry_type.registry_id} has no sealed snapshot that passed its checks to "
                    f"check against; build it too (`registry build --select "
                    f"{entry_type.registry_id} ...`)",
                    entry_type.source,
                )
            )
            return content
        self.inputs.append(InputRef(snapshot.registry_id, snapshot.run_id, snapshot.root_sha256))
        files = published_files(snapshot.path, snapshot.registry_id) or {}
        return content_of(entry_type, files)

    def snapshot_of(self, registry_id: str) -> Snapshot | None:
        """The newest snapshot of `registry_id` that validates and has no failing receipt."""
        for snapshot in reversed(list_snapshots(self.workspace, registry_id)):
            receipt = self.receipts.find(snapshot.root_sha256)
            if receipt is not None and not receipt.passed:
                continue
            try:
                if inspect_run_folder(snapshot.path, schemas=self.schemas).ok:
                    return snapshot
            except UsageError:
                continue
        return None


def coordination_reads(root: Path, catalog: RegistryCatalog) -> dict[str, tuple[str, ...]]:
    """For each registry with entries, the other registries its coordination rules refer to
    (an `exists` rule's `from` type reads its `to` type): a build checks its coordination in a
    step after those are sealed. Empty when the coordination file cannot be read (the checks
    report that)."""
    from registry_pipeline.core.write_path.rules import load_coordination
    from registry_pipeline.core.write_path.types import entry_types

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
    """Whether `registry_id` refers, directly or through others, to a registry that refers
    back to it."""
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
