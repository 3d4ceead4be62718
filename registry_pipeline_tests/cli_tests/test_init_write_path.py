"""`registry init --with-write-path`: a fresh workspace `add-entry` writes, in the seed's layout."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from registry_pipeline.core.workspace.catalog import load_catalog
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.core.write_path import entry_types
from registry_pipeline.core.write_path.rules import entry_violations
from registry_pipeline.core.write_path.table import types_markdown
from registry_pipeline_tests._helpers import Run
from registry_pipeline_tests.core_tests.write_path._support import (
    EXAMPLE,
    EXAMPLE_TYPES,
    parse,
    sample,
    snapshot,
)

REPO = Path(__file__).resolve().parents[2]
CATALOG = "registries/REGISTRY_CATALOG_v0_2.json"
RULES = "registries/COORDINATION_v0_1.yaml"
TYPES = "modules/overview/type_registry.yaml"
FIRST_ENTRY = {"type_id": "content_service", "name": "Content service",
               "description": "Owns editorial content.", "status": "active"}  # fmt: skip
"""The first add-entry example of a fresh workspace (the README's)."""


@pytest.fixture
def fresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty folder, the current directory (as a user runs `registry init` in it)."""
    root = tmp_path / "fresh"
    root.mkdir()
    monkeypatch.chdir(root)
    return root


def _init(cli: Run, *args: str) -> tuple[int, str, str]:
    return cli("init", "--with-write-path", *args)


def _add(cli: Run, type_name: str, entry: Any, *extra: str) -> tuple[int, str, str]:
    return cli("add-entry", "--type", type_name, "--entry-json", json.dumps(entry), *extra)


SEED_ENTRIES: list[tuple[str, dict[str, Any]]] = [
    ("module_type", FIRST_ENTRY),
    ("module_instance", {"module_id": "article_service", "type_id": "content_service",
                         "name": "Articles", "description": "d", "owner": "editorial",
                         "status": "active"}),
    ("module_maturity", {"module_id": "article_service", "level": "beta",
                         "assessed_on": "2025-04-02"}),
    ("module_interface", {"interface_id": "articles.api", "module_id": "article_service",
                          "kind": "http_api", "description": "d", "status": "active"}),
    ("route", {"route_id": "blog", "owner_module": "article_service",
               "scope": ["content/blog/"], "topics": ["editorial"], "description": "d",
               "status": "active"}),
    ("hook", {"id": "usage", "event_type": "PostAbilityCall", "routing_stages": ["post_route"],
              "enabled": True, "blocking": False, "summary": "s",
              "handler": {"kind": "script", "command": "python track.py"},
              "status": "active"}),
    ("ability_low", {"operation_key": "content.publish.article", "version": "1.0.0",
                     "summary": "s", "scope": {"modules": ["article_service"],
                                               "environments": ["prod"]},
                     "implementation": {"kind": "script", "command": "python p.py"},
                     "hooks": {"post_call": ["usage"]}, "status": "active"}),
    ("ability_high", {"id": "publish", "type": "workflow", "summary": "s",
                      "calls": ["content.publish.article"], "status": "active"}),
]  # fmt: skip
"""One entry per type, in an order in which each refers only to entries written before."""


def _errors(out: str) -> list[str]:
    return [f["code"] for f in json.loads(out)["findings"] if f["severity"] == "error"]


def test_init_then_every_scaffolded_type_takes_an_entry_and_the_rules_tie_them(
    cli: Run, fresh: Path
) -> None:
    code, out, err = _init(cli, "--json")
    changes = json.loads(out)["changes"]
    assert code == 0 and f"created {CATALOG}" in changes and f"created {RULES}" in changes, err
    catalog = load_catalog(Workspace(fresh))  # the types table it describes, a schema per type
    agents = (fresh / ".system/registry/AGENTS.md").read_text(encoding="utf-8")
    assert agents == types_markdown(catalog, entry_types(catalog))
    for name in EXAMPLE_TYPES:
        assert (fresh / f".system/registry/schemas/{name}.schema.yaml").is_file()
    for type_name, entry in SEED_ENTRIES:
        code, _out, err = _add(cli, type_name, entry)
        assert code == 0, f"{type_name}: {err}"
    assert {name for name, _entry in SEED_ENTRIES} == set(EXAMPLE_TYPES)
    assert parse(fresh / TYPES)["module_types"] == [FIRST_ENTRY]
    before = snapshot(fresh)
    orphan = {**SEED_ENTRIES[4][1], "route_id": "orphan", "owner_module": "nobody",
              "scope": ["content/orphans/"]}  # fmt: skip
    code, out, _err = _add(cli, "route", orphan, "--json")
    assert code == 1
    assert _errors(out) == ["route-owner-exists"]
    bad_stage = {**SEED_ENTRIES[5][1], "id": "early", "routing_stages": ["sideways"]}
    code, out, _err = _add(cli, "hook", bad_stage, "--json")
    assert code == 1
    assert _errors(out) == ["hook-routing-stage"]
    assert snapshot(fresh) == before
    code, _out, err = cli("deprecate", "module_instance", "article_service", "--reason", "r")
    assert code == 0, err


def test_the_scaffolds_schemas_accept_the_example_workspaces_entries(cli: Run, fresh: Path) -> None:
    """Every entry of the example (and its samples) passes the scaffolded schema of its type."""
    assert _init(cli)[0] == 0
    scaffold = entry_types(load_catalog(Workspace(fresh)))
    example = entry_types(load_catalog(Workspace(EXAMPLE)))
    for name in EXAMPLE_TYPES:
        entries = [sample(name)]
        source = example[name]
        for path in sorted(EXAMPLE.glob(source.source)):
            document = parse(path)
            if source.layout == "files":
                entries.append(document)
            else:
                entries.extend(document[source.container.strip("/")])
        for entry in entries:
            key = entry[scaffold[name].key or ""]
            assert entry_violations(fresh, scaffold[name], key, entry) == [], (name, key)


def test_a_second_init_changes_nothing(cli: Run, fresh: Path) -> None:
    assert _init(cli)[0] == 0
    before = snapshot(fresh)
    code, out, _err = _init(cli)
    assert code == 0
    assert out.startswith(f"{fresh} is already a registry workspace; nothing to do\n")
    assert snapshot(fresh) == before


def test_init_never_overwrites_a_file_it_would_scaffold(cli: Run, fresh: Path) -> None:
    mine = {RULES: b"# my rules\nversion: '0.1'\nrules: []\n",
            TYPES: b"# my types\nmodule_types: []\n"}  # fmt: skip
    for relpath, data in mine.items():
        (fresh / relpath).parent.mkdir(parents=True, exist_ok=True)
        (fresh / relpath).write_bytes(data)
    code, out, _err = _init(cli)
    assert code == 0
    for relpath, data in mine.items():
        assert (fresh / relpath).read_bytes() == data
        assert f"kept {relpath} (exists)" in out
    assert (fresh / CATALOG).is_file()


def test_a_workspace_with_a_catalog_gets_no_scaffold(cli: Run, demo: Path) -> None:
    """`make run` runs `registry init .` in the demo: a catalog is never replaced or added to."""
    before = snapshot(demo)
    code, out, _err = cli("init", str(demo), "--with-write-path")
    assert code == 0
    assert f"kept {CATALOG} (exists): no registry types added" in out
    assert snapshot(demo) == before


def test_plain_init_scaffolds_no_write_path_and_add_entry_says_how_to_get_one(
    cli: Run, fresh: Path
) -> None:
    """The README's tour: `registry init` alone makes run folders possible, nothing more."""
    code, out, _err = cli("init")
    assert code == 0
    assert not (fresh / "registries").exists() and not (fresh / ".system").exists()
    assert "--with-write-path" not in out
    code, out, _err = _add(cli, "module_type", FIRST_ENTRY, "--json")
    error = json.loads(out)["error"]
    assert (code, error["code"]) == (2, "NO_CATALOG")
    assert "registry init --with-write-path" in error["message"]


def test_a_symlink_in_the_way_is_refused_before_anything_is_written(
    cli: Run, fresh: Path, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (fresh / ".system").symlink_to(elsewhere)
    code, out, _err = _init(cli, "--json")
    assert code == 2 and json.loads(out)["error"]["code"] == "UNSAFE_PATH"
    assert list(elsewhere.iterdir()) == []
    assert not (fresh / "registries").exists()


def test_the_scaffolds_rules_are_the_example_workspaces(cli: Run, fresh: Path) -> None:
    """docs/registry_coordination.md: the scaffold has the example's rules, the same ids."""
    assert _init(cli)[0] == 0
    ours, example = parse(fresh / RULES), parse(EXAMPLE / RULES)
    assert ours["declared"] == example["declared"]
    assert [r | {"why": None} for r in ours["rules"]] == [
        r | {"why": None} for r in example["rules"]
    ]


@pytest.mark.parametrize("where", ["modules/overview", ".system/registry/AGENTS.md", ".codex"])
def test_a_file_or_folder_in_the_way_is_refused_before_anything_is_written(
    cli: Run, fresh: Path, where: str
) -> None:
    """A file where a folder must go, or the reverse: INIT_CONFLICT naming it, nothing written."""
    blocker = fresh / where
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.mkdir() if where.endswith(".md") else blocker.touch()
    before = sorted(fresh.rglob("*"))  # folders too: not even .codex/ is created
    for _ in range(2):
        code, out, _err = _init(cli, "--json")
        error = json.loads(out)["error"]
        assert code == 2 and error["code"] == "INIT_CONFLICT"
        assert error["path"] == str(blocker) and str(blocker) in error["message"]
        assert sorted(fresh.rglob("*")) == before
    code, _out, err = _init(cli)
    assert code == 2 and err.startswith("error: INIT_CONFLICT")
    assert sorted(fresh.rglob("*")) == before
