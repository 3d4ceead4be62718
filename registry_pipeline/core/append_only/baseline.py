"""The published version a catalog is checked against (a file, a git ref, a sealed snapshot)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from registry_pipeline.core.append_only.check import (
    Report,
    check_catalog,
    entries_of,
    entry_at,
    in_current,
    location,
    violation_problem,
    violation_row,
)
from registry_pipeline.core.append_only.rules import Rules, parse_rules
from registry_pipeline.core.errors import RegistryError, UsageError, render
from registry_pipeline.core.fs import read_regular
from registry_pipeline.core.json_strict import JSONDecodeProblem, dumps_compact, loads_strict
from registry_pipeline.core.pointers.store import PointerStore
from registry_pipeline.core.pointers.targets import target_verdict
from registry_pipeline.core.seal.pointer_lines import pointer_lines
from registry_pipeline.core.seal.schemas import SchemaCatalog
from registry_pipeline.core.workspace.catalog import RegistrySpec
from registry_pipeline.core.workspace.gitcheck import git_output
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.core.workspace.snapshots import (
    FUTURE_DATED,
    newest_valid,
    read_snapshot,
)
from registry_pipeline.core.workspace.sources import source_problems

NO_GIT = "NOT_A_GIT_REPOSITORY"
DIAGNOSTICS_ARTIFACT = "APPEND_ONLY_DIAGNOSTICS_v0_1.jsonl"
"""Sealed beside a checked source snapshot: one line per violation (empty when clean)."""


@dataclass(frozen=True)
class Baseline:
    """The published bytes of one catalog file, and where they came from."""

    kind: str
    """`file`, `git`, `snapshot`, or `none` (a first publish: only internal rules apply)."""
    source: str | None
    """The file, `REF:path`, or `run_id/relpath`; for `none`, what was looked for, if anything."""
    data: bytes | None
    missing: str = "BASELINE_MISSING"
    """For `none`: the reason code `--require-baseline` refuses it with."""
    why: str = "no baseline was given (--baseline FILE or --baseline-git REF)"
    """For `none`: why there is no published version, in words."""

    def as_json(self) -> dict[str, Any]:
        """The `baseline` object of `--json`."""
        return {"kind": self.kind, "source": self.source, "first_publish": self.data is None}

    def required(self, where: str) -> Baseline:
        """This baseline; a usage error naming what was looked for when there is none."""
        if self.data is None:
            raise RegistryError.of(self.missing, path=where, reason=self.why)
        return self


NO_BASELINE = Baseline("none", None, None)


def git_baseline(path: Path, ref: str) -> Baseline:
    """`git show REF:<path>`, else `origin/REF`; neither: a first publish (`none`)."""

    if not ref or ref.startswith("-") or any(c in ref for c in ":\0\n"):
        raise RegistryError.of("BASELINE_REF_INVALID", path=path, ref=ref)
    top = git_output(path.parent, "rev-parse", "--show-toplevel")
    outside = "the file itself inside the repository (it resolves outside)"
    if top is None:
        raise RegistryError.of(NO_GIT, path=path, needs="the file to be inside a git repository")
    try:
        relpath = path.resolve().relative_to(Path(top.decode().strip()).resolve()).as_posix()
    except ValueError:
        raise RegistryError.of(NO_GIT, path=path, needs=outside) from None
    resolved = []
    for candidate in (ref, f"origin/{ref}"):
        commit = git_output(
            path.parent, "rev-parse", "--verify", "--quiet", f"{candidate}^{{commit}}"
        )
        if commit is None:
            continue
        resolved.append(candidate)
        data = git_output(path.parent, "cat-file", "blob", f"{commit.decode().strip()}:{relpath}")
        if data is not None:
            return Baseline("git", f"{candidate}:{relpath}", data)
    tried = f"{ref}:{relpath}, origin/{ref}:{relpath}"
    if not resolved:
        why = (
            f"neither {ref} nor origin/{ref} resolves to a commit here (a shallow or "
            f"single-branch clone? fetch it: git fetch origin {ref})"
        )
        return Baseline("none", f"{tried} (neither ref exists)", None,
                        "BASELINE_REF_UNRESOLVABLE", why)  # fmt: skip
    why = (
        f"{' nor '.join(f'{c}:{relpath}' for c in resolved)} does not exist (a first publish, "
        "or the file was moved or renamed)"
    )
    return Baseline("none", f"{tried} (neither exists)", None, "BASELINE_MISSING", why)


def _parsed(data: bytes | None, where: str, baseline: Baseline | None = None) -> Any:
    """`data` parsed strictly (None: a first publish has no published version); a usage error
    coded by the rule it breaks, or BASELINE_UNREADABLE for `baseline`'s bytes."""
    if data is None:
        return None
    try:
        return loads_strict(data)
    except JSONDecodeProblem as exc:
        if baseline is not None:
            raise RegistryError.of("BASELINE_UNREADABLE", path=baseline.source or where,
                                   what="the baseline", reason=f"not valid JSON: {exc}",
                                   line=exc.line, column=exc.column) from None  # fmt: skip
        message = f"not valid JSON: {exc.message}"
        raise UsageError(message, code=exc.code, path=where, line=exc.line,
                         column=exc.column) from None  # fmt: skip


def check_files(
    files: Mapping[str, bytes],
    published: Mapping[str, bytes] | None,
    rules: Rules,
    label: str | None,
) -> dict[str, Report]:
    """Each (JSON) file of a source snapshot against the same file of published run `label`."""
    reports = {}
    for relpath, data in sorted(files.items()):
        old = (published or {}).get(relpath)
        baseline = NO_BASELINE if old is None else Baseline("snapshot", f"{label}/{relpath}", old)
        document = _parsed(data, relpath)
        reports[relpath] = check_catalog(document, _parsed(old, relpath, baseline), rules, relpath)
    return reports


def violation_rows(reports: Mapping[str, Report], *, sealed: bool = False) -> list[dict[str, Any]]:
    """Every violation as `{"file", **violation_row}`, files in name order."""
    return [
        {"file": relpath, **violation_row(violation, sealed=sealed)}
        for relpath, report in sorted(reports.items())
        for violation in report.violations
    ]


def diagnostics_jsonl(reports: Mapping[str, Report]) -> bytes:
    """One compact JSON line per violation; empty when every file is clean."""
    rows = violation_rows(reports, sealed=True)
    return "".join(dumps_compact(row) + "\n" for row in rows).encode("utf-8")


@dataclass(frozen=True)
class FileCheck:
    """The schema problems and append-only violations of one file."""

    file: str
    """The file as the user named it (`path` of every problem)."""
    rules: Rules
    baseline: Baseline
    schema: str | None
    """The `$id` of the schema governing the file's name; None when none does."""
    report: Report
    located: tuple[tuple[dict[str, object], str], ...]
    """Every problem object (schema problems first) and its place in words."""

    @property
    def ok(self) -> bool:
        """True when the schema and every append-only promise hold."""
        return not self.located

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
            "violations": [problem for problem, _where in self.located],
        }


def check_file(
    data: bytes,
    relpath: str,
    baseline: Baseline,
    rules: Rules,
    schemas: SchemaCatalog,
    where: str,
) -> FileCheck:
    """`data` (sealed as `relpath`, shown as `where`): its schema, then `rules` vs `baseline`."""
    document, published = _parsed(data, where), _parsed(baseline.data, where, baseline)
    governing = schemas.for_artifact(relpath)
    problems = source_problems({relpath: data}, schemas) if governing else []
    report = check_catalog(document, published, rules, where)
    located: list[tuple[dict[str, object], str]] = []
    entries = entries_of(document, rules, where) if problems else []
    for problem in problems:
        entry, pointer = entry_at(entries, rules, problem.field or ""), problem.field or "/"
        shown = {**problem.as_json(), "path": where}
        if entry is not None:
            shown["entry_id"] = entry.id
        located.append((shown, entry.locate(pointer) if entry is not None else pointer))
    pointers = [v.field or "" for v in report.violations if in_current(v)]
    lines = pointer_lines(data.decode("utf-8"), pointers) if pointers else {}
    for violation in report.violations:
        line = lines.get(violation.field or "") if in_current(violation) else None
        located.append((violation_problem(violation, where, line), location(violation) or "/"))
    schema_id = governing.schema_id if governing else None
    return FileCheck(where, rules, baseline, schema_id, report, tuple(located))


@dataclass(frozen=True)
class Governed:
    """A source registry's files checked against its published snapshot."""

    files: dict[str, bytes | Path]
    """The files to seal: the source files (bytes, or paths) and the diagnostics file."""
    reports: dict[str, Report]
    """Per checked file."""
    published: str | None
    """The run id of the published snapshot; None for a first publish."""

    @property
    def ok(self) -> bool:
        """True when no file breaks a promise."""
        return all(report.ok for report in self.reports.values())


def rules_of(spec: RegistrySpec) -> Rules | None:
    """The entry's append-only rules, None when it has none (RULES_INVALID names the field)."""
    if spec.append_only is None:
        return None
    return parse_rules(spec.append_only, f"catalog: {spec.registry_id}/append_only")


def published_snapshot(
    workspace: Workspace, spec: RegistrySpec, schemas: SchemaCatalog, *, checked: str | None = None
) -> Path | None:
    """The active snapshot (must validate), else the newest valid one before `checked`, or None."""
    if spec.active_pointer:
        ref = PointerStore(workspace, schemas).recorded(spec.registry_id)  # never a hand edit
        if ref is not None and ref.run_id:  # the verdict `validate --active` prints
            verdict = target_verdict(workspace, spec.registry_id, ref, schemas)
            where = verdict.path or str(workspace.runs_dir / ref.run_id)
            if FUTURE_DATED in verdict.reason_codes:  # the verdict of every door, as it is
                said = f"the active snapshot of {spec.registry_id} is dated in the future"
                raise UsageError(render(FUTURE_DATED, reason=said), code=FUTURE_DATED, path=where)
            if not verdict.ok or verdict.folder is None:
                raise RegistryError.of("BASELINE_INVALID", path=where, verdict=verdict.code,
                                       registry_id=spec.registry_id)  # fmt: skip
            return verdict.folder
    newest = newest_valid(workspace, spec.registry_id, schemas, before=checked)
    return newest.path if newest is not None else None


def published_files(folder: Path | None, registry_id: str) -> dict[str, bytes] | None:
    """The sealed files of a published snapshot (relpath -> bytes), the diagnostics excepted."""
    if folder is None:
        return None
    payload = read_snapshot(folder, registry_id).payload()
    return {rel: read_regular(path) for rel, path in payload.items() if rel != DIAGNOSTICS_ARTIFACT}


def governed_files(
    workspace: Workspace,
    spec: RegistrySpec,
    files: Mapping[str, bytes | Path],
    schemas: SchemaCatalog,
    *,
    checked: str | None = None,
) -> Governed:
    """`files` (bytes or paths) checked against the published snapshot, plus diagnostics."""
    rules = rules_of(spec)
    if rules is None:
        return Governed(dict(files), {}, None)
    own = {rel: data for rel, data in files.items() if rel != DIAGNOSTICS_ARTIFACT}
    folder = published_snapshot(workspace, spec, schemas, checked=checked)
    run_id = folder.name if folder else None
    checked_files = {  # only the JSON files are checked (and read)
        rel: read_regular(data) if isinstance(data, Path) else data
        for rel, data in own.items()
        if rel.endswith(".json")
    }
    reports = check_files(checked_files, published_files(folder, spec.registry_id), rules, run_id)
    return Governed({**own, DIAGNOSTICS_ARTIFACT: diagnostics_jsonl(reports)}, reports, run_id)
