"""The registry catalog: the demo catalog loads in dependency order; bad catalogs say why."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from registry_pipeline.core.errors import RegistryError, UsageError
from registry_pipeline.core.workspace.catalog import CATALOG_RELPATH, catalog_or_none, load_catalog
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline_tests._helpers import DEMO_GRAPH

REPO = Path(__file__).resolve().parents[3]
DEMO = json.loads((REPO / CATALOG_RELPATH).read_text())


def said(error: RegistryError) -> list[str]:
    """Each problem of a catalog refusal as `/pointer: message` (its field, then its message)."""
    return [f"{p.field}: {p.message}" if p.field else p.message for p in error.problems]


def _workspace(tmp_path: Path, document: Any) -> Workspace:
    root = tmp_path / "ws"
    shutil.copytree(REPO / "registries", root / "registries")
    (root / CATALOG_RELPATH).write_text(json.dumps(document))
    return Workspace(root)


def _entry(registry_id: str, **changes: Any) -> dict[str, Any]:
    base = {
        "registry_id": registry_id,
        "schema_id": f"REGISTRY_{registry_id}_v0_1",
        "artifact_type": "json_snapshot",
        "write_policy": "append_new_snapshot",
        "kind": "built",
        "artifacts": [f"{registry_id.upper()}_v0_1.json"],
        "depends_on": [],
        "active_pointer": True,
        "delta_log": {"covered": True},
    }
    base.update(changes)
    return base


def _catalog(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"catalog_version": "0.2", "registries": list(entries)}


def test_demo_catalog_loads_in_dependency_order() -> None:
    catalog = load_catalog(Workspace(REPO))
    ids = catalog.ids
    assert set(ids) == set(DEMO_GRAPH)
    assert catalog.get("registry_delta_log").kind == "log"
    assert not catalog.get("registry_delta_log").is_source
    assert catalog.get("run_index").is_source  # a log sealed from the workspace
    assert not catalog.get("registry_delta_log").delta_log.covered
    for spec in catalog.registries:
        assert sorted(spec.depends_on) == DEMO_GRAPH[spec.registry_id]
        for dependency in spec.depends_on:
            assert ids.index(dependency) < ids.index(spec.registry_id)
    assert catalog.get("op_status_table").depends_on[0] == "run_registry"  # the seed runbook's
    assert catalog.get("system_health_report").kind == "presentation"
    assert not catalog.get("system_health_report").active_pointer
    assert catalog.get("run_registry").primary_artifact == "RUN_REGISTRY_v0_1.jsonl"


def test_an_unknown_registry_names_the_known_ones() -> None:
    catalog = load_catalog(Workspace(REPO))
    with pytest.raises(UsageError) as raised:
        catalog.get("nope")
    assert raised.value.code == "UNKNOWN_REGISTRY" and "run_registry" in raised.value.message


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    document = _catalog(
        _entry("a", depends_on=["ghost"]),
        _entry("a"),
        _entry("b", kind="source", sources=["registries/missing.json"]),
        _entry("c", artifacts=["../escape.json"]),
    )
    with pytest.raises(UsageError) as raised:
        load_catalog(_workspace(tmp_path, document))
    assert raised.value.code == "CATALOG_INVALID"
    details = "\n".join(said(raised.value))
    assert "/registries/0/depends_on: unknown registry 'ghost'" in details
    assert "/registries/1/registry_id: duplicate registry id 'a'" in details
    assert "/registries/2/sources: 'registries/missing.json' does not exist" in details
    assert "/registries/3/artifacts: '../escape.json'" in details


@pytest.mark.parametrize(
    ("entry", "pointer"),
    [
        (_entry("a", kind="source"), "/registries/0"),
        (_entry("a", sources=["registries/threshold_packs"]), "/registries/0"),
        (_entry("a", delta_log={"covered": False}), "/registries/0/delta_log"),
        (_entry("a", kind="magic"), "/registries/0/kind"),
        (_entry("Bad-Id"), "/registries/0/registry_id"),
        (_entry("a", extra_field=1), "/registries/0"),
    ],
)
def test_schema_violations_name_the_field(
    tmp_path: Path, entry: dict[str, Any], pointer: str
) -> None:
    with pytest.raises(UsageError) as raised:
        load_catalog(_workspace(tmp_path, _catalog(entry)))
    assert raised.value.code == "CATALOG_INVALID"
    assert any(detail.startswith(pointer) for detail in said(raised.value)), said(raised.value)


def test_cycles_are_refused(tmp_path: Path) -> None:
    document = _catalog(_entry("a", depends_on=["b"]), _entry("b", depends_on=["a"]))
    with pytest.raises(UsageError, match="problem") as raised:
        load_catalog(_workspace(tmp_path, document))
    assert raised.value.code == "CATALOG_INVALID"
    assert said(raised.value) == ["/registries: dependency cycle among a, b"]


def test_missing_or_malformed_catalog(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UsageError) as raised:
        load_catalog(Workspace(empty))
    assert raised.value.code == "NO_CATALOG"
    assert catalog_or_none(Workspace(empty)) is None  # a bare workspace of sealed snapshots
    workspace = _workspace(tmp_path, {})
    (workspace.root / CATALOG_RELPATH).write_text(
        '{"catalog_version": "0.2", "catalog_version": 1}'
    )
    with pytest.raises(UsageError) as bad:
        load_catalog(workspace)
    assert bad.value.code == "CATALOG_INVALID"
    assert "duplicate key" in said(bad.value)[0]
    with pytest.raises(UsageError) as also:  # only a missing catalog is None, never a bad one
        catalog_or_none(workspace)
    assert also.value.code == "CATALOG_INVALID"


def test_run_roots_default_and_validation(tmp_path: Path) -> None:
    assert load_catalog(Workspace(REPO)).run_roots == (".codex/RUNS",)
    document = _catalog(_entry("a"))
    assert load_catalog(_workspace(tmp_path / "one", document)).run_roots == (".codex/RUNS",)
    document["run_roots"] = [".codex/RUNS", "reports/path1/evidence/runs"]
    catalog = load_catalog(_workspace(tmp_path / "two", document))
    assert catalog.run_roots == (".codex/RUNS", "reports/path1/evidence/runs")
    document["run_roots"] = ["../outside"]
    with pytest.raises(UsageError) as raised:
        load_catalog(_workspace(tmp_path / "three", document))
    assert raised.value.code == "CATALOG_INVALID"
    assert said(raised.value)[0].startswith("/run_roots: '../outside'")


@pytest.mark.parametrize(
    ("link", "run_root"),
    [
        ("registries/rootlink", "registries/rootlink"),  # a run root that is a link to /
        ("evidence", "evidence/runs"),  # a run root below a linked folder
    ],
)
def test_a_run_root_through_a_symlink_is_refused(tmp_path: Path, link: str, run_root: str) -> None:
    document = dict(DEMO, run_roots=[".codex/RUNS", run_root])
    workspace = _workspace(tmp_path, document)
    (workspace.root / link).symlink_to("/")
    with pytest.raises(UsageError) as raised:
        load_catalog(workspace)
    assert raised.value.code == "UNSAFE_RUN_ROOT"
    assert raised.value.path == str(workspace.root / link)


def test_a_run_root_linked_outside_is_refused_before_it_is_listed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace = _workspace(tmp_path, DEMO)
    outside = tmp_path / "outside"
    outside.mkdir()
    (workspace.root / ".codex").mkdir()
    (workspace.root / ".codex/RUNS").symlink_to(outside)
    listed: list[str] = []
    scandir = os.scandir

    def spy(path: Any = ".") -> Any:
        listed.append(os.path.realpath(path))
        return scandir(path)

    monkeypatch.setattr(os, "scandir", spy)
    with pytest.raises(UsageError) as raised:
        load_catalog(workspace)
    assert raised.value.code == "UNSAFE_RUN_ROOT"
    assert str(outside.resolve()) not in listed
    document = dict(DEMO, registries=[*DEMO["registries"], _entry("x", depends_on=["nope"])])
    (workspace.root / CATALOG_RELPATH).write_text(json.dumps(document))
    with pytest.raises(UsageError) as raised:  # its other problems first, still never listed
        load_catalog(workspace)
    assert raised.value.code == "CATALOG_INVALID"
    assert str(outside.resolve()) not in listed
