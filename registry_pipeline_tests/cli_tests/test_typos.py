"""Typos are refused (UNKNOWN_REGISTRY or BAD_DAY, a did-you-mean), never an empty answer."""

from __future__ import annotations

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


def test_pointer_history_of_an_unknown_registry_is_refused(cli: Run, demo: Path) -> None:
    source = demo / "registries" / "expected_versions" / "EXPECTED_VERSIONS_v0_1.json"
    code, out, _ = cli("seal", str(source), "--registry-id", "expected_versions", "--json",
                       "--workspace", str(demo))  # fmt: skip
    assert code == 0
    import json

    run_id = json.loads(out)["run_id"]
    assert cli("pointers", "promote", "expected_versions", run_id, "--workspace", str(demo))[0] == 0
    code, out, err = cli("pointers", "history", "expected_version", "--workspace", str(demo))
    assert code == 2 and "did you mean 'expected_versions'?" in err
    code, out, _ = cli("pointers", "history", "drift_signals", "--workspace", str(demo))
    assert code == 0 and "no pointer changes" in out  # in the catalog, never promoted


def test_build_select_suggests_and_points_partitions_to_backfill(cli: Run, demo: Path) -> None:
    code, _out, err = cli("build", "--select", "op_status_tabel", "--workspace", str(demo))
    assert code == 2 and "did you mean 'op_status_table'?" in err
    code, _out, err = cli("build", "--select", "drift_signals_daily", "--workspace", str(demo))
    assert code == 2 and "registry drift backfill" in err


@pytest.mark.parametrize("day", ["2026-W47-1", "20261120", "2026-11-20T00:00", "2026-13-01"])
def test_drift_backfill_takes_only_yyyy_mm_dd(cli: Run, demo: Path, day: str) -> None:
    code, _out, err = cli("drift", "backfill", "--from", day, "--to", "2026-11-20",
                          "--workspace", str(demo))  # fmt: skip
    assert code == 2 and "BAD_DAY" in err


def test_human_output_escapes_control_characters(cli: Run, demo: Path) -> None:
    source = demo / "registries" / "expected_versions" / "EXPECTED_VERSIONS_v0_1.json"
    code, out, _ = cli("seal", str(source), "--registry-id", "expected_versions", "--json",
                       "--workspace", str(demo))  # fmt: skip
    import json

    run_id = json.loads(out)["run_id"]
    reason = "ok\x1b[2J\rforged line\x00"
    args = ("pointers", "promote", "expected_versions", run_id, "--reason", reason)
    assert cli(*args, "--workspace", str(demo))[0] == 0
    code, out, _ = cli("pointers", "history", "--workspace", str(demo))
    assert code == 0
    assert "\x1b" not in out and "\r" not in out and "\x00" not in out
    assert "ok\\x1b[2J\\x0dforged line\\x00" in out
    code, out, _ = cli("pointers", "history", "--json", "--workspace", str(demo))
    assert json.loads(out)[0]["reason"] == reason  # JSON keeps the exact text, escaped by JSON


def test_show_says_when_there_are_no_pointers(cli: Run, tmp_path: Path) -> None:
    root = tmp_path / "ws"
    assert cli("init", str(root))[0] == 0
    code, out, _ = cli("pointers", "show", "--workspace", str(root))
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


@pytest.mark.parametrize(
    ("args", "code", "hint"),
    [
        (("delta", "show", "--since", "2026-W47-1"), "BAD_TIMESTAMP", None),
        (("delta", "show", "--since", "2026-11-2"), "BAD_TIMESTAMP", "did you mean 2026-11-02?"),
        (("pointers", "as-of", "2026-W47-1T00:00Z"), "BAD_TIMESTAMP", None),
        (("pointers", "as-of", "2026/11/20"), "BAD_TIMESTAMP", "did you mean 2026-11-20?"),
        (("pointers", "as-of", "20261120T180000Z"), "BAD_TIMESTAMP", None),
        (("drift", "backfill", "--from", "2026-11-1", "--to", "2026-11-02"), "BAD_DAY",
         "did you mean 2026-11-01?"),
    ],
)  # fmt: skip
def test_days_and_timestamps_are_strict(
    cli: Run, demo: Path, args: tuple[str, ...], code: str, hint: str | None
) -> None:
    exit_code, out, err = cli(*args, "--workspace", str(demo))
    assert exit_code == 2 and out == ""
    assert code in err
    if hint:
        assert hint in err


def test_the_accepted_timestamp_forms(cli: Run, demo: Path) -> None:
    for moment in ("2026-11-20", "2026-11-20T18:00Z", "2026-11-20T18:00:00.5+01:00"):
        exit_code, _out, err = cli("pointers", "as-of", moment, "--workspace", str(demo))
        assert exit_code == 0, err
