"""The pointer promises under hand edits and failed writes, as an operator meets them.

- A hand-edited pointer file stops builds (POINTER_MISMATCH naming the registry, the file's
  value and the journal's) until `registry pointers accept` records the edit; then verify passes.
- A promotion reported as failed (an immutable pointer file) leaves the file as it was, is
  journaled as aborted, and is never applied by a later change.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from registry_pipeline.core.pointers.journal import read_records
from registry_pipeline.core.pointers.store import PointerStore
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline_tests._helpers import Entries, Run, copy_built, environment_kept, registry

SOURCE = Path("registries") / "expected_versions" / "EXPECTED_VERSIONS_v0_1.json"


def _build(cli: Run, root: Path) -> tuple[int, dict[str, dict[str, object]], str]:
    code, out, err = cli("build", "--workspace", str(root), "--json")
    return code, {entry["registry_id"]: entry for entry in json.loads(out)["registries"]}, err


Snapshots = tuple[Path, str, str]


@pytest.fixture(scope="module")
def two_snapshots_once(
    built_demo_once: tuple[Path, dict[str, Any]], tmp_path_factory: pytest.TempPathFactory
) -> Snapshots:
    """The demo workspace built twice, expected_versions edited in between: its root, the older
    and the newer (active) snapshot of expected_versions. The first build is the session's
    (`built_demo_once`, exit 0), the second one runs on a copy of it. Tests take a copy
    (`two_snapshots`)."""
    with environment_kept("DAGSTER_HOME", "REGISTRY_WORKSPACE"):  # the build's DAGSTER_HOME undone
        root = copy_built(built_demo_once[0], tmp_path_factory.mktemp("two_snapshots"))
        first = {entry["registry_id"]: entry for entry in built_demo_once[1]["registries"]}
        source = root / SOURCE
        source.write_text(source.read_text().replace('"0.1.0"', '"0.1.1"', 1))
        code, second, _ = _build(registry, root)
    assert code == 0 and second["expected_versions"]["promoted"] is True
    older, newer = first["expected_versions"]["run_id"], second["expected_versions"]["run_id"]
    return root, str(older), str(newer)


@pytest.fixture
def two_snapshots(two_snapshots_once: Snapshots, tmp_path: Path) -> Snapshots:
    """A private copy of `two_snapshots_once` (a copy costs much less than two builds)."""
    root, older, newer = two_snapshots_once
    return copy_built(root, tmp_path), older, newer


def _edit_pointer(root: Path, registry_id: str, run_id: str) -> None:
    """What an operator does in an editor: point a registry at another valid snapshot."""
    store = PointerStore(Workspace(root))
    document = json.loads(store.pointers_path.read_text())
    root_hash = (root / ".codex" / "RUNS" / run_id / "MANIFEST.sha256").read_text()
    for entry in document["pointers"]:
        if entry["registry_id"] == registry_id:
            entry["active_ref"]["run_id"] = run_id
            entry["active_ref"]["manifest_sha256"] = root_hash.split("ROOT_SHA256")[1].split()[-1]
    store.pointers_path.write_text(json.dumps(document, indent=2) + "\n")


def test_a_hand_edited_pointer_stops_the_build_until_accepted(
    cli: Run, two_snapshots: Snapshots
) -> None:
    demo, older, newer = two_snapshots
    _edit_pointer(demo, "expected_versions", older)
    runs_before = sorted(p.name for p in (demo / ".codex" / "RUNS").iterdir())

    code, _out, err = cli("pointers", "verify", "--workspace", str(demo))
    assert code == 1 and "POINTER_MISMATCH" in err
    code, out, err = cli("build", "--workspace", str(demo))
    assert code == 1
    assert "POINTER_MISMATCH" in err and "expected_versions" in err
    assert older in err and newer in err and "registry pointers accept" in err
    assert sorted(p.name for p in (demo / ".codex" / "RUNS").iterdir()) == runs_before
    code, out, _ = cli("pointers", "show", "--workspace", str(demo))
    assert "[POINTER_MISMATCH]" in next(row for row in out.splitlines() if "expected_vers" in row)

    code, out, err = cli("pointers", "accept", "expected_versions", "--reason", "pinned for the "
                         "audit", "--workspace", str(demo))  # fmt: skip
    assert code == 0, err
    code, _out, err = cli("pointers", "verify", "--workspace", str(demo))
    assert code == 0 and "ACCEPTED_EDIT" in err
    last = list(read_records(PointerStore(Workspace(demo)).journal_path))[-1]
    assert last.action == "accept" and last.to_ref is not None and last.to_ref.run_id == older
    assert last.from_ref is not None and last.from_ref.run_id == newer

    code, entries, _ = _build(cli, demo)  # the accepted edit holds: builds do not override it
    assert code == 0
    assert str(entries["expected_versions"]["promotion"]).startswith("held: pinned for the audit")
    assert PointerStore(Workspace(demo)).read().active("expected_versions").run_id == older
    assert cli("pointers", "verify", "--workspace", str(demo))[0] == 0


def test_accept_refuses_when_there_is_nothing_to_accept_or_the_edit_is_invalid(
    cli: Run, two_snapshots: Snapshots
) -> None:
    demo, older, _newer = two_snapshots
    code, _out, err = cli("pointers", "accept", "expected_versions", "--reason", "x",
                          "--workspace", str(demo))  # fmt: skip
    assert code == 1 and "NOTHING_TO_ACCEPT" in err
    _edit_pointer(demo, "expected_versions", older)
    store = PointerStore(Workspace(demo))
    document = json.loads(store.pointers_path.read_text())
    for entry in document["pointers"]:
        if entry["registry_id"] == "expected_versions":
            entry["active_ref"]["manifest_sha256"] = "0" * 64
    store.pointers_path.write_text(json.dumps(document))
    code, _out, err = cli("pointers", "accept", "expected_versions", "--reason", "x",
                          "--workspace", str(demo))  # fmt: skip
    assert code == 1 and "TARGET_INVALID" in err
    assert cli("pointers", "verify", "--workspace", str(demo))[0] == 1  # still refused


def _chattr(flag: str, path: Path) -> bool:
    if shutil.which("chattr") is None:
        return False
    result = subprocess.run(["chattr", flag, str(path)], capture_output=True, check=False)
    return result.returncode == 0


def test_a_failed_promotion_is_not_applied_later(cli: Run, two_snapshots: Snapshots) -> None:
    demo, older, newer = two_snapshots
    args = ("pointers", "rollback", "expected_versions", "--to", older, "--reason", "r")
    assert cli(*args, "--workspace", str(demo))[0] == 0
    store = PointerStore(Workspace(demo))
    if not _chattr("+i", store.pointers_path):
        pytest.skip("chattr +i is not available here (needs root and a filesystem with flags)")
    try:
        code, _out, err = cli("pointers", "promote", "expected_versions", newer,
                              "--workspace", str(demo))  # fmt: skip
    finally:
        _chattr("-i", store.pointers_path)
    assert code == 1 and "IO_ERROR" in err and "marked aborted" in err
    assert store.read().active("expected_versions").run_id == older
    code, _out, err = cli("pointers", "verify", "--workspace", str(demo))
    assert code == 0 and "ABORTED" in err
    # the next unrelated pointer change, and the next build, apply nothing of it
    hold = ("pointers", "hold", "run_registry", "--reason", "x", "--workspace", str(demo))
    assert cli(*hold)[0] == 0
    code, _entries, _ = _build(cli, demo)
    assert code == 0
    assert store.read().active("expected_versions").run_id == older
    assert cli("pointers", "verify", "--workspace", str(demo))[0] == 0


def test_show_validates_each_target_again(cli: Run, built: Path, built_entries: Entries) -> None:
    entries = built_entries
    folder = built / ".codex" / "RUNS" / str(entries["expected_versions"]["run_id"])
    artifact = folder / "EXPECTED_VERSIONS_v0_1.json"
    folder.chmod(0o755)
    artifact.chmod(0o644)
    data = artifact.read_bytes()
    artifact.write_bytes(data.replace(b"0.1.0", b"0.1.9", 1))  # same size, same root line
    code, out, _ = cli("pointers", "show", "--workspace", str(built))
    assert code == 0
    rows = {line.split()[0]: line for line in out.splitlines()}
    assert "invalid: HASH_MISMATCH" in rows["expected_versions"]
    assert rows["run_registry"].endswith(" ok")
    code, out, _ = cli("pointers", "show", "--workspace", str(built), "--json")
    shown = {row["registry_id"]: row for row in json.loads(out)["pointers"]}
    assert shown["expected_versions"]["target"] == "invalid: HASH_MISMATCH"
    assert shown["expected_versions"]["journal"] == "ok" and shown["run_registry"]["hold"] is None


def test_a_promotion_on_a_full_disk_is_aborted_and_not_applied_later(
    cli: Run, tmp_path: Path
) -> None:
    """A real full filesystem (a small tmpfs): the journal record fits in its file's last page,
    the new pointer file does not; the change is reported failed, journaled aborted, and the
    next change after space is freed does not apply it."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)],
                             capture_output=True, check=False)  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        ws = disk / "ws"
        assert cli("init", str(ws))[0] == 0
        ids = []
        for value in (1, 2):
            source = tmp_path / "ALPHA.json"
            source.write_text(json.dumps({"value": value}))
            code, out, err = cli("seal", str(source), "--registry-id", "alpha", "--json",
                                 "--workspace", str(ws))  # fmt: skip
            assert code == 0, err
            ids.append(json.loads(out)["run_id"])
        promote = ("pointers", "promote", "alpha")
        assert cli(*promote, ids[0], "--workspace", str(ws))[0] == 0
        store = PointerStore(Workspace(ws))
        filler = disk / "filler"
        checkpoint = ws / ".codex/cache/pointer_journal_checkpoint.json"
        checkpoint.unlink(missing_ok=True)  # a cache the store drops when full: no page to free
        _fill(filler)  # no room for the gate's receipt: refused before anything is journaled
        code, _out, err = cli(*promote, ids[1], "--workspace", str(ws))
        assert code == 1 and "IO_ERROR" in err and "nothing was changed" in err, err
        assert [record.action for record in read_records(store.journal_path)] == ["promote"]
        filler.unlink()
        assert cli("pointers", "check", "alpha", ids[1], "--workspace", str(ws))[0] == 0
        checkpoint.unlink(missing_ok=True)
        _fill(filler)  # the receipt is there now; the new pointer file does not fit
        code, _out, err = cli(*promote, ids[1], "--workspace", str(ws))
        assert code == 1 and "IO_ERROR" in err and "marked aborted" in err, err
        assert store.read().active("alpha").run_id == ids[0]
        actions = [record.action for record in read_records(store.journal_path)]
        assert actions == ["promote", "promote", "abort"]  # journaled, failed, marked aborted
        filler.unlink()
        report = verify_journal_cli(cli, ws)
        assert report["ok"] is True
        assert cli("pointers", "hold", "alpha", "--reason", "x", "--workspace", str(ws))[0] == 0
        assert store.read().active("alpha").run_id == ids[0]  # never applied later
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def _fill(filler: Path) -> None:
    """Fill the disk `filler` lives on to its last page."""
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        while os.write(fd, b"\0" * 4096):
            pass
    except OSError:
        pass
    finally:
        os.close(fd)


def verify_journal_cli(cli: Run, root: Path) -> dict[str, object]:
    code, out, _ = cli("pointers", "verify", "--json", "--workspace", str(root))
    document: dict[str, object] = json.loads(out)
    assert code == (0 if document["ok"] else 1)
    return document


def test_a_corrupt_journal_record_is_a_reason_code_everywhere_never_internal(
    cli: Run, two_snapshots: Snapshots
) -> None:
    demo, _older, newer = two_snapshots
    journal = PointerStore(Workspace(demo)).journal_path
    lines = journal.read_bytes().splitlines(keepends=True)
    index = max(i for i, line in enumerate(lines[:-1]) if b'"expected_versions"' in line)
    lines[index] = lines[index][:-40] + b"\n"  # a record of it, not the last, cut short
    journal.write_bytes(b"".join(lines))
    for args in (
        ("pointers", "show"),
        ("pointers", "verify"),
        ("pointers", "history"),
        ("pointers", "accept", "expected_versions", "--reason", "x"),
        ("pointers", "hold", "expected_versions", "--reason", "x"),
        ("pointers", "promote", "expected_versions", newer),
        ("build",),
    ):
        code, _out, err = cli(*args, "--workspace", str(demo))
        assert code in (0, 1), (args, code, err)  # show reports it in its journal column
        assert "INTERNAL" not in err, (args, err)
