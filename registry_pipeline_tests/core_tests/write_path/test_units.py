"""The write path's parts on their own: entries, type changes, rules, logs, the build's findings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from registry_pipeline.core.errors import RegistryError, UsageError
from registry_pipeline.core.workspace.catalog import load_catalog
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.core.write_path import (
    add_entry,
    content_of,
    entry_type,
    entry_types,
    evaluate,
    involving,
    load_coordination,
    workspace_findings,
)
from registry_pipeline.core.write_path.content import entry_of
from registry_pipeline.core.write_path.logs import (
    NOTES_RELPATH,
    OVERRIDES_RELPATH,
    append_record,
    read_records,
    write_audited,
)
from registry_pipeline.core.write_path.rules import parse_coordination, values_at
from registry_pipeline.core.write_path.write import split_entry, type_changes
from registry_pipeline_tests._helpers import copy_demo
from registry_pipeline_tests.core_tests.write_path._support import copy_example, snapshot

CATALOG = "registries/REGISTRY_CATALOG_v0_2.json"
RULES = "registries/COORDINATION_v0_1.yaml"


def _types(root: Path) -> dict[str, Any]:
    return entry_types(load_catalog(Workspace(root)))


# --- split_entry and type_changes ---------------------------------------------------------------


def test_split_entry_by_key_field_map_and_files(tmp_path: Path) -> None:
    example, demo = _types(copy_example(tmp_path)), _types(copy_demo(tmp_path))
    assert split_entry(example["module_type"], {"type_id": "x", "a": 1}) == (
        "x",
        {"type_id": "x", "a": 1},
    )
    assert split_entry(demo["expected_versions"], {"run_registry": "1"}) == ("run_registry", "1")
    assert split_entry(demo["threshold_pack"], {"p_pack_v1": {"a": 1}}) == ("p_pack_v1", {"a": 1})


@pytest.mark.parametrize(
    ("type_name", "entry", "field"),
    [
        ("module_type", [1, 2], ""),
        ("module_type", "text", ""),
        ("module_type", None, ""),
        ("module_type", {"name": "no key"}, "/type_id"),
        ("module_type", {"type_id": ""}, "/type_id"),
        ("module_type", {"type_id": 7}, "/type_id"),
        ("route", {"route_id": "../x"}, "/route_id"),
        ("route", {"route_id": "a/b"}, "/route_id"),
        ("route", {"route_id": ".hidden"}, "/route_id"),
        ("route", {"route_id": "/etc/passwd"}, "/route_id"),
        ("route", {"route_id": "a\\b"}, "/route_id"),
        ("route", {"route_id": "tab\there"}, "/route_id"),
        ("route", {"route_id": "e\u0301"}, "/route_id"),  # not NFC
    ],
)
def test_split_entry_refuses_entries_without_a_usable_key(
    tmp_path: Path, type_name: str, entry: Any, field: str
) -> None:
    types = _types(copy_example(tmp_path))
    with pytest.raises(UsageError) as caught:
        split_entry(types[type_name], entry)
    assert caught.value.exit_code == 2 and caught.value.code == "ENTRY_INVALID"
    assert [finding.field for finding in caught.value.problems] == [field]


@pytest.mark.parametrize(
    "entry", [{}, {"a_pack_v1": {}, "b_pack_v1": {}}, {"../x": {}}, {".x": {}}, {"a/b": {}}]
)
def test_split_entry_refuses_a_bad_keyless_files_entry(tmp_path: Path, entry: Any) -> None:
    types = _types(copy_demo(tmp_path))
    with pytest.raises(UsageError) as refused:
        split_entry(types["threshold_pack"], entry)
    assert refused.value.code == "ENTRY_INVALID"


def test_type_changes_name_every_field_whose_json_type_changes() -> None:
    old = {"a": 1, "b": "x", "c": [1, {"d": True}], "e": None, "f": {"g": 1.5}, "h": 1}
    new = {"a": "1", "b": "y", "c": [1, {"d": 1}], "e": "now set", "f": {"g": 2}, "h": False}
    assert sorted(type_changes(old, new, "")) == [
        ("/a", "was a number (1), would become a string ('1')"),
        ("/c/1/d", "was a boolean (True), would become a number (1)"),
        ("/h", "was a number (1), would become a boolean (False)"),
    ]
    assert type_changes({"a": [1]}, {"a": {"0": 1}}, "") == [
        ("/a", "was a list ([1]), would become an object ({'0': 1})")
    ]
    assert type_changes({"a": 1}, {"b": "x"}, "") == []  # a field removed and one added
    assert type_changes({"a": 1}, {"a": None}, "") == []  # null aside


# --- entry types from the catalog -----------------------------------------------------------


def test_the_demo_and_example_types() -> None:
    from registry_pipeline_tests.core_tests.write_path._support import EXAMPLE, REPO

    demo = _types(REPO)
    assert {name: (t.layout, t.order, t.key) for name, t in demo.items()} == {
        "expected_versions": ("map", "key", None),
        "migration_ledger": ("list", "append", "file"),
        "threshold_pack": ("files", "key", None),
        "allowed_operations": ("list", "key", "operation_id"),
        "rolepack": ("list", "append", "role_id"),
        "run": ("log", "append", "run_id"),
        "run_override": ("log", "append", "override_id"),
    }
    assert demo["threshold_pack"].registry_id == "threshold_packs_file"
    assert demo["threshold_pack"].file_of("p") == "registries/threshold_packs/p.json"
    example = _types(EXAMPLE)
    assert sorted(example) == sorted(
        ["ability_high", "ability_low", "hook", "module_instance", "module_interface",
         "module_maturity", "module_type", "route"]
    )  # fmt: skip
    assert all(t.schema for t in example.values())


def test_an_unknown_type_says_did_you_mean(tmp_path: Path) -> None:
    types = _types(copy_example(tmp_path))
    with pytest.raises(UsageError) as caught:
        entry_type(types, "modul_type")
    assert caught.value.code == "UNKNOWN_TYPE" and caught.value.exit_code == 2
    assert "did you mean 'module_type'?" in caught.value.message
    with pytest.raises(UsageError) as caught:
        entry_type(types, "zzzzzz")
    assert "did you mean" not in caught.value.message and "route" in caught.value.message


@pytest.mark.parametrize(
    ("sources", "entries", "problem"),
    [
        (None, {"layout": "map", "container": "/module_types"},
         "layout map is written in JSON files only"),
        (["modules/overview/type_registry.yaml", "modules/overview/interfaces.yaml"], None,
         "exactly one source"),
        (["modules/overview/*.yaml"], None, "needs one file"),
        (["modules/overview/types.txt"], None, "must end in .json"),
        (["modules/overview/*.yaml"], {"layout": "files", "key": "type_id"}, None),
        (["modules/*/type_registry.yaml"], {"layout": "files", "key": "type_id"},
         "layout files needs a source like"),
    ],
)  # fmt: skip
def test_a_bad_entries_block_is_catalog_invalid(
    tmp_path: Path, sources: list[str] | None, entries: dict[str, Any] | None, problem: str | None
) -> None:
    root = copy_example(tmp_path)
    (root / "modules/overview/types.txt").write_text("x")
    path = root / CATALOG
    document = json.loads(path.read_text())
    if sources is not None:
        document["registries"][0]["sources"] = sources
    if entries is not None:
        document["registries"][0]["entries"] = entries
    path.write_text(json.dumps(document, indent=2))
    if problem is None:  # a files layout over the folder is fine
        assert _types(root)["module_type"].layout == "files"
        return
    with pytest.raises(UsageError) as caught:
        _types(root)
    assert caught.value.code == "CATALOG_INVALID"
    assert problem in " ".join(map(str, caught.value.details))


def test_two_registries_of_the_same_type_name_are_catalog_invalid(tmp_path: Path) -> None:
    root = copy_example(tmp_path)
    path = root / CATALOG
    document = json.loads(path.read_text())
    document["registries"][1]["entries"]["type"] = "module_type"
    path.write_text(json.dumps(document, indent=2))
    with pytest.raises(UsageError) as caught:
        _types(root)
    assert caught.value.code == "CATALOG_INVALID"
    assert "duplicate type 'module_type'" in " ".join(map(str, caught.value.details))


# --- coordination rules: loading --------------------------------------------------------------


def _rule(**fields: Any) -> dict[str, Any]:
    return {"id": "r", "severity": "error", "why": "because"} | fields


def test_the_example_and_demo_rules_load() -> None:
    from registry_pipeline_tests.core_tests.write_path._support import EXAMPLE, REPO

    for root in (EXAMPLE, REPO):
        catalog = load_catalog(Workspace(root))
        rules = load_coordination(root, catalog.coordination, entry_types(catalog)).rules
        assert rules and len({rule.id for rule in rules}) == len(rules)
    example = load_coordination(EXAMPLE, RULES, _types(EXAMPLE)).rules
    assert {rule.kind for rule in example} == {
        "exists", "no_overlap", "shared", "one_of", "not_deprecated"
    }  # fmt: skip
    assert {rule.severity for rule in example} == {"error", "warning", "record"}


@pytest.mark.parametrize(
    ("document", "needle"),
    [
        ({"rules": []}, "version"),
        ({"version": "0.1", "rules": [_rule(kind="exists", from_={})]}, "from_"),
        ({"version": "0.1", "rules": [_rule(kind="exists")]}, "from"),
        ({"version": "0.1", "rules": [_rule(kind="shared", of={"type": "route", "field": "/x"})]},
         "owner"),
        ({"version": "0.1", "rules": [_rule(severity="fatal", kind="one_of",
                                            of={"type": "hook", "field": "/x"}, values=[1])]},
         "fatal"),
        ({"version": "0.1", "rules": [_rule(kind="one_of", of={"type": "nope", "field": "/x"},
                                            values=[1])]}, "unknown type 'nope'"),
        ({"version": "0.1", "rules": [_rule(kind="one_of", of={"type": "hook", "field": "/x"},
                                            values=[1])] * 2}, "duplicate rule id 'r'"),
    ],
)  # fmt: skip
def test_a_bad_rules_document_is_coordination_invalid(
    tmp_path: Path, document: dict[str, Any], needle: str
) -> None:
    types = _types(copy_example(tmp_path))
    with pytest.raises(UsageError) as caught:
        parse_coordination(document, "rules.yaml", types)
    assert caught.value.code == "COORDINATION_INVALID"
    assert needle in " ".join(map(str, caught.value.details))


def test_an_unparsable_rules_file_blocks_add_entry(tmp_path: Path) -> None:
    root = copy_example(tmp_path)
    (root / RULES).write_text("version: '0.1'\nrules: [\n")
    before = snapshot(root)
    entry = {"type_id": "x", "name": "X", "description": "d", "status": "active"}
    with pytest.raises(UsageError) as refused:
        add_entry(Workspace(root), "module_type", entry)
    assert refused.value.code == "COORDINATION_INVALID"
    assert snapshot(root) == before


# --- coordination rules: every kind on in-memory contents -----------------------------------


def _contents(root: Path, files: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Type name -> content from in-memory documents (relpath as sealed -> YAML text)."""
    types = _types(root)
    return {
        name: content_of(types[name], {rel: json.dumps(doc).encode() for rel, doc in docs.items()})
        for name, docs in files.items()
    }


def _hook(hook_id: str, **fields: Any) -> dict[str, Any]:
    return {"id": hook_id, "event_type": "PreAbilityCall", "enabled": True, "blocking": False,
            "summary": "s", "handler": {"kind": "script", "command": "c"}, "status": "active"
            } | fields  # fmt: skip


def _ability(key: str, **fields: Any) -> dict[str, Any]:
    return {"operation_key": key, "status": "active"} | fields


def test_values_at_walks_stars_over_lists_and_objects() -> None:
    value = {"a": [{"b": 1}, {"b": 2}, {"c": 3}], "m": {"x": 1, "y": 2}}
    assert list(values_at(value, "/a/*/b")) == [("/a/0/b", 1), ("/a/1/b", 2)]
    assert list(values_at(value, "/m/*")) == [("/m/x", 1), ("/m/y", 2)]
    assert list(values_at(value, "/a/1/b")) == [("/a/1/b", 2)]
    assert list(values_at(value, "/nope/*")) == []
    assert list(values_at(value, "")) == [("", value)]


def test_exists_where_and_patterns_and_not_deprecated(tmp_path: Path) -> None:
    root = copy_example(tmp_path)
    rules = parse_coordination(
        {"version": "0.1", "rules": [
            _rule(id="pre-call", kind="exists",
                  **{"from": {"type": "ability_low", "field": "/hooks/pre_call/*"},
                     "to": {"type": "hook", "where": {"field": "/event_type",
                                                     "equals": "PreAbilityCall"}}}),
            _rule(id="scope", kind="exists",
                  **{"from": {"type": "hook", "field": "/match/ability_scope/*"},
                     "to": {"type": "ability_low", "patterns": True}}),
            _rule(id="old", severity="warning", kind="not_deprecated", field="/status",
                  value="deprecated"),
        ]}, "rules", _types(root))  # fmt: skip
    contents = _contents(root, {
        "ability_low": {
            "db.read.x.yaml": _ability("db.read.x", hooks={"pre_call": ["guard", "tracker",
                                                                        "gone", None]}),
            "db.old.yaml": _ability("db.old", status="deprecated"),
        },
        "hook": {
            "guard.yaml": _hook("guard", match={"ability_scope": ["db.*", "db.old", "mail.*"]}),
            "tracker.yaml": _hook("tracker", event_type="PostAbilityCall"),
        },
    })  # fmt: skip
    found = {(f.code, entry_of(f)[1], f.field, f.message) for f in evaluate(rules, contents)}
    assert found == {
        ("pre-call", "db.read.x", "/hooks/pre_call/1",
         "hook 'tracker' has /event_type 'PostAbilityCall', not 'PreAbilityCall'"),
        ("pre-call", "db.read.x", "/hooks/pre_call/2", "no hook 'gone'"),
        ("scope", "guard", "/match/ability_scope/2", "'mail.*' matches no ability_low"),
        ("old", "guard", "/match/ability_scope/1",
         "refers to ability_low 'db.old', whose /status is 'deprecated'"),
    }  # fmt: skip


def test_no_overlap_shared_and_one_of_with_when(tmp_path: Path) -> None:
    root = copy_example(tmp_path)
    rules = parse_coordination(
        {"version": "0.1", "rules": [
            _rule(id="overlap", kind="no_overlap", of={"type": "route", "field": "/scope/*"}),
            _rule(id="topic", severity="warning", kind="shared",
                  of={"type": "route", "field": "/topics/*", "owner": "/owner_module"}),
            _rule(id="event", kind="one_of", of={"type": "hook", "field": "/event_type"},
                  values=["PromptSubmit", "PreAbilityCall"], when={"field": "/blocking",
                                                                   "equals": True}),
        ]}, "rules", _types(root))  # fmt: skip

    def route(route_id: str, owner: str, scope: list[str], topics: list[str]) -> dict[str, Any]:
        return {"route_id": route_id, "owner_module": owner, "scope": scope, "topics": topics}

    contents = _contents(root, {
        "route": {
            "a.yaml": route("a", "m1", ["content/a/"], ["t1", "t2"]),
            "b.yaml": route("b", "m2", ["content/a/b/", "content/ab/"], ["t1"]),
            "c.yaml": route("c", "m1", ["content/c/"], ["t2"]),
        },
        "hook": {
            "h1.yaml": _hook("h1", blocking=True, event_type="PostAbilityCall"),
            "h2.yaml": _hook("h2", blocking=False, event_type="PostAbilityCall"),
            "h3.yaml": _hook("h3", blocking=True, event_type="PromptSubmit"),
        },
    })  # fmt: skip
    findings = evaluate(rules, contents)
    found = {(f.code, entry_of(f)[1], f.field, f.related) for f in findings}
    assert found == {
        ("overlap", "b", "/scope/0", ("route", "a")),
        ("topic", "a", "/topics/0", ("route", "b")),
        ("topic", "b", "/topics/0", ("route", "a")),
        ("event", "h1", "/event_type", ()),
    }
    assert {entry_of(f)[1] for f in involving(findings, "route", "a")} == {"a", "b"}
    assert {f.code for f in involving(findings, "route", "c")} == set()
    assert all(f.severity == ("warning" if f.code == "topic" else "error") for f in findings)


# --- the two logs -----------------------------------------------------------------------------


def test_a_log_appends_one_line_per_record_and_refuses_a_torn_one(tmp_path: Path) -> None:
    log = tmp_path / "registries" / "LOG.jsonl"
    append_record(log, {"n": 1})
    append_record(log, {"n": 2, "text": "é"})
    assert read_records(log) == [{"n": 1}, {"n": 2, "text": "é"}]
    with log.open("ab") as handle:
        handle.write(b'{"n": 3')
    torn = log.read_bytes()
    with pytest.raises(RegistryError) as caught:
        append_record(log, {"n": 4})
    assert caught.value.code == "LOG_TORN" and log.read_bytes() == torn
    with pytest.raises(RegistryError) as caught:
        read_records(log)
    assert caught.value.code == "LOG_TORN"
    assert caught.value.line == 3
    log.write_bytes(b'{"n": 1}\nnot json\n{"n": 2}\n')
    with pytest.raises(RegistryError) as caught:
        read_records(log)
    assert caught.value.code == "LOG_INVALID"
    assert caught.value.message.startswith("line 2: JSON_INVALID: "), caught.value.message
    assert read_records(tmp_path / "missing.jsonl") == []


def test_a_torn_notes_log_refuses_the_write_of_a_record_finding(tmp_path: Path) -> None:
    root = copy_example(tmp_path)
    notes = root / NOTES_RELPATH
    notes.write_bytes(b'{"torn": ')
    before = snapshot(root)
    from registry_pipeline_tests.core_tests.write_path._support import sample

    with pytest.raises(RegistryError) as caught:
        add_entry(Workspace(root), "module_maturity", sample("module_maturity"))
    assert caught.value.code == "LOG_TORN" and caught.value.exit_code == 1
    assert snapshot(root) == before  # refused: nothing written


@pytest.mark.parametrize(
    ("held", "code"),
    [
        (b'{"torn": ', "LOG_TORN"),
        (b'{"a": 1, "a": 2}\n', "LOG_INVALID"),  # a complete line the build refuses to read
        (b'not json\n{"n": 1}\n', "LOG_INVALID"),
    ],
)
def test_the_overrides_log_the_build_seals_takes_a_record_only_when_it_reads_whole(
    tmp_path: Path, held: bytes, code: str
) -> None:
    overrides, target = tmp_path / OVERRIDES_RELPATH, tmp_path / "registries" / "x.yaml"
    overrides.parent.mkdir(parents=True)
    overrides.write_bytes(held)
    with pytest.raises(RegistryError) as caught:
        write_audited(target, b"x: 1\n", [(overrides, {"n": 2})], revocable=overrides)
    assert (caught.value.code, caught.value.path) == (code, str(overrides))
    assert overrides.read_bytes() == held and not target.exists()  # nothing written


def test_the_notes_log_no_build_reads_is_only_refused_torn(tmp_path: Path) -> None:
    notes, target = tmp_path / NOTES_RELPATH, tmp_path / "registries" / "x.yaml"
    notes.parent.mkdir(parents=True)
    notes.write_bytes(b"not json\n")  # read whole on every write, it would cost its history
    write_audited(target, b"x: 1\n", [(notes, {"n": 1})], revocable=tmp_path / OVERRIDES_RELPATH)
    assert notes.read_bytes() == b'not json\n{"n": 1}\n' and target.read_bytes() == b"x: 1\n"


# --- the build's side: workspace_findings ----------------------------------------------------


def test_workspace_findings_reports_problems_of_hand_edited_files(tmp_path: Path) -> None:
    root = copy_example(tmp_path)
    workspace = Workspace(root)
    catalog = load_catalog(workspace)
    good = (root / "modules/overview/instance_registry.yaml").read_bytes()
    assert [
        f for f in workspace_findings(workspace, catalog, "module_instance",
                                      {"instance_registry.yaml": good})
        if f.severity == "error"
    ] == []  # fmt: skip
    bad = good.replace(b"type_id: data_store", b"type_id: no_such_type").replace(
        b"owner: audience", b"owner: audience\n    extra: 1"
    )
    findings = workspace_findings(
        workspace, catalog, "module_instance", {"instance_registry.yaml": bad}
    )
    codes = {(f.code, entry_of(f)[1]) for f in findings if f.severity == "error"}
    assert codes == {
        ("instance-type-exists", "user_store"),
        ("SCHEMA_VIOLATION", "newsletter_mailer"),
    }
    duplicate = good + good.split(b"module_instances:\n", 1)[1]
    findings = workspace_findings(
        workspace, catalog, "module_instance", {"instance_registry.yaml": duplicate}
    )
    assert {f.code for f in findings} >= {"DUPLICATE_KEY"}
    assert workspace_findings(workspace, catalog, "registry_delta_log", {}) == []


@pytest.mark.parametrize(
    ("broken", "code"),
    [("duplicate-field", "YAML_DUPLICATE_KEY"), ("duplicate-entry", "DUPLICATE_KEY"),
     ("unparsable", "YAML_SYNTAX")],
)  # fmt: skip
def test_a_registry_file_broken_by_hand_blocks_every_write_that_reads_it(
    tmp_path: Path, broken: str, code: str
) -> None:
    """module_type's file, read by the rules of a module_instance write."""
    root = copy_example(tmp_path)
    path = root / "modules/overview/type_registry.yaml"
    text = path.read_text()
    if broken == "duplicate-field":
        text = text.replace("    name: Data store\n", "    name: Data store\n    name: X\n")
    elif broken == "duplicate-entry":
        text += "  - type_id: data_store\n    name: D\n    description: d\n    status: active\n"
    else:
        text += "  - type_id: [unclosed\n"
    path.write_text(text)
    before = snapshot(root)
    with pytest.raises(RegistryError) as caught:
        add_entry(Workspace(root), "module_instance", {
            "module_id": "m", "type_id": "data_store", "name": "M", "description": "d",
            "owner": "o", "status": "active"})  # fmt: skip
    assert caught.value.code == "REGISTRY_FILE_INVALID"
    assert caught.value.exit_code == 1
    assert [(f.path, f.code) for f in caught.value.problems] == [
        ("modules/overview/type_registry.yaml", code)
    ]
    assert snapshot(root) == before


def test_a_marker_through_a_list_is_never_read_as_set_since_it_cannot_be_written() -> None:
    """`deprecated_by` reads a marker where `marked` can write one: through objects only."""
    from registry_pipeline.core.write_path.rules import Condition, deprecated_by, marked

    through_a_list = Condition("/s/0", "deprecated")
    entry = {"s": ["deprecated"], "t": {"u": "deprecated"}}
    assert marked(entry, through_a_list) is None
    assert deprecated_by(entry, through_a_list) is None
    for token in ("0", "\u00b2"):
        assert deprecated_by({"s": {token: "deprecated"}}, Condition(f"/s/{token}", "deprecated"))
    assert deprecated_by(entry, Condition("/t/u", "deprecated")) == Condition("/t/u", "deprecated")
