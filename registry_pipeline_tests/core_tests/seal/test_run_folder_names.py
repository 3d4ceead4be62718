"""Run folder names are unique after NFC and case folding: reported, and never published twice."""

from __future__ import annotations

import os
import unicodedata
from datetime import UTC, datetime
from pathlib import Path

import pytest

from registry_pipeline.core.errors import Problem
from registry_pipeline.core.seal.envelope import RunSpec
from registry_pipeline.core.seal.run_id import base_run_id
from registry_pipeline.core.seal.run_store import RunStore, seal_files
from registry_pipeline.core.seal.validate import run_folder_name_problems
from registry_pipeline.core.workspace.layout import Workspace

NFC = unicodedata.normalize("NFC", "caf\u00e9_run")
NFD = unicodedata.normalize("NFD", "caf\u00e9_run")
UPPER = "CAF\u00c9_RUN"
FIXED = datetime(2026, 2, 5, 21, 36, 1, 250_000, tzinfo=UTC)


def codes(problems: tuple[Problem, ...]) -> list[str]:
    return [problem.code for problem in problems]


def test_the_three_cafe_folders_all_fail() -> None:
    assert NFC != NFD and len({NFC, NFD, UPPER}) == 3
    found = run_folder_name_problems([NFC, "other_run", NFD, UPPER])
    assert set(found) == {NFC, NFD, UPPER}
    for name, problems in found.items():
        assert all(p.code == "UNSAFE_PATH" for p in problems), name
        assert all(p.path is None for p in problems), name  # the folder itself
    assert len(found[NFC]) == 1 and len(found[UPPER]) == 1
    assert len(found[NFD]) == 2  # not NFC, and a collision
    (collision,) = found[UPPER]
    assert NFC in collision.message and "other_run" not in collision.message


def test_a_name_that_is_not_nfc_fails_alone() -> None:
    found = run_folder_name_problems([NFD, "other_run"])
    assert set(found) == {NFD}
    assert codes(found[NFD]) == ["UNSAFE_PATH"]
    assert "NFC" in found[NFD][0].message


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("2026-02-05__213601__mass_build", "2026-02-05__213601__ma\u00df_build"),  # ß -> ss
        ("2026-02-05__213601__kilo_build", "2026-02-05__213601__\u212ailo_build"),  # Kelvin sign
        ("p1_20260120_001", "P1_20260120_001"),
    ],
)
def test_names_that_fold_together_collide(one: str, other: str) -> None:
    found = run_folder_name_problems([one, other])
    assert set(found) == {one, other}


def test_unsafe_names_fail() -> None:
    undecodable = os.fsdecode(b"run_\xff")
    found = run_folder_name_problems(["a\\b", "tab\there", undecodable, "fine"])
    assert set(found) == {"a\\b", "tab\there", undecodable}
    assert "\\xff" in found[undecodable][0].message  # printable, never a lone surrogate


def test_no_names_no_problems() -> None:
    assert run_folder_name_problems([]) == {}
    assert run_folder_name_problems(iter(["a", "b"])) == {}


def test_the_reference_folder_names_are_all_fine(reference: Path) -> None:
    names = [
        entry.name
        for parent in ("sealed_by_reference", "sealed_by_seal_promotion")
        for entry in os.scandir(reference / parent)
    ]
    names += os.listdir(reference / "evidence_runs_crlf_converted")
    assert len(names) == 12
    assert run_folder_name_problems(names) == {}


def test_our_run_ids_are_all_fine(store: RunStore, workspace: Workspace) -> None:
    for registry_id in ("run_registry", "run_registry", "a", "z9_x"):
        seal_files(store, RunSpec(registry_id=registry_id), {"a.txt": b"x\n"})
    assert run_folder_name_problems(os.listdir(workspace.runs_dir)) == {}


# --------------------------------------------------------------------------------------------
# the run store never publishes a name that folds to an existing one
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("registry_id", "foreign", "expected_suffix"),
    [
        ("demo", "DEMO_build", "__001"),
        ("demo", "Demo_build__004", "__005"),
        ("mass", "ma\u00df_build", "__001"),
        ("kilo", "\u212ailo_build", "__001"),
    ],
)
def test_store_takes_the_next_id_when_a_folder_folds_to_it(
    workspace: Workspace, registry_id: str, foreign: str, expected_suffix: str
) -> None:
    stamp = FIXED.strftime("%Y-%m-%d__%H%M%S__")
    (workspace.runs_dir / (stamp + foreign)).mkdir()
    store = RunStore(workspace, clock=lambda: FIXED)
    sealed = seal_files(store, RunSpec(registry_id=registry_id), {"a.txt": b"x\n"})
    assert sealed.run_id == base_run_id(registry_id, FIXED) + expected_suffix
    names = os.listdir(workspace.runs_dir)
    assert sealed.run_id not in run_folder_name_problems(names)  # (the Kelvin sign is not NFC)
    folded = [unicodedata.normalize("NFC", n).casefold() for n in names]
    assert len(set(folded)) == len(folded)


def test_store_ignores_folders_of_other_seconds(workspace: Workspace) -> None:
    (workspace.runs_dir / "2026-02-05__213600__DEMO_build").mkdir()
    store = RunStore(workspace, clock=lambda: FIXED)
    sealed = seal_files(store, RunSpec(registry_id="demo"), {"a.txt": b"x\n"})
    assert sealed.run_id == base_run_id("demo", FIXED)


def test_name_problems_merge_into_the_folder_report(tmp_path: Path) -> None:
    """How `validate --all` fails a folder whose name collides: its report gains the problems."""
    from registry_pipeline.core.seal.validate import inspect_run_folder

    runs = tmp_path / "RUNS"
    for name in (NFC, UPPER):
        (runs / name).mkdir(parents=True)
    found = run_folder_name_problems(os.listdir(runs))
    report = inspect_run_folder(runs / UPPER)
    merged = report.with_problems(found.get(UPPER, ()))
    assert merged.problems == report.problems + found[UPPER]
    assert merged.status == "FAIL" and merged.run_folder == report.run_folder
    assert report.with_problems(()) is report
