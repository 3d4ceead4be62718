"""`validate --active` and `pointers show` judge a pointer's target by one function, one code."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from registry_pipeline.core.append_only.baseline import published_snapshot
from registry_pipeline.core.errors import UsageError
from registry_pipeline.core.gate.dependencies import checked_snapshot
from registry_pipeline.core.seal.envelope import RunSpec
from registry_pipeline.core.seal.run_store import RunStore, seal_files
from registry_pipeline.core.seal.schemas import SchemaCatalog
from registry_pipeline.core.seal.validate import inspect_run_folder
from registry_pipeline.core.workspace.catalog import RegistrySpec
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline_tests._helpers import Run, unseal

POINTERS = ".codex/ACTIVE_REGISTRY_POINTERS_v0_1.json"
OTHER_ROOT = "c" * 64


def _seal(root: Path, registry_id: str = "alpha", at: datetime | None = None) -> Path:
    store = RunStore(Workspace(root), clock=lambda: at) if at else RunStore(Workspace(root))
    body = json.dumps({"registry": registry_id, "at": str(at)}).encode()
    files = {f"{registry_id.upper()}.json": body}
    return seal_files(store, RunSpec(registry_id), files).path


def _point(root: Path, run_id: str | None, manifest_sha256: str | None) -> None:
    """The seed's way: a pointer file written before any journal (taken as found, no mismatch)."""
    ref = {"run_id": run_id, "run_root": run_id and ".codex/RUNS", "relpath": None,
           "manifest_sha256": manifest_sha256}  # fmt: skip
    entry = {"registry_id": "alpha", "active_ref": ref, "active_ref_known": "unknown",
             "active_asof_utc": "unknown", "notes": ""}  # fmt: skip
    document = {"pointer_contract_version": "0.1", "pointers": [entry]}
    (root / POINTERS).write_text(json.dumps(document))


def _root(folder: Path) -> str:
    root = inspect_run_folder(folder).root_sha256
    assert root is not None
    return root


def _valid(ws: Path) -> tuple[str, set[str]]:
    folder = _seal(ws)
    _point(ws, folder.name, _root(folder))
    return "ok", set()


def _missing(ws: Path) -> tuple[str, set[str]]:
    _point(ws, "2026-01-01__000000__alpha_build", OTHER_ROOT)
    return "missing", {"TARGET_MISSING"}


def _seal_broken(ws: Path) -> tuple[str, set[str]]:
    folder = _seal(ws)
    _point(ws, folder.name, _root(folder))
    unseal(folder)
    (folder / "ALPHA.json").write_text('{"changed": true}')
    return "invalid", {"HASH_MISMATCH", "SIZE_MISMATCH"}


def _another_registrys(ws: Path) -> tuple[str, set[str]]:
    folder = _seal(ws, "beta")
    _point(ws, folder.name, _root(folder))
    return "wrong_registry", {"TARGET_WRONG_REGISTRY"}


def _null_run_id(ws: Path) -> tuple[str, set[str]]:
    _seal(ws)
    _point(ws, None, OTHER_ROOT)
    return "no_run_id", {"TARGET_NOT_IN_RUNS"}


def _another_root(ws: Path) -> tuple[str, set[str]]:
    folder = _seal(ws)
    _point(ws, folder.name, OTHER_ROOT)
    return "root_mismatch", {"TARGET_CHANGED"}


def _future_dated(ws: Path) -> tuple[str, set[str]]:
    folder = _seal(ws, at=datetime.now(UTC) + timedelta(days=2))
    _point(ws, folder.name, _root(folder))
    return "invalid", {"FUTURE_DATED"}


CASES: dict[str, Callable[[Path], tuple[str, set[str]]]] = {
    "valid": _valid,
    "folder missing": _missing,
    "seal broken": _seal_broken,
    "another registry's folder": _another_registrys,
    "null run id (a seed pointer)": _null_run_id,
    "another root": _another_root,
    "dated in the future": _future_dated,
}


def _validate_codes(cli: Run, ws: Path) -> tuple[int, set[str]]:
    """`registry validate --active --json`: its exit code and every code it names."""
    code, out, _err = cli("validate", "--active", "--json", "--workspace", str(ws))
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == 1, out
    return code, {str(problem["code"]) for problem in rows[0]["errors"]}


def _show_row(cli: Run, ws: Path) -> dict[str, Any]:
    code, out, err = cli("pointers", "show", "--json", "--workspace", str(ws))
    assert code == 0, err
    (row,) = json.loads(out)["pointers"]
    return dict(row)


def _show_codes(row: dict[str, Any]) -> set[str]:
    """The codes of `pointers show`'s row: its problems', an invalid target's reason codes."""
    codes: set[str] = set()
    for problem in row["problems"]:
        codes.update(problem.get("reason_codes") or [problem["code"]])
    return codes


@pytest.mark.parametrize("case", list(CASES))
def test_validate_active_and_pointers_show_agree(cli: Run, ws: Path, case: str) -> None:
    state, expected = CASES[case](ws)
    exit_code, validated = _validate_codes(cli, ws)
    row = _show_row(cli, ws)
    assert _show_codes(row) == validated, case
    assert validated <= expected and bool(validated) == bool(expected), validated
    assert row["target"] == state or row["target"].startswith(f"{state}: "), row["target"]
    if state == "invalid":
        assert row["target"] == "invalid: " + ",".join(sorted(validated))
    assert exit_code == {"ok": 0, "invalid": 1, "root_mismatch": 1}.get(state, 2)
    _code, text, _err = cli("pointers", "show", "--workspace", str(ws))
    assert text.rstrip().endswith(row["target"]), text  # the state column, as in --json


@pytest.mark.parametrize("case", list(CASES))
def test_the_baselines_take_the_active_snapshot_only_where_validate_passes_it(
    cli: Run, ws: Path, case: str
) -> None:
    """`checked_snapshot` and `published_snapshot` take the active folder where validate does."""
    state, _expected = CASES[case](ws)
    passed = _validate_codes(cli, ws)[0] == 0
    assert passed == (state == "ok")
    workspace, schemas = Workspace(ws), SchemaCatalog.for_workspace(ws)
    checked = checked_snapshot(workspace, "alpha", schemas)
    assert (checked is not None) == passed, case
    spec = cast(RegistrySpec, SimpleNamespace(registry_id="alpha", active_pointer=True))
    if state == "no_run_id":  # no folder named: the newest valid snapshot is the baseline
        assert published_snapshot(workspace, spec, schemas) is not None
    elif passed:
        assert checked is not None and published_snapshot(workspace, spec, schemas) == checked.path
    else:
        with pytest.raises(UsageError) as refused:
            published_snapshot(workspace, spec, schemas)
        dated = case == "dated in the future"  # the verdict's own code, as validate says it
        assert refused.value.code == ("FUTURE_DATED" if dated else "BASELINE_INVALID"), case


def test_an_unreadable_pointer_file_is_refused_alike_by_both(cli: Run, ws: Path) -> None:
    _valid(ws)
    (ws / POINTERS).write_text('{"pointer_contract_version": "0.1", "pointers": [')
    answers = []
    for command in (("validate", "--active"), ("pointers", "show")):
        code, out, _err = cli(*command, "--json", "--workspace", str(ws))
        answers.append((code, json.loads(out)["error"]["code"]))
    assert answers == [(1, "POINTERS_INVALID")] * 2


def test_a_seed_pointer_without_a_run_id_is_said_as_such(cli: Run, ws: Path) -> None:
    """Its state is `no_run_id` (never `None`), worded for a null run id at each door."""
    _null_run_id(ws)
    code, out, _err = cli("pointers", "show", "--workspace", str(ws))
    assert code == 0 and out.split()[-1] == "no_run_id" and "None" not in out.split()[3:]
    (problem,) = _show_row(cli, ws)["problems"]
    code, _out, err = cli("validate", "--active", "--workspace", str(ws))
    for message in (str(problem["message"]), err):
        assert "names no run folder: its run_id is null" in message and "''" not in message
