"""Codes are the contract, `MESSAGES` the one table of what each says (STYLE.md, "Codes, not
sentences"): one golden line per template, every code the package raises has its entry and no
raise site words its own sentence, and every raise site gives the fields its template names.

The codes are found in the source with `ast`, where a code stands: a `code=` argument, the first
argument of `Problem.of`/`RegistryError.of` or of a helper that takes a code first, a class's
`code`, a member of a `...Code` enum; a name is resolved through the package's constants.
`UPDATE_GOLDEN=1` rewrites the golden file (then read the diff: it is the wording users see).
"""

from __future__ import annotations

import ast
import functools
import json
import os
import re
import string
from collections.abc import Iterator
from pathlib import Path

import pytest

from registry_pipeline.core.errors import (
    MESSAGES,
    Problem,
    RegistryError,
    UsageError,
    problem_text,
    render,
)

PACKAGE = Path(__file__).resolve().parents[2] / "registry_pipeline"
GOLDEN = Path(__file__).resolve().parents[1] / "assets" / "messages.json"
CODE = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+|[A-Z]{4,}")
NOT_CODES = {"get", "getenv", "execute", "startswith", "endswith", "split", "append", "__init__",
             "SchemaChange"}  # fmt: skip
"""Callees whose first argument in capitals is no code (an environment variable, SQL, a list, a
schema change's kind)."""


def sample_fields(template: str) -> dict[str, str]:
    """`<name>` for each field a template names: enough to pin its wording."""
    names = (name for _, name, _, _ in string.Formatter().parse(template) if name)
    return {name: f"<{name}>" for name in names}


def sample(code: str) -> str:
    entry = MESSAGES[code]
    return render(code, **sample_fields(entry.template + entry.hint))


def golden_line(code: str) -> str:
    """`"CODE": [exit, "sample text"]`: one line of the golden file."""
    return f"{json.dumps(code)}: {json.dumps([MESSAGES[code].exit, sample(code)])}"


@pytest.mark.parametrize("code", sorted(MESSAGES))
def test_each_template_says_what_its_golden_line_says(code: str) -> None:
    if os.environ.get("UPDATE_GOLDEN") == "1":
        GOLDEN.write_text("{\n" + ",\n".join(map(golden_line, sorted(MESSAGES))) + "\n}\n")
    pinned = json.loads(GOLDEN.read_text())
    assert [MESSAGES[code].exit, sample(code)] == pinned.get(code), (
        f"{code}'s wording or exit code changed: UPDATE_GOLDEN=1 rewrites {GOLDEN.name}"
    )


def test_the_golden_file_has_no_code_the_table_lost() -> None:
    assert sorted(json.loads(GOLDEN.read_text())) == sorted(MESSAGES)


def test_an_error_of_a_code_takes_its_wording_and_exit_code_from_the_table() -> None:
    error = RegistryError.of("DEST_INSIDE_FOLDER", path=Path("/a/b"), source="/a")
    assert isinstance(error, UsageError) and error.exit_code == 2 and error.path == "/a/b"
    assert error.message == render("DEST_INSIDE_FOLDER", source="/a")
    assert error.as_json()["message"] == error.message and error.as_json()["code"] == error.code
    problem = Problem.of("MISSING_REQUIRED_FILE", path="run.json")
    assert (problem.path, problem.message) == ("run.json", "required file run.json is missing")
    assert str(problem) == f"MISSING_REQUIRED_FILE  run.json: {problem.message}"
    assert RegistryError.of("CHECK_FAILED", run_id="r", build="b", created="c", failure="f")
    assert type(RegistryError.of("INTERRUPTED")) is RegistryError


def test_a_problem_is_one_line_whatever_its_values_hold() -> None:
    """A value given by a person (a journaled reason) that holds a newline never makes a line of
    its own on a terminal: the one text renderer escapes it."""
    problem = Problem(code="HELD", message="again\nforged", path="p.json")
    error = RegistryError("held: ok\nerror: FORGED  x", code="HELD", path="/w/p.json",
                          problems=[problem])  # fmt: skip
    lines = error.diagnostics().splitlines()
    assert lines == ["error: HELD /w/p.json: held: ok\\x0aerror: FORGED  x",
                     "  HELD  p.json: again\\x0aforged"]  # fmt: skip
    assert problem_text(problem) == lines[1].strip()


@functools.cache
def _modules() -> tuple[tuple[str, ast.Module], ...]:
    """Every module of the package, parsed once: (relpath, tree)."""
    paths = sorted(PACKAGE.rglob("*.py"))
    return tuple((p.relative_to(PACKAGE).as_posix(), ast.parse(p.read_text())) for p in paths)


@functools.cache
def _constants() -> dict[str, str]:
    """Every module-level `NAME = "CODE"` of the package, by name (the names are unique)."""
    found: dict[str, str] = {}
    for _, tree in _modules():
        for node in tree.body:
            value = getattr(node.value, "value", None) if isinstance(node, ast.Assign) else None
            if isinstance(value, str) and CODE.fullmatch(value):
                found.update({t.id: value for t in node.targets if isinstance(t, ast.Name)})
    return found


def _code(node: ast.AST | None) -> str | None:
    """The code `node` stands for: a literal, a constant's name, an enum member."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value if CODE.fullmatch(node.value) else None
    if isinstance(node, ast.Attribute) and str(getattr(node.value, "id", "")).endswith("Code"):
        return node.attr
    name = node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", None)
    return _constants().get(name) if isinstance(name, str) else None


def raised_codes() -> Iterator[tuple[str, str, ast.Call | None]]:
    """(relpath, code, the call when it is `X.of(code, ...)`) for every code in the package."""
    for relpath, tree in _modules():
        for node in ast.walk(tree):
            for item in node.body if isinstance(node, ast.ClassDef) else ():  # `code = "X"`
                targets = [getattr(t, "id", "") for t in getattr(item, "targets", ())]
                coded = node.name.endswith("Code") or "code" in targets
                if coded and isinstance(item, ast.Assign) and (code := _code(item.value)):
                    yield relpath, code, None
            if not isinstance(node, ast.Call):
                continue
            callee = getattr(node.func, "attr", getattr(node.func, "id", ""))
            for keyword in node.keywords:
                if keyword.arg == "code" and (code := _code(keyword.value)):
                    yield relpath, code, None
            first = node.args[0] if node.args and callee not in NOT_CODES else None
            if (isinstance(first, ast.Constant) or callee == "of") and (code := _code(first)):
                yield relpath, code, node if callee == "of" else None


def worded_sites() -> Iterator[str]:
    """`relpath:line CODE` of each error or problem made with a code and a sentence of its own
    (`RegistryError("...", code="CODE")`) rather than the table's (`RegistryError.of`)."""
    kinds = ("Error", "Problem", "InProgress")
    for relpath, tree in _modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and str(getattr(node.func, "id", "")).endswith(kinds):
                given = {k.arg: k.value for k in node.keywords}
                said = given.get("message", node.args[0] if node.args else ast.Name())
                words = any(isinstance(n, ast.Constant | ast.JoinedStr) for n in ast.walk(said))
                if words and (code := _code(given.get("code"))):
                    yield f"{relpath}:{node.lineno} {code}"


def test_every_code_raised_has_its_entry() -> None:
    missing = sorted({f"{relpath}: {code}" for relpath, code, _ in raised_codes()
                      if code not in MESSAGES})  # fmt: skip
    assert not missing, "codes without an entry in core.errors.MESSAGES:\n" + "\n".join(missing)


def test_no_sentence_is_worded_where_it_is_raised() -> None:
    worded = list(worded_sites())
    assert not worded, "worded where raised (Problem.of, RegistryError.of):\n" + "\n".join(worded)


def test_every_raise_site_gives_the_fields_its_template_names() -> None:
    """`X.of("CODE", ...)` with literal keywords names every field of the template and hint."""
    short: list[str] = []
    for relpath, code, call in raised_codes():
        if call is None or code not in MESSAGES or any(k.arg is None for k in call.keywords):
            continue  # a `**fields` call is checked by the tests of its room
        entry = MESSAGES[code]
        given = {keyword.arg for keyword in call.keywords}
        needed = set(sample_fields(entry.template + entry.hint))
        if needed - given:
            short.append(f"{relpath}:{call.lineno}: {code} lacks {sorted(needed - given)}")
    assert not short, "\n".join(short)
