"""`adopt --dry-run` lists every file the run writes and warns only of what the run leaves."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from registry_pipeline_tests._helpers import Run, commit_all
from registry_pipeline_tests.cli_tests._seed_layout import make_seed_repo

WRITTEN = re.compile(
    r"^(?:would )?(?:write|wrote|create|created|append|appended) (?:.*? to )?(\S+?)(?::? |$)"
)
"""A line of a file adopt writes, and that file: `wrote X (new)`, `appended 3 lines to X: why`."""


def _files(root: Path) -> dict[str, bytes | None]:
    """Every path of the repository (a folder's ends with / and is None), but git's own files."""
    return {
        p.relative_to(root).as_posix() + ("/" if p.is_dir() else ""): p.read_bytes()
        if p.is_file()
        else None
        for p in root.rglob("*")
        if p.relative_to(root).parts[0] != ".git" or p == root / ".git" / "info" / "exclude"
    }


def _crlf(root: Path) -> Path:
    """The seed repository in CRLF, with its own `.codex/.gitignore` for adopt to complete."""
    (root / ".codex").mkdir()
    (root / ".codex" / ".gitignore").write_bytes(b"# theirs\r\n.staging/\r\n")
    for path in [*root.rglob("*.json"), *root.rglob("*.md"), *root.glob(".git[ai]*")]:
        path.write_bytes(path.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
    commit_all(root, "crlf")
    return root


def _said(cli: Run, root: Path, *args: str) -> tuple[dict[str, str], list[str]]:
    """(file -> what `adopt ARGS` says it writes, the warnings' codes or lines)."""
    code, out, err = cli("adopt", str(root), *args)
    assert code == 0, out + err
    if "--json" in args:
        document = json.loads(out)
        files = {path: change for path, change in document["files"].items()
                 if change != "unchanged"}  # fmt: skip
        return files, [warning["code"] for warning in document["warnings"]]
    found = [(WRITTEN.match(line), line) for line in out.splitlines()]
    files = {match[1]: line.split(" ", 1)[0] for match, line in found if match}
    return files, [line for line in err.splitlines() if line.startswith("warning: ")]


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
@pytest.mark.parametrize("crlf", [False, True], ids=["lf", "crlf"])
def test_the_dry_run_lists_every_file_the_run_writes(
    cli: Run, tmp_path: Path, as_json: bool, crlf: bool
) -> None:
    root = make_seed_repo(tmp_path / "ovc")
    root = _crlf(root) if crlf else root
    flags = ("--json",) if as_json else ()
    before = _files(root)

    planned, warned = _said(cli, root, "--dry-run", *flags)
    assert _files(root) == before  # a dry run writes nothing
    done, warned_after = _said(cli, root, *flags)
    after = _files(root)

    changed = {path for path in after if after[path] != before.get(path, b"absent")}
    assert set(planned) == set(done)  # the same plan, said twice
    assert {path for path in planned if not path.endswith("/")} == {
        path for path in changed if not path.endswith("/")
    }
    assert {".codex/RUNS/", ".codex/RUNS/.gitkeep", ".gitattributes", "dg.toml"} <= set(planned)
    assert {path for path in planned if path.endswith("/")} <= changed  # folders it creates
    assert warned == warned_after  # warned of what the run leaves, not of what it fixes
    assert not any("LINE_ENDINGS_CONVERTIBLE" in w or "convert line endings" in w for w in warned)
    assert _said(cli, root, *flags)[0] == {}  # then nothing is left to write
