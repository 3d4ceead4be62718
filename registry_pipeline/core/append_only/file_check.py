"""One catalog file checked as CI and pre-commit check it: the registry's schema, exactly as the
build applies it, and then the append-only rules against the published version.

The schema step is `source_problems`, the very function a source asset calls before it seals
anything: the same schema (the one governing the name the file is sealed under), the same
problems. The append-only step is `check_catalog`, which the pipeline's blocking check calls.
So `registry check-append-only` and the build never disagree about a file. Every problem
names the entry it lies in beside its JSON pointer (`/roles/38 (role_id=newbie_1)/...`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from registry_pipeline.core.append_only.baseline import Baseline, parse_baseline, parse_current
from registry_pipeline.core.append_only.check import check_catalog, entries_of, entry_at
from registry_pipeline.core.append_only.rules import Rules
from registry_pipeline.core.append_only.violations import Entry, Report
from registry_pipeline.core.errors import Problem
from registry_pipeline.core.seal.pointer_lines import pointer_lines
from registry_pipeline.core.seal.schemas import SchemaCatalog
from registry_pipeline.core.workspace.sources import source_problems


@dataclass(frozen=True)
class FileCheck:
    """The schema problems and append-only violations of one file."""

    file: str
    """The file as the user named it (`path` of every problem)."""
    rules: Rules
    baseline: Baseline
    schema: str | None
    """The `$id` of the schema governing the file's name; None when none does."""
    schema_problems: tuple[Problem, ...]
    report: Report
    lines: dict[str, int]
    """Line of each JSON pointer of a problem in the file, where it was found."""
    entries: dict[str, Entry]
    """The entry each schema problem's JSON pointer lies in, where it lies in one."""

    @property
    def ok(self) -> bool:
        """True when the schema and every append-only promise hold."""
        return not self.schema_problems and self.report.ok

    def problems(self) -> list[dict[str, object]]:
        """Every problem as a problem object (`path` the file, `field` the JSON pointer, then
        `entry_id`, the id of the entry it lies in, where there is one)."""
        return [problem for problem, _where in self.located()]

    def located(self) -> list[tuple[dict[str, object], str]]:
        """Every problem object with its place in words: the JSON pointer with the entry named
        beside it (`/roles/38 (role_id=newbie_1)/extract_contracts`), `/` for the document."""
        found: list[tuple[dict[str, object], str]] = []
        for problem in self.schema_problems:
            entry = self.entries.get(problem.field or "")
            shown = {**problem.as_json(), "path": self.file}
            if entry is not None:
                shown["entry_id"] = entry.id
            where = problem.field or "/"
            found.append((shown, entry.locate(where) if entry is not None else where))
        for violation in self.report.violations:
            line = self.lines.get(violation.path) if violation.in_current else None
            found.append((violation.problem(self.file, line), violation.location or "/"))
        return found

    def as_json(self) -> dict[str, Any]:
        """The object `--json` prints for one file."""
        return {
            "ok": self.ok,
            "file": self.file,
            "rules": self.rules.name,
            "schema": self.schema,
            "baseline": self.baseline.as_json(),
            "entries": self.report.entries,
            "contracts": self.report.contracts,
            "violations": self.problems(),
        }


def check_file(
    data: bytes,
    relpath: str,
    baseline: Baseline,
    rules: Rules,
    schemas: SchemaCatalog,
    where: str,
) -> FileCheck:
    """`data` (sealed under `relpath`, named `where` to the user) against its schema and, under
    `rules`, against `baseline`. Unparseable input is a usage error with the strict rule it
    breaks as its code; a document without the entries array is CATALOG_SHAPE."""
    document = parse_current(data, where)
    published = parse_baseline(baseline, where)
    governing = schemas.for_artifact(relpath)
    problems = tuple(source_problems({relpath: data}, schemas)) if governing else ()
    report = check_catalog(document, published, rules, where)
    pointers = [v.path for v in report.violations if v.in_current]
    lines = pointer_lines(data.decode("utf-8"), pointers) if pointers else {}
    entries = entries_of(document, rules, where) if problems else []
    named = {
        p.field: entry for p in problems if p.field and (entry := entry_at(entries, rules, p.field))
    }
    return FileCheck(
        where,
        rules,
        baseline,
        governing.schema_id if governing else None,
        problems,
        report,
        lines,
        named,
    )
