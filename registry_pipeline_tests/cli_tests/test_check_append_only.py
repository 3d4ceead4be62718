"""`registry check-append-only`: baselines (file, git, sealed snapshot), rules, exit codes, the
blocking check in a real build, and the pre-commit hook run by the real `pre-commit` tool."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from registry_pipeline.core.append_only.example import example_pack
from registry_pipeline_tests.cli_tests.conftest import Run

REPO = Path(__file__).resolve().parents[2]
PACK = "registries/rolepack/atelier_rolepack_v1.json"
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


def test_git_baseline_from_main(cli: Run, tmp_path: Path) -> None:
    root = _repo(tmp_path)
    pack = _write(root / "assets" / "rolepack.json", example_pack())
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "publish")
    _write(pack, _without_first_role())
    code, out, _ = cli("check-append-only", str(pack), "--rules", "rolepack",
                       "--baseline-git", "main", "--json")  # fmt: skip
    assert code == 1
    document = json.loads(out)
    assert document["baseline"]["source"] == "main:assets/rolepack.json"
    assert "ID_REMOVED" in {v["code"] for v in document["violations"]}


def test_git_baseline_from_origin_main_only(cli: Run, tmp_path: Path) -> None:
    upstream = _repo(tmp_path, "upstream")
    _write(upstream / "rolepack.json", example_pack())
    _git(upstream, "add", "-A")
    _git(upstream, "commit", "-qm", "publish")
    clone = tmp_path / "clone"
    _git(tmp_path, "clone", "-q", str(upstream), str(clone))
    _git(clone, "checkout", "-q", "-b", "feature")
    _git(clone, "branch", "-q", "-D", "main")  # only origin/main is left
    pack = _write(clone / "rolepack.json", _without_first_role())
    code, out, _ = cli("check-append-only", str(pack), "--rules", "rolepack",
                       "--baseline-git", "main", "--json")  # fmt: skip
    assert code == 1
    assert json.loads(out)["baseline"]["source"] == "origin/main:rolepack.json"


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
    cli: Run, demo: Path
) -> None:
    """One rule, two paths: the build's blocking check (and the diagnostics it seals) and the
    CLI with the active snapshot as baseline report the same violations."""
    first = _build(cli, demo)
    assert first["rolepack"]["promotion"] == "promoted"
    assert first["rolepack"]["checks"]["append_only"] is True
    active = first["rolepack"]["run_id"]
    pack = demo / PACK
    broken = copy.deepcopy(example_pack())
    broken["roles"].pop(5)
    surface = broken["roles"][0]["produce_contracts"][0]["schema_json"]
    surface["additionalProperties"] = False
    _write(pack, broken)

    second = _build(cli, demo)
    entry = second["rolepack"]
    assert entry["checks"]["append_only"] is False
    assert entry["promotion"] != "promoted"
    assert second["registry_delta_log"]["status"] == "skipped"  # downstream stops
    folder = demo / ".codex" / "RUNS" / str(entry["run_id"])
    sealed = [
        json.loads(line)
        for line in (folder / "APPEND_ONLY_DIAGNOSTICS_v0_1.jsonl").read_text().splitlines()
    ]
    code, out, _ = cli("check-append-only", str(pack), "--workspace", str(demo), "--json")
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
    built = [  # the build's own problems, from its blocking check's metadata, name them too
        (p["code"], p["field"], p.get("entry_id"))
        for p in entry["problems"]
        if p.get("check") == "append_only"
    ]
    assert built == named
    from registry_pipeline.core.gate.checks import catalog_append_only_check
    from registry_pipeline.core.workspace.layout import Workspace

    said = catalog_append_only_check(folder, Workspace(demo), "rolepack").description or ""
    assert "/roles/5 (role_id=thematic_psychological_4)" in said  # the build's line names it
    assert drift["compatibility"]["kind"] == "forward"
    code, out, _ = cli("pointers", "show", "--workspace", str(demo), "--json")
    assert code == 0 and active in out  # the pointer did not move

    _write(pack, example_pack())  # restored: clean again, and unchanged sources settle
    third = _build(cli, demo)
    assert third["rolepack"]["checks"]["append_only"] is True
    code, _, _ = cli("check-append-only", str(pack), "--workspace", str(demo))
    assert code == 0


def test_the_demo_allowed_operations_is_append_only_too(cli: Run, demo: Path) -> None:
    _build(cli, demo)
    path = demo / "registries/allowed_operations/ALLOWED_OPERATIONS_v0_1.json"
    document = json.loads(path.read_text())
    removed = document["operations"].pop()["operation_id"]
    _write(path, document)
    code, out, _ = cli("check-append-only", str(path), "--workspace", str(demo), "--json")
    assert code == 1
    assert [(v["code"], v["id"]) for v in json.loads(out)["violations"]] == [
        ("ID_REMOVED", removed)]  # fmt: skip


# --- the pre-commit hook, run by the real pre-commit tool --------------------------------------


def _pre_commit() -> str:
    found = shutil.which("pre-commit", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.skip("pre-commit is not installed (pip install -e '.[dev]')")
    return found


@pytest.mark.slow
def test_the_pre_commit_hook_blocks_a_staged_violation(tmp_path: Path) -> None:
    """`pre-commit try-repo` against this repository (its working tree, as a shadow commit)
    in a temporary repository whose staged RolePack removes a published role."""
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
    """One pre-commit cache per machine and project version: the hook's environment (this
    package and its dependencies) is installed once, not once per test run."""
    home = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "registry-pre-commit"
    home.mkdir(parents=True, exist_ok=True)
    return home
