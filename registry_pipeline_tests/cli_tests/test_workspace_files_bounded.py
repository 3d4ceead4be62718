"""A FIFO or device as a workspace file is NOT_A_REGULAR_FILE at once; limits are guards."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from registry_pipeline_tests._helpers import child_env

GUARD = 60.0
"""Seconds before a command is taken to hang (a refusal takes about one, a build a few)."""
MEMORY = 4 << 30
"""Address space a command may take: reading /dev/zero whole is MemoryError, not a dead machine."""
CATALOG = "registries/REGISTRY_CATALOG_v0_2.json"
COORDINATION = "registries/COORDINATION_v0_1.yaml"
POINTERS = ".codex/ACTIVE_REGISTRY_POINTERS_v0_1.json"
JOURNAL = ".codex/ACTIVE_REGISTRY_POINTERS_JOURNAL_v0_1.jsonl"

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")


def _limited() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))


def _registry(*args: str) -> subprocess.CompletedProcess[str]:
    """`registry ARGS... --json` in its own process, killed (and the test failed) if it hangs."""
    command = [sys.executable, "-m", "registry_pipeline", *args, "--json"]
    try:
        return subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=GUARD,
            check=False,
            env=child_env(),
            preexec_fn=_limited,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"`registry {' '.join(args)}` still ran after {GUARD:.0f} s: it hangs")


def _replace(root: Path, relpath: str, kind: str) -> Path:
    """`relpath` of the workspace replaced by a FIFO nobody writes to, or a link to a device."""
    path = root / relpath
    path.unlink()
    if kind == "fifo":
        os.mkfifo(path)
    else:
        path.symlink_to(kind)
    return path


def _refused(done: subprocess.CompletedProcess[str], path: Path) -> str:
    """The refusal's message, after checking exit 2, NOT_A_REGULAR_FILE and the path."""
    assert "Traceback" not in done.stdout + done.stderr
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    error: dict[str, Any] = json.loads(done.stdout)["error"]
    assert (error["code"], error["path"]) == ("NOT_A_REGULAR_FILE", str(path)), error
    message: str = error["message"]
    return message


COMMANDS = (("pointers", "verify"), ("validate", "--active"), ("build",))


@pytest.mark.parametrize("relpath", [POINTERS, JOURNAL])
@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_a_fifo_as_the_pointer_file_or_journal_is_refused_at_once(
    built: Path, relpath: str, command: tuple[str, ...]
) -> None:
    fifo = _replace(built, relpath, "fifo")
    message = _refused(_registry(*command, "--workspace", str(built)), fifo)
    assert "FIFO" in message


def test_a_journal_linked_to_a_device_is_refused_not_read_without_end(built: Path) -> None:
    if not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero here")
    journal = _replace(built, JOURNAL, "/dev/zero")
    assert "device" in _refused(_registry("pointers", "verify", "--workspace", str(built)), journal)


def test_a_fifo_as_the_coordination_file_fails_the_rules_check_naming_it(built: Path) -> None:
    _replace(built, COORDINATION, "fifo")
    done = _registry("build", "--force", "--workspace", str(built))
    assert "Traceback" not in done.stdout + done.stderr
    assert done.returncode == 1, (done.stdout, done.stderr)
    failed = [e for e in json.loads(done.stdout)["registries"] if e["status"] == "failed"]
    problems = [p for entry in failed for p in entry["problems"]]
    assert failed and all(p["code"] == "NOT_A_REGULAR_FILE" for p in problems), failed
    assert all(str(p["path"]).endswith(COORDINATION) for p in problems), problems


def test_a_fifo_as_dotenv_is_refused_by_build(built: Path) -> None:
    """`.env` is read (to point `dagster dev` at the workspace's instance) before a build."""
    fifo = _replace(built, ".env", "fifo")
    _refused(_registry("build", "--force", "--workspace", str(built)), fifo)


def test_init_refuses_a_fifo_catalog_at_once(built: Path) -> None:
    fifo = _replace(built, CATALOG, "fifo")
    _refused(_registry("init", str(built)), fifo)


@pytest.mark.parametrize("command", [*COMMANDS, ("runs", "list")], ids=" ".join)
def test_a_fifo_as_the_catalog_is_refused_at_once(built: Path, command: tuple[str, ...]) -> None:
    fifo = _replace(built, CATALOG, "fifo")
    _refused(_registry(*command, "--workspace", str(built)), fifo)


def test_a_catalog_linked_to_a_device_is_refused_not_read_until_memory_runs_out(
    built: Path,
) -> None:
    if not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero here")
    device = _replace(built, CATALOG, "/dev/zero")
    _refused(_registry("pointers", "verify", "--workspace", str(built)), device)


def _sealed_fifo(root: Path, registry_id: str, artifact: str) -> tuple[str, Path]:
    """The newest folder of `registry_id`, its `artifact` a FIFO (as an operator's shell can)."""
    runs = root / ".codex" / "RUNS"
    folder = sorted(runs.glob(f"*__{registry_id}_build"))[-1]
    folder.chmod(0o755)
    path = folder / artifact
    path.chmod(0o644)
    _replace(root, path.relative_to(root).as_posix(), "fifo")
    return folder.name, path


def test_a_fifo_in_a_sealed_delta_log_fails_verify_and_check_at_once(built: Path) -> None:
    """Both read a snapshot's log beside its seal check: a FIFO there hung both."""
    run_id, fifo = _sealed_fifo(built, "registry_delta_log", "REGISTRY_DELTA_LOG_v0_1.jsonl")
    done = _registry("delta", "verify", "--workspace", str(built))
    assert done.returncode == 1, (done.stdout, done.stderr)
    problems = json.loads(done.stdout)["problems"]
    assert {p["code"] for p in problems} >= {"SEAL_INVALID"}, problems
    assert any(str(fifo) in p["message"] and "FIFO" in p["message"] for p in problems), problems
    done = _registry("pointers", "check", "registry_delta_log", run_id, "--workspace", str(built))
    assert done.returncode == 1, (done.stdout, done.stderr)
    checks = {c["name"]: c for c in json.loads(done.stdout)["checks"]}
    assert checks["seal_valid"]["reason_codes"] == ["NOT_A_REGULAR_FILE"], checks
    assert checks["append_only"]["reason_codes"] == ["NOT_A_REGULAR_FILE"], checks
    assert str(fifo) in checks["append_only"]["description"], checks


def test_a_fifo_in_a_sealed_run_index_fails_its_check_at_once(built: Path) -> None:
    run_id, fifo = _sealed_fifo(built, "run_index", "RUN_INDEX_v0_1.jsonl")
    done = _registry("pointers", "check", "run_index", run_id, "--workspace", str(built))
    assert done.returncode == 1, (done.stdout, done.stderr)
    checks = {c["name"]: c for c in json.loads(done.stdout)["checks"]}
    assert not checks["seal_valid"]["passed"] and not checks["append_only"]["passed"], checks
    assert f"{fifo}: is a FIFO" in checks["append_only"]["description"], checks
