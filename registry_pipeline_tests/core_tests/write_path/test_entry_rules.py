"""Every kind of coordination rule at every severity: error blocks, warning writes, record notes."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.core.write_path import add_entry
from registry_pipeline.core.write_path.content import finding_json
from registry_pipeline_tests.core_tests.write_path._support import (
    NOTES,
    changed_files,
    copy_example,
    jsonl,
    sample,
    snapshot,
)

RULES = "registries/COORDINATION_v0_1.yaml"
INSTANCES = "modules/overview/instance_registry.yaml"


def _rule(kind: str, **fields: Any) -> dict[str, Any]:
    return {"id": "rule-under-test", "severity": "error", "kind": kind, "why": "test"} | fields


def _module(type_id: str) -> dict[str, Any]:
    return {"module_id": "comment_service", "type_id": type_id, "name": "Comments",
            "description": "d", "owner": "community", "status": "active"}  # fmt: skip


def _ability_with_pre_call() -> dict[str, Any]:
    entry = sample("ability_low")
    entry["hooks"]["pre_call"] = ["ability_usage_tracker"]  # a PostAbilityCall hook
    return entry


def _hook(**fields: Any) -> dict[str, Any]:
    return sample("hook") | fields


def _route(**fields: Any) -> dict[str, Any]:
    return sample("route") | fields


RULE_CASES: dict[str, tuple[list[dict[str, Any]], str, Any, str]] = {
    "exists": (
        [_rule("exists", **{"from": {"type": "module_instance", "field": "/type_id"},
                            "to": {"type": "module_type"}})],
        "module_instance", _module("no_such_type"), INSTANCES,
    ),
    "exists-to-where": (
        [_rule("exists", **{"from": {"type": "ability_low", "field": "/hooks/pre_call/*"},
                            "to": {"type": "hook", "where": {"field": "/event_type",
                                                            "equals": "PreAbilityCall"}}})],
        "ability_low", _ability_with_pre_call(),
        ".system/registry/low-level/content.archive.article.yaml",
    ),
    "exists-patterns": (
        [_rule("exists", **{"from": {"type": "hook", "field": "/match/ability_scope/*"},
                            "to": {"type": "ability_low", "patterns": True}})],
        "hook", _hook(match={"ability_scope": ["billing.*"]}),
        ".system/hooks/session_registry_check.yaml",
    ),
    "no_overlap-inside-another": (
        [_rule("no_overlap", of={"type": "route", "field": "/scope/*"})],
        "route", _route(scope=["content/blog/drafts/"]), "modules/routes/help_pages.yaml",
    ),
    "no_overlap-around-others": (
        [_rule("no_overlap", of={"type": "route", "field": "/scope/*"})],
        "route", _route(scope=["content/"]), "modules/routes/help_pages.yaml",
    ),
    "shared": (
        [_rule("shared", of={"type": "route", "field": "/topics/*", "owner": "/owner_module"})],
        "route", _route(topics=["search"]), "modules/routes/help_pages.yaml",
    ),
    "one_of": (
        [_rule("one_of", of={"type": "hook", "field": "/event_type"},
               values=["PromptSubmit", "PreAbilityCall"])],
        "hook", _hook(), ".system/hooks/session_registry_check.yaml",
    ),
    "one_of-when": (
        [_rule("one_of", of={"type": "hook", "field": "/event_type"}, values=["PromptSubmit"],
               when={"field": "/enabled", "equals": True})],
        "hook", _hook(), ".system/hooks/session_registry_check.yaml",
    ),
    "not_deprecated": (
        [{"id": "maturity-module-exists", "severity": "error", "kind": "exists", "why": "test",
          "from": {"type": "module_maturity", "field": "/module_id"},
          "to": {"type": "module_instance"}},
         _rule("not_deprecated", field="/status", value="deprecated")],
        "module_maturity", sample("module_maturity"), "modules/overview/instance_maturity.yaml",
    ),
}  # fmt: skip


def _set_rules(root: Path, rules: list[dict[str, Any]], severity: str) -> None:
    rules = copy.deepcopy(rules)
    for rule in rules:
        if rule["id"] == "rule-under-test":
            rule["severity"] = severity
    document = {"version": "0.1", "rules": rules}
    (root / RULES).write_text("# rules of one test\n" + json.dumps(document, indent=2) + "\n")


@pytest.mark.parametrize("severity", ["error", "warning", "record"])
@pytest.mark.parametrize("case", sorted(RULE_CASES))
def test_a_rule_of_each_kind_at_each_severity(
    tmp_path: Path, case: str, severity: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REGISTRY_ACTOR", "test-actor")
    rules, type_name, entry, relpath = RULE_CASES[case]
    root = copy_example(tmp_path)
    _set_rules(root, rules, severity)
    before = snapshot(root)
    dry = add_entry(Workspace(root), type_name, entry, dry_run=True)
    assert snapshot(root) == before  # a dry run writes and records nothing

    result = add_entry(Workspace(root), type_name, entry)

    found = [f for f in result.findings if f.code == "rule-under-test"]
    assert found and {f.severity for f in found} == {severity}
    assert [finding_json(f) for f in dry.findings] == [finding_json(f) for f in result.findings]
    assert (result.file, result.blocked, result.written) == (
        relpath,
        *{"error": (True, False), "warning": (False, True), "record": (False, True)}[severity],
    )
    written = {"error": set(), "warning": {relpath}, "record": {relpath, NOTES}}[severity]
    assert changed_files(before, snapshot(root)) == written
    notes = jsonl(root / NOTES)
    assert [n["code"] for n in notes] == ["rule-under-test"] * len(found) * (severity == "record")
    keys = ("type", "key", "field", "message", "path", "related")
    for note, finding in zip(notes, map(finding_json, found), strict=False):
        assert (note["who"], note["severity"], note["recorded_utc"][-1]) == (
            "test-actor", "record", "Z"
        )  # fmt: skip
        assert {k: note.get(k) for k in keys} == {k: finding.get(k) for k in keys}
