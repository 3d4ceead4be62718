"""Seed compatibility both ways: its sealed folders validate as documented; ours pass its rules."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from registry_pipeline.core.errors import Hint, RegistryError
from registry_pipeline.core.seal.envelope import RunSpec
from registry_pipeline.core.seal.run_store import RunStore, SealedRun
from registry_pipeline.core.seal.validate import inspect_run_folder, verify_run_folder
from registry_pipeline.core.workspace.sources import plan_sources
from registry_pipeline_tests._helpers import unseal

MakeRun = Callable[..., SealedRun]

SEALED_BY_REFERENCE = [
    "2026-11-21__121403__drift_signals_build",
    "2026-11-21__121403__op_status_table_build",
    "2026-11-21__121403__registry_delta_log_build",
    "2026-11-21__121403__run_registry_build",
    "2026-11-21__121403__system_health_render",
]
MISSING_ENVELOPE = "p1_20260120_001"
CRLF_CONVERTED = "p1_20260204_001"


# --------------------------------------------------------------------------------------------
# The seed system's validator, as its README describes it (written from that description only)
# --------------------------------------------------------------------------------------------

_FILE_LINE = re.compile(r"([0-9a-f]{64})  (.+)")
_ROOT_LINE = re.compile(r"ROOT_SHA256  ([0-9a-f]{64})")


def readme_checker(folder: Path) -> list[str]:
    """Every way `folder` breaks the seal as the seed README describes it; [] means PASS."""
    errors: list[str] = []
    files: dict[str, bytes] = {}
    for directory, _subdirs, names in os.walk(folder):
        for name in names:
            path = Path(directory) / name
            files[path.relative_to(folder).as_posix()] = path.read_bytes()
    for required in ("run.json", "manifest.json", "MANIFEST.sha256"):
        if required not in files:
            errors.append(f"missing {required}")
    if errors:
        return errors

    # run.json needs at least run_id and created_utc; git_commit null outside git;
    # working_tree_state clean, dirty or null.
    envelope = json.loads(files["run.json"])
    if not isinstance(envelope, dict):
        return ["run.json is not an object"]
    for key in ("run_id", "created_utc"):
        if not isinstance(envelope.get(key), str) or not envelope[key]:
            errors.append(f"run.json lacks {key}")
    commit = envelope.get("git_commit")
    if commit is not None and not re.fullmatch(r"[0-9a-f]{40}", str(commit)):
        errors.append(f"run.json git_commit is {commit!r}")
    if envelope.get("working_tree_state") not in ("clean", "dirty", None):
        errors.append(f"run.json working_tree_state is {envelope.get('working_tree_state')!r}")

    # manifest.json lists every file except manifest.json and MANIFEST.sha256, sorted by relpath.
    rows = json.loads(files["manifest.json"])
    listed = [row["relpath"] for row in rows]
    expected = sorted(r for r in files if r not in ("manifest.json", "MANIFEST.sha256"))
    if listed != sorted(listed):
        errors.append("manifest.json is not sorted by relpath")
    if sorted(listed) != expected:
        errors.append(f"manifest.json lists {sorted(listed)}, folder holds {expected}")
    for row in rows:
        data = files.get(row["relpath"])
        if data is None:
            continue
        if row["bytes"] != len(data):
            errors.append(f"{row['relpath']}: {len(data)} bytes, manifest.json says {row['bytes']}")
        if row["sha256"] != hashlib.sha256(data).hexdigest():
            errors.append(f"{row['relpath']}: sha256 differs from manifest.json")

    # MANIFEST.sha256: one `<hex>  <relpath>` line per file except itself, then ROOT last.
    text = files["MANIFEST.sha256"].decode("utf-8")
    if not text.endswith("\n"):
        errors.append("MANIFEST.sha256 does not end with a newline")
    lines = text.split("\n")[:-1] if text.endswith("\n") else text.split("\n")
    root_match = _ROOT_LINE.fullmatch(lines[-1]) if lines else None
    if root_match is None:
        errors.append("MANIFEST.sha256: last line is not ROOT_SHA256  <hex>")
    file_lines = lines[:-1] if root_match else lines
    hashes: dict[str, str] = {}
    for line in file_lines:
        match = _FILE_LINE.fullmatch(line)
        if match is None:
            errors.append(f"MANIFEST.sha256: bad line {line!r}")
            continue
        hashes[match.group(2)] = match.group(1)
    if len(hashes) != len(file_lines):
        errors.append("MANIFEST.sha256 lists a file twice")
    if sorted(hashes) != sorted(r for r in files if r != "MANIFEST.sha256"):
        errors.append("MANIFEST.sha256 does not list exactly every file except itself")
    for relpath, digest in hashes.items():
        if relpath in files and hashlib.sha256(files[relpath]).hexdigest() != digest:
            errors.append(f"{relpath}: sha256 differs from MANIFEST.sha256")

    # ROOT = sha256 of the per-file lines sorted as plain strings, each followed by \n.
    computed = hashlib.sha256(
        b"".join(line.encode("utf-8") + b"\n" for line in sorted(file_lines))
    ).hexdigest()
    if root_match and root_match.group(1) != computed:
        errors.append("ROOT_SHA256 does not match the sorted per-file lines")
    return errors


def root_line_of(folder: Path) -> str:
    (line,) = [
        line
        for line in (folder / "MANIFEST.sha256").read_text(encoding="utf-8").splitlines()
        if line.startswith("ROOT_SHA256")
    ]
    return line.split("  ", 1)[1]


def recomputed_root(folder: Path) -> str:
    lines = [
        line.encode("utf-8")
        for line in (folder / "MANIFEST.sha256").read_text(encoding="utf-8").splitlines()
        if not line.startswith("ROOT_SHA256")
    ]
    return hashlib.sha256(b"".join(line + b"\n" for line in sorted(lines))).hexdigest()


def coreutils_root(folder: Path) -> str | None:
    """`grep -v '^ROOT_SHA256' MANIFEST.sha256 | LC_ALL=C sort | sha256sum`, as the README says."""
    if not all(shutil.which(tool) for tool in ("grep", "sort", "sha256sum", "sh")):
        return None
    result = subprocess.run(
        ["sh", "-c", "grep -v '^ROOT_SHA256' MANIFEST.sha256 | LC_ALL=C sort | sha256sum"],
        cwd=folder,
        capture_output=True,
        check=True,
        env={**os.environ, "LC_ALL": "C"},
    )
    return result.stdout.decode().split()[0]


def sha256sum_check(folder: Path) -> subprocess.CompletedProcess[bytes] | None:
    """`sha256sum -c MANIFEST.sha256` inside the folder (it warns about the ROOT line)."""
    if shutil.which("sha256sum") is None:
        return None
    return subprocess.run(
        ["sha256sum", "-c", "MANIFEST.sha256"], cwd=folder, capture_output=True, check=False
    )


# --------------------------------------------------------------------------------------------
# 1. folders sealed by the seed system
# --------------------------------------------------------------------------------------------


@pytest.mark.reference
def test_reference_holds_the_documented_folders(reference: Path) -> None:
    assert sorted(os.listdir(reference / "sealed_by_reference")) == SEALED_BY_REFERENCE
    assert sorted(os.listdir(reference / "evidence_runs_crlf_converted")) == [
        MISSING_ENVELOPE,
        CRLF_CONVERTED,
    ]


@pytest.mark.reference
@pytest.mark.parametrize("name", SEALED_BY_REFERENCE)
def test_folder_sealed_by_reference_passes_here_and_by_the_readme(
    reference: Path, name: str
) -> None:
    """Ours and the independent checker accept what the seed sealed: a faithful model of it."""
    folder = reference / "sealed_by_reference" / name
    report = inspect_run_folder(folder)
    assert report.problems == ()
    assert report.status == "PASS"
    assert report.run_id == name
    assert report.root_sha256 == root_line_of(folder) == recomputed_root(folder)
    assert verify_run_folder(folder).ok
    assert inspect_run_folder(folder, fast=True).ok
    assert readme_checker(folder) == []
    coreutils = coreutils_root(folder)
    if coreutils is not None:
        assert coreutils == root_line_of(folder)


@pytest.mark.reference
def test_evidence_folder_without_envelope_fails(reference: Path) -> None:
    folder = reference / "evidence_runs_crlf_converted" / MISSING_ENVELOPE
    report = inspect_run_folder(folder)
    assert not report.ok
    missing = {p.path for p in report.problems if p.code == "MISSING_REQUIRED_FILE"}
    assert missing == {"run.json", "manifest.json"}
    with pytest.raises(RegistryError) as caught:
        verify_run_folder(folder)
    assert caught.value.code == "SEAL_INVALID"
    assert caught.value.problems == report.problems
    # Its files themselves are intact (`sha256sum -c` agrees): no content problem is invented.
    assert not {p.code for p in report.problems} & {
        "HASH_MISMATCH",
        "SIZE_MISMATCH",
        "MISSING_FILE",
    }
    assert readme_checker(folder) != []


def _crlf_mismatches(folder: Path) -> dict[str, dict[str, object]]:
    """manifest.json rows whose file no longer matches, computed independently."""
    rows = json.loads((folder / "manifest.json").read_bytes())
    return {
        row["relpath"]: row
        for row in rows
        if hashlib.sha256((folder / row["relpath"]).read_bytes()).hexdigest() != row["sha256"]
    }


@pytest.mark.reference
def test_evidence_folder_converted_to_lf_fails_with_the_hint(reference: Path) -> None:
    folder = reference / "evidence_runs_crlf_converted" / CRLF_CONVERTED
    broken = _crlf_mismatches(folder)
    assert set(broken) == {
        "RUN.md",
        "outputs/state_plane_v0_2/path_metrics.json",
        "outputs/state_plane_v0_2/quadrant_string.txt",
        "outputs/state_plane_v0_2/trajectory.csv",
        "run.json",
    }
    report = inspect_run_folder(folder)
    assert not report.ok
    seen = {(p.code, p.path) for p in report.problems}
    assert seen == {
        (code, relpath) for relpath in broken for code in ("HASH_MISMATCH", "SIZE_MISMATCH")
    }
    for problem in report.problems:
        assert problem.hint == Hint.LINE_ENDINGS_CONVERTED, problem
        assert problem.path is not None
        row = broken[problem.path]
        data = (folder / problem.path).read_bytes()
        if problem.code == "HASH_MISMATCH":
            assert problem.expected == row["sha256"]
            assert problem.found == hashlib.sha256(data).hexdigest()
        else:
            assert problem.expected == row["bytes"]
            assert problem.found == len(data)
    assert report.root_sha256 == root_line_of(folder) == recomputed_root(folder)


@pytest.mark.reference
def test_restoring_crlf_makes_the_evidence_folder_match(reference: Path, tmp_path: Path) -> None:
    source = reference / "evidence_runs_crlf_converted" / CRLF_CONVERTED
    copy = tmp_path / CRLF_CONVERTED  # the same name: run.json's run_id must still match
    shutil.copytree(source, copy)
    unseal(copy)
    broken = _crlf_mismatches(copy)
    assert broken
    for relpath, row in broken.items():
        path = copy / relpath
        data = path.read_bytes()
        assert b"\r\n" not in data
        restored = data.replace(b"\n", b"\r\n")
        assert len(restored) == row["bytes"]
        assert hashlib.sha256(restored).hexdigest() == row["sha256"]
        path.write_bytes(restored)
    report = inspect_run_folder(copy)
    assert report.problems == ()
    assert report.root_sha256 == root_line_of(source)
    assert readme_checker(copy) == []


# --------------------------------------------------------------------------------------------
# 2. folders we seal satisfy the seed system's validator as the README describes it
# --------------------------------------------------------------------------------------------

RICH_PAYLOAD = {
    "REGISTRY_v0_1.json": b'{"records": []}\n',
    "Zeta.md": b"# upper case sorts first\r\n",
    "alpha.txt": b"alpha\n",
    "r\u00e9sum\u00e9.md": "r\u00e9sum\u00e9\n".encode(),
    "empty.txt": b"",
    "binary.bin": bytes(range(256)) * 4,
    "sub-x.txt": b"dash sorts before dot and slash\n",
    "sub.txt": b"dot\n",
    "sub/data.csv": b"id,value\r\n1,a\r\n",
    "sub/deeper/even deeper/n\u00f8te.txt": b"deep\n",
    "outputs/state_plane/trajectory.csv": b"t,x\n0,1\n",
}


def _assert_seed_compatible(folder: Path) -> None:
    assert readme_checker(folder) == []
    coreutils = coreutils_root(folder)
    if coreutils is not None:
        assert coreutils == root_line_of(folder)
    check = sha256sum_check(folder)
    if check is not None:
        assert check.returncode == 0, check.stdout + check.stderr
        lines = check.stdout.decode("utf-8", "replace").splitlines()
        assert lines and all(line.endswith(": OK") for line in lines), lines


def test_our_rich_run_with_subfolders_satisfies_the_readme_checker(make_run: MakeRun) -> None:
    sealed = make_run(RICH_PAYLOAD, registry_id="compat_check")
    _assert_seed_compatible(sealed.path)
    envelope = json.loads((sealed.path / "run.json").read_bytes())
    assert envelope["run_id"] == sealed.path.name
    assert envelope["git_commit"] is None  # the workspace fixture is outside git
    assert envelope["working_tree_state"] is None


def test_our_run_sealed_from_source_files_satisfies_the_readme_checker(
    store: RunStore, tmp_path: Path
) -> None:
    """The `registry seal SRC` path: copied (not in-memory) files, hashed while copied."""
    src = tmp_path / "src"
    for relpath, data in RICH_PAYLOAD.items():
        (src / relpath).parent.mkdir(parents=True, exist_ok=True)
        (src / relpath).write_bytes(data)
    with store.stage(RunSpec(registry_id="compat_copy", run_type="seal")) as staging:
        staging.add_copies(plan_sources([src]))
        sealed = staging.publish()
    _assert_seed_compatible(sealed.path)
    rows = json.loads((sealed.path / "manifest.json").read_bytes())
    assert {row["relpath"] for row in rows} == {*RICH_PAYLOAD, "run.json"}


def test_the_readme_checker_can_fail(make_run: MakeRun) -> None:
    """Guard against a checker that accepts everything."""
    sealed = make_run()
    unseal(sealed.path)
    (sealed.path / "data" / "extra.csv").write_bytes(b"x\n")
    assert readme_checker(sealed.path) != []
    (sealed.path / "data" / "extra.csv").unlink()
    assert readme_checker(sealed.path) == []
    (sealed.path / "notes.txt").write_bytes(b"line one\r\nline two\r\n")
    assert readme_checker(sealed.path) != []
