"""`registry validate` tells damaged folders from folders sealed under an older scheme or not at
all, and `--all` follows every run root of the catalog."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from registry_pipeline.core.seal.envelope import RunSpec
from registry_pipeline.core.seal.run_store import RunStore, SealedRun, seal_files
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline_tests._helpers import Run, copy_demo, sha256sum_folder, unseal

MakeRun = Callable[..., SealedRun]


def second_run_root(demo: Path) -> Path:
    """`evidence/runs`, made the demo's second run root (another tool's, not where it seals)."""
    catalog_path = demo / "registries" / "REGISTRY_CATALOG_v0_2.json"
    catalog = json.loads(catalog_path.read_text())
    catalog["run_roots"] = [".codex/RUNS", "evidence/runs"]
    catalog_path.write_text(json.dumps(catalog, indent=2))
    runs = demo / "evidence" / "runs"
    runs.mkdir(parents=True)
    return runs


def evidence_root(demo: Path) -> Path:
    """`second_run_root`, holding an unsealed folder (`p1_unsealed`)."""
    runs = second_run_root(demo)
    (runs / "p1_unsealed").mkdir()
    (runs / "p1_unsealed" / "RUN.md").write_text("notes\n")
    return runs


@pytest.fixture
def evidence(demo: Path) -> Path:
    """The demo with a second run root, `evidence/runs`, holding one folder of each kind."""
    runs = evidence_root(demo)
    (runs / "p1_listed").mkdir()
    sha256sum_folder(runs / "p1_listed", {"RUN.md": b"a\r\n", "outputs/x.txt": b"1\n"})
    (runs / "p1_altered").mkdir()
    sha256sum_folder(runs / "p1_altered", {"RUN.md": b"a\r\n"})
    (runs / "p1_altered" / "RUN.md").write_bytes(b"a\n")  # what a line-ending conversion does
    return demo


def test_all_follows_the_catalogs_run_roots_with_one_verdict_each(cli: Run, evidence: Path) -> None:
    assert cli("build", "--workspace", str(evidence))[0] == 0
    code, out, err = cli("validate", "--all", "--json", "--workspace", str(evidence))
    verdicts = {
        Path(row["run_folder"]).name: row["verdict"] for row in map(json.loads, out.splitlines())
    }
    assert verdicts["p1_unsealed"] == "UNSEALED"
    assert verdicts["p1_listed"] == "INTACT_OLDER_FORMAT"
    assert verdicts["p1_altered"] == "FAIL"
    assert sum(v == "PASS" for v in verdicts.values()) >= 9  # the build's folders
    assert code == 1  # p1_altered is damaged
    (evidence / "evidence" / "runs" / "p1_altered" / "RUN.md").write_bytes(b"a\r\n")
    code, out, err = cli("validate", "--all", "--workspace", str(evidence))
    assert code == 0, out + err
    assert "INTACT  evidence/runs/p1_listed  (older format: sha256sum list" in out
    assert "UNSEALED  evidence/runs/p1_unsealed" in out
    assert "2 intact in an older format, 1 unsealed" in out  # p1_altered restored
    code, _out, _err = cli("validate", "--all", "--strict", "--workspace", str(evidence))
    assert code == 1


def test_a_named_unsealed_folder_is_not_a_pass(cli: Run, evidence: Path) -> None:
    code, out, _ = cli("validate", str(evidence / "evidence" / "runs" / "p1_unsealed"))
    assert code == 1 and out.startswith("UNSEALED")


def test_an_unlisted_or_extra_file_is_not_intact(cli: Run, tmp_path: Path) -> None:
    root = copy_demo(tmp_path)
    folder = root / ".codex" / "RUNS" / "p1_extra"
    folder.mkdir()
    sha256sum_folder(folder, {"a.txt": b"a\n"})
    (folder / "b.txt").write_text("not listed\n")
    code, out, _ = cli("validate", "--all", "--workspace", str(root))
    assert code == 1 and "FAIL  .codex/RUNS/p1_extra" in out
    assert "UNLISTED_FILE" in out  # a FAIL always names its reason


def test_the_seed_evidence_folders(cli: Run, reference: Path) -> None:
    """The seed's two evidence folders: a plain sha256sum list that still verifies, and a full
    seal broken by line-ending conversion (LAYOUT.md)."""
    folders = sorted((reference / "evidence_runs_crlf_converted").iterdir())
    code, out, _ = cli("validate", "--json", *map(str, folders))
    verdicts = {
        Path(row["run_folder"]).name: row["verdict"] for row in map(json.loads, out.splitlines())
    }
    assert verdicts == {"p1_20260120_001": "INTACT_OLDER_FORMAT", "p1_20260204_001": "CONVERTED"}
    assert code == 1  # named folders are strict


def test_a_folder_git_converted_is_its_own_verdict_lenient_only_outside_our_run_root(
    cli: Run, demo: Path
) -> None:
    """Every problem a file that matches its seal once its line endings are converted back:
    CONVERTED. In another tool's run root (the seed's evidence) it is lenient like an older
    format; in the workspace's own run root, where seals must hold, it fails; one unexplained
    problem more and it is FAIL anywhere."""
    workspace = Workspace(demo)
    files = {"RUN.md": b"a\r\nb\r\n", "x.txt": b"x\n"}
    moved = second_run_root(demo)
    run = seal_files(RunStore(workspace), RunSpec(registry_id="demo"), files)
    unseal(run.path)
    (run.path / "RUN.md").write_bytes(b"a\nb\n")
    root = str(workspace.root)
    code, out, err = cli("validate", "--all", "--workspace", root)
    assert code == 1 and "a failure in the workspace's own run root" in out, out + err
    run.path.rename(moved / run.run_id)
    code, out, err = cli("validate", "--all", "--workspace", root)
    assert code == 0 and f"CONVERTED  evidence/runs/{run.run_id}" in out
    assert "HASH_MISMATCH" in out and "1 with line endings converted" in out
    assert cli("validate", "--all", "--strict", "--workspace", root)[0] == 1
    (moved / run.run_id / "x.txt").write_bytes(b"y\n")
    code, out, _ = cli("validate", "--all", "--workspace", root)
    assert code == 1 and f"FAIL  evidence/runs/{run.run_id}" in out


def _registry(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`registry ARGS...` in a child process, so a hang is a failed test, not a stuck suite."""
    env = {k: v for k, v in os.environ.items() if k not in ("REGISTRY_WORKSPACE", "DAGSTER_HOME")}
    return subprocess.run(
        [sys.executable, "-m", "registry_pipeline", *args, "--workspace", str(root)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )


def test_a_fifo_in_an_older_format_folder_fails_and_is_never_opened(tmp_path: Path) -> None:
    root = copy_demo(tmp_path)
    folder = root / ".codex" / "RUNS" / "p1_fifo"
    folder.mkdir()
    sha256sum_folder(folder, {"a.txt": b"a\n"})
    os.mkfifo(folder / "p")
    with (folder / "MANIFEST.sha256").open("a") as manifest:
        manifest.write(f"{'0' * 64}  p\n")
    for args in ((str(folder),), ("--all",), ("--all", "--json")):
        done = _registry(root, "validate", *args)
        assert done.returncode == 1, done.stdout + done.stderr
        assert "NOT_A_REGULAR_FILE" in done.stdout and "INTACT" not in done.stdout
    os.mkfifo(folder / "run.json")  # what --registry reads to tell a folder's registry
    done = _registry(root, "validate", "--all", "--registry", "expected_versions")
    assert done.returncode == 0, done.stdout + done.stderr  # p1_fifo is of no registry
    assert "checked 0 run folder(s)" in done.stdout


def test_run_folders_whose_names_fold_together_are_not_intact(cli: Run, tmp_path: Path) -> None:
    root = copy_demo(tmp_path)
    for name in ("old1", "OLD1"):
        (root / ".codex" / "RUNS" / name).mkdir()
        sha256sum_folder(root / ".codex" / "RUNS" / name, {"a.txt": b"a\n"})
    rc, out, _ = cli("validate", "--all", "--workspace", str(root))
    assert rc == 1
    blocks = out.split("FAIL  ")[1:]
    assert len(blocks) == 2 and all("UNSAFE_PATH" in block for block in blocks), out


def test_an_unsealed_folder_with_a_bad_name_fails(cli: Run, tmp_path: Path) -> None:
    root = copy_demo(tmp_path)
    runs = os.fsencode(root / ".codex" / "RUNS")
    os.mkdir(runs + b"/notes\xff")
    with open(runs + b"/notes\xff/RUN.md", "wb") as notes:
        notes.write(b"notes\n")
    rc, out, _ = cli("validate", "--all", "--workspace", str(root))
    assert rc == 1 and "FAIL  .codex/RUNS/notes\\xff" in out and "UNSAFE_PATH" in out
    rc, out, _ = cli("validate", "--all", "--json", "--workspace", str(root))
    (row,) = map(json.loads, out.splitlines())
    assert row["verdict"] == "FAIL" and row["run_folder"].endswith("notes\\xff")


def test_fast_never_hashes_and_says_so(
    cli: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from registry_pipeline.core.seal import validate as inspection
    from registry_pipeline.core.seal import verdicts

    root = copy_demo(tmp_path)
    folder = root / ".codex" / "RUNS" / "p1_old"
    folder.mkdir()
    sha256sum_folder(folder, {"a.txt": b"a\n", "big.bin": b"x" * (inspection.SMALL_FILE + 1)})
    hashed: list[str] = []

    def spy(hash_function: Callable[..., Any]) -> Callable[..., Any]:
        def counted(path: Path | bytes, *args: Any) -> Any:
            hashed.append(path.name if isinstance(path, Path) else "<bytes>")
            return hash_function(path, *args)

        return counted

    for module in (inspection, verdicts):
        for name in ("sha256_file", "sha256_bytes"):
            if hasattr(module, name):
                monkeypatch.setattr(module, name, spy(getattr(module, name)))
    rc, out, _err = cli("validate", str(folder), "--workspace", str(root))
    assert rc == 1 and out.startswith("INTACT  .codex/RUNS/p1_old")  # named: strict
    assert hashed.count("big.bin") == 1, hashed  # one inspection, one hashing pass
    hashed.clear()
    (folder / "a.txt").write_bytes(b"b\n")  # same size, other content: only hashing sees it
    rc, out, _err = cli("validate", "--all", "--fast", "--workspace", str(root))
    assert hashed == []
    assert rc == 0 and "INTACT  .codex/RUNS/p1_old" in out and "NOT hash-checked" in out
    assert "hashes and artifact schemas were NOT checked" in out
    rc, out, _ = cli("validate", "--all", "--fast", "--json", "--workspace", str(root))
    (row,) = map(json.loads, out.splitlines())
    assert (row["verdict"], row["mode"]) == ("INTACT_OLDER_FORMAT", "fast")
    rc, out, _ = cli("validate", "--all", "--workspace", str(root))
    assert rc == 1 and "HASH_MISMATCH" in out


def test_named_folders_with_an_unknown_registry_are_refused(
    cli: Run, workspace: Workspace, make_run: MakeRun
) -> None:
    root, folder = workspace.root, make_run({"a": b"a"}).path
    rc, out, err = cli("validate", str(folder), "--registry", "dem", "--workspace", str(root))
    assert rc == 2 and "UNKNOWN_REGISTRY" in err and "'demo'" in err and "checked" not in err
    rc, out, err = cli("validate", str(folder), "--registry", "demo", "--workspace", str(root))
    assert rc == 0 and out.startswith("PASS")


def test_a_missing_named_folder_is_never_filtered_out(
    cli: Run, tmp_path: Path, workspace: Workspace, make_run: MakeRun
) -> None:
    root, folder = workspace.root, make_run({"a": b"a"}).path
    missing = str(tmp_path / "nonexistent")
    for registry in ("demo", "x"):
        rc, out, err = cli("validate", missing, "--registry", registry, "--workspace", str(root))
        assert rc == 2 and "NOT_A_RUN_FOLDER" in err and "nonexistent" in err, err
    rc, out, err = cli("validate", str(folder), missing, "--registry", "demo",
                       "--json", "--workspace", str(root))  # fmt: skip
    rows = [json.loads(line) for line in out.splitlines()]
    assert rc == 2 and [row.get("verdict", row["status"]) for row in rows] == ["PASS", "ERROR"]


def test_a_newline_in_a_run_folder_name_cannot_forge_a_line(cli: Run, tmp_path: Path) -> None:
    root = copy_demo(tmp_path)
    folder = root / ".codex" / "RUNS" / "p1\nPASS  forged"
    folder.mkdir()
    sha256sum_folder(folder, {"a.txt": b"a\n"})
    rc, out, _ = cli("validate", "--all", "--workspace", str(root))
    assert rc == 1
    assert not any(line.startswith("PASS") for line in out.splitlines()), out
    assert "FAIL  .codex/RUNS/p1\\nPASS  forged" in out


@pytest.mark.parametrize(
    ("sealed", "now"),
    [
        (b"a\nb\nc\n", b"a\r\nb\nc\n"),  # one carriage return added: no checkout does that
        (b"a\r\nb\r\nc\r\n", b"a\nb\r\nc\r\n"),  # one taken away
    ],
)
def test_a_partial_line_ending_edit_is_no_conversion_but_a_failure(
    cli: Run, demo: Path, sealed: bytes, now: bytes
) -> None:
    """Only a whole-file conversion, as git makes it, explains a mismatch: a line whose value
    gained or lost a `\\r` was edited, even though converting back would restore its bytes."""
    runs = second_run_root(demo)
    run = seal_files(RunStore(Workspace(demo)), RunSpec(registry_id="demo"), {"t.csv": sealed})
    unseal(run.path)
    (run.path / "t.csv").write_bytes(now)
    run.path.rename(runs / run.run_id)
    code, out, _ = cli("validate", "--all", "--workspace", str(demo))
    assert code == 1 and f"FAIL  evidence/runs/{run.run_id}" in out
    assert "line endings were converted" not in out
