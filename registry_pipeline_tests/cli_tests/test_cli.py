"""The `registry` command as a user runs it: output, exit codes, --json, and bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from registry_pipeline.core.seal.run_store import SealedRun
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline_tests._helpers import Run, run_folders, staging_entries, tmpfs


def test_no_command_is_bad_usage(cli: Run) -> None:
    code, _out, err = cli()
    assert code == 2
    assert "usage" in err


def test_init_creates_skeleton_and_is_idempotent(cli: Run, tmp_path: Path) -> None:
    code, out, _ = cli("init", str(tmp_path))
    assert code == 0
    assert (tmp_path / ".codex" / "RUNS").is_dir()
    assert "/.codex/RUNS/** -text" in (tmp_path / ".gitattributes").read_text()
    assert "created .gitattributes" in out
    code, out, _ = cli("init", str(tmp_path), "--json")
    assert code == 0
    assert json.loads(out)["changes"] == []
    assert (tmp_path / ".gitattributes").read_text().count("-text") == 1


def test_seal_a_file_prints_id_path_and_root(
    cli: Run, workspace: Workspace, tmp_path: Path
) -> None:
    source = tmp_path / "notes.txt"
    source.write_bytes(b"hello\n")
    code, out, _ = cli(
        "seal", str(source), "--registry-id", "notes", "--workspace", str(workspace.root)
    )
    assert code == 0
    [run_id] = run_folders(workspace.root)
    assert run_id.endswith("__notes_build")
    assert f"sealed {run_id}" in out
    assert f".codex/RUNS/{run_id}" in out
    root = (workspace.runs_dir / run_id / "MANIFEST.sha256").read_text().splitlines()[-1].split()[1]
    assert f"sha256:{root}" in out
    assert (workspace.runs_dir / run_id / "notes.txt").read_bytes() == b"hello\n"


def test_seal_json_and_env_workspace(
    cli: Run, workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "collection"
    (folder / "days").mkdir(parents=True)
    (folder / "days" / "2026-01-01.jsonl").write_bytes(b'{"day": 1}\n')
    (folder / "summary.json").write_bytes(b"{}\n")
    monkeypatch.setenv("REGISTRY_WORKSPACE", str(workspace.root))
    code, out, _ = cli(
        "seal",
        str(folder),
        "--registry-id",
        "validation_range_results",
        "--op-id",
        "OP-D04",
        "--json",
    )
    assert code == 0
    result = json.loads(out)
    assert set(result) >= {"run_id", "path", "root_sha256", "created_utc", "files"}
    run = Path(result["path"])
    assert sorted(p.relative_to(run).as_posix() for p in run.rglob("*") if p.is_file()) == [
        "MANIFEST.sha256",
        "days/2026-01-01.jsonl",
        "manifest.json",
        "run.json",
        "summary.json",
    ]
    envelope = json.loads((run / "run.json").read_text())
    assert envelope["operation_id"] == "OP-D04"
    assert envelope["registry_id"] == "validation_range_results"
    assert envelope["git_commit"] is None and envelope["working_tree_state"] is None


@pytest.mark.parametrize(
    ("args", "code_word"),
    [
        (["--registry-id", "Bad Id"], "INVALID_REGISTRY_ID"),
        (["--registry-id", "ok", "--op-id", "qa07"], "INVALID_OPERATION_ID"),
    ],
)
def test_seal_rejects_bad_ids(
    cli: Run, workspace: Workspace, tmp_path: Path, args: list[str], code_word: str
) -> None:
    source = tmp_path / "a.txt"
    source.write_bytes(b"a")
    code, _out, err = cli("seal", str(source), *args, "--workspace", str(workspace.root))
    assert code == 2
    assert code_word in err
    assert run_folders(workspace.root) == []


def test_seal_missing_source_is_bad_usage(cli: Run, workspace: Workspace, tmp_path: Path) -> None:
    code, _out, err = cli(
        "seal",
        str(tmp_path / "nope.json"),
        "--registry-id",
        "x",
        "--workspace",
        str(workspace.root),
    )
    assert code == 2
    assert "SOURCE_NOT_FOUND" in err and "nope.json" in err
    assert run_folders(workspace.root) == [] and staging_entries(workspace.staging_dir) == []


def test_seal_refuses_schema_violation_and_writes_nothing(
    cli: Run, workspace: Workspace, tmp_path: Path
) -> None:
    source = tmp_path / "EXPECTED_VERSIONS_v0_1.json"
    source.write_text('{"version": "0.1", "expected": {"schema_version": 1}}')
    code, _out, err = cli(
        "seal",
        str(source),
        "--registry-id",
        "expected_versions",
        "--workspace",
        str(workspace.root),
    )
    assert code == 2
    assert "SCHEMA_VIOLATION" in err and "EXPECTED_VERSIONS_v0_1.json" in err
    assert "/expected" in err
    assert run_folders(workspace.root) == [] and staging_entries(workspace.staging_dir) == []


def test_validate_reports_every_problem_and_exits_1(
    cli: Run, workspace: Workspace, make_run: Callable[..., SealedRun]
) -> None:
    good = make_run()
    bad = make_run(registry_id="broken")
    os.chmod(bad.path, 0o755)
    target = bad.path / "notes.txt"
    os.chmod(target, 0o644)
    target.write_bytes(b"line one\nline 2!\n")
    (bad.path / "extra.txt").write_bytes(b"sneaky")
    code, out, _ = cli("validate", "--all", "--workspace", str(workspace.root))
    assert code == 1
    assert f"PASS  .codex/RUNS/{good.run_id}" in out
    assert f"FAIL  .codex/RUNS/{bad.run_id}" in out
    assert "HASH_MISMATCH" in out and "UNLISTED_FILE" in out and "extra.txt" in out
    assert out.splitlines()[-1] == "checked 2 run folder(s): 1 PASS, 1 FAIL"


def test_validate_json_one_object_per_folder(
    cli: Run, workspace: Workspace, make_run: Callable[..., SealedRun]
) -> None:
    run = make_run()
    os.chmod(run.path, 0o755)
    (run.path / "notes.txt").chmod(0o644)
    (run.path / "notes.txt").unlink()
    code, out, _ = cli("validate", str(run.path), "--json")
    assert code == 1
    [line] = out.splitlines()
    report = json.loads(line)
    assert report["run_folder"] == str(run.path)
    assert report["run_id"] == run.run_id
    assert report["status"] == "FAIL"
    assert {"code": "MISSING_FILE", "path": "notes.txt"}.items() <= report["errors"][0].items()
    assert set(report["errors"][0]) >= {"code", "path", "message"}


def test_validate_fast_says_what_it_skipped(
    cli: Run, workspace: Workspace, make_run: Callable[..., SealedRun]
) -> None:
    run = make_run()
    os.chmod(run.path, 0o755)
    target = run.path / "notes.txt"
    os.chmod(target, 0o644)
    target.write_bytes(b"LINE one\nline two\n")  # same size, different bytes
    code, out, _err = cli("validate", str(run.path), "--fast")
    assert code == 0
    assert "hashes and artifact schemas were NOT checked" in out
    assert cli("validate", str(run.path))[0] == 1


def test_validate_registry_filter(
    cli: Run, workspace: Workspace, make_run: Callable[..., SealedRun]
) -> None:
    make_run(registry_id="alpha")
    beta = make_run(registry_id="beta")
    code, out, _ = cli(
        "validate", "--all", "--registry", "beta", "--workspace", str(workspace.root), "--json"
    )
    assert code == 0
    assert [json.loads(line)["run_id"] for line in out.splitlines()] == [beta.run_id]


def test_validate_needs_something_to_check(cli: Run) -> None:
    code, _out, err = cli("validate")
    assert code == 2
    assert "NOTHING_TO_VALIDATE" in err


def test_crlf_hint_is_printed_once(
    cli: Run, workspace: Workspace, make_run: Callable[..., SealedRun]
) -> None:
    run = make_run({"a.txt": b"one\r\ntwo\r\n", "b.txt": b"x\r\ny\r\n"})
    os.chmod(run.path, 0o755)
    for name in ("a.txt", "b.txt"):
        path = run.path / name
        path.chmod(0o644)
        path.write_bytes(path.read_bytes().replace(b"\r\n", b"\n"))
    code, out, err = cli("validate", str(run.path))
    assert code == 1
    assert out.count("line endings were converted after sealing") == 4
    assert err.count("hint:") == 1 and ".gitattributes" in err


def test_python_dash_m_entry_point(make_run: Callable[..., SealedRun]) -> None:
    run = make_run()
    done = subprocess.run(
        [sys.executable, "-m", "registry_pipeline", "validate", str(run.path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("PASS")


def test_cli_paths_do_not_import_dagster_or_pandas(make_run: Callable[..., SealedRun]) -> None:
    run = make_run()
    probe = (
        "import sys\n"
        "from registry_pipeline.cli import main\n"
        f"code = main(['validate', {str(run.path)!r}])\n"
        "heavy = sorted(m for m in ('dagster', 'pandas') if m in sys.modules)\n"
        "print('HEAVY', heavy)\n"
        "sys.exit(code)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "HEAVY []" in done.stdout


def test_runs_on_a_mount_of_its_own_seals_and_validates(
    cli: Run, workspace: Workspace, tmp_path: Path
) -> None:
    """Staging is on RUNS/'s filesystem, so publishing stays a rename (no EXDEV)."""
    runs = workspace.runs_dir
    with tmpfs(runs, size="8m"):
        assert workspace.staging_dir == runs / ".staging"
        source = tmp_path / "ALPHA.json"
        source.write_text('{"a": 1}\n')
        code, _out, err = cli("seal", str(source), "--registry-id", "alpha",
                             "--workspace", str(workspace.root))  # fmt: skip
        assert code == 0, err
        assert cli("validate", "--all", "--workspace", str(workspace.root))[0] == 0
        assert [p.name for p in runs.iterdir() if not p.name.startswith(".")] != []


def test_init_warns_only_about_what_a_user_can_act_on(cli: Run, tmp_path: Path) -> None:
    """An ignored run root is a choice: no warning; a pointer file naming ignored folders is one."""
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    (tmp_path / ".gitignore").write_text("*.pyc\n.codex/RUNS/\n")
    (tmp_path / ".gitattributes").write_text("* text=auto eol=lf\n")
    code, out, err = cli("init", str(tmp_path))
    assert code == 0 and "appended 3 lines to .gitattributes" in out
    assert err == ""  # no git-ignored warning; no line-ending one (init's line stops it)
    pointers = tmp_path / ".codex/ACTIVE_REGISTRY_POINTERS_v0_1.json"
    pointers.write_text(json.dumps({"pointers": [
        {"registry_id": "a", "active_ref": {"run_id": "r1", "run_root": ".codex/RUNS"}}
    ]}))  # fmt: skip
    subprocess.run(["git", "add", "-f", str(pointers)], cwd=tmp_path, check=True)
    code, out, _ = cli("init", str(tmp_path), "--json")
    warnings = json.loads(out)["warnings"]
    assert code == 0 and [w["code"] for w in warnings] == ["POINTER_TARGETS_GIT_IGNORED"]
    assert "names 1 sealed folder(s) that git ignores (a -> r1)" in warnings[0]["message"]
    assert "commit the run root, or stop committing the pointer file" in warnings[0]["message"]
    assert warnings[0]["path"] == ".codex/ACTIVE_REGISTRY_POINTERS_v0_1.json"


def test_init_keeps_a_gitattributes_that_is_not_utf8(cli: Run, tmp_path: Path) -> None:
    """git does not require UTF-8 there: init appends its lines on lines of their own (after
    a last line with no newline) and keeps every byte."""
    before = b"*.txt text eol=crlf\r\n# caf\xe9"
    (tmp_path / ".gitattributes").write_bytes(before)
    code, out, _ = cli("init", str(tmp_path))
    assert code == 0 and "appended 3 lines to .gitattributes" in out
    assert "created .gitattributes" not in out
    after = (tmp_path / ".gitattributes").read_bytes()
    assert after.startswith(before + b"\n") and after.endswith(b"/.codex/RUNS/** -text\n")
    assert cli("init", str(tmp_path), "--json")[1].count('"changes": []') == 1  # idempotent
