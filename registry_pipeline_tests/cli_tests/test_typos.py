"""Typos are refused (UNKNOWN_REGISTRY, a did-you-mean), never an empty answer (days and
timestamps: test_time_grammar.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from registry_pipeline_tests._helpers import Run


def test_validate_with_an_unknown_registry_is_refused(cli: Run, demo: Path) -> None:
    code, out, err = cli("validate", "--all", "--registry", "run_registy", "--workspace", str(demo))
    assert code == 2 and out == ""
    assert "UNKNOWN_REGISTRY" in err and "did you mean 'run_registry'?" in err
    code, _out, err = cli("validate", "--all", "--registry", "run_registry", "--workspace",
                          str(demo))  # fmt: skip
    assert code == 0, err  # a known registry with no folder yet: nothing to check, fine


def _seal_and_promote(cli: Run, demo: Path, *reason: str) -> None:
    """expected_versions' source sealed by `registry seal` and promoted (`--reason REASON`)."""
    source = demo / "registries" / "expected_versions" / "EXPECTED_VERSIONS_v0_1.json"
    code, out, _ = cli("seal", str(source), "--registry-id", "expected_versions", "--json",
                       "--workspace", str(demo))  # fmt: skip
    assert code == 0
    args = ("pointers", "promote", "expected_versions", json.loads(out)["run_id"], *reason)
    assert cli(*args, "--workspace", str(demo))[0] == 0


def test_pointer_history_of_an_unknown_registry_is_refused(cli: Run, demo: Path) -> None:
    _seal_and_promote(cli, demo)
    code, out, err = cli("pointers", "history", "expected_version", "--workspace", str(demo))
    assert code == 2 and "did you mean 'expected_versions'?" in err
    code, out, _ = cli("pointers", "history", "drift_signals", "--workspace", str(demo))
    assert code == 0 and "no pointer changes" in out  # in the catalog, never promoted


def test_build_select_suggests_and_points_partitions_to_backfill(cli: Run, demo: Path) -> None:
    code, _out, err = cli("build", "--select", "op_status_tabel", "--workspace", str(demo))
    assert code == 2 and "did you mean 'op_status_table'?" in err
    code, _out, err = cli("build", "--select", "drift_signals_daily", "--workspace", str(demo))
    assert code == 2 and "registry drift backfill" in err


def test_human_output_escapes_control_characters(cli: Run, demo: Path) -> None:
    reason = "ok\x1b[2J\rforged line\x00"
    _seal_and_promote(cli, demo, "--reason", reason)
    code, out, _ = cli("pointers", "history", "--workspace", str(demo))
    assert code == 0
    assert "\x1b" not in out and "\r" not in out and "\x00" not in out
    assert "ok\\x1b[2J\\x0dforged line\\x00" in out
    code, out, _ = cli("pointers", "history", "--json", "--workspace", str(demo))
    assert json.loads(out)[0]["reason"] == reason  # JSON keeps the exact text, escaped by JSON


def test_show_says_when_there_are_no_pointers(cli: Run, ws: Path) -> None:
    code, out, _ = cli("pointers", "show", "--workspace", str(ws))
    assert code == 0 and "no active pointers yet" in out


def test_the_workspace_is_found_from_a_subfolder_as_git_finds_its_repository(
    cli: Run, demo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sub = demo / "registries" / "expected_versions"
    monkeypatch.chdir(sub)
    code, _out, err = cli("pointers", "show")
    assert code == 0, err
    code, _out, err = cli("validate", "--all")
    assert code == 0, err


def test_a_workspace_that_is_a_file_is_named_as_such(
    cli: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    not_a_folder = tmp_path / "file.txt"
    not_a_folder.write_text("x")
    monkeypatch.setenv("REGISTRY_WORKSPACE", str(not_a_folder))
    code, _out, err = cli("pointers", "show")
    assert code == 2 and "is a file, not a folder" in err and "registry init" not in err
