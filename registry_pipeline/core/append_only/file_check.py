"""One catalog file checked as CI and pre-commit check it: the registry's schema, exactly as the
build applies it, and then the append-only rules against the published version.

The schema step is `source_problems`, the very function a source asset calls before it seals
anything: the same schema (the one governing the name the file is sealed under), the same
problems. The append-only step is `check_catalog`, which the pipeline's blocking check calls.
So `registry check-append-only` and the build never disagree about a file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from registry_pipeline.core.append_only.baseline import Baseline, parse_baseline, parse_current
from registry_pipeline.core.append_only.check import check_catalog
from registry_pipeline.core.append_only.rules import Rules
from registry_pipeline.core.append_only.violations import Report
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

    @property
    def ok(self) -> bool:
        """True when the schema and every append-only promise hold."""
        return not self.schema_problems and self.report.ok

    def problems(self) -> list[dict[str, object]]:
        """Every problem as a problem object (`path` the file, `field` the JSON pointer)."""
        found: list[dict[str, object]] = [
            {**problem.as_json(), "path": self.file} for problem in self.schema_problems
        ]
        found.extend(
            violation.problem(
                self.file, self.lines.get(violation.path) if violation.in_current else None
            )
            for violation in self.report.violations
        )
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
    return FileCheck(
        where,
        rules,
        baseline,
        governing.schema_id if governing else None,
        problems,
        report,
        lines,
    )
