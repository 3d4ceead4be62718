"""The append-only check: every violation code, the real pack's shape, canonical hashing."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from registry_pipeline.core.append_only import (
    CODES,
    Report,
    check_catalog,
    parse_rules,
    preset,
    surface_sha256,
)
from registry_pipeline.core.append_only.baseline import Baseline, check_file
from registry_pipeline.core.append_only.check import (
    violation_problem,
    violation_row,
    violation_text,
)
from registry_pipeline.core.errors import UsageError
from registry_pipeline.core.seal.schemas import SchemaCatalog
from registry_pipeline_tests._rolepack import DEPARTMENTS, example_pack, role

ROLEPACK = preset("rolepack", "test")
REPO = Path(__file__).resolve().parents[3]


def pack() -> dict[str, Any]:
    return copy.deepcopy(example_pack())


def codes(report: Report) -> list[str]:
    return [violation.code for violation in report.violations]


def by_code(report: Report, code: str) -> list[dict[str, Any]]:
    return [violation_row(v) for v in report.violations if v.code == code]


# --- the example pack has the real pack's shape, and our schema accepts it -------------------


def test_the_example_pack_has_the_real_packs_facts() -> None:
    document = example_pack()
    roles = document["roles"]
    assert len(roles) == 38
    counts: dict[str, int] = {}
    for entry in roles:
        counts[entry["department_id"]] = counts.get(entry["department_id"], 0) + 1
    assert counts == dict(DEPARTMENTS)
    for entry in roles:
        assert [c["contract_id"] for c in entry["extract_contracts"]] == [
            f"ROLE:{entry['role_id']}:X:1"
        ]
        assert [c["contract_id"] for c in entry["produce_contracts"]] == [
            f"ROLE:{entry['role_id']}:C:1"
        ]
        assert entry["vocab_namespace"] == "" and entry["proposal_policy"] == "disabled"
        assert "aliases" not in entry and "lifecycle" not in entry  # as in the real pack
    extract = {json.dumps(e["extract_contracts"][0]["schema_json"]) for e in roles}
    produce = {json.dumps(e["produce_contracts"][0]["schema_json"]) for e in roles}
    assert len(extract) == 1 and len(produce) == 1
    assert check_catalog(document, None, ROLEPACK).ok
    assert check_catalog(document, document, ROLEPACK).ok


def test_our_schema_accepts_a_pack_without_aliases_and_lifecycle() -> None:
    schemas = SchemaCatalog.for_workspace(None)
    schema = schemas.for_artifact("atelier_rolepack_v1.json")
    assert schema is not None
    assert schemas.validate(schema.schema_id, example_pack()) == []
    document = pack()
    document["roles"][0]["aliases"] = ["old_name"]
    document["roles"][0]["lifecycle"] = "deprecated"
    assert schemas.validate(schema.schema_id, document) == []
    document["roles"][0]["lifecycle"] = "retired"
    document["roles"][1]["modes_supported"] = []
    assert len(schemas.validate(schema.schema_id, document)) == 2


def test_the_shipped_demo_pack_is_the_generated_one() -> None:
    shipped = json.loads((REPO / "registries/rolepack/atelier_rolepack_v1.json").read_text())
    assert shipped == example_pack()


# --- every code -------------------------------------------------------------------------------


def test_deprecation_and_additions_are_allowed() -> None:
    baseline, current = pack(), pack()
    current["roles"][0]["lifecycle"] = "deprecated"
    current["roles"].append(role("visuals_9", "visuals", 9))
    extra = copy.deepcopy(current["roles"][1]["extract_contracts"][0])
    extra["contract_id"] = extra["contract_id"].replace(":X:1", ":X:2")
    extra["schema_json"] = {"type": "object"}
    current["roles"][1]["extract_contracts"].append(extra)  # a new version beside the old one
    assert check_catalog(current, baseline, ROLEPACK).ok


def test_duplicate_and_invalid_ids() -> None:
    current = pack()
    current["roles"].append(copy.deepcopy(current["roles"][0]))
    current["roles"].append(role("Bad-Id", "visuals", 1))
    current["roles"].append(role("x" * 65, "visuals", 1))
    current["roles"].append({"department_id": "visuals"})
    report = check_catalog(current, None, ROLEPACK)
    assert codes(report) == ["DUPLICATE_ID", "INVALID_ID", "INVALID_ID", "INVALID_ID"]
    assert report.violations[0].field == "/roles/38/role_id"
    assert violation_row(report.violations[3])["id"] is None


def test_alias_collisions() -> None:
    baseline = pack()
    baseline["roles"][2]["aliases"] = ["former_name"]
    current = copy.deepcopy(baseline)
    current["roles"][0]["aliases"] = ["executive_2"]  # another entry's id
    current["roles"][1]["aliases"] = ["shared", "Not-Safe"]
    current["roles"][3]["aliases"] = ["shared"]  # another entry's alias
    removed = current["roles"].pop(5)["role_id"]
    current["roles"][4]["aliases"] = [removed]  # reuses a removed id
    del current["roles"][2]["aliases"]
    current["roles"].append(role("former_name", "visuals", 9))  # reuses a published alias
    report = check_catalog(current, baseline, ROLEPACK)
    collisions = by_code(report, "ALIAS_COLLISION")
    messages = " | ".join(v["message"] for v in collisions)
    assert len(collisions) == 4, messages
    assert "is the id of" in messages and "also an alias of" in messages
    assert "reuses a published id" in messages and "was published as an alias" in messages
    assert [v["id"] for v in by_code(report, "INVALID_ID")] == ["executive_2"]  # Not-Safe
    assert "ID_REMOVED" in codes(report)


@pytest.mark.parametrize(
    ("contract_id", "where", "reason"),
    [
        ("ROLE:executive_1:X:01", "extract_contracts", "leading zeros"),
        ("ROLE:executive_1:X:0", "extract_contracts", "leading zeros"),
        ("ROLE:executive_1:X:4294967296", "extract_contracts", "u32"),
        ("ROLE:executive_1:C:2", "extract_contracts", "kind C in a list of kind X"),
        ("ROLE:executive_2:X:2", "extract_contracts", "belongs to executive_1"),
        ("ROLE:executive_1:X", "extract_contracts", "not of the form"),
        ("role:executive_1:X:2", "extract_contracts", "not of the form"),
        ("ROLE:executive_1:X:2", "produce_contracts", "kind X in a list of kind C"),
    ],
)
def test_invalid_contract_ids(contract_id: str, where: str, reason: str) -> None:
    current = pack()
    current["roles"][0][where].append({"contract_id": contract_id, "schema_json": {}})
    report = check_catalog(current, None, ROLEPACK)
    (violation,) = report.violations
    assert violation.code == "INVALID_CONTRACT_ID"
    assert reason in violation.message
    assert violation.related == ("executive_1",)


def test_surface_drift_names_both_hashes_the_change_and_the_id_to_publish() -> None:
    baseline, current = pack(), pack()
    surface = current["roles"][0]["extract_contracts"][0]["schema_json"]
    surface["required"] = [*surface["required"], "notes"]
    report = check_catalog(current, baseline, ROLEPACK)
    (drift,) = report.violations
    shown = violation_row(drift)
    assert drift.code == "CONTRACT_SURFACE_DRIFT" and shown["id"] == "ROLE:executive_1:X:1"
    published = baseline["roles"][0]["extract_contracts"][0]["schema_json"]
    assert shown["expected_sha256"] == surface_sha256(published)
    assert shown["found_sha256"] == surface_sha256(surface)
    assert shown["publish_instead"] == "ROLE:executive_1:X:2"
    assert shown["compatibility"]["kind"] == "forward"
    assert shown["publish_instead"] in shown["message"]
    assert shown["compatibility"]["changes"][0]["code"] == "REQUIRED_PROPERTY_ADDED"


def test_the_next_version_skips_versions_already_taken() -> None:
    baseline = pack()
    later = {"contract_id": "ROLE:executive_1:X:7", "schema_json": {"type": "object"}}
    baseline["roles"][0]["extract_contracts"].append(later)
    current = copy.deepcopy(baseline)
    current["roles"][0]["extract_contracts"][0]["schema_json"] = {"type": "string"}
    (drift,) = check_catalog(current, baseline, ROLEPACK).violations
    assert violation_row(drift)["publish_instead"] == "ROLE:executive_1:X:8"


# --- canonical hashing --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ('{"a": 1, "b": [1, 2]}', '{"b":[1,2],"a":1}'),
        ('{"a": 1.0}', '{"a": 1}'),
        ('{"a": 1e2}', '{"a": 100}'),
        ('{"a": 0.5}', '{"a": 5E-1}'),
        ('{"a": "\\u00e9"}', '{"a": "é"}'),
        ('{ "a" :\n  {"y": true, "x": null} }', '{"a":{"x":null,"y":true}}'),
    ],
)
def test_canonical_hashes_ignore_key_order_whitespace_and_number_spelling(
    left: str, right: str
) -> None:
    assert surface_sha256(json.loads(left)) == surface_sha256(json.loads(right))
    baseline, current = pack(), pack()
    baseline["roles"][0]["extract_contracts"][0]["schema_json"] = json.loads(left)
    current["roles"][0]["extract_contracts"][0]["schema_json"] = json.loads(right)
    assert check_catalog(current, baseline, ROLEPACK).ok


@pytest.mark.parametrize(
    ("left", "right"),
    [('{"a": true}', '{"a": 1}'), ('{"a": "1"}', '{"a": 1}'), ('{"a": [1, 2]}', '{"a": [2, 1]}')],
)
def test_different_values_hash_differently(left: str, right: str) -> None:
    assert surface_sha256(json.loads(left)) != surface_sha256(json.loads(right))
    baseline, current = pack(), pack()
    baseline["roles"][0]["extract_contracts"][0]["schema_json"] = json.loads(left)
    current["roles"][0]["extract_contracts"][0]["schema_json"] = json.loads(right)
    assert codes(check_catalog(current, baseline, ROLEPACK)) == ["CONTRACT_SURFACE_DRIFT"]


def test_the_hash_is_sha256_of_rfc8785_bytes() -> None:
    # RFC 8785 section 3.2.2.3 number serialization, and sorted keys with no whitespace
    import hashlib

    assert (
        surface_sha256({"b": 1e21, "a": [0.1, -0.0]})
        == hashlib.sha256(b'{"a":[0.1,0],"b":1e+21}').hexdigest()
    )


# --- generic rules: the demo's allowed_operations is append-only too --------------------------


def test_allowed_operations_rules() -> None:
    rules = preset("allowed_operations", "test")
    baseline = json.loads(
        (REPO / "registries/allowed_operations/ALLOWED_OPERATIONS_v0_1.json").read_text()
    )
    assert check_catalog(baseline, baseline, rules).ok
    current = copy.deepcopy(baseline)
    removed = current["operations"].pop()["operation_id"]
    current["operations"].append(dict(current["operations"][0], operation_id="op-lower"))
    report = check_catalog(current, baseline, rules)
    assert [(v.code, violation_row(v)["id"]) for v in report.violations] == [
        ("INVALID_ID", "op-lower"), ("ID_REMOVED", removed)]  # fmt: skip


def test_a_rule_block_works_like_a_preset() -> None:
    block = {"items": "/data/items", "id": "key", "id_pattern": "^[A-Z]+$", "aliases": "aka",
             "contracts": [{"list": "apis", "kind": "A"}], "contract_prefix": "API",
             "surface": "spec"}  # fmt: skip
    rules = parse_rules(block, "catalog")
    baseline = {"data": {"items": [{"key": "ONE", "apis": [
        {"contract_id": "API:ONE:A:1", "spec": {"type": "object"}}]}]}}  # fmt: skip
    current = copy.deepcopy(baseline)
    current["data"]["items"][0]["apis"][0]["spec"] = {"type": "array"}
    current["data"]["items"][0]["aka"] = ["TWO"]
    (drift,) = check_catalog(current, baseline, rules).violations
    assert violation_row(drift)["publish_instead"] == "API:ONE:A:2"
    assert parse_rules({"preset": "rolepack"}, "x") == ROLEPACK


@pytest.mark.parametrize(
    ("block", "fragment"),
    [
        (7, "preset name or a rule block"),
        ("nope", "no preset 'nope'"),
        ({"items": "/x"}, "id must be a non-empty string"),
        ({"items": "x", "id": "k"}, "JSON pointer"),
        ({"items": "/x", "id": "k", "id_pattern": "("}, "not a regular expression"),
        ({"items": "/x", "id": "k", "color": "red"}, "unknown key 'color'"),
        ({"items": "/x", "id": "k", "contracts": [{"list": "a", "kind": "xx"}]}, "capital"),
        ({"preset": "rolepack", "id": "k"}, "stands alone"),
    ],
)
def test_bad_rules_are_refused_with_the_field(block: object, fragment: str) -> None:
    with pytest.raises(UsageError) as refused:
        parse_rules(block, "catalog: demo/append_only")
    assert refused.value.code == "RULES_INVALID" and fragment in refused.value.message
    assert refused.value.path == "catalog: demo/append_only"


def test_a_document_without_the_entries_array_is_a_shape_error() -> None:
    with pytest.raises(UsageError) as refused:
        check_catalog({"roles": {}}, None, ROLEPACK, "pack.json")
    assert refused.value.code == "CATALOG_SHAPE" and refused.value.path == "pack.json"


# --- the seed checker's shape rules, whatever schema applies -------------------------------------


def _drop(key: str) -> Any:
    return lambda p: p["roles"][0].pop(key)


def _set_surface(value: object) -> Any:
    return lambda p: p["roles"][0]["extract_contracts"][0].__setitem__("schema_json", value)


@pytest.mark.parametrize(
    ("change", "code", "field", "reason"),
    [
        (_drop("extract_contracts"), "INVALID_CONTRACT_ID", "/roles/0/extract_contracts",
         "missing"),
        (_drop("produce_contracts"), "INVALID_CONTRACT_ID", "/roles/0/produce_contracts",
         "missing"),
        (lambda p: p["roles"][0].__setitem__("extract_contracts", None), "INVALID_CONTRACT_ID",
         "/roles/0/extract_contracts", "not a list"),
        (lambda p: p["roles"][0]["extract_contracts"].__setitem__(0, "ROLE:executive_1:X:1"),
         "INVALID_CONTRACT_ID", "/roles/0/extract_contracts/0", "not an object"),
        (lambda p: p["roles"][0]["extract_contracts"][0].pop("schema_json"),
         "CONTRACT_SURFACE_INVALID", "/roles/0/extract_contracts/0/schema_json", "missing"),
        (_set_surface([]), "CONTRACT_SURFACE_INVALID",
         "/roles/0/extract_contracts/0/schema_json", "not an object"),
        (_set_surface(True), "CONTRACT_SURFACE_INVALID",
         "/roles/0/extract_contracts/0/schema_json", "not an object"),
    ],
)  # fmt: skip
def test_the_seed_checkers_shape_rules(change: Any, code: str, field: str, reason: str) -> None:
    current = pack()
    change(current)
    for baseline in (None, pack()):
        report = check_catalog(current, baseline, ROLEPACK)
        assert report.violations, baseline
        violation = report.violations[0]
        assert (violation.code, violation.field) == (code, field)
        assert reason in violation.message
        assert "CONTRACT_SURFACE_DRIFT" not in codes(report)  # reported once, as invalid


@pytest.mark.parametrize(
    ("value", "where"),
    [(2**60, "/maximum"), (-(2**53), "/maximum"), ({"a": [1, 2**53]}, "/maximum/a/1"),
     (float("inf"), "/maximum"), (float("nan"), "/maximum")],
)  # fmt: skip
def test_a_surface_outside_i_json_is_refused_first_published_unchanged_or_changed(
    value: object, where: str
) -> None:
    current = pack()
    current["roles"][0]["extract_contracts"][0]["schema_json"] = {"maximum": value}
    for baseline in (None, copy.deepcopy(current), pack()):  # a drift is not reported beside it
        (violation,) = check_catalog(current, baseline, ROLEPACK).violations
        assert violation.code == "CONTRACT_SURFACE_INVALID"
        assert violation.field == f"/roles/0/extract_contracts/0/schema_json{where}"


def test_the_safe_integer_range_and_the_largest_u32_version_are_accepted() -> None:
    current = pack()
    surface = {"maximum": 2**53 - 1, "minimum": -(2**53 - 1), "multipleOf": 1e300}
    current["roles"][0]["extract_contracts"][0]["schema_json"] = surface
    contract = {"contract_id": "ROLE:executive_1:X:4294967295", "schema_json": {}}
    current["roles"][0]["extract_contracts"].append(contract)
    assert check_catalog(current, None, ROLEPACK).ok


# --- every violation names its entry, as the seed's checker does (`role_id=newbie_1`) ----------


def _every_code_once() -> tuple[dict[str, Any], dict[str, Any]]:
    """A baseline and a current pack breaking one promise of each kind, in a known entry each
    (a role removed: ID_REMOVED, and CONTRACT_REMOVED for each of its contracts)."""
    baseline = pack()
    baseline["roles"][2]["aliases"] = ["former_name"]
    current = copy.deepcopy(baseline)
    newbie = role("newbie_1", "visuals", 9)
    del newbie["extract_contracts"], newbie["produce_contracts"]
    current["roles"].append(newbie)  # /roles/38: INVALID_CONTRACT_ID twice
    current["roles"].pop(5)  # thematic_psychological_4: ID_REMOVED, CONTRACT_REMOVED x2
    current["roles"][0]["extract_contracts"][0]["schema_json"]["type"] = "array"  # drift
    current["roles"][1]["aliases"] = ["Not-Safe", "executive_1"]  # INVALID_ID, ALIAS_COLLISION
    current["roles"][3]["extract_contracts"].append(
        copy.deepcopy(current["roles"][3]["extract_contracts"][0])
    )  # DUPLICATE_CONTRACT_ID
    current["roles"][4]["produce_contracts"][0]["schema_json"] = []  # CONTRACT_SURFACE_INVALID
    current["roles"].append(copy.deepcopy(current["roles"][6]))  # /roles/38: DUPLICATE_ID
    return baseline, current


def test_every_violation_names_the_entry_it_lies_in_beside_its_pointer() -> None:
    baseline, current = _every_code_once()
    report = check_catalog(current, baseline, ROLEPACK)
    named = {(v.code, v.field, violation_row(v).get("entry_id")) for v in report.violations}
    assert named == {
        ("INVALID_CONTRACT_ID", "/roles/37/extract_contracts", "newbie_1"),
        ("INVALID_CONTRACT_ID", "/roles/37/produce_contracts", "newbie_1"),
        ("ID_REMOVED", "/roles/5", "thematic_psychological_4"),  # its place in the baseline
        ("CONTRACT_REMOVED", "/roles/5/extract_contracts/0", "thematic_psychological_4"),
        ("CONTRACT_REMOVED", "/roles/5/produce_contracts/0", "thematic_psychological_4"),
        ("CONTRACT_SURFACE_DRIFT", "/roles/0/extract_contracts/0/schema_json", "executive_1"),
        ("INVALID_ID", "/roles/1/aliases/0", "executive_2"),
        ("ALIAS_COLLISION", "/roles/1", "executive_2"),
        ("DUPLICATE_CONTRACT_ID", "/roles/3/extract_contracts/1", "thematic_psychological_2"),
        ("CONTRACT_SURFACE_INVALID", "/roles/4/produce_contracts/0/schema_json",
         "thematic_psychological_3"),
        ("DUPLICATE_ID", "/roles/38/role_id", "context_culture_2"),
    }  # fmt: skip
    assert set(codes(report)) == set(CODES)  # every code is covered, all in one pass
    assert (report.baseline_entries, report.entries) == (38, 39)


def test_the_text_and_json_of_a_violation_carry_the_entry_id() -> None:
    _baseline, current = _every_code_once()
    violation = next(
        v for v in check_catalog(current, None, ROLEPACK).violations
        if v.field == "/roles/37/extract_contracts"
    )  # fmt: skip
    assert violation_text(violation) == (
        "INVALID_CONTRACT_ID  /roles/37 (role_id=newbie_1)/extract_contracts: "
        "extract_contracts is missing: every entry has the list, empty when it has none"
    )
    assert violation_problem(violation, "pack.json")["entry_id"] == "newbie_1"
    assert violation_row(violation)["entry_id"] == "newbie_1"  # the blocking check's metadata row
    assert "entry_id" not in violation_row(
        violation, sealed=True
    )  # the diagnostics file's v0_1 row


def test_an_entry_without_a_usable_id_is_named_by_its_pointer_alone() -> None:
    current = pack()
    current["roles"].append({"department_id": "visuals"})  # no role_id
    current["roles"].append("not an object")
    report = check_catalog(current, None, ROLEPACK)
    assert [(violation_text(v), violation_row(v).get("entry_id")) for v in report.violations] == [
        ("INVALID_ID  /roles/38/role_id: role_id is missing, like ^[a-z0-9_]{1,64}$", None),
        ("INVALID_ID  /roles/39: an entry is not an object (str)", None),
    ]
    assert all("entry_id" not in violation_problem(v, "pack.json") for v in report.violations)


def test_generic_rules_name_their_own_id_key() -> None:
    rules = parse_rules({"items": "/catalog/items", "id": "key", "id_pattern": "^[a-z]+$"}, "t")
    baseline = {"catalog": {"items": [{"key": "alpha"}, {"key": "beta"}]}}
    current = {"catalog": {"items": [{"key": "beta"}]}}
    (violation,) = check_catalog(current, baseline, rules).violations
    assert violation_text(violation) == (
        "ID_REMOVED  /catalog/items/0 (key=alpha): alpha was published; deprecate it instead "
        "of removing it"
    )


def test_a_files_problems_carry_its_path_line_and_entry() -> None:
    """`check_file`: schema problems first, named by the entry they lie in; each with its line."""
    current = pack()
    current.pop("pack_id")
    current["roles"][1].pop("display_name")
    current["roles"].pop(3)
    current["roles"].append(copy.deepcopy(current["roles"][0]))
    text = json.dumps(current, indent=2)
    published = Baseline("file", "old.json", json.dumps(pack()).encode())
    schemas = SchemaCatalog.for_workspace(None)
    checked = check_file(text.encode(), "atelier_rolepack_v1.json", published, ROLEPACK, schemas,
                         "pack.json")  # fmt: skip
    problems = checked.as_json()["violations"]
    assert all(list(p)[:5] == ["code", "path", "line", "field", "message"] for p in problems)
    assert {p["path"] for p in problems} == {"pack.json"}
    removed = "thematic_psychological_2"
    assert [(p["code"], p["field"], p.get("entry_id")) for p in problems] == [
        ("SCHEMA_VIOLATION", "", None),
        ("SCHEMA_VIOLATION", "/roles/1", "executive_2"),
        ("DUPLICATE_ID", "/roles/37/role_id", "executive_1"),
        ("ID_REMOVED", "/roles/3", removed),
        ("CONTRACT_REMOVED", "/roles/3/extract_contracts/0", removed),
        ("CONTRACT_REMOVED", "/roles/3/produce_contracts/0", removed),
    ]
    lines = text.splitlines()
    at = problems[2]["line"]
    assert sum('"role_id": "executive_1"' in line for line in lines[:at]) == 2
    assert '"role_id": "executive_1"' in lines[at - 1]
    assert [p["line"] for p in problems[3:]] == [None] * 3  # places in the baseline
