"""Receipts read as written; a line of another shape is RECEIPT_INVALID naming the field."""

from __future__ import annotations

from typing import Any

import pytest
import rfc8785

from registry_pipeline.core.errors import RegistryError
from registry_pipeline.core.gate.gate import record
from registry_pipeline.core.gate.receipts import RECEIPTS_RELPATH, ReceiptStore
from registry_pipeline.core.gate.verdict import CheckVerdict
from registry_pipeline.core.workspace.layout import Workspace

ROOT = "a" * 64


def _written(workspace: Workspace) -> dict[str, Any]:
    """The document of a receipt the gate wrote (one passing check)."""
    verdicts = [CheckVerdict("seal_valid", True, "ok")]
    folder = workspace.runs_dir / "2026-01-01__000000__alpha"
    return record(workspace, "alpha", folder, ROOT, verdicts, {"kind": "x", "id": "y"}).as_json()


def test_a_receipt_the_gate_wrote_is_read_as_written(workspace: Workspace) -> None:
    document = _written(workspace)
    (found,) = ReceiptStore(workspace).verdicts(ROOT).receipts
    assert found.as_json() == document and found.passed


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d.pop("build"), "/"),
        (lambda d: d.update(extra=1), "/"),
        (lambda d: d.update(receipt_version="0.2"), "/receipt_version"),
        (lambda d: d.update(run_id=5), "/run_id"),
        (lambda d: d.update(build={"kind": 1}), "/build/kind"),
        (lambda d: d["checks"][0].update(description=5), "/checks/0/description"),
        (lambda d: d["checks"][0].update(reason_codes=[1]), "/checks/0/reason_codes/0"),
        (lambda d: d["checks"][0].pop("passed"), "/checks/0"),
        (lambda d: d.update(checks={}), "/checks"),
    ],
)
def test_a_line_of_another_shape_is_refused_naming_the_field(
    workspace: Workspace, change: Any, field: str
) -> None:
    document = _written(workspace)
    change(document)
    path = workspace.root / RECEIPTS_RELPATH / f"{ROOT}.jsonl"
    path.write_bytes(rfc8785.dumps(document) + b"\n")
    with pytest.raises(RegistryError) as raised:
        ReceiptStore(workspace).verdicts(ROOT)
    assert raised.value.code == "RECEIPT_INVALID" and raised.value.path == str(path)
    assert f"({field}: " in raised.value.message or f"; {field}: " in raised.value.message


def test_passed_must_agree_with_the_checks(workspace: Workspace) -> None:
    document = _written(workspace)
    document["passed"] = False
    path = workspace.root / RECEIPTS_RELPATH / f"{ROOT}.jsonl"
    path.write_bytes(rfc8785.dumps(document) + b"\n")
    with pytest.raises(RegistryError, match="passed does not agree with its checks") as raised:
        ReceiptStore(workspace).verdicts(ROOT)
    assert raised.value.code == "RECEIPT_INVALID"


def test_a_torn_and_a_too_large_receipts_file_are_told_apart(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash mid-append and a file grown past any gate's writing are told apart."""
    from registry_pipeline.core.gate import receipts

    _written(workspace)
    path = workspace.root / RECEIPTS_RELPATH / f"{ROOT}.jsonl"
    whole = path.read_bytes()
    path.write_bytes(whole + b'{"torn": ')
    with pytest.raises(RegistryError) as raised:
        ReceiptStore(workspace).verdicts(ROOT)
    assert raised.value.code == "RECEIPT_INVALID"
    assert "last line is incomplete" in raised.value.message
    assert "larger" not in raised.value.message
    path.write_bytes(whole)
    monkeypatch.setattr(receipts, "MAX_RECEIPT_BYTES", len(whole) - 1)
    with pytest.raises(RegistryError) as raised:
        ReceiptStore(workspace).verdicts(ROOT)
    assert f"larger than {len(whole) - 1} bytes" in raised.value.message
    assert "torn" not in raised.value.message
