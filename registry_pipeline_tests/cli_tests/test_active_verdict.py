"""`validate --active`, `pointers show` and `pointers verify` judge the active state alike: a
pointer's target by one function, one code; a pointer the journal does not explain the same."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any, NamedTuple, cast

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


class Case(NamedTuple):
    """What a setup leaves: `pointers show`'s state of the registry, the codes to be said."""

    state: str | None
    """`pointers show`'s target column (None: no pointer in the file)."""
    codes: set[str]
    registry_id: str = "alpha"


def _entry_deleted(built: Path) -> tuple[str | None, set[str], str]:
    """A registry's entry deleted from the pointer file by hand: the journal still records it."""
    document = json.loads((built / POINTERS).read_text())
    document["pointers"] = [p for p in document["pointers"]
                            if p["registry_id"] != "expected_versions"]  # fmt: skip
    (built / POINTERS).write_text(json.dumps(document))
    return None, {"POINTER_MISMATCH"}, "expected_versions"


def _active_folder(built: Path) -> Path:
    document = json.loads((built / POINTERS).read_text())
    (ref,) = [p["active_ref"] for p in document["pointers"]
              if p["registry_id"] == "expected_versions"]  # fmt: skip
    return built / ".codex" / "RUNS" / str(ref["run_id"])


def _as_built(built: Path) -> tuple[str | None, set[str], str]:
    return "ok", set(), "expected_versions"


def _active_folder_deleted(built: Path) -> tuple[str | None, set[str], str]:
    folder = _active_folder(built)
    folder.parent.chmod(0o755)
    unseal(folder)
    shutil.rmtree(folder)
    return "missing", {"TARGET_MISSING"}, "expected_versions"


def _active_folder_replaced(built: Path) -> tuple[str | None, set[str], str]:
    """Another snapshot of the registry put in the active folder's place, under its name."""
    folder = _active_folder(built)
    spec = RunSpec(registry_id="expected_versions", run_type="seal")
    files = {"EXPECTED_VERSIONS_v0_1.json": (folder / "EXPECTED_VERSIONS_v0_1.json").read_bytes()}
    other = seal_files(RunStore(Workspace(built)), spec, files).path
    folder.parent.chmod(0o755)
    unseal(folder)
    shutil.rmtree(folder)
    shutil.copytree(other, folder)
    return "invalid", {"RUN_ID_MISMATCH", "TARGET_CHANGED"}, "expected_versions"


Setup = Callable[[Path], tuple[str | None, set[str]] | tuple[str | None, set[str], str]]
"""A case's setup on a workspace: `Case`'s fields (the registry: alpha unless it says)."""
BUILT = "built: "
"""The cases that run on a built demo (`built`), whose journal has begun, so that `pointers
verify` judges them too; the others on `ws`, a pointer file written before any journal."""
CASES: dict[str, Setup] = {
    "valid": _valid,
    "folder missing": _missing,
    "seal broken": _seal_broken,
    "another registry's folder": _another_registrys,
    "null run id (a seed pointer)": _null_run_id,
    "another root": _another_root,
    "dated in the future": _future_dated,
    f"{BUILT}as built": _as_built,
    f"{BUILT}an entry deleted from the pointer file": _entry_deleted,
    f"{BUILT}the active folder deleted": _active_folder_deleted,
    f"{BUILT}the active folder replaced by another snapshot's": _active_folder_replaced,
}


def _case(request: pytest.FixtureRequest, case: str) -> tuple[Path, Case]:
    """Set `case` up on its fixture's workspace: the workspace, and what it is to be judged."""
    root = request.getfixturevalue("built" if case.startswith(BUILT) else "ws")
    return root, Case(*CASES[case](root))


def _validate_codes(cli: Run, ws: Path, registry_id: str = "alpha") -> tuple[int, set[str]]:
    """`registry validate --active --json`: its exit code and every code it names of the registry
    (its one row's, or the error that refused the whole state)."""
    code, out, _err = cli("validate", "--active", "--json", "--registry", registry_id,
                          "--workspace", str(ws))  # fmt: skip
    if out.startswith("{\n"):  # an error's document, not rows
        return code, {str(json.loads(out)["error"]["code"])}
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == 1, out
    return code, {str(problem["code"]) for problem in rows[0]["errors"]}


def _show_row(cli: Run, ws: Path, registry_id: str = "alpha") -> dict[str, Any]:
    code, out, err = cli("pointers", "show", "--json", "--workspace", str(ws))
    assert code == 0, err
    (row,) = [row for row in json.loads(out)["pointers"] if row["registry_id"] == registry_id]
    return dict(row)


def _show_codes(row: dict[str, Any]) -> set[str]:
    """The codes of `pointers show`'s row: its problems', an invalid target's reason codes."""
    codes: set[str] = set()
    for problem in row["problems"]:
        codes.update(problem.get("reason_codes") or [problem["code"]])
    return codes


def _verify_codes(cli: Run, ws: Path, registry_id: str) -> tuple[int, set[str]]:
    """`registry pointers verify --json`: its exit code and the codes of its problems about
    the registry."""
    code, out, _err = cli("pointers", "verify", "--json", "--workspace", str(ws))
    problems = json.loads(out)["problems"]
    return code, {str(p["code"]) for p in problems if p.get("registry_id") == registry_id}


@pytest.mark.parametrize("case", list(CASES))
def test_validate_active_and_pointers_show_agree(
    cli: Run, request: pytest.FixtureRequest, case: str
) -> None:
    ws, (state, expected, registry_id) = _case(request, case)
    exit_code, validated = _validate_codes(cli, ws, registry_id)
    row = _show_row(cli, ws, registry_id)
    assert _show_codes(row) == validated, case
    assert validated <= expected and bool(validated) == bool(expected), validated
    assert row["target"] == state or row["target"].startswith(f"{state}: "), row["target"]
    if state == "invalid":
        assert row["target"] == "invalid: " + ",".join(sorted(validated))
    assert exit_code == (0 if state == "ok" else 1)  # each code's exit (core/errors.py): 1
    if case.startswith(BUILT):  # a journal that has begun: `pointers verify` judges it too
        verified_exit, verified = _verify_codes(cli, ws, registry_id)
        assert verified <= validated, (verified, validated)  # verify's depth: journal, root
        assert verified_exit == exit_code, (verified, validated)
    _code, text, _err = cli("pointers", "show", "--workspace", str(ws))
    (line,) = [line for line in text.splitlines() if line.split()[0] == registry_id]
    shown = row["target"] if row["target"] is not None else f"(none)  [{row['journal']}]"
    assert line.rstrip().endswith(shown), text  # the state column, as in --json


@pytest.mark.parametrize("case", [case for case in CASES if not case.startswith(BUILT)])
def test_the_baselines_take_the_active_snapshot_only_where_validate_passes_it(
    cli: Run, ws: Path, case: str
) -> None:
    """`checked_snapshot` and `published_snapshot` take the active folder where validate does."""
    state, _expected, _registry_id = Case(*CASES[case](ws))
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
    code, out, _err = cli("validate", "--active", "--workspace", str(ws))
    assert code == 1 and out.startswith("FAIL  (alpha)  (1 problem(s))\n")  # a verdict: stdout
    for message in (str(problem["message"]), out):
        assert "names no run folder: its run_id is null" in message and "''" not in message


def test_a_pointer_naming_no_folder_here_fails_in_the_row_an_unreadable_one_has(
    cli: Run, ws: Path
) -> None:
    """TARGET_MISSING is a FAIL (exit 1, its code's), counted so, in the fields it had as ERROR."""
    _missing(ws)
    code, out, _err = cli("validate", "--active", "--json", "--workspace", str(ws))
    (row,) = map(json.loads, out.splitlines())
    folder = str(ws / ".codex" / "RUNS" / "2026-01-01__000000__alpha_build")
    assert code == 1 and (row["status"], row["verdict"]) == ("FAIL", "FAIL")
    assert (row["run_folder"], row["run_id"]) == (folder, None)
    (problem,) = row["errors"]
    assert (problem["code"], problem["path"], problem["registry_id"]) == (
        "TARGET_MISSING", folder, "alpha"
    )  # fmt: skip
    code, out, err = cli("validate", "--active", "--workspace", str(ws))
    first = "FAIL  .codex/RUNS/2026-01-01__000000__alpha_build  (1 problem(s))"
    assert code == 1 and not err and out.splitlines()[0] == first, out + err
    assert out.splitlines()[-1] == "checked 1 run folder(s): 0 PASS, 1 FAIL"
