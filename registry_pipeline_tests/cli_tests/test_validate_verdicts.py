"""`registry validate` tells damaged folders from folders sealed under an older scheme or not at
all, and `--all` follows every run root of the catalog."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from registry_pipeline_tests._helpers import copy_demo

Run = Callable[..., tuple[int, str, str]]


def _sha256sum_folder(folder: Path, files: dict[str, bytes]) -> None:
    """A folder sealed the way `sha256sum * > MANIFEST.sha256` seals it (no root, no run.json)."""
    lines = []
    for relpath, data in sorted(files.items()):
        (folder / relpath).parent.mkdir(parents=True, exist_ok=True)
        (folder / relpath).write_bytes(data)
        lines.append(f"{hashlib.sha256(data).hexdigest()}  {relpath}\n")
    (folder / "MANIFEST.sha256").write_text("".join(lines))


@pytest.fixture
def evidence(demo: Path) -> Path:
    """The demo with a second run root, `evidence/runs`, holding one folder of each kind."""
    catalog_path = demo / "registries" / "REGISTRY_CATALOG_v0_2.json"
    catalog = json.loads(catalog_path.read_text())
    catalog["run_roots"] = [".codex/RUNS", "evidence/runs"]
    catalog_path.write_text(json.dumps(catalog, indent=2))
    runs = demo / "evidence" / "runs"
    (runs / "p1_unsealed").mkdir(parents=True)
    (runs / "p1_unsealed" / "RUN.md").write_text("notes\n")
    (runs / "p1_listed").mkdir()
    _sha256sum_folder(runs / "p1_listed", {"RUN.md": b"a\r\n", "outputs/x.txt": b"1\n"})
    (runs / "p1_altered").mkdir()
    _sha256sum_folder(runs / "p1_altered", {"RUN.md": b"a\r\n"})
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
    assert "2 intact in an older format, 1 unsealed" in err  # p1_altered restored
    code, _out, _err = cli("validate", "--all", "--strict", "--workspace", str(evidence))
    assert code == 1


def test_a_named_unsealed_folder_is_not_a_pass(cli: Run, evidence: Path) -> None:
    code, out, _ = cli("validate", str(evidence / "evidence" / "runs" / "p1_unsealed"))
    assert code == 1 and out.startswith("UNSEALED")


def test_an_unlisted_or_extra_file_is_not_intact(cli: Run, tmp_path: Path) -> None:
    root = copy_demo(tmp_path)
    folder = root / ".codex" / "RUNS" / "p1_extra"
    folder.mkdir()
    _sha256sum_folder(folder, {"a.txt": b"a\n"})
    (folder / "b.txt").write_text("not listed\n")
    code, out, _ = cli("validate", "--all", "--workspace", str(root))
    assert code == 1 and "FAIL  .codex/RUNS/p1_extra" in out


def test_the_seed_evidence_folders(cli: Run, reference: Path) -> None:
    """The seed's two evidence folders: a plain sha256sum list that still verifies, and a full
    seal broken by line-ending conversion (LAYOUT.md)."""
    folders = sorted((reference / "evidence_runs_crlf_converted").iterdir())
    code, out, _ = cli("validate", "--json", *map(str, folders))
    verdicts = {
        Path(row["run_folder"]).name: row["verdict"] for row in map(json.loads, out.splitlines())
    }
    assert verdicts == {"p1_20260120_001": "INTACT_OLDER_FORMAT", "p1_20260204_001": "FAIL"}
    assert code == 1
