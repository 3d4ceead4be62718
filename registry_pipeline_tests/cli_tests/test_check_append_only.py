"""`registry check-append-only` as a command: baselines, rules files, exit codes, hook, CI."""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from registry_pipeline.core.seal.schemas import SchemaCatalog
from registry_pipeline.core.workspace.catalog import load_catalog
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.core.workspace.sources import source_paths, source_problems
from registry_pipeline_tests._helpers import Entries, Run
from registry_pipeline_tests._rolepack import example_pack

REPO = Path(__file__).resolve().parents[2]
PACK = "registries/rolepack/atelier_rolepack_v1.json"
NAME = "atelier_rolepack_v1.json"
GIT = [
    "git",
    "-c",
    "user.email=t@example.org",
    "-c",
    "user.name=t",
    "-c",
    "init.defaultBranch=main",
]


def _git(cwd: Path, *args: str) -> str:
    done = subprocess.run([*GIT, *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout


def _write(path: Path, document: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return path


def _without_first_role() -> dict[str, Any]:
    document = copy.deepcopy(example_pack())
    document["roles"].pop(0)
    return document


def _repo(tmp_path: Path, name: str = "repo") -> Path:
    root = tmp_path / name
    root.mkdir()
    _git(root, "init", "-q")
    return root


# --- baselines ---------------------------------------------------------------------------------


def test_a_file_baseline_and_the_json_document(cli: Run, tmp_path: Path) -> None:
    published = _write(tmp_path / "old.json", example_pack())
    current = _write(tmp_path / "rolepack.json", _without_first_role())
    code, out, err = cli("check-append-only", str(current), "--rules", "rolepack",
                         "--baseline", str(published), "--json")  # fmt: skip
    assert code == 1, err
    document = json.loads(out)
    assert document["ok"] is False
    assert document["baseline"] == {"kind": "file", "source": str(published),
                                    "first_publish": False}  # fmt: skip
    assert [v["code"] for v in document["violations"]] == [
        "ID_REMOVED", "CONTRACT_REMOVED", "CONTRACT_REMOVED"]  # fmt: skip
    assert document["violations"][0]["id"] == "executive_1"
    code, out, _ = cli("check-append-only", str(published), "--rules", "rolepack",
                       "--baseline", str(published))  # fmt: skip
    assert code == 0 and "ok (38 entries, 76 contracts" in out


def test_git_baseline_from_origin_main_only(cli: Run, tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    _git(tmp_path, "clone", "-q", str(_upstream(tmp_path)), str(clone))
    _git(clone, "checkout", "-q", "feature")
    _git(clone, "branch", "-q", "-D", "main")  # only origin/main is left
    pack = _write(clone / NAME, _without_first_role())
    code, out, _ = cli("check-append-only", str(pack), "--rules", "rolepack",
                       "--baseline-git", "main", "--json")  # fmt: skip
    assert code == 1
    assert json.loads(out)["baseline"]["source"] == f"origin/main:{NAME}"


def test_no_git_baseline_is_a_first_publish_and_internal_rules_still_apply(
    cli: Run, tmp_path: Path
) -> None:
    root = _repo(tmp_path)
    pack = _write(root / "rolepack.json", example_pack())
    code, out, _ = cli("check-append-only", str(pack), "--rules", "rolepack",
                       "--baseline-git", "main", "--json")  # fmt: skip
    assert code == 0
    assert json.loads(out)["baseline"]["first_publish"] is True
    broken = copy.deepcopy(example_pack())
    broken["roles"].append(copy.deepcopy(broken["roles"][0]))
    _write(pack, broken)
    code, out, _ = cli("check-append-only", str(pack), "--rules", "rolepack",
                       "--baseline-git", "main")  # fmt: skip
    assert code == 1 and "DUPLICATE_ID" in out and "a first publish" in out


# --- bad usage: exit 2 with a reason code, never a traceback -----------------------------------


@pytest.mark.parametrize(
    ("args", "code_word"),
    [
        (["missing.json", "--rules", "rolepack"], "UNREADABLE"),
        (["bad.json", "--rules", "rolepack"], "JSON_INVALID"),
        (["pack.json", "--rules", "nope"], "RULES_INVALID"),
        (["pack.json", "--rules", "rules.json"], "RULES_INVALID"),
        (["pack.json"], "NO_RULES"),
        (["pack.json", "--rules", "rolepack", "--baseline", "bad.json"], "BASELINE_UNREADABLE"),
        (["pack.json", "pack.json", "--rules", "rolepack", "--baseline", "pack.json"], "BAD_USAGE"),
        (["pack.json", "--rules", "rolepack", "--baseline-git", "main"], "NOT_A_GIT_REPOSITORY"),
        (["missing.json", "--rules", "rolepack", "--baseline-git", "main"], "UNREADABLE"),
        (["list.json", "--rules", "rolepack"], "CATALOG_SHAPE"),
        (["inf.json", "--rules", "rolepack"], "JSON_NON_FINITE"),
    ],
)
def test_bad_input_is_exit_2_with_a_reason(
    cli: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], code_word: str
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    _write(tmp_path / "pack.json", example_pack())
    (tmp_path / "bad.json").write_text("{not json")
    _write(tmp_path / "rules.json", {"items": "/roles", "id": "role_id", "colour": "red"})
    _write(tmp_path / "list.json", [1, 2])
    (tmp_path / "inf.json").write_text('{"roles": [], "maximum": 1e400}')
    code, out, err = cli("check-append-only", *args, "--json")
    assert code == 2, out + err
    assert json.loads(out or err)["error"]["code"] == code_word


def test_a_file_that_resolves_outside_the_repository_is_a_reason_not_a_crash(
    cli: Run, tmp_path: Path
) -> None:
    root = _repo(tmp_path)
    outside = _write(tmp_path / "elsewhere" / "rolepack.json", example_pack())
    (root / "rolepack.json").symlink_to(outside)
    code, out, _ = cli("check-append-only", str(root / "rolepack.json"), "--rules", "rolepack",
                       "--baseline-git", "main", "--json")  # fmt: skip
    assert code == 2
    assert json.loads(out)["error"]["code"] == "NOT_A_GIT_REPOSITORY"


def test_a_rules_file(cli: Run, tmp_path: Path) -> None:
    rules = _write(tmp_path / "rules.json", {"items": "/things", "id": "key"})
    _write(tmp_path / "old.json", {"things": [{"key": "a"}, {"key": "b"}]})
    current = _write(tmp_path / "new.json", {"things": [{"key": "a"}]})
    code, out, _ = cli("check-append-only", str(current), "--rules", str(rules),
                       "--baseline", str(tmp_path / "old.json"), "--json")  # fmt: skip
    assert code == 1 and json.loads(out)["violations"][0]["id"] == "b"


# --- in a workspace: the catalog's rules, the active snapshot; the blocking check ---------------


def _build(cli: Run, root: Path) -> dict[str, dict[str, Any]]:
    _code, out, err = cli("build", "--workspace", str(root), "--json")
    assert out, err
    return {entry["registry_id"]: entry for entry in json.loads(out)["registries"]}


def test_a_violation_stops_promotion_and_the_cli_agrees_with_the_check(
    cli: Run, built: Path, built_entries: Entries
) -> None:
    """The build's blocking check and the CLI (active snapshot as baseline) agree."""
    first = built_entries
    assert first["rolepack"]["promotion"] == "promoted"
    assert first["rolepack"]["checks"]["append_only"] is True
    active = first["rolepack"]["run_id"]
    pack = built / PACK
    broken = copy.deepcopy(example_pack())
    broken["roles"].pop(5)
    surface = broken["roles"][0]["produce_contracts"][0]["schema_json"]
    surface["additionalProperties"] = False
    _write(pack, broken)

    second = _build(cli, built)
    entry = second["rolepack"]
    assert entry["checks"]["append_only"] is False
    assert entry["promotion"] != "promoted"
    assert second["registry_delta_log"]["status"] == "skipped"  # downstream stops
    folder = built / ".codex" / "RUNS" / str(entry["run_id"])
    sealed = [
        json.loads(line)
        for line in (folder / "APPEND_ONLY_DIAGNOSTICS_v0_1.jsonl").read_text().splitlines()
    ]
    code, out, _ = cli("check-append-only", str(pack), "--workspace", str(built), "--json")
    assert code == 1
    document = json.loads(out)
    assert document["baseline"]["source"] == f"{active}/atelier_rolepack_v1.json"
    shown = [(v["code"], v.get("id"), v["field"], v["message"]) for v in document["violations"]]
    assert shown == [(v["code"], v["id"], v["path"], v["message"]) for v in sealed]
    assert {v["path"] for v in document["violations"]} == {str(pack)}  # problem objects
    assert {v["code"] for v in sealed} == {
        "ID_REMOVED", "CONTRACT_REMOVED", "CONTRACT_SURFACE_DRIFT"}  # fmt: skip
    drift = next(v for v in sealed if v["code"] == "CONTRACT_SURFACE_DRIFT")
    assert drift["publish_instead"] == "ROLE:executive_1:C:2"
    assert entry["checks"]["schema_valid"] is True  # the sealed rows stay v0_1 (no entry_id)
    assert all("entry_id" not in v for v in sealed)
    named = [(v["code"], v["field"], v.get("entry_id")) for v in document["violations"]]
    assert ("ID_REMOVED", "/roles/5", "thematic_psychological_4") in named
    assert ("CONTRACT_SURFACE_DRIFT", "/roles/0/produce_contracts/0/schema_json",
            "executive_1") in named  # fmt: skip
    from_check = [  # the build's own problems, from its blocking check's metadata, name them too
        (p["code"], p["field"], p.get("entry_id"))
        for p in entry["problems"]
        if p.get("check") == "append_only"
    ]
    assert from_check == named
    from registry_pipeline.core.gate.checks import catalog_append_only_check
    from registry_pipeline.core.workspace.layout import Workspace

    said = catalog_append_only_check(folder, Workspace(built), "rolepack").description or ""
    assert "/roles/5 (role_id=thematic_psychological_4)" in said  # the build's line names it
    assert drift["compatibility"]["kind"] == "forward"
    code, out, _ = cli("pointers", "show", "--workspace", str(built), "--json")
    assert code == 0 and active in out  # the pointer did not move

    _write(pack, example_pack())  # restored: clean again, and unchanged sources settle
    third = _build(cli, built)
    assert third["rolepack"]["checks"]["append_only"] is True
    code, _, _ = cli("check-append-only", str(pack), "--workspace", str(built))
    assert code == 0


def test_the_demo_allowed_operations_is_append_only_too(cli: Run, built: Path) -> None:
    path = built / "registries/allowed_operations/ALLOWED_OPERATIONS_v0_1.json"
    document = json.loads(path.read_text())
    removed = document["operations"].pop()["operation_id"]
    _write(path, document)
    code, out, _ = cli("check-append-only", str(path), "--workspace", str(built), "--json")
    assert code == 1
    assert [(v["code"], v["id"]) for v in json.loads(out)["violations"]] == [
        ("ID_REMOVED", removed)]  # fmt: skip


# --- the pre-commit hook, run by the real pre-commit tool --------------------------------------


def _pre_commit() -> str:
    found = shutil.which("pre-commit", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.skip("pre-commit is not installed (pip install -e '.[dev]')")
    return found


def test_the_pre_commit_hook_blocks_a_staged_violation(tmp_path: Path) -> None:
    """`pre-commit try-repo` of this repository: a staged RolePack removes a role."""
    pre_commit = _pre_commit()
    if not (REPO / ".git").exists():
        pytest.skip("needs this repository as a git checkout")
    root = _repo(tmp_path)
    pack = _write(root / "assets" / "atelier_rolepack_v1.json", example_pack())
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "publish")
    env = {**os.environ, "PRE_COMMIT_HOME": str(_cache_home()), "GIT_AUTHOR_NAME": "t",
           "GIT_AUTHOR_EMAIL": "t@example.org", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.org"}  # fmt: skip
    hook = [pre_commit, "try-repo", str(REPO), "registry-append-only-rolepack", "--files",
            "assets/atelier_rolepack_v1.json"]  # fmt: skip
    clean = subprocess.run(hook, cwd=root, capture_output=True, text=True, env=env, check=False)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    _write(pack, _without_first_role())
    _git(root, "add", "-A")
    blocked = subprocess.run(hook, cwd=root, capture_output=True, text=True, env=env, check=False)
    assert blocked.returncode == 1, blocked.stdout + blocked.stderr
    assert "ID_REMOVED" in blocked.stdout and "against main:assets/" in blocked.stdout
    assert "Failed" in blocked.stdout


def _cache_home() -> Path:
    """One pre-commit cache per machine and project version: the hook installed once."""
    home = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "registry-pre-commit"
    home.mkdir(parents=True, exist_ok=True)
    return home


# --- --require-baseline --------------------------------------------------------------------------


def _upstream(tmp_path: Path) -> Path:
    """A repository whose main publishes the pack, and a branch `feature` beside it."""
    upstream = _repo(tmp_path, "upstream")
    _write(upstream / NAME, example_pack())
    _git(upstream, "add", "-A")
    _git(upstream, "commit", "-qm", "publish")
    _git(upstream, "branch", "feature")
    return upstream


def _single_branch_clone(tmp_path: Path) -> Path:
    """What a CI checkout of a pull request often is: one branch, no main, no origin/main."""
    clone = tmp_path / "clone"
    _git(tmp_path, "clone", "-q", "--depth", "1", "--single-branch", "--branch", "feature",
         f"file://{_upstream(tmp_path)}", str(clone))  # fmt: skip
    return clone


def _check(cli: Run, path: Path, *extra: str) -> tuple[int, dict[str, Any], str]:
    code, out, err = cli("check-append-only", str(path), "--rules", "rolepack", "--json", *extra)
    return code, json.loads(out), err


def test_a_shallow_clone_without_the_ref_passes_only_as_a_warned_first_publish(
    cli: Run, tmp_path: Path
) -> None:
    clone = _single_branch_clone(tmp_path)
    pack = _write(clone / NAME, _without_first_role())  # a removal no check can see alone
    code, out, err = _check(cli, pack, "--baseline-git", "main")
    assert code == 0 and out["baseline"]["first_publish"] is True
    assert "warning" in err and "--require-baseline" in err and "main" in err


def test_require_baseline_refuses_an_unresolvable_ref_naming_it(cli: Run, tmp_path: Path) -> None:
    clone = _single_branch_clone(tmp_path)
    code, out, _ = _check(cli, clone / NAME, "--baseline-git", "main", "--require-baseline")
    assert code == 2
    error = out["error"]
    assert error["code"] == "BASELINE_REF_UNRESOLVABLE"
    assert "main" in error["message"] and "origin/main" in error["message"]
    assert error["path"] == str(clone / NAME)


def test_require_baseline_refuses_a_file_missing_at_the_ref(cli: Run, tmp_path: Path) -> None:
    upstream = _upstream(tmp_path)
    moved = _write(upstream / "assets" / NAME, example_pack())  # not where main has it
    code, out, _ = _check(cli, moved, "--baseline-git", "main", "--require-baseline")
    assert code == 2
    assert out["error"]["code"] == "BASELINE_MISSING"
    assert f"main:assets/{NAME}" in out["error"]["message"]


def test_a_git_baseline_from_main_is_checked_against(cli: Run, tmp_path: Path) -> None:
    upstream = _upstream(tmp_path)
    pack = _write(upstream / NAME, _without_first_role())
    code, out, _ = _check(cli, pack, "--baseline-git", "main", "--require-baseline")
    assert code == 1 and out["baseline"]["source"] == f"main:{NAME}"
    assert "ID_REMOVED" in {v["code"] for v in out["violations"]}


def test_require_baseline_without_a_baseline_to_check_against(
    cli: Run, demo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No baseline option outside a workspace; no published snapshot in one."""
    monkeypatch.chdir(tmp_path)
    code, out, _ = _check(cli, _write(tmp_path / NAME, example_pack()), "--require-baseline")
    assert code == 2 and out["error"]["code"] == "BASELINE_MISSING"
    pack = demo / "registries" / "rolepack" / NAME
    code, out, err = cli("check-append-only", str(pack), "--workspace", str(demo), "--json",
                         "--require-baseline")  # fmt: skip
    assert code == 2 and json.loads(out)["error"]["code"] == "BASELINE_MISSING", out + err


def test_a_ref_that_looks_like_an_option_is_refused_before_git_runs(
    cli: Run, tmp_path: Path
) -> None:
    upstream = _upstream(tmp_path)
    target = tmp_path / "written"
    code, out, _ = _check(cli, upstream / NAME, f"--baseline-git=--output={target}")
    assert code == 2 and out["error"]["code"] == "BASELINE_REF_INVALID"
    assert not list(tmp_path.glob("written*"))  # git never ran with it


# --- the documented configurations use it ------------------------------------------------------


def test_the_pre_commit_hooks_require_a_baseline() -> None:
    hooks = YAML(typ="safe").load((REPO / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    assert hooks
    for hook in hooks:
        assert "--require-baseline" in hook["entry"].split(), hook["id"]


def test_the_documented_ci_job_requires_a_baseline() -> None:
    docs = (REPO / "docs" / "APPEND_ONLY.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml\n(.*?)```", docs, flags=re.S)
    ci = [b for b in blocks if "registry check-append-only" in b]
    assert ci, "docs/APPEND_ONLY.md documents a CI job"
    for block in ci:
        YAML(typ="safe").load(block)  # valid YAML
        for line in block.splitlines():
            if "registry check-append-only" in line:
                assert "--require-baseline" in line, line


# --- the schema, as the build applies it --------------------------------------------------------


def _without(index: int, field: str) -> dict[str, Any]:
    pack = copy.deepcopy(example_pack())
    del pack["roles"][index][field]
    return pack


BROKEN = {"no extract_contracts": _without(0, "extract_contracts"),
          "no display_name": _without(1, "display_name")}  # fmt: skip


def _schema_problems(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in document["violations"] if p["code"] == "SCHEMA_VIOLATION"]


def _comparable(problems: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(p["code"], p["line"], p["field"], p["message"]) for p in problems]


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_the_cli_and_the_builds_schema_check_agree(cli: Run, tmp_path: Path, name: str) -> None:
    """A broken pack: the CLI and `source_problems` (a source asset's) agree."""
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
    """A role without contract lists fails as in the seed's checker, whatever schema."""
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
    source = source_paths(demo, spec.sources, spec.kind).read()
    build = source_problems(source.files, SchemaCatalog.for_workspace(demo))  # the asset's call
    assert build
    code, out, err = cli("check-append-only", str(pack), "--workspace", str(demo), "--json")
    assert code == 1, out + err
    assert _comparable(_schema_problems(json.loads(out))) == _comparable(
        [p.as_json() for p in build]
    )


def test_the_human_output_names_the_line(cli: Run, tmp_path: Path) -> None:
    path = _write(tmp_path / NAME, BROKEN["no display_name"])
    code, out, _ = cli("check-append-only", str(path), "--rules", "rolepack")
    assert code == 1
    assert "SCHEMA_VIOLATION  /roles/1 (role_id=executive_2) (line " in out
    assert "'display_name' is a required" in out
