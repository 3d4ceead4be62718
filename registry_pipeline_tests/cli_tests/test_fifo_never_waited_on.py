"""A product open of a workspace file never blocks on a FIFO (issue 62): the pointer lock, a
lock's note, the bucket journal's local copy (a bucket repair reads it through the same pull) and
its mirror cache, the journal `pointers repair` restarts, the `.gitattributes` `init` appends to
and the delta log `delta show` streams. A record (the journal, the pointer file, `.gitattributes`,
a sealed log) is refused by its kind (NOT_A_REGULAR_FILE naming it, exit 2), never set aside; a
cache is set aside and rebuilt; a lock is only looked at.

A FIFO with no writer blocks its reader (and one with no reader its writer) forever, so every
case runs in a process of its own under a timeout: a hang fails the test. Where a FIFO can only
stand in a file's place between two steps (another process swapping it in), the child swaps it
in at that step itself (a wrapper around the step before): deterministic, no sleep."""

from __future__ import annotations

import fcntl
import json
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from registry_pipeline_tests._helpers import guarded

POINTERS = ".codex/ACTIVE_REGISTRY_POINTERS_v0_1.json"
JOURNAL = ".codex/ACTIVE_REGISTRY_POINTERS_JOURNAL_v0_1.jsonl"
LOCK = POINTERS + ".lock"

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")


def _registry(*args: str) -> subprocess.CompletedProcess[str]:
    """`registry ARGS... --json` as a process of its own; the test fails if it hangs."""
    done = guarded([sys.executable, "-m", "registry_pipeline", *args, "--json"])
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    return done


def _child(code: str, **values: Any) -> subprocess.CompletedProcess[str]:
    """`code` (its `{name}`s filled with the repr of `values`) run by this Python in a process
    of its own; the test fails if it hangs."""
    text = textwrap.dedent(code).format(**{k: repr(v) for k, v in values.items()})
    done = guarded([sys.executable, "-c", text])
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    return done


def _refused(done: subprocess.CompletedProcess[str], path: Path) -> dict[str, Any]:
    """The error of a refusal by kind: exit 2, NOT_A_REGULAR_FILE naming `path`, a FIFO."""
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    error: dict[str, Any] = json.loads(done.stdout)["error"]
    assert (error["code"], error["path"]) == ("NOT_A_REGULAR_FILE", str(path)), error
    assert "FIFO" in error["message"], error
    return error


def _fifo(path: Path) -> Path:
    path.unlink(missing_ok=True)
    os.mkfifo(path)
    return path


# --- the lock: looked at, never waited on -----------------------------------------------------


def test_pointers_verify_never_waits_on_a_fifo_lock(built: Path) -> None:
    """`pointers verify` looks whether a change is in progress: a FIFO at the pointer lock
    blocked that look forever. It is no lock anyone holds: the journal verifies."""
    fifo = _fifo(built / LOCK)
    done = _registry("pointers", "verify", "--workspace", str(built))
    assert done.returncode == 0, (done.stdout, done.stderr)
    document = json.loads(done.stdout)
    assert document["ok"] is True and document["notes"] == []
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)  # only looked at


def test_a_held_lock_whose_note_is_garbage_is_said_as_unnamed(built: Path) -> None:
    """A lock's note nested past what the parser recurses was INTERNAL (RecursionError): it is
    no note, the holder unnamed."""
    path = built / LOCK
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # held by this process
        os.write(fd, b"[" * 60_000)  # within the note's limit, deeper than any parser recurses
        done = _registry("pointers", "verify", "--workspace", str(built))
    finally:
        os.close(fd)
    assert done.returncode == 0, (done.stdout, done.stderr)
    [note] = json.loads(done.stdout)["notes"]
    assert note["code"] == "LOCK_HELD" and "has not written its name yet" in note["message"]


def test_lock_state_never_waits_on_a_fifo(tmp_path: Path) -> None:
    """`lock_state` (a dead build's run lock, a staging folder's, the pointer lock) on a FIFO:
    nobody holds it; on a folder and a file it says as before."""
    fifo, folder, held = _fifo(tmp_path / "fifo.lock"), tmp_path / "staging", tmp_path / "h.lock"
    folder.mkdir()
    done = _child(
        """
        from pathlib import Path
        from registry_pipeline.core.lock import FileLock, Owner, lock_state
        lock = FileLock(Path({held}))
        assert lock.try_take(Owner("test"))
        print(lock_state(Path({fifo})), lock_state(Path({folder})), lock_state(Path({held})))
        """,
        fifo=str(fifo),
        folder=str(folder),
        held=str(held),
    )
    assert (done.returncode, done.stdout.split()) == (0, ["None", "None", "held"]), done.stderr


# --- a bucket's journal: the local copy is a record, the mirror mark a cache ------------------


BUCKET = """
    import sys
    from pathlib import Path
    from registry_pipeline.core.errors import RegistryError
    from registry_pipeline.core.objstore import ObjectStore
    from registry_pipeline.core.pointers.bucket import BucketJournal
    from registry_pipeline.core.workspace.remote import Remote
    root = Path({root})
    replica = BucketJournal(Remote(ObjectStore.in_memory()), root,
                            root / ".codex" / "journal.jsonl", root / ".codex" / "pointers.json")
    try:
        replica.pull(lambda record, action: None, lambda: None)
    except RegistryError as exc:
        error = {{"code": exc.code, "path": exc.path, "message": exc.message}}
        print(json.dumps({{"error": error}}))
        sys.exit(exc.exit_code)
    print(json.dumps({{"mark": replica._mark()}}))
"""


def _bucket(root: Path) -> subprocess.CompletedProcess[str]:
    return _child("import json\n" + textwrap.dedent(BUCKET), root=str(root))


@pytest.mark.parametrize("name", ["journal.jsonl", "pointers.json"])
def test_a_bucket_pull_refuses_a_fifo_local_copy(tmp_path: Path, name: str) -> None:
    """The pull read the local journal (and a first change the pointer file) with no check of
    its kind: a FIFO there hung it. Both are records: refused, never set aside."""
    (tmp_path / ".codex").mkdir()
    (tmp_path / ".codex" / "journal.jsonl").write_bytes(b"")
    fifo = _fifo(tmp_path / ".codex" / name)
    _refused(_bucket(tmp_path), fifo)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and not (tmp_path / ".codex/quarantine").exists()


@pytest.mark.parametrize("kind", ["fifo", "deep"])
def test_a_bucket_mirror_mark_that_is_no_json_is_no_mark(tmp_path: Path, kind: str) -> None:
    """The mark of what this machine mirrors is a cache: a FIFO or garbage there (RecursionError
    before) is set aside; no mark: the journal is fetched whole (here: an empty bucket)."""
    (tmp_path / ".codex" / "cache").mkdir(parents=True)
    mark = tmp_path / ".codex" / "cache" / "remote_pointers.json"
    if kind == "fifo":
        os.mkfifo(mark)
    else:
        mark.write_bytes(b"[" * 200_000)
    done = _bucket(tmp_path)
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert json.loads(done.stdout) == {"mark": None}
    [kept] = (tmp_path / ".codex" / "quarantine").iterdir()
    assert kept.name.startswith("remote_pointers-") and not os.path.lexists(mark)


# --- pointers repair: the journal it restarts ------------------------------------------------


SWAPPED_AFTER_VERIFY = """
    import os, sys
    from pathlib import Path
    from registry_pipeline.core.pointers.store import PointerStore
    checked = PointerStore.verified

    def verified(self, *args, **kwargs):
        report = checked(self, *args, **kwargs)
        self.journal_path.unlink()  # another process swaps a FIFO in after the check
        os.mkfifo(self.journal_path)
        return report

    PointerStore.verified = verified
    from registry_pipeline.cli import main
    sys.exit(main(["pointers", "repair", "--reason", "torn", "--workspace", {root}, "--json"]))
"""


def test_pointers_repair_refuses_a_fifo_journal_it_would_restart(built: Path) -> None:
    """`pointers repair` restarts a broken journal: it read the journal whole to digest it,
    and a FIFO swapped in after the check hung it. Refused: nothing moved, nothing written."""
    journal = built / JOURNAL
    with journal.open("ab") as handle:
        handle.write(b'{"torn": \n')  # a broken chain: what a restart is for
    pointers = (built / POINTERS).read_bytes()
    done = _child(SWAPPED_AFTER_VERIFY, root=str(built))
    _refused(done, journal)
    assert stat.S_ISFIFO(os.lstat(journal).st_mode)
    assert (built / POINTERS).read_bytes() == pointers
    assert not (built / ".codex" / "quarantine").exists()


# --- init: .gitattributes, appended to ---------------------------------------------------------


PLANTED_AFTER_READ = """
    import os, sys
    from pathlib import Path
    from registry_pipeline.core.workspace import layout
    read = layout.read_existing

    def read_existing(path):
        found = read(path)
        if path.name == ".gitattributes":
            os.mkfifo(path)  # another process plants a FIFO after the read: no reader
        return found

    layout.read_existing = read_existing
    from registry_pipeline.cli import main
    sys.exit(main(["init", {root}, "--json"]))
"""


def test_init_never_waits_appending_to_a_fifo_gitattributes(tmp_path: Path) -> None:
    """`.gitattributes` is opened for append after it was read: a FIFO there by then (no
    reader) blocked the open forever. A record: refused by its kind, never written."""
    root = tmp_path / "ws"
    root.mkdir()
    done = _child(PLANTED_AFTER_READ, root=str(root))
    fifo = root / ".gitattributes"
    _refused(done, fifo)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_append_text_refuses_a_fifo_with_or_without_a_reader(tmp_path: Path) -> None:
    fifo = _fifo(tmp_path / "attributes")
    done = _child(
        """
        import json, os, sys
        from pathlib import Path
        from registry_pipeline.core.errors import RegistryError
        from registry_pipeline.core.workspace.layout import append_text
        path = Path({path})
        for reader in (False, True):
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK) if reader else None
            try:
                append_text(path, None, "/x/** -text\\n")
            except RegistryError as exc:
                print(json.dumps({{"code": exc.code, "path": exc.path}}))
            finally:
                if fd is not None:
                    os.close(fd)
        """,
        path=str(fifo),
    )
    assert done.returncode == 0, done.stderr
    errors = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(e["code"], e["path"]) for e in errors] == [("NOT_A_REGULAR_FILE", str(fifo))] * 2


# --- delta show: the sealed log it streams -----------------------------------------------------


SWAPPED_AFTER_CHOICE = """
    import os, sys
    from pathlib import Path
    from registry_pipeline.core import delta_log
    chosen = delta_log.newest_valid_log

    def newest_valid_log(*args, **kwargs):
        log = chosen(*args, **kwargs)
        path = log.path / delta_log.LOG_ARTIFACT
        os.chmod(log.path, 0o755)  # another process with a shell swaps a FIFO in
        path.unlink()
        os.mkfifo(path)
        print(path, file=sys.stderr)
        return log

    delta_log.newest_valid_log = newest_valid_log
    from registry_pipeline.cli import main
    sys.exit(main(["delta", "show", "--workspace", {root}, "--json"]))
"""


def test_delta_show_never_waits_on_a_fifo_log(built: Path) -> None:
    """`delta show` streamed the newest valid log snapshot's JSONL with a plain open after
    choosing it: a FIFO swapped in by then hung it. A sealed record: refused by its kind."""
    done = _child(SWAPPED_AFTER_CHOICE, root=str(built))
    fifo = Path(done.stderr.splitlines()[0])
    assert fifo.name == "REGISTRY_DELTA_LOG_v0_1.jsonl"
    _refused(done, fifo)


# --- the notes log, the receipts of a bucket workspace, the Dagster configuration -------------


def test_an_append_never_waits_on_a_fifo_notes_log(tmp_path: Path) -> None:
    """A record of severity `record` is noted in the write path's notes log, which is checked
    for a torn tail before the records are written: a FIFO there is refused (LOG_UNWRITABLE
    naming it, exit 1), nothing written."""
    from registry_pipeline_tests.core_tests.run_index._support import (
        COORDINATION,
        RUNS_LOG,
        make_workspace,
        record,
        run_id,
    )

    root = make_workspace(tmp_path)
    rules = root / COORDINATION
    rules.write_text(rules.read_text().replace("severity: error", "severity: record", 1))
    notes = _fifo(root / "registries" / "WRITE_NOTES_v0_1.jsonl")
    given = record(run_id=run_id(1), override_id="OVR-20260901-0900-ZZZZ")  # noted: none such
    done = _registry("runs", "append", "--record-json", json.dumps(given), "--workspace",
                     str(root))  # fmt: skip
    assert done.returncode == 1, (done.stdout, done.stderr)
    error = json.loads(done.stdout)["error"]
    assert (error["code"], error["path"]) == ("LOG_UNWRITABLE", str(notes)), error
    assert "FIFO" in error["message"] and (root / RUNS_LOG).read_bytes() == b""


def test_receipts_of_a_bucket_workspace_never_wait_on_a_fifo(tmp_path: Path) -> None:
    root = "a" * 64
    folder = tmp_path / ".codex" / "RECEIPTS"
    folder.mkdir(parents=True)
    fifo = _fifo(folder / f"{root}.jsonl")
    done = _child(
        """
        import json, sys
        from pathlib import Path
        from registry_pipeline.core.errors import RegistryError
        from registry_pipeline.core.gate import receipts
        from registry_pipeline.core.objstore import ObjectStore
        from registry_pipeline.core.workspace.layout import Workspace
        from registry_pipeline.core.workspace.remote import Remote
        remote = Remote(ObjectStore.in_memory())
        receipts.remote_for = lambda workspace: remote  # a workspace on a bucket
        try:
            receipts.ReceiptStore(Workspace(Path({path}))).verdicts({root})
        except RegistryError as exc:
            error = {{"code": exc.code, "path": exc.path, "message": exc.message}}
            print(json.dumps({{"error": error}}))
            sys.exit(exc.exit_code)
        """,
        path=str(tmp_path),
        root=root,
    )
    assert done.returncode == 1, (done.stdout, done.stderr)
    error = json.loads(done.stdout)["error"]
    assert (error["code"], error["path"]) == ("RECEIPT_INVALID", str(fifo)), error
    assert "FIFO" in error["message"]


def test_a_build_never_waits_on_a_fifo_dagster_yaml(built: Path) -> None:
    """The instance's configuration is read before Dagster loads it (Dagster itself would
    wait on the FIFO as well): refused by its kind, exit 2."""
    fifo = _fifo(built / ".codex" / "dagster_home" / "dagster.yaml")
    _refused(_registry("build", "--workspace", str(built)), fifo)
