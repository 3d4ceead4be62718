"""A run index over several read blocks is checked, hashed and sealed from its path, never whole."""

from __future__ import annotations

from pathlib import Path

import pytest

from registry_pipeline.core.seal.hashing import BLOCK_SIZE, sha256_file
from registry_pipeline_tests._helpers import Run, build_entries, forbid_whole_reads
from registry_pipeline_tests.core_tests.run_index._support import (
    OVERRIDES_LOG,
    RUNS_LOG,
    jsonl,
    make_workspace,
    override,
    record,
    run_id,
    utc,
)

OVR = "OVR-20260901-0900-OOOO"


@pytest.fixture
def large(tmp_path: Path) -> Path:
    """The two run logs, the run index over three read blocks (one run overridden)."""
    root = make_workspace(tmp_path)
    relying = record(run_id=run_id(1), uniqueness_scene="FAIL", override_id=OVR)
    runs = [relying] + [
        record(run_id=run_id(n % 1400, day=2 + n // 1400), created_utc=utc(day=2 + n // 1400))
        for n in range(1, 6000)
    ]
    (root / RUNS_LOG).write_bytes(jsonl(runs))
    (root / OVERRIDES_LOG).write_bytes(jsonl([override(override_id=OVR, run_id=run_id(1))]))
    assert (root / RUNS_LOG).stat().st_size > 3 * BLOCK_SIZE
    return root


@pytest.fixture
def never_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reading the run index whole (its source or a sealed copy) fails."""
    forbid_whole_reads(monkeypatch, lambda path: path.name == Path(RUNS_LOG).name)


def test_a_large_run_index_is_sealed_and_reused_without_being_read_whole(
    cli: Run, large: Path, never_whole: None
) -> None:
    source = large / RUNS_LOG

    code, built = build_entries(cli, large)
    again, reused = build_entries(cli, large, "--force")  # unchanged: the shortcut settles it
    first, second = built["run_index"], reused["run_index"]
    assert code == again == 0

    assert first["status"] == "built" and first["record_count"] == 6000
    sealed = large / ".codex" / "RUNS" / str(first["run_id"]) / source.name
    assert sha256_file(sealed) == sha256_file(source)
    assert first["checks"] == {
        "seal_valid": True,
        "schema_valid": True,
        "append_only": True,
        "rules": True,
    }
    assert second["status"] == "reused" and second["run_id"] == first["run_id"]
    assert second["record_count"] == 6000


def test_a_source_changed_after_its_checks_is_never_sealed(
    cli: Run, large: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rewritten between its checks and the seal's copy: SOURCE_CHANGED, no unchecked snapshot."""
    import registry_pipeline.defs.assets as assets

    source = large / RUNS_LOG
    governed = assets.governed_files

    def then_rewritten(*args: object, **kwargs: object) -> object:
        found = governed(*args, **kwargs)  # type: ignore[arg-type]
        if source.exists():
            source.write_bytes(source.read_bytes() + b"{}\n")  # unchecked: not even a record
        return found

    monkeypatch.setattr(assets, "governed_files", then_rewritten)
    code, out, err = cli("build", "--workspace", str(large), "--json", "--force")

    assert code != 0 and "SOURCE_CHANGED" in out + err
    runs = large / ".codex" / "RUNS"
    sealed = [p for p in runs.glob("*/" + source.name) if p.read_bytes().endswith(b"{}\n")]
    assert sealed == []
