"""A FIFO, a device or an oversize file where a command reads one: refused at once, never read."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from registry_pipeline_tests._helpers import Run, guarded
from registry_pipeline_tests._rolepack import example_pack
from registry_pipeline_tests.core_tests.run_index._support import (
    RUNS_LOG,
    jsonl,
    record,
    run_id,
    write_input,
)

LIMITED = (
    "import resource, runpy, sys; resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30)); "
    "runpy.run_module('registry_pipeline', run_name='__main__')"
)
"""`registry` in 4 GiB of address space: /dev/zero read whole is MemoryError, not a dead machine."""
MIB, GIB = 1 << 20, 1 << 30
CATALOG = "registries/REGISTRY_CATALOG_v0_2.json"
POINTERS = ".codex/ACTIVE_REGISTRY_POINTERS_v0_1.json"
JOURNAL = ".codex/ACTIVE_REGISTRY_POINTERS_JOURNAL_v0_1.jsonl"
FIFO, ZERO, NULL = "fifo", "/dev/zero", "/dev/null"
CHECK = "check-append-only {pack} --rules rolepack"

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")

CASES: list[tuple[str, str, str | int, str]] = [
    ("runs append --record-file {bad}", "in.jsonl", FIFO, "FIFO"),
    ("runs append --record-file {bad}", "in.jsonl", ZERO, "device"),
    ("runs append --record-file {bad}", "in.jsonl", GIB + 1, "1 GiB"),
    ("add-entry --type expected_versions --entry-file {bad}", "entry.json", FIFO, "FIFO"),
    ("add-entry --type expected_versions --entry-file {bad}", "entry.json", NULL, "device"),
    ("check-append-only {bad} --rules rolepack", "pack.json", FIFO, "FIFO"),
    ("check-append-only {bad} --rules rolepack", "pack.json", NULL, "device"),
    ("check-append-only {bad} --rules rolepack", "pack.json", 64 * MIB + 1, "64 MiB"),
    (CHECK + " --baseline {bad}", "old.json", FIFO, "FIFO"),
    ("check-append-only {pack} --rules {bad}", "rules.json", FIFO, "FIFO"),
    ("pointers verify", JOURNAL, FIFO, "FIFO"),
    ("pointers verify", JOURNAL, ZERO, "device"),
    ("validate --active", POINTERS, FIFO, "FIFO"),
    ("build", JOURNAL, FIFO, "FIFO"),
    ("build", ".env", FIFO, "FIFO"),
    ("build", CATALOG, FIFO, "FIFO"),
    ("runs list", CATALOG, FIFO, "FIFO"),
    ("init {root}", CATALOG, FIFO, "FIFO"),
    ("pointers verify", CATALOG, ZERO, "device"),
    ("pointers verify", CATALOG, 64 * MIB + 1, "64 MiB"),
]
"""(command, file it reads, what stands there, a word of the refusal); bare names are inputs."""


def _registry(*args: str) -> subprocess.CompletedProcess[str]:
    """`registry ARGS... --json` in its own process, killed (and the test failed) if it hangs."""
    return guarded([sys.executable, "-c", LIMITED, *args, "--json"])


def _plant(path: Path, what: str | int) -> Path:
    """A FIFO nobody writes to, a link to a device, or a file of `what` bytes (a hole) at `path`."""
    path.unlink(missing_ok=True)
    if what == FIFO:
        os.mkfifo(path)
    elif isinstance(what, str):
        path.symlink_to(what)
    else:
        with path.open("wb") as handle:
            handle.truncate(what)
    return path


@pytest.mark.parametrize(("command", "relpath", "what", "word"), CASES)
def test_a_bad_file_is_refused_at_once_naming_it(
    built: Path, tmp_path: Path, command: str, relpath: str, what: str | int, word: str
) -> None:
    if isinstance(what, str) and what != FIFO and not os.path.exists(what):
        pytest.skip(f"no {what} here")
    bad = _plant((built if "/" in relpath or relpath.startswith(".") else tmp_path) / relpath, what)
    pack = tmp_path / "good.json"
    pack.write_text(json.dumps(example_pack()))
    args = command.format(bad=bad, pack=pack, root=built).split()
    if args[0] not in ("init", "check-append-only"):
        args += ["--workspace", str(built)]
    done = _registry(*args)
    assert "Traceback" not in done.stdout + done.stderr
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    error: dict[str, Any] = json.loads(done.stdout)["error"]
    code = "INPUT_TOO_LARGE" if isinstance(what, int) else "NOT_A_REGULAR_FILE"
    assert (error["code"], error["path"]) == (code, str(bad)), error
    assert word in error["message"], error


def test_a_fifo_as_the_coordination_file_fails_the_rules_check_naming_it(built: Path) -> None:
    relpath = "registries/COORDINATION_v0_1.yaml"
    _plant(built / relpath, FIFO)
    done = _registry("build", "--force", "--workspace", str(built))
    assert "Traceback" not in done.stdout + done.stderr
    assert done.returncode == 1, (done.stdout, done.stderr)
    failed = [e for e in json.loads(done.stdout)["registries"] if e["status"] == "failed"]
    problems = [p for entry in failed for p in entry["problems"]]
    assert failed and all(p["code"] == "NOT_A_REGULAR_FILE" for p in problems), failed
    assert all(str(p["path"]).endswith(relpath) for p in problems), problems


def _sealed_fifo(root: Path, registry_id: str, artifact: str) -> tuple[str, Path]:
    """The newest folder of `registry_id`, its `artifact` a FIFO (as an operator's shell can)."""
    folder = sorted((root / ".codex" / "RUNS").glob(f"*__{registry_id}_build"))[-1]
    folder.chmod(0o755)
    (folder / artifact).chmod(0o644)
    return folder.name, _plant(folder / artifact, FIFO)


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


def test_a_symlink_to_a_regular_file_is_read(cli: Run, runs_ws: Path, tmp_path: Path) -> None:
    """An input is a file the user names: a link to a regular file is that file."""
    link = tmp_path / "link.jsonl"
    link.symlink_to(write_input(tmp_path, [record()]))
    code, out, err = cli("runs", "append", "--record-file", str(link), "--workspace", str(runs_ws))
    assert code == 0, out + err
    assert (runs_ws / RUNS_LOG).read_bytes() == jsonl([record()])


def test_stdin_is_read_up_to_the_same_limit(
    cli: Run, runs_ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    given = jsonl([record(run_id=run_id(n)) for n in range(10)])
    limit = "registry_pipeline.core.workspace.input_files.MAX_RECORD_FILE_BYTES"
    for bound, exit_code, log in ((len(given) - 1, 2, b""), (len(given), 0, given)):
        monkeypatch.setattr(limit, bound)
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(given)))
        code, out, _err = cli("runs", "append", "--record-file", "-", "--workspace", str(runs_ws),
                              "--json")  # fmt: skip
        assert code == exit_code, out
        assert code == 0 or json.loads(out)["error"]["code"] == "INPUT_TOO_LARGE"
        assert (runs_ws / RUNS_LOG).read_bytes() == log


def test_the_limits_are_in_the_help(cli: Run) -> None:
    assert "1 GiB" in cli("runs", "append", "--help")[1]
    assert "16 MiB" in cli("add-entry", "--help")[1]
    assert "64 MiB" in cli("check-append-only", "--help")[1]
    assert "1000000000" in cli("runs", "list", "--help")[1]


# --- numeric options -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["1" + "0" * 30, "1000000001", "0", "-1", "1.5", "abc", "", "١٢", "1_000", "9" * 5000],
    ids=["10**30", "max+1", "zero", "negative", "float", "word", "empty", "arabic", "under",
         "5000-digits"],
)  # fmt: skip
@pytest.mark.parametrize("command", ["list", "failed"])
def test_limit_out_of_range_is_bad_usage_naming_the_option(
    cli: Run, runs_ws: Path, command: str, value: str
) -> None:
    code, out, err = cli("runs", command, "--limit", value, "--workspace", str(runs_ws))
    assert code == 2
    assert "error: BAD_USAGE argument --limit:" in err, err
    assert "1 to 1000000000" in err and len(err) < 1000
    code, out, err = cli("runs", command, "--limit", value, "--workspace", str(runs_ws), "--json")
    assert code == 2
    error = json.loads(out)["error"]
    assert error["code"] == "BAD_USAGE" and "--limit" in error["message"]


@pytest.mark.parametrize("value", ["1", "1000000000", " 7 ", "+3"])
def test_limit_in_range_is_taken(cli: Run, runs_ws: Path, value: str) -> None:
    (runs_ws / RUNS_LOG).write_bytes(jsonl([record(run_id=run_id(n)) for n in range(3)]))
    code, out, err = cli("runs", "list", "--limit", value, "--workspace", str(runs_ws), "--json")
    assert code == 0, err
    assert len(json.loads(out)) == min(3, int(value))
