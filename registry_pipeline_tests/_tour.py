"""Documentation that runs: each fenced block of README.md and docs/*.md runs as written."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from registry_pipeline_tests._helpers import copy_demo

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
DOCS = REPO / "docs"
NOT_TOURED = ("ADOPTING.md", "benchmarks.md")
"""ADOPTING.md tours the seed's repository (test_seed_repository.py); benchmarks.md, timings."""

FENCE = re.compile(r"^(\s*)```(.*)$")
MARK = re.compile(r"^<!-- tour: ([a-z-]+)\b\s*(.*?)\s*-->$")
"""The line above a block: `tour: KIND` runs it in FOLDERS[KIND], `excerpt PATH`, `skip (why)`."""
RUN_ID = re.compile(r"\d{4}-\d\d-\d\d__\d{6}__[a-z0-9_]+")
SHA = re.compile(r"\b[0-9a-f]{64}\b")
PLACEHOLDERS = [
    # a run id's time, and the suffix a second folder of the same registry takes in that second
    (
        re.compile(r"\d{4}-\d\d-\d\d__\d{6}__([a-z][a-z0-9_]*?)(?:__\d{3})?(?![a-z0-9_])"),
        r"<TIME>__\1",
    ),
    (SHA, "<SHA256>"),
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"), "<UUID>"),
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z"), "<TIMESTAMP>"),
    (re.compile(r"\b[0-9a-f]{12}\b"), "<SHORT>"),
    (re.compile(r"\(\d+ files,"), "(N files,"),
]
GIT_USER = {
    f"GIT_{who}_{what}": value
    for who in ("AUTHOR", "COMMITTER")
    for what, value in (("NAME", "Doc Reader"), ("EMAIL", "reader@example.invalid"))
}
"""The identity the demo's commit is made with (a reader's clone has its own commits)."""
DOCTEST = """import doctest, sys
test = doctest.DocTestParser().get_doctest(sys.stdin.read(), {}, sys.argv[1], sys.argv[1], 0)
runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
runner.run(test)
sys.exit(1 if runner.failures else 0)
"""
"""A Python session, run as doctest runs one (`...` in an output stands for anything)."""


@dataclass(frozen=True)
class Block:
    """One fenced block of a document, with the tour mark above it."""

    document: Path
    line: int
    """The line of its opening fence (1-based)."""
    info: str
    """The fence's info string (`json`, `console`, ...)."""
    kind: str | None
    """The mark's kind (`demo`, `skip`, `excerpt`, ...); None when no mark precedes it."""
    note: str
    """What the mark says after its kind: a skip's `(reason)`, an excerpt's file."""
    lines: tuple[str, ...]

    @property
    def where(self) -> str:
        return f"{self.document.relative_to(REPO)}:{self.line}"

    @property
    def reason(self) -> str:
        """A skip's reason ('' when the mark gives none in parentheses)."""
        found = re.fullmatch(r"\((.*\S.*)\)", self.note)
        return found.group(1) if found else ""


@dataclass
class Step:
    """A command and the output the document shows for it (a Python session: its text)."""

    command: str
    expected: list[str] = field(default_factory=list)
    python: bool = False


def blocks(document: Path) -> list[Block]:
    """Every fenced block of `document`, in order."""
    lines = document.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        closing = [i for i in range(index + 1, len(lines)) if lines[i].strip() == "```"]
        assert closing, f"{document.name}:{index + 1}: a fence that is never closed"
        above = next((line.strip() for line in reversed(lines[:index]) if line.strip()), "")
        mark = MARK.match(above)
        indent = len(opening.group(1))
        found.append(
            Block(
                document=document,
                line=index + 1,
                info=opening.group(2).strip(),
                kind=mark.group(1) if mark else None,
                note=mark.group(2) if mark else "",
                lines=tuple(line[indent:] for line in lines[index + 1 : closing[0]]),
            )
        )
        index = closing[0] + 1
    return found


def steps(block: Block) -> list[Step]:
    """A shell session's commands with their outputs, or a Python session as one step."""
    if block.lines and block.lines[0].startswith(">>> "):
        return [Step("\n".join(block.lines) + "\n", python=True)]
    session: list[Step] = []
    for line in block.lines:
        if line.startswith("$ "):
            session.append(Step(line[2:]))
        elif line.strip():
            assert session, f"{block.where}: output before any `$ ` command"
            session[-1].expected.append(line)
    return session


def _normal(line: str) -> str:
    for pattern, placeholder in PLACEHOLDERS:
        line = pattern.sub(placeholder, line)
    return " ".join(line.split())


def match(expected: list[str], actual: list[str]) -> list[tuple[str, str]] | None:
    """The (expected, actual) line pairs when `actual` has the shape of `expected`, else None."""
    if not expected:
        return [] if not actual else None
    if expected[0].strip() == "...":
        for skip in range(len(actual) + 1):
            rest = match(expected[1:], actual[skip:])
            if rest is not None:
                return rest
        return None
    if actual and _normal(expected[0]) == _normal(actual[0]):
        rest = match(expected[1:], actual[1:])
        return None if rest is None else [(expected[0], actual[0]), *rest]
    return None


def _file_hashes(root: Path) -> set[str]:
    """SHA-256 of each file under `root` outside `.codex/`: fixed by the repository, shown as is."""
    hashes = set()
    for directory, subdirs, files in os.walk(root):
        subdirs[:] = [name for name in subdirs if name != ".codex"]
        for name in files:
            path = Path(directory) / name
            if path.is_file() and not path.is_symlink():
                hashes.add(hashlib.sha256(path.read_bytes()).hexdigest())
    return hashes


class Tour:
    """Runs a document's steps in one folder, mapping the ids and hashes it shows to real ones."""

    def __init__(self, cwd: Path, aliases: dict[str, Path] | None = None) -> None:
        self.cwd = cwd
        self.aliases = {shown: str(real) for shown, real in (aliases or {}).items()}
        """Paths the document shows (`/tmp/tour`) for folders of the test's."""
        self.names: dict[str, str] = {}
        self.shown_as: dict[str, str] = {}
        self.fixed = _file_hashes(cwd)
        bin_dir = str(Path(sys.executable).parent)
        self.env = {
            key: value
            for key, value in os.environ.items()
            if key not in ("REGISTRY_WORKSPACE", "DAGSTER_HOME", "REGISTRY_STORE", "REGISTRY_ACTOR")
        }
        self.env.update(PATH=f"{bin_dir}:{os.environ['PATH']}", PYTHONUNBUFFERED="1")

    def run_block(self, block: Block) -> None:
        for step in steps(block):
            if step.python:
                self._doctest(block, step)
            else:
                self.run(step, block.where)

    def run(self, step: Step, where: str = "") -> None:
        command = step.command
        for shown, real in [*self.aliases.items(), *self.names.items()]:
            command = command.replace(shown, real)
        result = subprocess.run(
            ["bash", "-c", f"{{ {command}\n}} 2>&1"],
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        output = result.stdout
        for shown, real in self.aliases.items():
            output = output.replace(real, shown)
        actual = [line for line in output.splitlines() if line.strip()]
        assert "Traceback" not in output, f"{where}\n$ {command}\n{output}"
        pairs = match(step.expected, actual)
        assert pairs is not None, (
            f"{where} drifted from the tool.\n$ {command}\n--- the document shows:\n"
            + "\n".join(step.expected)
            + "\n--- the tool printed:\n"
            + "\n".join(actual)
        )
        for shown_line, real_line in pairs:
            self._learn(shown_line, real_line, where)

    def _learn(self, shown_line: str, real_line: str, where: str) -> None:
        """Map the run ids and hashes of a matched line; one shown value is one real value."""
        for pattern in (RUN_ID, SHA):
            for shown, real in zip(
                pattern.findall(shown_line), pattern.findall(real_line), strict=True
            ):
                assert real not in self.fixed or shown == real, (
                    f"{where}: shows {shown} for a file the example starts from, whose SHA-256 "
                    f"is {real}:\n{real_line}"
                )
                known = self.names.setdefault(shown, real)
                assert known == real, f"{where}: {shown} stands for both {known} and {real}"
                other = self.shown_as.setdefault(real, shown)
                assert other == shown, f"{where}: {real} is shown as both {other} and {shown}"

    def _doctest(self, block: Block, step: Step) -> None:
        result = subprocess.run(
            [sys.executable, "-c", DOCTEST, block.where],
            input=step.command,
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert result.returncode == 0, (
            f"{block.where}: the Python session drifted from the tool\n"
            + result.stdout
            + result.stderr
        )


def _demo(tmp_path: Path, request: pytest.FixtureRequest) -> Tour:
    """The demo as a clone has it: a git repository whose `main` holds it, ignoring as we do."""
    root = copy_demo(tmp_path)
    shutil.copy(REPO / ".gitignore", root)
    env = {**os.environ, **GIT_USER}
    for command in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "the demo"]):
        git = ["git", "-c", "commit.gpgsign=false", *command]
        subprocess.run(git, cwd=root, env=env, check=True, capture_output=True, timeout=60)
    return Tour(root)


def _built(tmp_path: Path, request: pytest.FixtureRequest) -> Tour:
    built: Path = request.getfixturevalue("built")
    return Tour(built)


def _empty(tmp_path: Path, request: pytest.FixtureRequest) -> Tour:
    folder = tmp_path / "tour"
    folder.mkdir()
    shutil.copy(REPO / "registries/expected_versions/EXPECTED_VERSIONS_v0_1.json", folder)
    return Tour(folder, {"/tmp/tour": folder})


def _fresh(tmp_path: Path, request: pytest.FixtureRequest) -> Tour:
    folder = tmp_path / "fresh"
    folder.mkdir()
    return Tour(folder, {"/tmp/fresh": folder})


def _drift_history(tmp_path: Path, request: pytest.FixtureRequest) -> Tour:
    example = Path("examples") / "drift-history"
    shutil.copytree(REPO / example, tmp_path / example, symlinks=True)
    return Tour(tmp_path, {"/tmp/drift-history": tmp_path / "drift-history"})


def _module_registries(tmp_path: Path, request: pytest.FixtureRequest) -> Tour:
    folder = tmp_path / "module-registries"
    shutil.copytree(REPO / "examples" / "module-registries", folder, symlinks=True)
    return Tour(folder)


FOLDERS: dict[str, Callable[[Path, pytest.FixtureRequest], Tour]] = {
    "demo": _demo,
    "built": _built,
    "empty": _empty,
    "fresh": _fresh,
    "drift-history": _drift_history,
    "module-registries": _module_registries,
}
"""The folder each kind of block runs in; a document's `/tmp/NAME` stands for the test's own."""


def run_tour(document: Path, kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """Run every block of `kind` in `document`, in order, in one folder of that kind."""
    chosen = [block for block in blocks(document) if block.kind == kind]
    assert chosen, f"{document.name} has no block marked `<!-- tour: {kind} -->`"
    tour = FOLDERS[kind](tmp_path, request)
    for block in chosen:
        tour.run_block(block)
