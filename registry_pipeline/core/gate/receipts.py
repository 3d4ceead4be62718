"""Promotion receipts: every blocking check's verdict on one root; once one failed, never active."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import rfc8785

from registry_pipeline._version import __version__
from registry_pipeline.core import jsonl
from registry_pipeline.core.errors import RegistryError
from registry_pipeline.core.fs import TooLarge, read_regular, require_safe, write_atomic
from registry_pipeline.core.json_strict import JSONDecodeProblem, loads_strict
from registry_pipeline.core.seal.hashing import sha256_bytes
from registry_pipeline.core.seal.schemas import SchemaCatalog, violation_text
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.core.workspace.remote import line_digest, remote_for

RECEIPTS_RELPATH = ".codex/RECEIPTS"
RECEIPT_VERSION = "0.1"
MAX_RECEIPT_BYTES = 4 * 1024 * 1024
_ROOT = re.compile(r"[0-9a-f]{64}")
RECEIPT_SCHEMA_ID = "urn:registry-pipeline:schema:promotion_receipt"
"""A receipt's shape (`schemas/promotion_receipt.schema.json`, the built-in schemas only)."""


RECEIPT_INVALID = "RECEIPT_INVALID"
"""The code of a receipt file that is not what the gate wrote (edited, truncated, misnamed)."""


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

    def as_json(self) -> dict[str, Any]:
        """The receipt's document (its fields, its version and its verdict)."""
        return {"receipt_version": RECEIPT_VERSION, **asdict(self), "passed": self.passed}

    def data(self) -> bytes:
        """Its bytes: canonical JSON and a newline."""
        return bytes(rfc8785.dumps(self.as_json())) + b"\n"

    @property
    def sha256(self) -> str:
        """SHA-256 of its bytes (what the journal names)."""
        return sha256_bytes(self.data())

    def same_decision(self, other: Receipt) -> bool:
        """The same checks with the same verdicts and inputs (time and build aside)."""
        return self.checks == other.checks and self.registry_id == other.registry_id

    def describe_failure(self) -> str:
        """`name (CODES): why` for each failed check, e.g. for a refusal."""
        parts = []
        for check in (check for check in self.checks if check.get("passed") is not True):
            codes = ", ".join(check.get("reason_codes") or []) or "FAILED"
            why = (check.get("description") or "").splitlines()[0:1]
            parts.append(f"{check.get('name')} ({codes})" + (f": {why[0][:300]}" if why else ""))
        return "; ".join(parts)


@dataclass(frozen=True)
class Verdicts:
    """Every receipt of one root, oldest first: the gate's decisions on that snapshot."""

    receipts: tuple[Receipt, ...]

    @property
    def failed(self) -> Receipt | None:
        """The first receipt that failed: the snapshot can never become active."""
        return next((r for r in self.receipts if not r.passed), None)

    @property
    def passing(self) -> tuple[Receipt, ...]:
        """The passing receipts, newest first."""
        return tuple(r for r in reversed(self.receipts) if r.passed)

    @property
    def latest(self) -> Receipt | None:
        """The newest receipt."""
        return self.receipts[-1] if self.receipts else None


class ReceiptStore:
    """The receipts of a workspace (`.codex/RECEIPTS/<root>.jsonl`, one line per decision)."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self.folder = workspace.root / RECEIPTS_RELPATH

    def path_of(self, root_sha256: str) -> str:
        """The workspace-relative path of the receipts of `root_sha256`."""
        return f"{RECEIPTS_RELPATH}/{root_sha256}.jsonl"

    def verdicts(self, root_sha256: str | None) -> Verdicts:
        """Every receipt of that root; RECEIPT_INVALID for a line the gate did not write."""
        if root_sha256 is None or not _ROOT.fullmatch(root_sha256):
            return Verdicts(())
        path = self.workspace.root / self.path_of(root_sha256)
        require_safe(self.workspace.root, path)  # never read through a link either
        self._fetch(root_sha256, path)
        data = _read_local(path)
        if data and not data.endswith(b"\n"):
            raise _invalid(jsonl.torn(path).message, path=str(path))
        receipts = []
        for line in data.splitlines():
            receipt = _parse(line, str(path))
            if receipt.root_sha256 != root_sha256 or receipt.data() != line + b"\n":
                raise _invalid(
                    "a line is not a receipt the gate wrote for this root (edited by hand?)",
                    path=str(path),
                )
            receipts.append(receipt)
        return Verdicts(tuple(receipts))

    def find(self, root_sha256: str | None) -> Receipt | None:
        """Its first failing receipt, else its newest, else None."""
        verdicts = self.verdicts(root_sha256)
        return verdicts.failed or verdicts.latest

    def write(self, receipt: Receipt) -> Receipt:
        """Append `receipt` unless the newest decided the same (then return that one)."""
        latest = self.verdicts(receipt.root_sha256).latest
        if latest is not None and latest.same_decision(receipt):
            return latest
        path = self.workspace.root / self.path_of(receipt.root_sha256)
        require_safe(self.workspace.root, path)
        self.folder.mkdir(parents=True, exist_ok=True)
        jsonl.append(path, [receipt.data()])
        remote = remote_for(self.workspace)
        if remote is not None:
            remote.push_receipt(receipt.root_sha256, receipt.created_utc, receipt.data())
        return receipt

    def _fetch(self, root_sha256: str, path: Path) -> None:
        """With a bucket, add the receipts other machines wrote of that root, in decision order."""
        remote = remote_for(self.workspace)
        if remote is None:
            return
        local = _read_local(path).splitlines(keepends=True)
        fetched = remote.receipt_lines(root_sha256, {line_digest(line) for line in local})
        if not fetched:
            return
        for where, line in fetched:  # checked before the local file holds it: named by its key
            try:
                if line.count(b"\n") != 1 or not line.endswith(b"\n"):
                    raise _invalid("not one receipt line", path=where)
                if not where.removesuffix(".json").endswith(f"_{line_digest(line)}"):
                    raise _invalid("its name is not its line's digest", path=where)
                receipt = _parse(line[:-1], where)
                if receipt.root_sha256 != root_sha256 or receipt.data() != line:
                    raise _invalid("not a receipt the gate wrote for this root", path=where)
            except RegistryError as exc:
                raise _invalid(f"the bucket's {where}: {exc.message}", path=where) from None
        lines = [*local, *(line for _, line in fetched)]
        ordered = sorted(lines, key=lambda line: _created(line))  # stable: ties keep order
        self.folder.mkdir(parents=True, exist_ok=True)
        write_atomic(path, b"".join(ordered))


def _read_local(path: Path) -> bytes:
    """A receipts file's bytes (none when absent); RECEIPT_INVALID when it cannot be read."""
    try:
        return read_regular(path, MAX_RECEIPT_BYTES)  # never through a link, nor a FIFO
    except FileNotFoundError:
        return b""
    except TooLarge:
        said = f"larger than {MAX_RECEIPT_BYTES} bytes: no gate writes that many receipts"
        raise _invalid(said, path=str(path)) from None
    except OSError as exc:
        raise _invalid(f"cannot read it: {exc.strerror or exc}", path=str(path)) from None


def _created(line: bytes) -> str:
    """A receipt line's created_utc ("" when unreadable: its parse reports it)."""
    try:
        document = loads_strict(line)
    except JSONDecodeProblem:
        return ""
    return str(document.get("created_utc", "")) if isinstance(document, dict) else ""


def _invalid(reason: str, path: str) -> RegistryError:
    return RegistryError.of(RECEIPT_INVALID, path=path, reason=reason)


def _parse(data: bytes, where: str) -> Receipt:
    """One line of a receipts file no larger than MAX_RECEIPT_BYTES, checked by its schema."""
    try:
        document = loads_strict(data)
    except JSONDecodeProblem as exc:
        raise _invalid(f"not JSON ({exc})", path=where) from None
    violations = SchemaCatalog.for_workspace(None).validate(RECEIPT_SCHEMA_ID, document, limit=3)
    if violations:
        found = "; ".join(violation_text(violation) for violation in violations)
        raise _invalid(f"not a receipt the gate wrote ({found})", path=where)
    given = {field.name: document[field.name] for field in fields(Receipt)}
    receipt = Receipt(**{**given, "checks": tuple(given["checks"])})
    if receipt.passed is not document["passed"]:
        raise _invalid("passed does not agree with its checks", path=where)
    return receipt


def failed_before(workspace: Workspace, snapshot: Any) -> bool:
    """Whether `snapshot` has a failing or unreadable receipt: a build never reuses it."""
    try:
        return ReceiptStore(workspace).verdicts(snapshot.root_sha256).failed is not None
    except RegistryError as exc:
        if exc.code != RECEIPT_INVALID:
            raise
        return True
