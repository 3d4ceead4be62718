"""The gate every pointer move passes, under the store's lock: a passing receipt, or checks now."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from registry_pipeline.core.errors import RegistryError
from registry_pipeline.core.gate.checks import COORDINATION, check_names, registry_checks
from registry_pipeline.core.gate.dependencies import checked_snapshot, coordination_reads
from registry_pipeline.core.gate.receipts import Receipt, ReceiptStore
from registry_pipeline.core.gate.verdict import CheckVerdict
from registry_pipeline.core.pointers.bucket import SetAside
from registry_pipeline.core.pointers.store import PointerStore
from registry_pipeline.core.seal.envelope import SealedRef
from registry_pipeline.core.seal.run_id import now_utc
from registry_pipeline.core.workspace.catalog import RegistrySpec, catalog_or_none
from registry_pipeline.core.workspace.layout import RUNS_RELPATH, Workspace
from registry_pipeline.core.workspace.remote import remote_for
from registry_pipeline.core.workspace.snapshots import read_snapshot

DECIDED_NOW = ("promote", "accept")
"""Moves a person or a build decides now, so also judged against the active referrers."""
RECEIPT_ONLY = ("rollback", "redo", "restore", "mirror")
"""Moves decided on the receipt a snapshot already has, never on checks run again now."""


def spec_of(workspace: Workspace, registry_id: str) -> RegistrySpec | None:
    """The catalog's entry of `registry_id`; None when the catalog does not list it."""
    catalog = catalog_or_none(workspace)
    specs = () if catalog is None else catalog.registries
    return next((s for s in specs if s.registry_id == registry_id), None)


def evaluate(
    workspace: Workspace,
    registry_id: str,
    folder: Path | None,
    pinned: Mapping[str, Path] | None = None,
) -> list[CheckVerdict]:
    """Every blocking check of `registry_id` on the run folder `folder`."""
    checks = registry_checks(spec_of(workspace, registry_id))
    return [check.run(folder, workspace, registry_id, pinned) for check in checks]


def record(
    workspace: Workspace,
    registry_id: str,
    folder: Path,
    root_sha256: str,
    verdicts: list[CheckVerdict],
    build: dict[str, str],
) -> Receipt:
    """Append the receipt of `verdicts` on `folder` to its root's receipts."""
    checks = tuple(verdict.as_json() for verdict in verdicts)
    created = now_utc().strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    receipt = Receipt(registry_id, folder.name, root_sha256, checks, dict(build), created)
    return ReceiptStore(workspace).write(receipt)


def stale_reason(
    workspace: Workspace,
    registry_id: str,
    receipt: Receipt,
    wanted: set[str],
    pinned: Mapping[str, Path] | None,
) -> str | None:
    """Why a passing receipt no longer decides a move (other checks, a stale input), or None."""
    ran = {str(check.get("name")) for check in receipt.checks}
    if ran != wanted:
        return f"it ran {', '.join(sorted(ran))}; the catalog now asks {', '.join(sorted(wanted))}"
    for check in receipt.checks:
        for ref in check.get("inputs") or []:
            other, root = str(ref.get("registry_id")), ref.get("root")
            if other == registry_id:
                own = PointerStore(workspace).recorded(registry_id)
                if own is not None and own.root != root:
                    return (
                        f"{check.get('name')} compared it with {ref.get('run_id')}, not the "
                        f"active {own.run_id}"
                    )
                continue
            current = {
                checked.root_sha256 for checked in [checked_snapshot(workspace, other)] if checked
            }
            active = PointerStore(workspace).recorded(other)
            current |= {active.root} if active else set()
            if pinned and other in pinned:
                current.add(read_snapshot(pinned[other], other).root_sha256)
            if root not in current and (root is not None or current):
                return (
                    f"{check.get('name')} read {other}@{ref.get('run_id') or '(none)'}, which is "
                    "no longer current"
                )
    return None


def admissible(
    workspace: Workspace,
    registry_id: str,
    root_sha256: str | None,
    pinned: Mapping[str, Path] | None = None,
) -> Receipt | None:
    """The current passing receipt of that root with none failed, or None: the gate's one rule."""
    verdicts = ReceiptStore(workspace).verdicts(root_sha256)
    if verdicts.failed is not None:
        return None
    wanted = set(check_names(spec_of(workspace, registry_id)))  # the catalog read once
    current = (
        r
        for r in verdicts.passing
        if stale_reason(workspace, registry_id, r, wanted, pinned) is None
    )
    return next(current, None)


def breaks_active(
    workspace: Workspace,
    registry_id: str,
    folder: Path,
    pinned: Mapping[str, Path] | None = None,
) -> RegistryError | None:
    """REFERRER_BROKEN when making `folder` active breaks an active referrer's rule, else None."""
    catalog = catalog_or_none(workspace)
    if catalog is None:
        return None
    pinned = dict(pinned or {})
    active = PointerStore(workspace).read()
    for referrer, reads in coordination_reads(workspace.root, catalog).items():
        ref = active.active(referrer)
        if registry_id not in reads or referrer in pinned or ref is None or not ref.run_id:
            continue
        if (ref.run_root or RUNS_RELPATH) != RUNS_RELPATH:
            continue  # a seed pointer into another run root: not ours to judge
        there = workspace.runs_dir / ref.run_id
        for check in registry_checks(catalog.get(referrer)):
            if check.name != COORDINATION:
                continue  # a log's references only grow
            verdict = check.run(there, workspace, referrer, {**pinned, registry_id: folder})
            if not verdict.passed:
                return RegistryError.of(
                    "REFERRER_BROKEN", path=folder, run_id=folder.name, registry_id=registry_id,
                    referrer=referrer, active=ref.run_id, check=check.name,
                    failure=verdict.description,
                )  # fmt: skip
    return None


def sealed_together(workspace: Workspace, sealed: Mapping[str, Path]) -> dict[str, Path]:
    """The folders a build sealed that become active together: none held or a referrer refuses."""
    store = PointerStore(workspace)
    active = store.read()
    pinned = {rid: folder for rid, folder in sealed.items() if store.held(rid) is None}
    if all((ref := active.active(rid)) and ref.run_id == f.name for rid, f in pinned.items()):
        return pinned  # nothing moves (a no-op build): nothing to judge
    while broken := [rid for rid, f in pinned.items() if breaks_active(workspace, rid, f, pinned)]:
        for rid in broken:
            del pinned[rid]
    return pinned


def admit(
    workspace: Workspace,
    registry_id: str,
    folder: Path,
    root_sha256: str,
    *,
    action: str,
    actor: dict[str, str],
    pinned: Mapping[str, Path] | None = None,
) -> Receipt | None:
    """The receipt allowing the move, run and recorded now if none is current; else raises."""
    store = ReceiptStore(workspace)
    verdicts = store.verdicts(root_sha256)
    if verdicts.failed is not None and action != "mirror":
        raise _failed(store, folder, verdicts.failed)
    if action == "restore" and not verdicts.passing:
        return None  # the journal's value, adopted as found: never checked, never failed
    if action in RECEIPT_ONLY:
        if not verdicts.passing:
            what = "rolled back to" if action == "rollback" else "made active by a journaled change"
            raise RegistryError.of("NO_RECEIPT", path=folder, run_id=folder.name, what=what)
        receipt = verdicts.passing[0]
    else:
        receipt = admissible(workspace, registry_id, root_sha256, pinned) or record(
            workspace, registry_id, folder, root_sha256,
            evaluate(workspace, registry_id, folder, pinned), actor,
        )  # fmt: skip
    if receipt.registry_id != registry_id or receipt.run_id != folder.name:
        said = (f"the receipt of root {root_sha256} is for {receipt.registry_id}@{receipt.run_id}, "
                f"not {registry_id}@{folder.name}")  # fmt: skip
        raise RegistryError.of("RECEIPT_INVALID", path=store.path_of(root_sha256), reason=said)
    if not receipt.passed:
        raise _failed(store, folder, receipt)
    broken = (
        None if action not in DECIDED_NOW else breaks_active(workspace, registry_id, folder, pinned)
    )
    if broken is not None:
        raise broken
    return receipt


def refused_by_gate(
    workspace: Workspace, registry_id: str, folder: Path, root_sha256: str
) -> RegistryError | None:
    """Why the gate refuses `folder` though its checks pass now, or None: what promote would say."""
    store = ReceiptStore(workspace)
    failed = store.verdicts(root_sha256).failed
    if failed is not None:
        return _failed(store, folder, failed)
    return breaks_active(workspace, registry_id, folder)


def _failed(store: ReceiptStore, folder: Path, receipt: Receipt) -> RegistryError:
    build = f"{receipt.build.get('kind', '?')} {receipt.build.get('id', '?')}"
    return RegistryError.of(
        "CHECK_FAILED", path=store.path_of(receipt.root_sha256), run_id=folder.name, build=build,
        created=receipt.created_utc, failure=receipt.describe_failure(),
    )  # fmt: skip


def admission(
    workspace: Workspace,
    registry_id: str,
    folder: Path,
    target: SealedRef,
    action: str,
    actor: dict[str, str],
    *,
    pinned: Mapping[str, Path] | None = None,
) -> dict[str, Any]:
    """`admit`'s decision as the journal entry naming the receipt: the pointer store's `admit`."""
    root = target.manifest_sha256 or ""
    receipt = admit(workspace, registry_id, folder, root, action=action, actor=actor, pinned=pinned)
    if receipt is None:
        return {"passed": True, "source": "adopted as found (no receipt, none failed)"}
    return {
        "passed": True,
        "source": "promotion receipt",
        "path": ReceiptStore(workspace).path_of(receipt.root_sha256),
        "sha256": receipt.sha256,
        "checks": [check.get("name") for check in receipt.checks],
    }


@dataclass(frozen=True)
class Synced:
    """What one sync did: the bucket, the folders new here, the local journal set aside."""

    url: str
    folders: tuple[str, ...]
    set_aside: SetAside | None = None


def sync(workspace: Workspace) -> Synced | None:
    """Fetch the bucket's verified journal and pointers, then missing folders; None if no bucket."""
    remote = remote_for(workspace)
    if remote is None or not workspace.runs_dir.is_dir():
        return None
    store = PointerStore(workspace)
    store.pull(admit=admission)  # pointers first: a folder is published before it is named
    workspace.require_writable(workspace.runs_dir)  # UNSAFE_PATH: never fetched through a link
    return Synced(remote.url, tuple(remote.pull_folders(workspace.runs_dir)), store.set_aside)


def share(workspace: Workspace) -> Synced | None:
    """`registry init` with a bucket: an empty one takes the workspace's state, then `sync`."""
    if remote_for(workspace) is None or not workspace.runs_dir.is_dir():
        return None
    store = PointerStore(workspace)
    store.require_safe_paths()
    with store.locked(admit=admission):  # a change of nothing: an empty bucket takes all
        pass
    return sync(workspace)
