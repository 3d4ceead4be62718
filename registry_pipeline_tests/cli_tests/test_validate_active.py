"""`registry validate --active`: the state users trust, green again after any fixed mistake,
while folders of failed builds stay as evidence that `--all` reports."""

from __future__ import annotations

import json
from pathlib import Path

from registry_pipeline.core.seal.envelope import RunSpec
from registry_pipeline.core.seal.run_store import RunStore, seal_files
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline_tests._helpers import Run


def test_evidence_of_a_failed_build_never_locks_the_active_state(cli: Run, built: Path) -> None:
    # what an earlier version's failed build left: a sealed snapshot violating its schema
    spec = RunSpec(registry_id="expected_versions", run_type="seal")
    files = {"EXPECTED_VERSIONS_v0_1.json": b'{"signed_off_by": 1}\n'}
    seal_files(RunStore(Workspace(built)), spec, files)
    assert cli("build", "--workspace", str(built))[0] == 0

    code, out, err = cli("validate", "--all", "--workspace", str(built))
    assert code == 1  # the failed build's folder is kept, and reported
    assert "FAIL" in out and "expected_versions" in out and "signed_off_by" in out
    code, out, err = cli("validate", "--active", "--workspace", str(built))
    assert code == 0, out + err
    active = json.loads((built / ".codex" / "ACTIVE_REGISTRY_POINTERS_v0_1.json").read_text())
    named = {p["active_ref"]["run_id"] for p in active["pointers"] if p["active_ref"]}
    *lines, summary = out.splitlines()
    passed = {line.split()[1].rsplit("/", 1)[-1] for line in lines}
    assert passed == named and len(named) >= 7
    assert summary == f"checked {len(named)} run folder(s): {len(named)} PASS, 0 FAIL"


def test_active_reports_a_damaged_active_folder(cli: Run, built: Path) -> None:
    code, out, _ = cli("validate", "--active", "--json", "--workspace", str(built))
    rows = [json.loads(line) for line in out.splitlines()]
    target = Path(next(row["run_folder"] for row in rows if "expected_versions" in row["run_id"]))
    artifact = target / "EXPECTED_VERSIONS_v0_1.json"
    artifact.chmod(0o644)
    artifact.write_bytes(artifact.read_bytes() + b" ")
    code, out, _ = cli("validate", "--active", "--workspace", str(built))
    assert code == 1
    assert "FAIL" in out and ("HASH_MISMATCH" in out or "SIZE_MISMATCH" in out)


def test_active_refuses_a_typo_and_mixed_selections(cli: Run, built: Path) -> None:
    code, _out, err = cli("validate", "--active", "--registry", "expected_version",
                          "--workspace", str(built))  # fmt: skip
    assert code == 2 and "UNKNOWN_REGISTRY" in err and "expected_versions" in err
    code, _out, err = cli("validate", "--active", "--all", "--workspace", str(built))
    assert code == 2 and "BAD_USAGE" in err
    code, out, _ = cli("validate", "--active", "--registry", "expected_versions",
                       "--workspace", str(built))  # fmt: skip
    assert code == 0 and len(out.splitlines()) == 2  # the folder's verdict, then the summary


def test_all_fails_run_folders_whose_names_fold_together(cli: Run, tmp_path: Path) -> None:
    import unicodedata

    from registry_pipeline.core.workspace.layout import init_workspace

    init_workspace(tmp_path)
    store = RunStore(Workspace(tmp_path))
    sealed = seal_files(store, RunSpec(registry_id="demo"), {"a.txt": b"a\n"})
    runs = tmp_path / ".codex" / "RUNS"
    for name in ("café_run", unicodedata.normalize("NFD", "café_run"), "CAFÉ_RUN"):
        (runs / name).mkdir()
        for item in sealed.path.iterdir():
            (runs / name / item.name).write_bytes(item.read_bytes())
    code, out, _ = cli("validate", "--all", "--workspace", str(tmp_path))
    assert code == 1
    blocks = out.split("FAIL  ")[1:]  # one block per failed folder, its problem lines included
    assert len(blocks) == 3
    assert all("UNSAFE_PATH" in block and "fold" in block for block in blocks), out
    assert f"PASS  .codex/RUNS/{sealed.run_id}" in out
