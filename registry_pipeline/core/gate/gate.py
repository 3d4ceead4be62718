"""The gate every pointer move passes: a passing receipt for exactly the target's root, or the
full set of blocking checks run again on it now (and their receipt written).

`admit` is called by the pointer store under its lock, whoever asked for the move: a build, the
promotion sensor, `registry pointers promote/accept/rollback`, a backfill. A snapshot with a
failing receipt is refused (CHECK_FAILED, naming the check); a rollback moves only to a
snapshot with a passing receipt (the checks of an older snapshot were decided against the
state of its day; running them again against today's would judge another question).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from registry_pipeline.core.errors import RegistryError
from registry_pipeline.core.gate.receipts import Receipt, ReceiptStore, make_receipt
from registry_pipeline.core.gate.registry import registry_checks
from registry_pipeline.core.gate.verdict import CheckVerdict
from registry_pipeline.core.pointers.pointer_file import ActiveRef
from registry_pipeline.core.pointers.store import PointerStore
from registry_pipeline.core.workspace.catalog import RegistrySpec, load_catalog
from registry_pipeline.core.workspace.layout import Workspace


class GateRefused(RegistryError):
    """The gate refused a move: CHECK_FAILED, NO_RECEIPT or RECEIPT_INVALID."""

    code = "CHECK_FAILED"


def spec_of(workspace: Workspace, registry_id: str) -> RegistrySpec | None:
    """The catalog's entry of `registry_id`; None when the catalog does not list it (a
    snapshot sealed by `registry seal`, checked for its seal and schemas only)."""
    try:
        catalog = load_catalog(workspace)
    except RegistryError as exc:
        if exc.code == "NO_CATALOG":  # a bare workspace of `registry seal` snapshots
            return None
        raise
    return next((s for s in catalog.registries if s.registry_id == registry_id), None)


def evaluate(workspace: Workspace, registry_id: str, folder: Path | None) -> list[CheckVerdict]:
    """Every blocking check of `registry_id` on the run folder `folder`."""
    checks = registry_checks(spec_of(workspace, registry_id))
    return [check.run(folder, workspace, registry_id) for check in checks]


def record(
    workspace: Workspace,
    registry_id: str,
    folder: Path,
    root_sha256: str,
    verdicts: list[CheckVerdict],
    build: dict[str, str],
) -> Receipt:
    """Write the receipt of `verdicts` on `folder` (unless its root has one: that one stands)."""
    receipt = make_receipt(registry_id, folder.name, root_sha256, verdicts, build)
    return ReceiptStore(workspace).write(receipt)


def admit(
    workspace: Workspace,
    registry_id: str,
    folder: Path,
    root_sha256: str,
    *,
    action: str,
    actor: dict[str, str],
) -> Receipt:
    """The passing receipt that allows moving `registry_id`'s pointer to `folder`; GateRefused
    otherwise. Without a receipt, the checks run now (not for a rollback)."""
    store = ReceiptStore(workspace)
    receipt = store.find(root_sha256)
    if receipt is None and action == "rollback":
        raise GateRefused(
            f"{folder.name} has no promotion receipt: its blocking checks never passed as a "
            "whole, so it cannot be rolled back to; promote a snapshot instead",
            code="NO_RECEIPT",
            path=str(folder),
        )
    if receipt is None:
        verdicts = evaluate(workspace, registry_id, folder)
        receipt = record(workspace, registry_id, folder, root_sha256, verdicts, actor)
    if receipt.registry_id != registry_id or receipt.run_id != folder.name:
        raise GateRefused(
            f"the receipt of root {root_sha256} is for {receipt.registry_id}@{receipt.run_id}, "
            f"not {registry_id}@{folder.name}",
            code="RECEIPT_INVALID",
            path=str(store.folder / f"{root_sha256}.json"),
        )
    if not receipt.passed:
        by = receipt.build.get("id", "?")
        raise GateRefused(
            f"{folder.name} failed its blocking checks ({receipt.build.get('kind', '?')} {by}, "
            f"{receipt.created_utc}): {receipt.describe_failure()}; a snapshot that failed a "
            "blocking check never becomes active: fix the registry and build again",
            code="CHECK_FAILED",
            path=store.path_of(root_sha256),
        )
    return receipt


def journal_entry(workspace: Workspace, receipt: Receipt) -> dict[str, Any]:
    """How a journal record names the receipt that allowed it."""
    return {
        "passed": True,
        "source": "promotion receipt",
        "path": ReceiptStore(workspace).path_of(receipt.root_sha256),
        "sha256": receipt.sha256,
        "checks": [check.get("name") for check in receipt.checks],
    }


def gated_store(workspace: Workspace, **options: Any) -> PointerStore:
    """The pointer store whose every move passes this gate (`options`: schemas, lock_timeout)."""

    def gate(
        registry_id: str, folder: Path, target: ActiveRef, action: str, actor: dict[str, str]
    ) -> dict[str, Any]:
        root = target.manifest_sha256 or ""
        receipt = admit(workspace, registry_id, folder, root, action=action, actor=actor)
        return journal_entry(workspace, receipt)

    return PointerStore(workspace, gate=gate, **options)
