"""`registry check-append-only` applies the registry's schema exactly as the build does (the one
function a source asset calls, `source_problems`), and reports every problem as a problem
object: the file as `path`, the JSON pointer as `field`, the line where it is known."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from registry_pipeline.core.append_only.example import example_pack
from registry_pipeline.core.seal.schemas import SchemaCatalog
from registry_pipeline.core.workspace.catalog import load_catalog
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.core.workspace.sources import read_source_files, source_problems
from registry_pipeline_tests.cli_tests.conftest import Run

NAME = "atelier_rolepack_v1.json"
KEYS = ["code", "path", "line", "field", "message"]

Document = dict[str, Any]


def _broken(change: Callable[[Document], object]) -> Document:
    pack = copy.deepcopy(example_pack())
    change(pack)
    return pack


BROKEN: dict[str, Document] = {
    "no extract_contracts": _broken(lambda p: p["roles"][0].pop("extract_contracts")),
    "no produce_contracts": _broken(lambda p: p["roles"][2].pop("produce_contracts")),
    "no display_name": _broken(lambda p: p["roles"][1].pop("display_name")),
    "empty modes_supported": _broken(lambda p: p["roles"][1].__setitem__("modes_supported", [])),
    "no pack_id": _broken(lambda p: p.pop("pack_id")),
    "schema_json an array": _broken(
        lambda p: p["roles"][0]["extract_contracts"][0].__setitem__("schema_json", [])
    ),
    "a bad contract id": _broken(
        lambda p: p["roles"][0]["extract_contracts"][0].__setitem__("contract_id", "ROLE:x:X:0")
    ),
}


def _write(path: Path, document: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return path


def _schema_problems(document: Document) -> list[dict[str, Any]]:
    return [p for p in document["violations"] if p["code"] == "SCHEMA_VIOLATION"]


def _comparable(problems: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(p["code"], p["line"], p["field"], p["message"]) for p in problems]


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_the_cli_and_the_builds_schema_check_agree(cli: Run, tmp_path: Path, name: str) -> None:
    """The same broken pack through both paths: the CLI (a first publish, so only the schema
    and the internal rules can fail it) and `source_problems`, what a source asset runs before
    it seals anything. Same verdict, same problems."""
    path = _write(tmp_path / NAME, BROKEN[name])
    build = source_problems({NAME: path.read_bytes()}, SchemaCatalog.for_workspace(None))
    assert build, "the build refuses every pack of this table"
    code, out, err = cli("check-append-only", str(path), "--rules", "rolepack", "--json")
    assert code == 1, out + err
    document = json.loads(out)
    assert (
        document["ok"] is False and document["schema"] == "urn:registry-pipeline:schema:rolepack_v1"
    )
    assert _comparable(_schema_problems(document)) == _comparable([p.as_json() for p in build])


def test_a_role_without_contract_lists_fails_as_the_seed_checker_fails_it(
    cli: Run, tmp_path: Path
) -> None:
    """The seed's checker: "Invalid role contracts (expected extract_contracts and
    produce_contracts arrays)". The append-only rules say so too, whatever schema applies."""
    path = _write(tmp_path / "pack.json", BROKEN["no extract_contracts"])  # no schema by name
    code, out, err = cli("check-append-only", str(path), "--rules", "rolepack", "--json")
    assert code == 1, out + err
    document = json.loads(out)
    assert document["schema"] is None
    (problem,) = document["violations"]
    assert problem["code"] == "INVALID_CONTRACT_ID"
    assert problem["field"] == "/roles/0/extract_contracts"
    assert "warning" in err and "no schema governs pack.json" in err


def test_in_a_workspace_the_cli_applies_the_schema_the_source_asset_applies(
    cli: Run, demo: Path
) -> None:
    pack = demo / "registries" / "rolepack" / NAME
    _write(pack, BROKEN["no display_name"])
    spec = load_catalog(Workspace(demo)).get("rolepack")
    source = read_source_files(demo, spec.sources, spec.kind)
    build = source_problems(source.files, SchemaCatalog.for_workspace(demo))  # the asset's call
    assert build
    code, out, err = cli("check-append-only", str(pack), "--workspace", str(demo), "--json")
    assert code == 1, out + err
    assert _comparable(_schema_problems(json.loads(out))) == _comparable(
        [p.as_json() for p in build]
    )


def test_problems_are_problem_objects_with_file_field_and_line(cli: Run, tmp_path: Path) -> None:
    published = _write(tmp_path / "old.json", example_pack())
    broken = copy.deepcopy(example_pack())
    broken["roles"].pop(3)
    broken["roles"].append(copy.deepcopy(broken["roles"][0]))
    path = _write(tmp_path / NAME, broken)
    code, out, _ = cli("check-append-only", str(path), "--rules", "rolepack",
                       "--baseline", str(published), "--json")  # fmt: skip
    assert code == 1
    problems = json.loads(out)["violations"]
    assert problems and all(list(p)[:5] == KEYS for p in problems)
    assert {p["path"] for p in problems} == {str(path)}
    duplicate = next(p for p in problems if p["code"] == "DUPLICATE_ID")
    assert duplicate["field"] == "/roles/37/role_id" and duplicate["id"] == "executive_1"
    lines = path.read_text(encoding="utf-8").splitlines()
    assert '"role_id": "executive_1"' in lines[duplicate["line"] - 1]
    assert sum('"role_id": "executive_1"' in line for line in lines[: duplicate["line"]]) == 2
    removed = next(p for p in problems if p["code"] == "ID_REMOVED")
    assert removed["field"] == "/roles/3" and removed["line"] is None  # a place in the baseline


def test_the_human_output_names_the_line(cli: Run, tmp_path: Path) -> None:
    path = _write(tmp_path / NAME, BROKEN["no display_name"])
    code, out, _ = cli("check-append-only", str(path), "--rules", "rolepack")
    assert code == 1
    assert "SCHEMA_VIOLATION  /roles/1 (role_id=executive_2) (line " in out
    assert "'display_name' is a required" in out


# --- numbers RFC 8785 cannot canonicalize: refused with a reason, never hashed wrongly ------------


def _surface_number(literal: str) -> bytes:
    text = json.dumps(example_pack(), indent=2)
    return text.replace('"maximum": 1', f'"maximum": {literal}', 1).encode()


def test_an_integer_beyond_2_53_is_refused_even_on_a_first_publish(
    cli: Run, tmp_path: Path
) -> None:
    path = tmp_path / NAME
    path.write_bytes(_surface_number(str(2**60)))
    code, out, _ = cli("check-append-only", str(path), "--rules", "rolepack", "--json")
    assert code == 1
    (problem,) = json.loads(out)["violations"]
    assert problem["code"] == "CONTRACT_SURFACE_INVALID"
    assert problem["field"] == (
        "/roles/0/extract_contracts/0/schema_json/properties/claims/items/properties/"
        "confidence/maximum"
    )
    assert "2^53" in problem["message"] and problem["line"] is not None


def test_an_integer_beyond_2_53_is_refused_when_unchanged_too(cli: Run, tmp_path: Path) -> None:
    path = tmp_path / NAME
    path.write_bytes(_surface_number(str(-(2**53))))
    published = tmp_path / "old.json"
    published.write_bytes(path.read_bytes())
    code, out, _ = cli("check-append-only", str(path), "--rules", "rolepack",
                       "--baseline", str(published), "--json")  # fmt: skip
    assert code == 1
    assert [p["code"] for p in json.loads(out)["violations"]] == ["CONTRACT_SURFACE_INVALID"]


def test_the_largest_safe_integer_is_accepted(cli: Run, tmp_path: Path) -> None:
    path = tmp_path / NAME
    path.write_bytes(_surface_number(str(2**53 - 1)))
    code, out, err = cli("check-append-only", str(path), "--rules", "rolepack")
    assert code == 0, out + err


@pytest.mark.parametrize("literal", ["1e400", "-1e400"])
def test_a_number_that_overflows_is_refused_with_its_own_reason(
    cli: Run, tmp_path: Path, literal: str
) -> None:
    path = tmp_path / NAME
    path.write_bytes(_surface_number(literal))
    code, out, _ = cli("check-append-only", str(path), "--rules", "rolepack", "--json")
    assert code == 2
    error = json.loads(out)["error"]
    assert error["code"] == "JSON_NON_FINITE" and error["path"] == str(path)
    assert literal in error["message"]


# --- names a reviewer needs: the entry's id beside its pointer, as the seed's checker says it ----


def _newbie_appended() -> Document:
    """The issue's case: a role appended to the published pack without its contract arrays."""
    pack = copy.deepcopy(example_pack())
    newbie = copy.deepcopy(pack["roles"][0])
    newbie.update(role_id="newbie_1", display_name="Newbie 1")
    del newbie["extract_contracts"], newbie["produce_contracts"]
    pack["roles"].append(newbie)
    pack["roles"][1].pop("display_name")  # and a schema violation in another entry
    return pack


def test_every_problem_names_its_entry_in_text_and_json(cli: Run, tmp_path: Path) -> None:
    published = _write(tmp_path / "old.json", example_pack())
    path = _write(tmp_path / NAME, _newbie_appended())
    args = ("check-append-only", str(path), "--rules", "rolepack", "--baseline", str(published))
    code, out, _ = cli(*args)
    assert code == 1
    listed = [line.strip() for line in out.splitlines()[1:]]
    assert any(
        line.startswith("INVALID_CONTRACT_ID  /roles/38 (role_id=newbie_1)/extract_contracts")
        for line in listed
    ), out
    named = "SCHEMA_VIOLATION  /roles/1 (role_id=executive_2) (line "
    assert any(line.startswith(named) for line in listed), out
    code, out, _ = cli(*args, "--json")
    problems = json.loads(out)["violations"]
    entries = {(p["code"], p["field"], p.get("entry_id")) for p in problems}
    assert ("INVALID_CONTRACT_ID", "/roles/38/extract_contracts", "newbie_1") in entries
    assert ("INVALID_CONTRACT_ID", "/roles/38/produce_contracts", "newbie_1") in entries
    assert ("SCHEMA_VIOLATION", "/roles/1", "executive_2") in entries
    schema = [p for p in problems if p["code"] == "SCHEMA_VIOLATION"]
    assert {p["entry_id"] for p in schema} == {"newbie_1", "executive_2"}, schema
    assert all(list(p)[:5] == KEYS for p in problems)


def test_a_problem_outside_any_entry_names_no_entry(cli: Run, tmp_path: Path) -> None:
    path = _write(tmp_path / NAME, BROKEN["no pack_id"])
    code, out, _ = cli("check-append-only", str(path), "--rules", "rolepack", "--json")
    assert code == 1
    (problem,) = json.loads(out)["violations"]
    assert problem["code"] == "SCHEMA_VIOLATION" and "entry_id" not in problem
