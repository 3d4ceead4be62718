"""MANIFEST.sha256 is readable by the real coreutils `sha256sum -c` (its ROOT reproduced by
coreutils: `test_compat_reference.py`)."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from registry_pipeline.core.seal.manifest import MANIFEST_SHA256
from registry_pipeline.core.seal.run_store import SealedRun

pytestmark = pytest.mark.skipif(
    shutil.which("sha256sum") is None, reason="coreutils sha256sum is not on PATH"
)

FILES = {
    "REPORT.json": b'{"ok": true}\n',
    "a b.txt": b"a name with a space\n",
    "data/rows.csv": b"id,value\r\n1,a\r\n2,b\r\n",
    "data/naïve/Zoë ünïcødé.txt": "déjà vu: a non-ASCII folder and name\n".encode(),
    "empty.bin": b"",
}


def _env() -> dict[str, str]:
    return {**os.environ, "LC_ALL": "C"}


def _check(folder: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["sha256sum", "-c", MANIFEST_SHA256],
        cwd=folder,
        env=_env(),
        capture_output=True,
        check=False,
        timeout=60,
    )


@pytest.fixture
def sealed(make_run: Callable[..., SealedRun]) -> SealedRun:
    return make_run(FILES)


def _listed(sealed: SealedRun) -> list[str]:
    return [*sorted(entry.relpath for entry in sealed.entries), "manifest.json"]


def test_sha256sum_checks_every_file_ok(sealed: SealedRun) -> None:
    done = _check(sealed.path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.decode("utf-8").splitlines()
    assert sorted(lines) == sorted(f"{relpath}: OK" for relpath in _listed(sealed))
    assert len(lines) == len(FILES) + 2  # the payload, run.json and manifest.json
    assert "data/naïve/Zoë ünïcødé.txt: OK" in lines
    warnings = [
        line for line in done.stderr.decode().splitlines() if "improperly formatted" in line
    ]
    assert len(warnings) == 1, done.stderr
    assert "1 line is improperly formatted" in warnings[0]


@pytest.mark.parametrize("relpath", ["data/naïve/Zoë ünïcødé.txt", "run.json", "manifest.json"])
def test_sha256sum_fails_after_tampering(sealed: SealedRun, relpath: str) -> None:
    path = sealed.path / relpath
    os.chmod(path.parent, os.stat(path.parent).st_mode | stat.S_IWUSR)
    os.chmod(path, os.stat(path).st_mode | stat.S_IWUSR)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    done = _check(sealed.path)
    assert done.returncode == 1
    lines = done.stdout.decode("utf-8").splitlines()
    assert f"{relpath}: FAILED" in lines
    assert sum(line.endswith(": OK") for line in lines) == len(_listed(sealed)) - 1
