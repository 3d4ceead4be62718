"""Every problem a command lists or ends with is a problem object (`core.errors.problem_object`)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from registry_pipeline.core.seal.envelope import RunSpec
from registry_pipeline.core.seal.run_store import RunStore, seal_files
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline_tests._helpers import Run, break_built_schema, unseal
from registry_pipeline_tests.cli_tests._seed_layout import make_seed_repo
from registry_pipeline_tests.core_tests.write_path._support import sample

KEYS = {"code", "path", "line", "field", "message"}
JOURNAL = ".codex/ACTIVE_REGISTRY_POINTERS_JOURNAL_v0_1.jsonl"
POINTERS = ".codex/ACTIVE_REGISTRY_POINTERS_v0_1.json"
CATALOG = "registries/REGISTRY_CATALOG_v0_2.json"
RULES = "registries/COORDINATION_v0_1.yaml"
TOMORROW = datetime.now(UTC) + timedelta(days=2)


def _seal(root: Path, registry_id: str = "alpha", at: datetime | None = None) -> Path:
    store = RunStore(Workspace(root), clock=lambda: at) if at else RunStore(Workspace(root))
    body = json.dumps({"n": len(list((root / ".codex/RUNS").iterdir()))}).encode()
    return seal_files(store, RunSpec(registry_id), {f"{registry_id.upper()}.json": body}).path


def _promoted(cli: Run, root: Path) -> Path:
    folder = _seal(root)
    assert cli("pointers", "promote", "alpha", folder.name, "--workspace", str(root))[0] == 0
    return folder


def _damaged(cli: Run, root: Path) -> None:
    folder = _seal(root)
    unseal(folder)
    (folder / "ALPHA.json").write_text("{}")


def _chain_broken(cli: Run, root: Path) -> None:
    _promoted(cli, root)
    _promoted(cli, root)
    journal = root / JOURNAL
    journal.write_bytes(journal.read_bytes().replace(b'"reason":""', b'"reason":"x"', 1))


def _pointer_edited(cli: Run, root: Path) -> None:
    _promoted(cli, root)
    document = json.loads((root / POINTERS).read_text())
    document["pointers"][0]["active_ref"]["run_id"] = _seal(root).name
    (root / POINTERS).write_text(json.dumps(document))


def _journal_unreadable(cli: Run, root: Path) -> None:
    _promoted(cli, root)
    (root / JOURNAL).write_bytes(b"{not json\n" + (root / JOURNAL).read_bytes())


def _target_missing(cli: Run, root: Path) -> None:
    folder = _promoted(cli, root)
    unseal(folder)
    shutil.rmtree(folder)


def _root_in_uppercase(cli: Run, root: Path) -> None:
    folder = _seal(root)
    unseal(folder)
    manifest = folder / "MANIFEST.sha256"
    head, line = manifest.read_text().rsplit("ROOT_SHA256  ", 1)
    manifest.write_text(f"{head}ROOT_SHA256  {line.upper()}")


def _bad_catalog(cli: Run, root: Path) -> None:
    document = json.loads((root / CATALOG).read_text())
    document["registries"][0]["kind"] = "weird"
    (root / CATALOG).write_text(json.dumps(document))


def _bad_rules(cli: Run, root: Path) -> None:
    (root / RULES).write_text(
        "version: '0.1'\nrules:\n  - {id: r, severity: fatal, kind: exists, why: w,\n"
        "     from: {type: hook, field: /x}, to: {type: no_such_type}}\n"
    )


def _map_of_yaml(cli: Run, root: Path) -> None:
    catalog = json.loads((root / CATALOG).read_text())
    catalog["registries"][0]["entries"]["layout"] = "map"  # a YAML source cannot be a map
    catalog["registries"][0]["entries"].pop("key")
    (root / CATALOG).write_text(json.dumps(catalog, indent=2))


ROUTE = json.dumps({"route_id": "orphan_pages", "owner_module": "billing_service",
                    "scope": ["content/orphans/"], "topics": ["orphans"], "description": "d",
                    "status": "active"})  # fmt: skip
BAD_TYPE = json.dumps({"type_id": "Bad-Id", "name": "n", "description": "d", "status": "gone"})
YESTERDAY = str(datetime.now(UTC).date() - timedelta(days=1))


@dataclass(frozen=True)
class Row:
    """A bad input (`setup` makes it in `workspace`) to a command, and what the command says."""

    workspace: str
    setup: Callable[[Run, Path], object] | None
    argv: tuple[str, ...]
    """The command line; `{root}`: the workspace, `{run}`: its newest run folder."""
    exit: int
    error: str | None
    """The code of the `error` object the command ends with, if it ends with one."""
    at: str | None = None
    """Where its `--json` document lists problems (dotted keys), if it lists them."""
    codes: tuple[str, ...] = ()
    fields: dict[str, object] = field(default_factory=dict)
    """Of the first problem, else of the error (`{root}` and `{run}` as in `argv`)."""


NEWEST, JOURNAL_AT = "{root}/.codex/RUNS/{run}", "{root}/" + JOURNAL
POINTERS_AT = "{root}/" + POINTERS
EV = "EXPECTED_VERSIONS_v0_1.json"
ROWS = {
    "validate-no-folder": Row("ws", None, ("validate", "{root}/nowhere"), 2, None, "errors",
                              ("NOT_A_RUN_FOLDER",), {"path": "{root}/nowhere"}),
    "validate-future-dated": Row("ws", lambda cli, root: _seal(root, at=TOMORROW),
                                 ("validate", NEWEST), 1, None, "errors", ("FUTURE_DATED",)),
    "validate-damaged": Row("ws", _damaged, ("validate", NEWEST), 1, None, "errors",
                            ("SIZE_MISMATCH", "HASH_MISMATCH"), {"path": "ALPHA.json"}),
    "validate-bad-jobs": Row("ws", None, ("validate", "--all", "--jobs", "0"), 2, "BAD_USAGE",
                             fields={"field": "--jobs"}),
    "pointers-verify-chain": Row("ws", _chain_broken, ("pointers", "verify"), 1, None, "problems",
                                 ("CHAIN_BROKEN",), {"path": JOURNAL_AT, "line": 2, "seq": 2}),
    "pointers-verify-hand-edit": Row("ws", _pointer_edited, ("pointers", "verify"), 1, None,
                                     "problems", ("POINTER_MISMATCH",),
                                     {"path": POINTERS_AT, "registry_id": "alpha"}),
    "pointers-verify-unreadable": Row("ws", _journal_unreadable, ("pointers", "verify"), 1, None,
                                      "problems", ("RECORD_UNREADABLE",),
                                      {"path": JOURNAL_AT, "line": 1}),
    "pointers-show-missing": Row("ws", _target_missing, ("pointers", "show"), 0, None,
                                 "pointers.0.problems", ("TARGET_MISSING",),
                                 {"registry_id": "alpha"}),
    "pointers-check-damaged": Row("ws", _damaged, ("pointers", "check", "alpha", "{run}"), 1,
                                  None, "problems", ("SIZE_MISMATCH", "HASH_MISMATCH"),
                                  {"path": "ALPHA.json", "check": "seal_valid"}),
    "pointers-check-uppercase-root": Row("ws", _root_in_uppercase,
                                         ("pointers", "check", "alpha", "{run}"), 1, None,
                                         "problems", ("MALFORMED_MANIFEST", "ROOT_MISMATCH"),
                                         {"check": "seal_valid"}),
    "pointers-as-of-bad-time": Row("ws", None, ("pointers", "as-of", "yesterday"), 2,
                                   "BAD_TIMESTAMP", fields={"field": "TIMESTAMP", "path": None}),
    "delta-verify-future-dated": Row("ws", lambda cli, root: _seal(root, "registry_delta_log",
                                                                   TOMORROW),
                                     ("delta", "verify"), 1, None, "problems", ("FUTURE_DATED",),
                                     {"path": ".codex/RUNS/{run}", "run_id": "{run}"}),
    "delta-show-unknown-registry": Row("demo", None, ("delta", "show", "--registry", "nope"), 2,
                                       "UNKNOWN_REGISTRY", fields={"path": None}),
    "delta-show-bad-since": Row("ws", None, ("delta", "show", "--since", "yesterday"), 2,
                                "BAD_TIMESTAMP", fields={"field": "--since", "path": None}),
    "drift-backfill-bad-day": Row("ws", None, ("drift", "backfill", "--from", "2026-02-30",
                                               "--to", "2026-03-01"),
                                  2, "BAD_DAY", fields={"field": "--from", "path": None}),
    "drift-backfill-failed-check": Row("demo", lambda cli, root: break_built_schema(root),
                                       ("drift", "backfill", "--from", YESTERDAY, "--to",
                                        YESTERDAY),
                                       1, None, "days.0.problems", ("SCHEMA_VIOLATION",),
                                       {"check": "schema_valid"}),
    "restore-no-folder": Row("ws", None, ("restore-line-endings", "{root}/nowhere", "{root}/d"),
                             2, "NOT_A_RUN_FOLDER", fields={"path": "{root}/nowhere"}),
    "adopt-dry-run": Row("tmp_path", lambda cli, root: make_seed_repo(root / "ovc"),
                         ("adopt", "{root}/ovc", "--dry-run"), 0, None, "warnings",
                         ("SNAPSHOTS_ABSENT", "POINTER_TARGETS_GIT_IGNORED")),
    "build-no-workspace": Row("tmp_path", None, ("build",), 2, "NOT_A_WORKSPACE"),
    "backfill-no-workspace": Row("tmp_path", None, ("drift", "backfill", "--from", "2026-01-01",
                                                    "--to", "2026-01-01"), 2, "NOT_A_WORKSPACE"),
    "build-bad-wait": Row("ws", None, ("build", "--wait", "soon"), 2, "BAD_USAGE",
                          fields={"field": "--wait"}),
    "build-bad-catalog": Row("demo", _bad_catalog, ("build",), 2, "CATALOG_INVALID",
                             "error.details", ("CATALOG_INVALID",),
                             {"path": "{root}/" + CATALOG, "field": "/registries/0/kind"}),
    "seal-bad-file": Row("demo", lambda cli, root: (root / EV).write_text('{"version": 3}'),
                         ("seal", "{root}/" + EV, "--registry-id", "x"), 2, "BAD_SOURCE",
                         "error.details", ("SCHEMA_VIOLATION",), {"path": EV, "line": 1}),
    "add-entry-finding": Row("example", None, ("add-entry", "--type", "route", "--entry-json",
                                               ROUTE),
                             1, None, "findings", ("route-owner-exists",),
                             {"path": "modules/routes/orphan_pages.yaml", "field": "/owner_module",
                              "severity": "error", "type": "route", "key": "orphan_pages",
                              "related": ["module_instance", "billing_service"]}),
    "add-entry-bad-entry": Row("example", None, ("add-entry", "--type", "module_type",
                                                 "--entry-json", BAD_TYPE),
                               2, "SCHEMA_VIOLATION", "error.details", ("SCHEMA_VIOLATION",),
                               {"path": "modules/overview/type_registry.yaml", "field": "/status"}),
    "add-entry-bad-rules": Row("example", _bad_rules, ("add-entry", "--type", "hook",
                                                       "--entry-json", json.dumps(sample("hook"))),
                               2, "COORDINATION_INVALID", "error.details",
                               ("COORDINATION_INVALID",),
                               {"path": "{root}/" + RULES, "field": "/rules/0/severity"}),
    "types-bad-catalog": Row("example", _map_of_yaml, ("types",), 2, "CATALOG_INVALID",
                             "error.details", ("CATALOG_INVALID",),
                             {"path": "{root}/" + CATALOG, "field": "/registries/0/entries"}),
}  # fmt: skip


def _problem(item: Any) -> dict[str, Any]:
    assert isinstance(item, dict) and set(item) >= KEYS, item
    assert isinstance(item["code"], str) and isinstance(item["message"], str), item
    return item


def _filled(value: Any, names: dict[str, str]) -> Any:
    for name, text in names.items() if isinstance(value, str) else ():
        value = value.replace(name, text)
    return value


def _listed(document: Any, at: str) -> list[dict[str, Any]]:
    for key in at.split("."):
        document = document[int(key)] if key.isdigit() else document[key]
    return [_problem(item) for item in document]


@pytest.mark.parametrize("row", ROWS.values(), ids=ROWS)
def test_a_bad_input_is_told_as_problem_objects_with_its_code(
    cli: Run, request: pytest.FixtureRequest, row: Row
) -> None:
    root: Path = request.getfixturevalue(row.workspace)
    if row.setup:
        row.setup(cli, root)
    runs = sorted((root / ".codex/RUNS").glob("2*"))
    names = {"{root}": str(root), "{run}": runs[-1].name if runs else ""}
    argv = [_filled(arg, names) for arg in row.argv]
    if argv[0] not in ("adopt", "restore-line-endings"):  # the two that take no workspace
        argv += ["--workspace", str(root)]
    code, out, err = cli(*argv, "--json")
    assert (code, err) == (row.exit, ""), out
    document = json.loads(out)
    if row.error:
        assert set(document) == {"error"} and _problem(document["error"])["code"] == row.error
    problems = _listed(document, row.at) if row.at else [document["error"]]
    if row.at:
        assert {p["code"] for p in problems} == set(row.codes)
    expected = {key: _filled(value, names) for key, value in row.fields.items()}
    assert {key: problems[0].get(key) for key in expected} == expected
    code, out, err = cli(*argv)  # and as text: the same exit, the same codes said
    assert code == row.exit
    if row.error:
        assert out == "" and f"error: {row.error}" in err, err
    assert row.exit == 0 or all(c in out + err for c in row.codes), out + err  # 0: warnings


def test_catalog_problems_are_listed_in_document_order_up_to_50(cli: Run, demo: Path) -> None:
    catalog = json.loads((demo / CATALOG).read_text())
    catalog["registries"] = [dict(catalog["registries"][0], kind="nope") for _ in range(60)]
    (demo / CATALOG).write_text(json.dumps(catalog))
    code, out, _ = cli("build", "--json", "--workspace", str(demo))
    details = _listed(json.loads(out), "error.details")
    assert code == 2 and len(details) == 51 and details[-1]["field"] is None
    indexes = [int(d["field"].split("/")[2]) for d in details[:-1]]
    assert indexes == sorted(indexes) and indexes[:3] == [0, 1, 2]


def test_types_rules_says_a_bad_rules_file_on_stderr(cli: Run, example: Path) -> None:
    (example / RULES).write_text("version: '0.1'\nrules: [{id: r}]\n")
    code, out, err = cli("types", "--workspace", str(example), "--rules")  # it has no --json
    assert code == 2 and out == "" and "error: COORDINATION_INVALID" in err
