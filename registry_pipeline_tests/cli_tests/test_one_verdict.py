"""One verdict everywhere: validate --all, the run registry, drift signals and report agree."""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from registry_pipeline.core.seal.envelope import RunSpec
from registry_pipeline.core.seal.run_store import RunStore, seal_files
from registry_pipeline.core.seal.verdicts import VERDICTS, describe
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline_tests._helpers import Run, seed_repository, sha256sum_folder
from registry_pipeline_tests.cli_tests.test_validate_verdicts import (
    evidence_root,
)


@pytest.fixture
def evidence(demo: Path) -> Path:
    """The demo with a second run root: an unsealed, a sha256sum, a FAIL and a CONVERTED folder."""
    runs = evidence_root(demo)
    (runs / "p1_listed").mkdir()
    sha256sum_folder(runs / "p1_listed", {"RUN.md": b"a\n", "outputs/x.txt": b"1\n"})
    (runs / "p1_damaged").mkdir()
    sha256sum_folder(runs / "p1_damaged", {"RUN.md": b"a\n"})
    (runs / "p1_damaged" / "RUN.md").write_bytes(b"b\n")
    sealed = seal_files(
        RunStore(Workspace(demo)), RunSpec(registry_id="evidence"), {"RUN.md": b"one\r\ntwo\r\n"}
    )
    os.chmod(sealed.path, 0o755)
    os.chmod(sealed.path / "RUN.md", 0o644)
    (sealed.path / "RUN.md").write_bytes(b"one\ntwo\n")  # what git's eol=lf does
    shutil.move(sealed.path, runs / sealed.path.name)
    return demo


def _newest(root: Path, registry_id: str) -> Path:
    """The newest run folder a build sealed for `registry_id`."""
    return sorted((root / ".codex/RUNS").glob(f"*__{registry_id}_build"))[-1]


def _report(root: Path) -> tuple[dict[str, Any], str]:
    folder = _newest(root, "system_health_report")
    summary = json.loads((folder / "SYSTEM_HEALTH_SUMMARY_v0_1.json").read_text())
    return summary, (folder / "SYSTEM_HEALTH_REPORT_v0_1.md").read_text(encoding="utf-8")


def _drift_signal(root: Path, name: str) -> dict[str, Any]:
    detail = json.loads(
        (_newest(root, "drift_signals") / "DRIFT_SIGNALS_DETAIL_v0_2.json").read_text()
    )
    [signal] = [s for s in detail["signals"] if s["signal_id"] == name]
    return dict(signal)


def _indexed(root: Path) -> set[str]:
    """The run folders (run root / run id) the report's input run registry indexes."""
    lines = (_newest(root, "run_registry") / "RUN_REGISTRY_v0_1.jsonl").read_text().splitlines()
    return {json.loads(line)["run_path"].rstrip("/") for line in lines}


def test_the_report_counts_run_folders_as_validate_all_does(cli: Run, evidence: Path) -> None:
    """The report counts its run registry's folders (sealed inputs) with validate's verdicts."""
    code, out, err = cli("build", "--workspace", str(evidence))
    assert code == 0, out + err
    indexed = _indexed(evidence)
    code, out, err = cli("validate", "--all", "--json", "--workspace", str(evidence))
    rows = [json.loads(line) for line in out.splitlines()]
    seen = {str(Path(row["run_folder"]).relative_to(evidence)): row["verdict"] for row in rows}
    assert indexed <= set(seen)
    _code, text, _ = cli("validate", "--all", "--workspace", str(evidence))
    every = Counter(seen.values())  # said in the words the report uses
    said = f"checked {len(seen)} run folder(s): {describe(dict(every))}"
    assert text.splitlines()[-1] == said
    verdicts = Counter(seen[folder] for folder in indexed)
    assert {"PASS", "FAIL", "INTACT_OLDER_FORMAT", "CONVERTED", "UNSEALED"} <= set(verdicts)
    summary, markdown = _report(evidence)
    counts = summary["counts"]
    assert {v: counts["run_folders_by_seal"][v] for v in VERDICTS} == {
        v: verdicts[v] for v in VERDICTS
    }
    assert counts["run_folders"] == len(indexed) and counts["run_folders_by_seal"]["unknown"] == 0
    assert describe(dict(verdicts)) in markdown
    invalid = _drift_signal(evidence, "run_folders:invalid")
    named = json.dumps(invalid["evidence"])
    assert invalid["value"] is True and "p1_damaged" in named, invalid
    assert "p1_listed" not in named and "evidence_build" not in named, invalid


@pytest.mark.reference
def test_the_seed_repositorys_report_agrees_with_validate_all(cli: Run, tmp_path: Path) -> None:
    """The seed's older-format and converted folders are intact in the report (it said `FAIL 2`)."""
    import subprocess

    root = seed_repository(tmp_path)
    git = ["git", "-c", "user.email=t@example.org", "-c", "user.name=t"]
    assert cli("adopt", str(root))[0] == 0
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)  # the adoption, committed
    subprocess.run([*git, "commit", "-qm", "adopt"], cwd=root, check=True)
    code, out, err = cli("build", "--workspace", str(root))
    assert code == 0, out + err
    indexed = _indexed(root)
    code, out, err = cli("validate", "--all", "--json", "--workspace", str(root))
    seen = {
        str(Path(row["run_folder"]).relative_to(root)): row["verdict"]
        for row in map(json.loads, out.splitlines())
    }
    verdicts = Counter(seen[folder] for folder in indexed)
    assert verdicts["INTACT_OLDER_FORMAT"] == 1 and verdicts["CONVERTED"] == 1
    summary, markdown = _report(root)
    by_seal = summary["counts"]["run_folders_by_seal"]
    assert {v: by_seal[v] for v in VERDICTS} == {v: verdicts[v] for v in VERDICTS}
    assert describe(dict(verdicts)) in markdown
    invalid = _drift_signal(root, "run_folders:invalid")
    assert invalid["value"] is False, invalid
    headline = markdown.split("## Needs attention", 1)[1].split("\n## ", 1)[0]
    rows = [row for row in headline.splitlines() if row.startswith("| ")][1:]  # after the header
    about = [row.split(" | ")[0].removeprefix("| ") for row in rows]
    assert about == ["OP-D07", "coverage below C3"], headline  # and nothing else
    assert "registry restore-line-endings" in headline


def test_the_scorecard_says_a_snapshot_that_is_not_damaged_in_validates_words() -> None:
    """An intact older-format, converted or unsealed snapshot is not sealed, in validate's words."""
    from registry_pipeline.core.builders.system_health import registry_entries

    summary = [
        {"registry_id": r, "latest_status": v, "latest_run_id": f"run_{r}"}
        for r, v in (("a", "PASS"), ("b", "FAIL"), ("c", "INTACT_OLDER_FORMAT"),
                     ("d", "CONVERTED"), ("e", "UNSEALED"))
    ]  # fmt: skip
    entries = {e["registry_id"]: e for e in registry_entries(summary, [])}
    assert [entries[r]["sealed"] for r in "abcde"] == [True, False, False, False, False]
    assert "fails" in entries["b"]["reason"]
    assert "intact in an older format" in entries["c"]["reason"]
    assert "line endings converted" in entries["d"]["reason"]
    assert "unsealed" in entries["e"]["reason"] and "fails" not in entries["e"]["reason"]


def test_the_date_check_rides_on_the_inspections_one_read_of_run_json(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The date check reads the inspection's report: validate --all read each run.json twice."""
    from dataclasses import replace
    from datetime import UTC, datetime, timedelta

    from registry_pipeline.core.seal.validate import inspect_run_folder
    from registry_pipeline.core.workspace import snapshots

    sealed = seal_files(RunStore(workspace), RunSpec(registry_id="evidence"), {"A.md": b"a\n"})
    report = inspect_run_folder(sealed.path)
    assert report.ok and report.created_utc is not None

    def no_second_read(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("run.json read again")

    monkeypatch.setattr(snapshots, "read_envelope", no_second_read)
    verdict, dated = snapshots.folder_verdict(report)
    assert (verdict.status, dated) == ("PASS", None)
    earlier = datetime.now(UTC) - timedelta(hours=1)  # "now" an hour ago: its run id is ahead
    verdict, dated = snapshots.folder_verdict(report, earlier)
    assert verdict.status == "FAIL" and dated is not None and "its run id" in dated
    ahead = replace(report, created_utc="2999-01-01T00:00:00Z")  # what run.json said, as read
    verdict, dated = snapshots.folder_verdict(ahead)
    assert verdict.status == "FAIL" and dated is not None and "created_utc" in dated


def test_a_folder_named_as_a_sibling_after_case_folding_fails_for_every_reader(
    cli: Run, built: Path
) -> None:
    """Twins on macOS and Windows fail at every reader (only validate --all said UNSAFE_PATH)."""
    runs = built / ".codex" / "RUNS"
    [active] = sorted(runs.glob("*__expected_versions_build"))
    os.chmod(runs, 0o755)
    shutil.copytree(active, runs / (active.name[: -len("_build")] + "_BUILD"))
    where = ("--workspace", str(built))
    assert cli("validate", str(active), *where)[0] == 1
    code, out, _err = cli("validate", "--active", "--json", *where)
    rows = {
        Path(json.loads(line)["run_folder"]).name: json.loads(line) for line in out.splitlines()
    }
    assert code == 1 and rows[active.name]["verdict"] == "FAIL", out
    assert "UNSAFE_PATH" in {p["code"] for p in rows[active.name]["errors"]}
    code, out, err = cli("pointers", "check", "expected_versions", active.name, "--json", *where)
    assert code == 1, out + err
    code, out, err = cli("build", "--json", *where)
    statuses = _statuses(built)
    assert statuses[active.name] == "FAIL", statuses
    assert cli("validate", "--all", *where)[0] == 1


def _statuses(root: Path) -> dict[str, str]:
    """Each run folder's status in the newest run registry's companion."""
    companion = _newest(root, "run_registry") / "RUN_REGISTRY_SEAL_STATUS_v0_2.jsonl"
    lines = companion.read_text().splitlines()
    return {json.loads(line)["run_key"].split("::")[-1]: json.loads(line)["status"]
            for line in lines}  # fmt: skip
