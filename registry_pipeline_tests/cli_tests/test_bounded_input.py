"""Inputs that hung or crashed (FIFOs, devices, oversize files, bad options) are refused."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from registry_pipeline_tests.cli_tests.conftest import Run
from registry_pipeline_tests.core_tests.run_index._support import (
    RUNS_LOG,
    jsonl,
    make_workspace,
    record,
    run_id,
    write_input,
)

BIN = Path(sys.executable).with_name("registry")
GUARD = 60.0
"""Seconds before a command is taken to hang (it answers in about one)."""
GIB = 1 << 30
MIB = 1 << 20

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    return make_workspace(tmp_path)


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    """A FIFO nobody writes to: opening it for reading the ordinary way waits forever."""
    path = tmp_path / "input.fifo"
    os.mkfifo(path)
    return path


def _registry(*args: str) -> subprocess.CompletedProcess[str]:
    """`registry ARGS...` in its own process, killed (and the test failed) if it hangs."""
    try:
        return subprocess.run(
            [str(BIN), *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=GUARD,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"`registry {' '.join(args)}` still ran after {GUARD:.0f} s: it hangs")


def _refused(done: subprocess.CompletedProcess[str], code: str, path: Path | str) -> str:
    """The refusal's message, after checking exit 2, the code and the path of `--json`."""
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stdout + done.stderr
    error: dict[str, Any] = json.loads(done.stdout)["error"]
    assert (error["code"], error["path"]) == (code, str(path)), error
    message: str = error["message"]
    return message


# --- FIFOs and devices ---------------------------------------------------------------------


def test_runs_append_refuses_a_fifo_at_once(ws: Path, fifo: Path) -> None:
    done = _registry("runs", "append", "--record-file", str(fifo), "--workspace", str(ws), "--json")
    assert "FIFO" in _refused(done, "NOT_A_REGULAR_FILE", fifo)
    human = _registry("runs", "append", "--record-file", str(fifo), "--workspace", str(ws))
    assert human.returncode == 2
    assert human.stderr.startswith(f"error: NOT_A_REGULAR_FILE {fifo}:"), human.stderr
    assert (ws / RUNS_LOG).read_bytes() == b""


def test_add_entry_refuses_a_fifo_at_once(demo: Path, fifo: Path) -> None:
    done = _registry("add-entry", "--type", "expected_versions", "--entry-file", str(fifo),
                     "--workspace", str(demo), "--json")  # fmt: skip
    _refused(done, "NOT_A_REGULAR_FILE", fifo)


def test_check_append_only_refuses_a_fifo_at_once(tmp_path: Path, fifo: Path) -> None:
    done = _registry("check-append-only", str(fifo), "--rules", "rolepack", "--json")
    _refused(done, "NOT_A_REGULAR_FILE", fifo)


def test_check_append_only_refuses_a_fifo_as_baseline_or_rules(tmp_path: Path, fifo: Path) -> None:
    from registry_pipeline_tests._rolepack import example_pack

    pack = tmp_path / "pack.json"
    pack.write_text(json.dumps(example_pack()))
    done = _registry("check-append-only", str(pack), "--rules", "rolepack",
                     "--baseline", str(fifo), "--json")  # fmt: skip
    _refused(done, "NOT_A_REGULAR_FILE", fifo)
    done = _registry("check-append-only", str(pack), "--rules", str(fifo), "--json")
    _refused(done, "NOT_A_REGULAR_FILE", fifo)


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/null"])
def test_runs_append_refuses_a_device(ws: Path, device: str) -> None:
    if not os.path.exists(device):
        pytest.skip(f"no {device} here")
    done = _registry("runs", "append", "--record-file", device, "--workspace", str(ws), "--json")
    assert "device" in _refused(done, "NOT_A_REGULAR_FILE", device)


def test_add_entry_and_check_append_only_refuse_a_device(demo: Path) -> None:
    if not os.path.exists("/dev/null"):
        pytest.skip("no /dev/null here")
    done = _registry("add-entry", "--type", "expected_versions", "--entry-file", "/dev/null",
                     "--workspace", str(demo), "--json")  # fmt: skip
    _refused(done, "NOT_A_REGULAR_FILE", "/dev/null")
    done = _registry("check-append-only", "/dev/null", "--rules", "rolepack", "--json")
    _refused(done, "NOT_A_REGULAR_FILE", "/dev/null")


def test_a_symlink_to_a_regular_file_is_read(ws: Path, tmp_path: Path) -> None:
    """An input is a file the user names: a link to a regular file is that file."""
    target = Path(write_input(tmp_path, [record()]))
    link = tmp_path / "link.jsonl"
    link.symlink_to(target)
    done = _registry("runs", "append", "--record-file", str(link), "--workspace", str(ws), "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert (ws / RUNS_LOG).read_bytes() == jsonl([record()])


# --- limits --------------------------------------------------------------------------------


def _sparse(path: Path, size: int) -> Path:
    """A file of `size` bytes that takes no room on disk (a hole)."""
    with path.open("wb") as handle:
        handle.truncate(size)
    return path


def test_a_record_file_over_its_limit_is_refused_before_reading(
    cli: Run, ws: Path, tmp_path: Path
) -> None:
    from registry_pipeline.core.workspace import input_files

    assert input_files.MAX_RECORD_FILE_BYTES == GIB
    huge = _sparse(tmp_path / "huge.jsonl", GIB + 1)
    code, out, _err = cli("runs", "append", "--record-file", str(huge), "--workspace", str(ws),
                          "--json")  # fmt: skip
    assert code == 2
    error = json.loads(out)["error"]
    assert (error["code"], error["path"]) == ("INPUT_TOO_LARGE", str(huge))
    assert "1 GiB" in error["message"]
    assert (ws / RUNS_LOG).read_bytes() == b""


def test_a_catalog_file_over_its_limit_is_refused(cli: Run, tmp_path: Path) -> None:
    huge = _sparse(tmp_path / "huge.json", 64 * MIB + 1)
    code, out, _err = cli("check-append-only", str(huge), "--rules", "rolepack", "--json")
    assert code == 2
    assert json.loads(out)["error"]["code"] == "INPUT_TOO_LARGE"


def test_stdin_is_read_up_to_the_same_limit(
    cli: Run, ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    given = jsonl([record(run_id=run_id(n)) for n in range(10)])
    limit = len(given) - 1
    monkeypatch.setattr("registry_pipeline.core.workspace.input_files.MAX_RECORD_FILE_BYTES", limit)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(given)))
    code, out, _err = cli("runs", "append", "--record-file", "-", "--workspace", str(ws), "--json")
    assert code == 2
    assert json.loads(out)["error"]["code"] == "INPUT_TOO_LARGE"
    assert (ws / RUNS_LOG).read_bytes() == b""

    monkeypatch.setattr(
        "registry_pipeline.core.workspace.input_files.MAX_RECORD_FILE_BYTES", len(given)
    )
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(given)))
    code, out, _err = cli("runs", "append", "--record-file", "-", "--workspace", str(ws), "--json")
    assert code == 0, out
    assert (ws / RUNS_LOG).read_bytes() == given


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
    cli: Run, ws: Path, command: str, value: str
) -> None:
    code, out, err = cli("runs", command, "--limit", value, "--workspace", str(ws))
    assert code == 2
    assert "error: BAD_USAGE argument --limit:" in err, err
    assert "1 to 1000000000" in err and len(err) < 1000
    code, out, err = cli("runs", command, "--limit", value, "--workspace", str(ws), "--json")
    assert code == 2
    error = json.loads(out)["error"]
    assert error["code"] == "BAD_USAGE" and "--limit" in error["message"]


@pytest.mark.parametrize("value", ["1", "1000000000", " 7 ", "+3"])
def test_limit_in_range_is_taken(cli: Run, ws: Path, value: str) -> None:
    (ws / RUNS_LOG).write_bytes(jsonl([record(run_id=run_id(n)) for n in range(3)]))
    code, out, err = cli("runs", "list", "--limit", value, "--workspace", str(ws), "--json")
    assert code == 0, err
    assert len(json.loads(out)) == min(3, int(value))
