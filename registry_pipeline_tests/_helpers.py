"""Small helpers shared by test modules (fixtures live in conftest.py)."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import gc
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import pytest

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "module-registries"
REFERENCE = REPO.parent / "shared" / "reference" / "ovc-infra"
"""The seed system's data, beside the dev repository only (`../shared/`)."""
TIER = os.environ.get("REGISTRY_TEST_TIER", "default")
"""`full` (`make test-full`): Hypothesis's own 100 examples a test; else 10 (`make test`). A test
that needs more asks for a multiple of the profile's, `settings(max_examples=4 * settings()
.max_examples)`: 400 in `make test-full`, 40 in `make test`."""
Run = Callable[..., tuple[int, str, str]]
"""The `cli` fixture: `registry ARGS...` in this process -> (exit code, stdout, stderr)."""
Entries = dict[str, dict[str, Any]]
"""A build's `--json` entries by registry id (the `built_entries` fixture)."""


BUILD_ENV = ("DAGSTER_HOME", "REGISTRY_WORKSPACE", "REGISTRY_ACTOR", "REGISTRY_NO_CACHE",
             "REGISTRY_PIPELINE_CRASH_AT", "REGISTRY_STORE")  # fmt: skip
"""The environment variables a build reads besides the PostgreSQL URL."""


@contextlib.contextmanager
def environment_kept(*names: str) -> Iterator[None]:
    """`names` unset for the block, and as they were afterwards: for a fixture that builds in
    this process (a build sets DAGSTER_HOME for the processes Dagster starts, which a
    MonkeyPatch's `delenv` of an unset variable would not undo)."""
    before = {name: os.environ.pop(name, None) for name in names}
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def unseal(folder: Path) -> None:
    """Make a sealed (0444/0555) folder writable, portably (tests may not run as root)."""
    for directory, _subdirs, files in os.walk(folder):
        os.chmod(directory, 0o755)
        for name in files:
            path = os.path.join(directory, name)
            if not os.path.islink(path):
                os.chmod(path, 0o644)


DEMO_GRAPH: dict[str, list[str]] = {
    "run_registry": [],
    "op_status_table": ["allowed_operations", "run_registry", "threshold_packs_file"],
    "drift_signals": [
        "expected_versions",
        "op_status_table",
        "run_registry",
        "threshold_packs_file",
    ],
    "system_health_report": ["drift_signals", "op_status_table", "run_registry"],
    "expected_versions": [],
    "migration_ledger": [],
    "threshold_packs_file": [],
    "allowed_operations": [],
    "rolepack": [],
    "run_index": [],
    "run_overrides": [],
    "registry_delta_log": [
        "allowed_operations",
        "drift_signals",
        "expected_versions",
        "migration_ledger",
        "op_status_table",
        "rolepack",
        "run_index",
        "run_overrides",
        "run_registry",
        "threshold_packs_file",
    ],
}
"""The demo workspace's registry graph (registry -> sorted upstream registries): a contract."""


def copy_demo(parent: Path) -> Path:
    """A copy of the demo workspace (catalog, sources, schemas) under `parent`, with no runs."""
    from registry_pipeline.core.workspace.layout import init_workspace

    root = parent / "demo"
    root.mkdir()
    shutil.copytree(REPO / "registries", root / "registries")
    shutil.copytree(REPO / "schemas", root / "schemas")
    init_workspace(root)
    return root


def copy_example(parent: Path) -> Path:
    """A copy of examples/module-registries under `parent`, without any run folder."""
    root = parent / "example"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns(".codex", "__pycache__"))
    (root / ".codex" / "RUNS").mkdir(parents=True)
    return root


def sha256sum_folder(folder: Path, files: dict[str, bytes]) -> Path:
    """`folder` holding `files`, sealed as `sha256sum * > MANIFEST.sha256` seals it: a plain list,
    no ROOT line, no run.json."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for relpath, data in sorted(files.items()):
        (folder / relpath).parent.mkdir(parents=True, exist_ok=True)
        (folder / relpath).write_bytes(data)
        lines.append(f"{hashlib.sha256(data).hexdigest()}  {relpath}\n")
    (folder / "MANIFEST.sha256").write_text("".join(lines))
    return folder


def link_state(folder: Path) -> dict[str, object]:
    """Everything under `folder`, no link followed: file bytes, `-> target` for a link, None for
    a folder (a comparison before and after shows any write, inside or through a link)."""
    found: dict[str, object] = {}
    for directory, subdirs, files in os.walk(folder):
        for name in [*subdirs, *files]:
            path = Path(directory) / name
            relpath = path.relative_to(folder).as_posix()
            if path.is_symlink():
                found[relpath] = f"-> {os.readlink(path)}"
            elif path.is_file():
                found[relpath] = path.read_bytes()
            else:
                found[relpath] = None
    return found


def replace_with_link(path: Path, target: Path) -> Path:
    """Replace `path` (a file or folder, if any) with a symlink to `target`."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(target)
    return path


def hashes_and_mtimes(root: Path) -> dict[str, tuple[str, int]]:
    """Every file and folder under `root`: its content hash and mtime (a folder's mtime changes
    when a file is created or removed in it)."""
    found: dict[str, tuple[str, int]] = {}
    for directory, _subdirs, files in os.walk(root):
        here = Path(directory)
        found[here.relative_to(root).as_posix() + "/"] = ("", here.stat().st_mtime_ns)
        for name in files:
            path = here / name
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            found[path.relative_to(root).as_posix()] = (digest, path.stat().st_mtime_ns)
    return found


def run_folders(root: Path) -> list[str]:
    """The names of the run folders of the workspace at `root`, sorted (dot entries left out)."""
    return sorted(name for name in os.listdir(root / ".codex" / "RUNS") if not name.startswith("."))


def staging_entries(staging: Path) -> list[str]:
    """The names in a staging folder (`Workspace.staging_dir`), sorted; none if it is absent."""
    return sorted(os.listdir(staging)) if staging.is_dir() else []


def tree(path: Path) -> dict[str, tuple[bytes | None, int, int]]:
    """relpath -> (bytes, or None for a folder; mode; mtime_ns) for `path` (as ".") and below it."""
    found: dict[str, tuple[bytes | None, int, int]] = {}
    for item in [path, *sorted(path.rglob("*"))]:
        info = item.lstat()
        data = None if item.is_dir() else item.read_bytes()
        found[item.relative_to(path).as_posix()] = (data, info.st_mode, info.st_mtime_ns)
    return found


def age(*paths: Path, seconds: float = 3600.0) -> None:
    """Set the times of `paths` (links not followed) `seconds` back: leftovers old enough to go."""
    moment = time.time() - seconds
    for path in paths:
        os.utime(path, (moment, moment), follow_symlinks=False)


def registry(*args: str) -> tuple[int, str, str]:
    """`registry ARGS...` in this process, as the `registry` command runs it: (exit code,
    stdout, stderr). For fixtures and tests where the process boundary is not what is tested
    (a process of its own takes ~0.3 s to start, a second or more when it imports Dagster)."""
    from registry_pipeline.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    assert "Traceback" not in out.getvalue() + err.getvalue()
    return code, out.getvalue(), err.getvalue()


def build_demo(parent: Path) -> tuple[Path, dict[str, Any]]:
    """A copy of the demo workspace under `parent` after one green `registry build` (in this
    process), and that build's `--json` document."""
    root = copy_demo(parent)
    code, out, err = registry("build", "--workspace", str(root), "--json")
    document: dict[str, Any] = json.loads(out) if code == 0 else {}
    assert document.get("success") is True, out + err
    return root, document


def build_entries(cli: Run, root: Path, *extra: str) -> tuple[int, Entries]:
    """`registry build --json` of `root`: its exit code and its entries by registry id."""
    code, out, _ = cli("build", "--workspace", str(root), "--json", *extra)
    return code, {entry["registry_id"]: entry for entry in json.loads(out)["registries"]}


def only_error(out: str) -> dict[str, Any]:
    """The `error` object of a command's `--json` output, which must hold nothing else."""
    document = json.loads(out)
    assert set(document) == {"error"}
    error: dict[str, Any] = document["error"]
    return error


def chained_journal_lines(count: int) -> list[bytes]:
    """`count` pointer-journal lines (with their newline), each chained to the one before: an
    adoption of one registry's pointer, then holds of it (records that move nothing)."""
    from registry_pipeline.core.pointers.journal import JournalRecord
    from registry_pipeline.core.seal.envelope import SealedRef

    ref = SealedRef("alpha", "2026-01-01__000000__alpha", "0" * 64, relpath="ALPHA.json")
    lines: list[bytes] = []
    previous: str | None = None
    for seq in range(1, count + 1):
        record = JournalRecord(
            seq=seq, registry_id="alpha", from_ref=ref if seq > 1 else None, to_ref=ref,
            action="hold" if seq > 1 else "adopt", reason=f"change {seq}",
            actor={"kind": "cli_user", "id": "test"}, checks={},
            created_utc=f"2026-01-01T00:00:{seq:02d}.000000Z", prev_sha256=previous,
        ).hashed()  # fmt: skip
        lines.append(record.line() + b"\n")
        previous = record.sha256
    return lines


def seal_checked(root: Path, registry_id: str, n: int, receipt: str) -> tuple[str, str]:
    """Snapshot number `n` of `registry_id` (`<REGISTRY_ID>.json` holding `{"n": n}`) sealed in
    the workspace at `root`, with the receipt a build writes: "passed" (its blocking checks
    run), "failed" (one of them failed) or "none" (`registry seal` writes none). Its run id
    and root. Sealed at 2026-01-01 plus `n` seconds, so that which snapshot is newer, and so
    every refusal of the walks (NOT_NEWER, NOT_OLDER), never depends on how fast the machine is
    (under load the same walk took other branches: hypothesis called it flaky)."""
    from datetime import UTC, datetime, timedelta

    from registry_pipeline.core.gate.gate import evaluate, record
    from registry_pipeline.core.gate.verdict import CheckVerdict
    from registry_pipeline.core.seal.envelope import RunSpec
    from registry_pipeline.core.seal.run_store import RunStore, seal_files
    from registry_pipeline.core.workspace.layout import Workspace

    workspace = Workspace(root)
    payload = {f"{registry_id.upper()}.json": b'{"n": %d}\n' % n}
    moment = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=n)  # never the wall clock:
    store = RunStore(workspace, clock=lambda: moment)  # a walk's steps must not depend on load
    sealed = seal_files(store, RunSpec(registry_id=registry_id), payload)
    if receipt != "none":
        verdicts = evaluate(workspace, registry_id, sealed.path)
        if receipt == "failed":
            failed = CheckVerdict("schema_valid", False, "broken", {"reason_codes": ["X"]})
            verdicts = [*verdicts[:1], failed]
        build = {"kind": "dagster_run", "id": f"run-{n}"}
        record(workspace, registry_id, sealed.path, sealed.root_sha256, verdicts, build)
    return sealed.run_id, sealed.root_sha256


def registry_json(*args: str) -> dict[str, object]:
    """`registry ARGS... --json` in this process, which must exit 0: its JSON document."""
    code, out, err = registry(*args, "--json")
    assert code == 0, out + err
    document = json.loads(out)
    assert isinstance(document, dict)
    return document


def active_runs(root: Path) -> dict[str, str | None]:
    """Each registry's active run id, as `registry pointers show --json` prints it."""
    code, out, err = registry("pointers", "show", "--workspace", str(root), "--json")
    assert code == 0, out + err
    rows = json.loads(out)["pointers"]
    return {row["registry_id"]: (row["active_ref"] or {}).get("run_id") for row in rows}


def stored_active_runs(root: Path) -> dict[str, str | None]:
    """Each registry's active run id, as the pointer store reads it (no command run)."""
    from registry_pipeline.core.pointers.store import PointerStore
    from registry_pipeline.core.workspace.layout import Workspace

    pointers = PointerStore(Workspace(root)).read()
    return {rid: ref.run_id if (ref := pointers.active(rid)) else None for rid in pointers.pointers}


def failed_rolepack(root: Path) -> tuple[str, str]:
    """Build `root` after removing its rolepack's first role: the rolepack snapshot is sealed
    but fails append_only (a declared id removed) and is not promoted. Its run id and root."""
    from registry_pipeline.core.workspace.layout import Workspace
    from registry_pipeline.core.workspace.snapshots import list_snapshots

    rolepack = root / "registries/rolepack/atelier_rolepack_v1.json"
    document = json.loads(rolepack.read_text())
    rolepack.write_text(json.dumps({**document, "roles": document["roles"][1:]}, indent=2))
    _code, out, err = registry("build", "--workspace", str(root), "--json")
    entries = {entry["registry_id"]: entry for entry in json.loads(out)["registries"]}
    failed = str(entries["rolepack"]["run_id"])
    assert not entries["rolepack"]["promoted"], out + err
    snapshots = list_snapshots(Workspace(root), "rolepack")
    return failed, str(next(s.root_sha256 for s in snapshots if s.run_id == failed))


def copy_built(built: Path, parent: Path) -> Path:
    """A copy of `built` at `parent/demo` (symlinks, modes and times kept): the state its build
    left, in ~0.05 s instead of a build. Only Dagster's event records and the verdict cache name
    the original's absolute path; a build sees the copy as changed (its files' inodes differ),
    as after any edit."""
    root = parent / "demo"
    shutil.copytree(built, root, symlinks=True)
    return root


def break_built_schema(root: Path, field: str = "signed_off_by") -> Path:
    """Make drift_signals' own schema require `field`, which its builder never writes: the next
    build seals a drift_signals snapshot whose schema check fails (hand-edited sources that
    violate their schema are refused before sealing, so this is how a check fails)."""
    schema = root / "schemas" / "drift_signals_v0_1.schema.json"
    document = json.loads(schema.read_text())
    document["required"] = [*document["required"], field]
    schema.write_text(json.dumps(document, indent=2))
    return schema


def payload_files(folder: Path) -> dict[str, bytes]:
    """Every regular file of the folder except the two seal files, by relpath (symlinks
    skipped)."""
    found: dict[str, bytes] = {}
    for directory, _subdirs, files in os.walk(folder):
        for name in files:
            path = Path(directory) / name
            relpath = path.relative_to(folder).as_posix()
            seal_file = relpath in ("manifest.json", "MANIFEST.sha256")
            if not seal_file and path.is_file() and not path.is_symlink():
                found[relpath] = path.read_bytes()
    return found


def reseal(folder: Path) -> None:
    """Rewrite both manifests from the files now in `folder` (`payload_files`), as a forger or
    the seed system's scripts would."""
    from registry_pipeline.core.seal.manifest import (
        ManifestEntry,
        render_manifest_json,
        render_manifest_sha256,
    )

    def entry(relpath: str, data: bytes) -> ManifestEntry:
        return ManifestEntry(relpath, len(data), hashlib.sha256(data).hexdigest())

    entries = [entry(relpath, data) for relpath, data in payload_files(folder).items()]
    manifest = render_manifest_json(entries)
    (folder / "manifest.json").write_bytes(manifest)
    text, _root = render_manifest_sha256([*entries, entry("manifest.json", manifest)])
    (folder / "MANIFEST.sha256").write_bytes(text)


def seal_like_seed(folder: Path, files: dict[str, bytes], envelope: dict[str, object]) -> Path:
    """A run folder sealed the way the seed system's scripts write one: the files and run.json
    (pretty JSON), manifest.json listing them (not itself), MANIFEST.sha256 with the ROOT line.
    The formats are ours too (one seal contract), so our renderers write them."""
    folder.mkdir(parents=True)
    payload = {**files, "run.json": json.dumps(envelope, indent=2).encode() + b"\n"}
    for relpath, data in payload.items():
        (folder / relpath).parent.mkdir(parents=True, exist_ok=True)
        (folder / relpath).write_bytes(data)
    reseal(folder)
    return folder


def seed_stamp(created_utc: str) -> str:
    """`YYYY-MM-DDTHH:MM:SSZ` as the `YYYY-MM-DD__HHMMSS` that starts a run folder's name."""
    return f"{created_utc[:10]}__{created_utc[11:13]}{created_utc[14:16]}{created_utc[17:19]}"


def _listing(folder: Path) -> dict[str, str]:
    rows = json.loads((folder / "manifest.json").read_text())
    return {row["relpath"]: row["sha256"] for row in rows}


def _ref(folder: Path, relpath: str | None) -> dict[str, str | None]:
    root = (folder / "MANIFEST.sha256").read_text().splitlines()[-1].split()[-1]
    return {"run_id": folder.name, "run_root": ".codex/RUNS", "relpath": relpath,
            "manifest_sha256": root}  # fmt: skip


def seal_seed_delta_log(
    runs: Path,
    created_utc: str,
    snapshots: dict[str, list[Path]],
    repeat: int = 1,
    relpaths: dict[str, str | None] | None = None,
) -> Path:
    """A log as the seed's builder writes it: every snapshot of each registry from scratch,
    records sorted by registry then run id, all stamped with the build time and folder. The
    refs name `relpaths[registry_id]` (default `<REGISTRY_ID>.json`)."""
    relpaths = relpaths or {}
    name = f"{seed_stamp(created_utc)}__registry_delta_log_build"
    lines = []
    for registry_id in sorted(snapshots):
        before: Path | None = None
        for folder in sorted(snapshots[registry_id]):
            relpath = relpaths.get(registry_id, f"{registry_id.upper()}.json")
            after = _listing(folder)
            old = _listing(before) if before else {}
            added = sorted(set(after) - set(old))
            removed = sorted(set(old) - set(after))
            modified = sorted(p for p in set(old) & set(after) if old[p] != after[p])
            record = {
                "delta_version": "0.1",
                "registry_id": registry_id,
                "from_ref": _ref(before, relpath) if before else None,
                "to_ref": _ref(folder, relpath),
                "delta_basis": "manifest_diff",
                "added_paths": added,
                "removed_paths": removed,
                "modified_paths": modified,
                "counts": {"added": len(added), "removed": len(removed),
                           "modified": len(modified)},
                "created_utc": created_utc,
                "derivation_run_id": name,
            }  # fmt: skip
            lines.append(json.dumps(record, separators=(",", ":")).encode() + b"\n")
            before = folder
    envelope = {
        "run_id": name,
        "created_utc": created_utc,
        "run_type": "registry_delta_log_build",
        "operation_id": "OP-QA11",
        "inputs": {"runs_root": ".codex/RUNS", "pointers_file": "docs/ACTIVE.json"},
    }
    return seal_like_seed(
        runs / name, {"REGISTRY_DELTA_LOG_v0_1.jsonl": b"".join(lines) * repeat}, envelope
    )


def child_env(**extra: str) -> dict[str, str]:
    """This process's environment for a `registry` child, without the settings that would
    point it at another workspace or instance, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if k not in ("DAGSTER_HOME", "REGISTRY_WORKSPACE")}
    return {**env, **extra}


def guarded(command: list[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`command` (a `registry` or a Python child) in a process of its own, stdin closed; the
    test fails if it still runs after `timeout` s (far more than it needs: it waits on a FIFO)."""
    try:
        return subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=child_env(),
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{command[1:4]} still ran after {timeout:.0f} s: it hangs")


def registry_process(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """`registry ARGS...` as a process of its own (stdout and stderr piped, text), for tests of
    what only a process shows: waiting, Ctrl-C, exit codes seen from outside."""
    return subprocess.Popen(
        [sys.executable, "-m", "registry_pipeline", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env or child_env(),
    )


def forbid_whole_reads(monkeypatch: object, whole: Callable[[Path], bool]) -> None:
    """Make `Path.read_bytes` of a file `whole` says must be streamed fail the test (what a
    check holding a large log in memory would do)."""
    import pytest

    assert isinstance(monkeypatch, pytest.MonkeyPatch)
    original = Path.read_bytes

    def read_bytes(path: Path) -> bytes:
        if whole(path):
            raise AssertionError(f"{path} read whole")
        return original(path)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)


_HOLD_SLOT = """
import sys
from pathlib import Path
from registry_pipeline.core.workspace.build_slot import build_slot
from registry_pipeline.core.workspace.layout import Workspace
with build_slot(Workspace(Path(sys.argv[1])), sys.argv[2], wait=0):
    print("held", flush=True)
    sys.stdin.readline()
"""


def slot_holder(root: Path, holder: str = "test holder") -> subprocess.Popen[str]:
    """A process of its own that holds the workspace's build slot, its note naming `holder`,
    until its stdin ends (returned once it holds it, synchronized on its output). Another
    process, not a thread: a run worker forked from this one would inherit a lock it held."""
    process = subprocess.Popen(
        [sys.executable, "-c", _HOLD_SLOT, str(root), holder],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=child_env(),
    )
    assert process.stdout is not None and process.stdout.readline().strip() == "held"
    return process


SEED_TARBALL = REPO.parent / "shared" / "reference" / "ovc-infra-5d9a3c1.tar.gz"
"""The seed system's repository at 5d9a3c1, as `git archive` wrote it (beside the dev repo only)."""


def seed_repository(parent: Path) -> Path:
    """The seed's repository from a fresh extraction under `parent`, made a git repository with
    every file committed; the test is skipped where the tarball is absent (a user's clone)."""
    import tarfile

    import pytest

    if not SEED_TARBALL.is_file():
        pytest.skip(
            f"{SEED_TARBALL} is absent (the seed's repository lies only beside the dev repo)"
        )
    with tarfile.open(SEED_TARBALL) as archive:
        archive.extractall(parent / "x", filter="data")
    [root] = list((parent / "x").iterdir())
    commit_all(root, "the repository at 5d9a3c1", force=True)
    return root


def commit_all(root: Path, message: str, *, force: bool = False) -> None:
    """Commit every file under `root` (`force`: ignored ones too), making it a repository first."""
    git = ["git", "-c", "user.email=t@example.org", "-c", "user.name=t"]
    if not (root / ".git").exists():
        subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    subprocess.run(["git", "add", "-A", *(["-f"] if force else [])], cwd=root, check=True)
    subprocess.run([*git, "commit", "-qm", message], cwd=root, check=True)


def journal_records(entry: dict[str, Any]) -> list[dict[str, Any]]:
    """A pointer-journal line (parsed) as one-registry records: itself, or one per move of a set
    entry, its shared fields with each move's (docs/POINTERS.md, "A set entry")."""
    if "moves" not in entry:
        return [entry]
    shared = {key: value for key, value in entry.items() if key != "moves"}
    return [{**shared, **move, "journal_version": "0.1"} for move in entry["moves"]]


def lengthen_journal(root: Path, registry_id: str = "run_registry") -> None:
    """Two more pointer-journal lines (a hold of `registry_id` and its release): a build's
    promotion is one line, and a test of a line inside the journal needs lines around it."""
    from registry_pipeline.core.pointers.store import PointerStore
    from registry_pipeline.core.workspace.layout import Workspace

    store = PointerStore(Workspace(root))
    actor = {"kind": "cli_user", "id": "test"}
    store.hold(registry_id, reason="a line for the test", actor=actor)
    store.release(registry_id, reason="a line for the test", actor=actor)


def promote_as_the_sensor(defs: Any, instance: Any) -> list[str]:
    """What a live daemon does once a build ended: a tick of the promotion sensor, and each run it
    requests executed here (with its run key, as the daemon tags it); their run ids."""
    import dagster as dg  # noqa: TID251  # the Dagster layer's tests use this helper

    from registry_pipeline.lib.build import QUIET_LOGS
    from registry_pipeline.lib.promotion import PROMOTION_JOB, PROMOTION_SENSOR

    sensor = defs.resolve_sensor_def(PROMOTION_SENSOR)
    tick = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, definitions=defs))
    job = defs.resolve_job_def(PROMOTION_JOB)
    return [
        job.execute_in_process(
            instance=instance,
            tags={**request.tags, "dagster/run_key": request.run_key},
            raise_on_error=False,
            run_config=QUIET_LOGS,
        ).run_id
        for request in tick.run_requests or []
    ]


def any_member_name(root: Path) -> None:
    """Let the workspace's expected_versions name members anything (its schema names them as
    registry ids): for tests of how an odd member name is spliced, not whether it is allowed."""
    schema = root / "schemas/expected_versions.schema.json"
    document = json.loads(schema.read_text())
    del document["properties"]["expected"]["properties"]["builder_versions"]["propertyNames"]
    schema.write_text(json.dumps(document, indent=2) + "\n")


_WATCHDOG = """
import os, signal, subprocess, sys, threading
stop, group = signal.Signals[sys.argv[1]], sys.argv[2] == "group"
child = subprocess.Popen(sys.argv[3:])
def forward(number, _frame):
    if not group:
        child.send_signal(signal.SIGKILL if number == signal.SIGUSR1 else stop)
for number in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1):
    signal.signal(number, forward)
def orphaned():  # the raw descriptor: a buffered stdin's lock, held here, aborts the exit
    while os.read(0, 65536):
        pass
    os.killpg(0, stop) if group else child.send_signal(stop)
threading.Thread(target=orphaned, daemon=True).start()
sys.exit(child.wait())
"""


def watched(
    command: list[str],
    *,
    stop: str = "SIGTERM",
    as_user: tuple[int, int] | None = None,
    group: bool = False,
) -> list[str]:
    """`command` as the child of a watchdog that stops it with `stop` when the process that
    started the watchdog ends, however it ends (the watchdog's stdin, a pipe that process holds,
    reaches EOF: start it with `stdin=subprocess.PIPE`), then exits with the child's status (256 -
    N for a child killed by signal N, as `sys.exit(-N)` gives). The watchdog forwards SIGTERM,
    SIGINT and SIGHUP as `stop`, and SIGUSR1 as SIGKILL (a crash); with `group` (started with
    `start_new_session=True`) it forwards nothing, since a signal to its process group reaches
    the child, and sends `stop` to the whole group at EOF. The child dies with the watchdog even
    when it is SIGKILLed (setpriv's parent-death signal), and runs as `as_user` (uid, gid). A
    pipe, not a parent-death signal in the caller: that signal follows the thread that started
    the child, and a test may start a server from a thread that ends first."""
    user = [f"--reuid={as_user[0]}", f"--regid={as_user[1]}", "--clear-groups"] if as_user else []
    setpriv = ["setpriv", *user, "--pdeathsig", "KILL", "--"]
    prefix = setpriv if as_user or shutil.which("setpriv") else []  # util-linux: Debian has it
    scope = "group" if group else "child"
    return [sys.executable, "-I", "-c", _WATCHDOG, stop, scope, *prefix, *command]


def run_folder(factory: pytest.TempPathFactory) -> Path:
    """The folder every process of this test run shares: pytest-xdist's workers' common parent
    (as its documentation advises), else this process's own base folder."""
    base = factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@contextlib.contextmanager
def flocked(path: Path, how: int = fcntl.LOCK_EX) -> Iterator[IO[bytes]]:
    """`path` opened and locked (flock: the kernel lets go when the holder ends, however)."""
    with path.open("ab") as handle:
        fcntl.flock(handle, how)
        yield handle


T = TypeVar("T")


def once_per_run(folder: Path, name: str, make: Callable[[], T]) -> T:
    """What `make()` returns (JSON), made by the first process of the test run that asks: the
    others wait for it on a lock and read it."""
    done = folder / f"{name}.json"
    with flocked(folder / f"{name}.lock"):
        if not done.exists():
            made = make()
            done.with_suffix(".part").write_text(json.dumps(made))
            done.with_suffix(".part").replace(done)
        found: T = json.loads(done.read_text())
        return found


_USING: list[IO[bytes]] = []
"""A shared lock on the users file of each server of the run this process uses, held as long as
this process lives."""
_SUPERVISORS: list[subprocess.Popen[bytes]] = []


def server_for_the_run(folder: Path, module: str) -> dict[str, Any]:
    """The settings of the server that `python -m MODULE FOLDER` (`serve_the_run`) keeps for the
    whole test run: started by the first process of the run that asks, stopped once every process
    that asked has ended (each holds a shared lock on its users file while it lives)."""
    users = (folder / f"{module}.users").open("ab")
    fcntl.flock(users, fcntl.LOCK_SH)  # waits while a server no process used any more stops
    _USING.append(users)
    settings = folder / f"{module}.json"
    with flocked(folder / f"{module}.lock"):
        if not settings.exists():
            log = folder / f"{module}.log"
            with log.open("ab") as sink:  # not inherited: the supervisor holds no lock of ours
                supervisor = subprocess.Popen(
                    [sys.executable, "-m", module, str(folder)], cwd=REPO,
                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=sink,
                )  # fmt: skip
            assert supervisor.stdout is not None
            ready = supervisor.stdout.readline()
            supervisor.stdout.close()
            _SUPERVISORS.append(supervisor)
            if ready != b"ready\n":
                text = log.read_text(errors="replace")[-4000:]
                raise RuntimeError(f"{module} did not start:\n{text}")
        found: dict[str, Any] = json.loads(settings.read_text())
        return found


def serve_the_run(
    folder: Path, module: str, start: Callable[[], tuple[dict[str, Any], Callable[[], None]]]
) -> None:
    """The supervisor `server_for_the_run` starts: `start()` the server (its settings and how to
    stop it), publish the settings, then wait until no process of the run uses it any more and
    stop it. SIGTERM, SIGINT or SIGHUP (the test run interrupted) stop it at once, and if this
    process is killed, its server's watchdog (`watched`) stops the server."""

    def interrupted(number: int, _frame: object) -> None:
        raise SystemExit(128 + number)

    for number in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(number, interrupted)
    settings, stop = start()
    try:
        published = folder / f"{module}.json"
        published.with_suffix(".part").write_text(json.dumps(settings))
        published.with_suffix(".part").replace(published)
        os.write(1, b"ready\n")
        os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
        with flocked(folder / f"{module}.users"):  # every process that used the server has ended
            published.unlink(missing_ok=True)  # the next to ask starts another
    finally:
        stop()


def process_group(pgid: int) -> list[str]:
    """`pid (command) state` of each process of the group `pgid`, from Linux's /proc."""
    stats = []
    for entry in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):  # gone meanwhile
            stats.append(entry.read_text())
    return [" ".join(s.split()[:3]) for s in stats if int(s.rpartition(")")[2].split()[2]) == pgid]


def group_left(pgid: int, timeout: float = 60.0) -> list[str]:
    """The processes of the group `pgid` still there after `timeout` seconds at most (orphans
    end, and are reaped by init, in their own time); each left is killed."""
    deadline = time.monotonic() + timeout
    while (left := process_group(pgid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    if left:
        os.killpg(pgid, signal.SIGKILL)
    return left


PAGE = 4096
"""A tmpfs page: the unit a file takes room in."""


@dataclass(frozen=True)
class Disk:
    """A tmpfs that `tmpfs` mounted, and a filler file that takes its last free page."""

    path: Path

    @property
    def filler(self) -> Path:
        return self.path / ".filler"

    def fill(self) -> None:
        """Take every free page, after the collector closed what would free pages later."""
        gc.collect()
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            for block in (b"\0" * (1 << 20), b"\0" * PAGE):
                try:
                    while os.write(fd, block):
                        pass
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC, exc
        finally:
            os.close(fd)
        assert self.free_bytes() == 0

    def free(self) -> None:
        """Give back what `fill` took."""
        self.filler.unlink(missing_ok=True)

    def free_bytes(self) -> int:
        space = os.statvfs(self.path)
        return space.f_bavail * space.f_frsize


@contextlib.contextmanager
def tmpfs(folder: Path, *, size: str = "1m", full: bool = False) -> Iterator[Disk]:
    """`folder` on a tmpfs of `size` of its own holding a copy of its files, `full` (filled to
    its last page) or not; the test is skipped where mounting is not allowed. Unmounted
    afterwards (the files written meanwhile go with it)."""
    import pytest

    with tempfile.TemporaryDirectory() as spare:
        kept = shutil.copytree(folder, Path(spare) / "kept")
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if mounted.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
        disk = Disk(folder)
        try:
            shutil.copytree(kept, folder, dirs_exist_ok=True)
            if full:
                disk.fill()
            yield disk
        finally:
            subprocess.run(["umount", "-l", str(folder)], check=False)
