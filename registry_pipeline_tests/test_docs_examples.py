"""Documents stay true (every block runs, see `_tour.py`) and name no path outside the repo."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import pytest

from registry_pipeline_tests._tour import (
    DOCS,
    FOLDERS,
    NOT_TOURED,
    README,
    REPO,
    Block,
    Step,
    Tour,
    blocks,
    run_tour,
    steps,
)

TOURED = [README, *sorted(path for path in DOCS.glob("*.md") if path.name not in NOT_TOURED)]
WRITTEN = [README, *sorted(path for path in DOCS.glob("*.md") if path.name != "benchmarks.md")]
"""The documents a reader follows (benchmarks.md names where its measurements found data)."""
CLIMB = re.compile(r"(?<![\w./-])((?:\.\./)+[\w.-][^\s`'\")\]]*)")
LINK = re.compile(r"\]\(([^)\s]+)\)")


def _tours() -> list[tuple[Path, str]]:
    """(document, kind) for each folder kind a docs/ document runs blocks in."""
    found: dict[tuple[Path, str], None] = {}
    for document in TOURED[1:]:
        for block in blocks(document):
            if block.kind in FOLDERS:
                found[(document, block.kind)] = None
    return list(found)


@pytest.mark.parametrize(
    ("document", "kind"), _tours(), ids=[f"{doc.stem}-{kind}" for doc, kind in _tours()]
)
def test_the_examples_run_as_the_document_shows(
    document: Path, kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    run_tour(document, kind, tmp_path, request)


def _unaccounted(block: Block) -> str | None:
    """Why `block` is neither run nor quoted nor skipped with a reason (None: it is)."""
    if block.kind is None:
        return "no `<!-- tour: ... -->` mark above it"
    if block.kind == "skip":
        return None if block.reason else "skipped without a reason in parentheses"
    if block.kind == "excerpt":
        return None if (REPO / block.note).is_file() else f"quotes no file ({block.note!r})"
    if block.kind not in FOLDERS:
        return f"unknown kind {block.kind!r} (known: {', '.join(FOLDERS)}, excerpt, skip)"
    first = next((line for line in block.lines if line.strip()), "")
    if not first.startswith(("$ ", ">>> ")):
        return f"a block to run starts with {first!r}, not a `$ ` or `>>> ` line"
    return None


@pytest.mark.parametrize("document", TOURED, ids=[path.name for path in TOURED])
def test_every_fenced_block_is_run_or_skipped_with_a_reason(document: Path) -> None:
    problems = [
        f"{block.where}: {why}"
        for block in blocks(document)
        if (why := _unaccounted(block)) is not None
    ]
    assert problems == []


@pytest.mark.parametrize("document", TOURED, ids=[path.name for path in TOURED])
def test_every_excerpt_is_in_the_file_it_quotes(document: Path) -> None:
    for block in blocks(document):
        if block.kind == "excerpt":
            quoted = (REPO / block.note).read_text(encoding="utf-8").splitlines()
            size = len(block.lines)
            assert any(
                tuple(quoted[start : start + size]) == block.lines
                for start in range(len(quoted) - size + 1)
            ), f"{block.where} is not in {block.note} as it shows it"


NAMED_PARENT = str(REPO.parent) not in {tempfile.gettempdir(), "/tmp", "/var/tmp", "/"}
"""Naming this checkout's folder leaves the repository, unless it is a temporary one (in /tmp)."""


def _outside(text: str, folder: Path) -> list[str]:
    """Each path a document in `folder` names outside the repository (or a clone), with its line."""
    top = {entry.name for entry in REPO.iterdir()}
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        for climbing in CLIMB.findall(line):
            resolved = Path(os.path.normpath(folder / climbing))
            inside = resolved.is_relative_to(REPO) and resolved != REPO
            if not inside or resolved.relative_to(REPO).parts[0] not in top:
                found.append(f"{number}: {climbing}")
        for target in LINK.findall(line):
            if re.match(r"[a-z]+:|#", target) is None:
                path = Path(os.path.normpath(folder / target.split("#")[0]))
                if not (path.is_relative_to(REPO) and path.exists()):
                    found.append(f"{number}: a link to {target}, which a clone does not have")
        if NAMED_PARENT and re.search(rf"(?<![\w./-]){re.escape(str(REPO.parent))}/", line):
            found.append(f"{number}: names {REPO.parent}/, the folder this checkout is in")
    return found


@pytest.mark.parametrize("document", WRITTEN, ids=[path.name for path in WRITTEN])
def test_no_document_names_a_path_outside_the_repository(document: Path) -> None:
    assert _outside(document.read_text(encoding="utf-8"), document.parent) == []


def test_a_path_that_leads_out_of_the_repository_is_found() -> None:
    text = (
        "see `../shared/seeds/x.md`, [ok](../examples/) and `a/../b`, `.../pointer`\n"
        "[gone](NOT_HERE.md), [web](https://example.com), [here](#commands), "
        "[up](../../not-this-repository)\n"
        f"and {REPO.parent}/shared/reference\n"
    )
    assert _outside(text, DOCS) == [
        "1: ../shared/seeds/x.md",
        "2: ../../not-this-repository",
        "2: a link to NOT_HERE.md, which a clone does not have",
        "2: a link to ../../not-this-repository, which a clone does not have",
        *([f"3: names {REPO.parent}/, the folder this checkout is in"] if NAMED_PARENT else []),
    ]


def test_a_stale_hash_of_a_file_the_example_starts_from_fails(tmp_path: Path) -> None:
    """Hashes are placeholders, except of a file the folder starts with: shown as it is."""
    (tmp_path / "a.txt").write_text("a\n")
    stale = "0" * 64
    with pytest.raises(AssertionError, match="for a file the example starts from"):
        Tour(tmp_path).run(Step("sha256sum a.txt", [f"{stale}  a.txt"]))
    real = "87428fc522803d31065e7bce3cf03fe475096631e5e07bbd7a0fde60c4cf25c7"
    Tour(tmp_path).run(Step("sha256sum a.txt", [f"{real}  a.txt"]))


def test_one_value_shown_stands_for_one_real_value(tmp_path: Path) -> None:
    """A hash or run id shown twice is one real value (the seal's root and its lines' sum, say)."""
    shown = "a" * 64
    tour = Tour(tmp_path)
    tour.run(Step(f"echo {'1' * 64}", [shown]))
    with pytest.raises(AssertionError, match="stands for both"):
        tour.run(Step(f"echo {'2' * 64}", [shown]))
    with pytest.raises(AssertionError, match="is shown as both"):
        tour.run(Step(f"echo {'1' * 64}", ["b" * 64]))


def test_a_python_session_runs_as_doctest(tmp_path: Path) -> None:
    block = Block(REPO / "README.md", 1, "python", "demo", "", (">>> 1 + 1", "2"))
    assert [step.python for step in steps(block)] == [True]
    Tour(tmp_path).run_block(block)
    wrong = Block(REPO / "README.md", 1, "python", "demo", "", (">>> 1 + 1", "3"))
    with pytest.raises(AssertionError, match="Python session drifted"):
        Tour(tmp_path).run_block(wrong)


def test_unmarked_and_unexplained_blocks_are_found() -> None:
    def block(kind: str | None, note: str = "", lines: tuple[str, ...] = ("$ true",)) -> Block:
        return Block(README, 1, "", kind, note, lines)

    assert _unaccounted(block(None)) is not None
    assert _unaccounted(block("skip", "")) is not None
    assert _unaccounted(block("skip", "(needs a bucket)")) is None
    assert _unaccounted(block("demo", lines=("registry build",))) is not None
    assert _unaccounted(block("demo")) is None
    assert _unaccounted(block("excerpt", "no/such/file")) is not None
    assert _unaccounted(block("excerpt", "Makefile")) is None
    assert _unaccounted(block("sandbox")) is not None
