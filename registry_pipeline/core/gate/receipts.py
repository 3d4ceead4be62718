"""Promotion receipts: the verdict of every blocking check on exactly one snapshot.

A receipt is written once per snapshot root, when its checks are first decided (by a build's
asset step, or by the gate for a snapshot no build checked), as RFC 8785 canonical JSON in
`.codex/RECEIPTS/<ROOT_SHA256>.json`; the journal record of every pointer move names it by path
and SHA-256. It is never rewritten: the first verdict on a root is its verdict, so a snapshot
that failed a blocking check can never become active (a rebuild seals a new snapshot instead).
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from typing import Any

import rfc8785

from registry_pipeline._version import __version__
from registry_pipeline.core._json import JSONDecodeProblem, loads_strict
from registry_pipeline.core.errors import RegistryError
from registry_pipeline.core.gate.verdict import CheckVerdict
from registry_pipeline.core.seal._fs import fsync_dir
from registry_pipeline.core.seal.run_id import now_utc
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.core.workspace.safe_write import require_safe

RECEIPTS_RELPATH = ".codex/RECEIPTS"
RECEIPT_VERSION = "0.1"
MAX_RECEIPT_BYTES = 4 * 1024 * 1024
_ROOT = re.compile(r"[0-9a-f]{64}")
_FIELDS = ("receipt_version", "registry_id", "run_id", "root_sha256", "passed", "checks",
           "build", "created_utc", "tool_version")  # fmt: skip


class ReceiptInvalid(RegistryError):
    """A receipt file that is not what the gate wrote (edited, truncated, misnamed)."""

    code = "RECEIPT_INVALID"


@dataclass(frozen=True)
class Receipt:
    """One snapshot's checks: what each decided and read, by which build, when."""

    registry_id: str
    run_id: str
    root_sha256: str
    checks: tuple[dict[str, Any], ...]
    build: dict[str, str]
    created_utc: str
    tool_version: str = __version__

    @property
    def passed(self) -> bool:
        """Every check passed (and there was at least one)."""
        return bool(self.checks) and all(check.get("passed") is True for check in self.checks)

    @property
    def failed_checks(self) -> list[dict[str, Any]]:
        """The checks that did not pass."""
        return [check for check in self.checks if check.get("passed") is not True]

    def as_json(self) -> dict[str, Any]:
        """The receipt's document."""
        return {
            "receipt_version": RECEIPT_VERSION,
            "registry_id": self.registry_id,
            "run_id": self.run_id,
            "root_sha256": self.root_sha256,
            "passed": self.passed,
            "checks": list(self.checks),
            "build": dict(self.build),
            "created_utc": self.created_utc,
            "tool_version": self.tool_version,
        }

    def data(self) -> bytes:
        """Its bytes: canonical JSON and a newline."""
        return bytes(rfc8785.dumps(self.as_json())) + b"\n"

    @property
    def sha256(self) -> str:
        """SHA-256 of its bytes (what the journal names)."""
        return hashlib.sha256(self.data()).hexdigest()

    def describe_failure(self) -> str:
        """`name (CODES): why` for each failed check, e.g. for a refusal."""
        parts = []
        for check in self.failed_checks:
            codes = ", ".join(check.get("reason_codes") or []) or "FAILED"
            why = (check.get("description") or "").splitlines()[0:1]
            parts.append(f"{check.get('name')} ({codes})" + (f": {why[0][:300]}" if why else ""))
        return "; ".join(parts)


def make_receipt(
    registry_id: str,
    run_id: str,
    root_sha256: str,
    verdicts: list[CheckVerdict],
    build: dict[str, str],
) -> Receipt:
    """A receipt of `verdicts` on the snapshot `run_id` (root `root_sha256`)."""
    return Receipt(
        registry_id,
        run_id,
        root_sha256,
        tuple(verdict.as_json() for verdict in verdicts),
        dict(build),
        now_utc().strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    )


class ReceiptStore:
    """The receipts of a workspace (`.codex/RECEIPTS/`)."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self.folder = workspace.root / RECEIPTS_RELPATH

    def path_of(self, root_sha256: str) -> str:
        """The workspace-relative path of the receipt of `root_sha256`."""
        return f"{RECEIPTS_RELPATH}/{root_sha256}.json"

    def find(self, root_sha256: str | None) -> Receipt | None:
        """The receipt of that root, None when there is none; ReceiptInvalid when the file is
        not a receipt the gate wrote (not canonical, another root, a missing field)."""
        if root_sha256 is None or not _ROOT.fullmatch(root_sha256):
            return None
        path = self.folder / f"{root_sha256}.json"
        try:
            with open(path, "rb", opener=_no_follow) as handle:
                data = handle.read(MAX_RECEIPT_BYTES + 1)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ReceiptInvalid(f"cannot read it: {exc.strerror or exc}", path=str(path)) from None
        receipt = _parse(data, str(path))
        if receipt.root_sha256 != root_sha256 or receipt.data() != data:
            raise ReceiptInvalid(
                "it is not the receipt the gate wrote for this root (edited by hand?)",
                path=str(path),
            )
        return receipt

    def write(self, receipt: Receipt) -> Receipt:
        """Write `receipt` unless its root has one; returns the receipt that stands (the first:
        a verdict is never rewritten)."""
        existing = self.find(receipt.root_sha256)
        if existing is not None:
            return existing
        final = self.folder / f"{receipt.root_sha256}.json"
        require_safe(self.workspace.root, final)
        self.folder.mkdir(parents=True, exist_ok=True)
        temp = self.folder / f".{receipt.root_sha256}.{os.getpid()}.tmp"
        try:
            with open(temp, "wb") as handle:
                handle.write(receipt.data())
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(temp, final)  # atomic and write-once: an existing receipt stands
            except FileExistsError:
                return self.find(receipt.root_sha256) or receipt
            fsync_dir(self.folder)
        finally:
            temp.unlink(missing_ok=True)
        return receipt


def _no_follow(path: str, flags: int) -> int:
    return os.open(path, flags | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))


def _parse(data: bytes, where: str) -> Receipt:
    if len(data) > MAX_RECEIPT_BYTES:
        raise ReceiptInvalid(f"larger than {MAX_RECEIPT_BYTES} bytes", path=where)
    try:
        document = loads_strict(data)
    except JSONDecodeProblem as exc:
        raise ReceiptInvalid(f"not JSON ({exc})", path=where) from None
    if not isinstance(document, dict) or sorted(document) != sorted(_FIELDS):
        raise ReceiptInvalid(f"not a receipt: it needs exactly {', '.join(_FIELDS)}", path=where)
    checks = document["checks"]
    if not isinstance(checks, list) or not all(isinstance(c, dict) for c in checks):
        raise ReceiptInvalid("checks is not a list of objects", path=where)
    build = document["build"]
    receipt = Receipt(
        str(document["registry_id"]),
        str(document["run_id"]),
        str(document["root_sha256"]),
        tuple(checks),
        {str(k): str(v) for k, v in build.items()} if isinstance(build, dict) else {},
        str(document["created_utc"]),
        str(document["tool_version"]),
    )
    if receipt.passed is not document["passed"]:
        raise ReceiptInvalid("passed does not agree with its checks", path=where)
    return receipt


def failed_before(workspace: Workspace, snapshot: Any) -> bool:
    """Whether `snapshot` (a `Snapshot`) has a failing or unreadable receipt: a build never
    reuses it (its verdict stands), it seals a new snapshot instead."""
    try:
        receipt = ReceiptStore(workspace).find(snapshot.root_sha256)
    except ReceiptInvalid:
        return True
    return receipt is not None and not receipt.passed
