"""Every file `registry adopt` writes, planned first: the dry run prints what the run does."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from registry_pipeline.core.adopt.own_files import GitPlan
from registry_pipeline.core.adopt.plan import MARKER, AdoptionPlan
from registry_pipeline.core.errors import Problem, RegistryError, UsageError
from registry_pipeline.core.fs import write_atomic
from registry_pipeline.core.json_strict import dumps_pretty, loads_strict
from registry_pipeline.core.workspace.layout import (
    RUNS_RELPATH,
    append_text,
    attributes_line,
    init_targets,
    init_workspace,
    read_existing,
)


@dataclass(frozen=True)
class Write:
    """One file adopt writes (a folder when `data` is None), and how it is said."""

    shown: str
    """Workspace-relative (a folder's ends with /), or `.git/info/exclude` wherever git keeps it."""
    path: Path
    change: str
    """`new`, `updated` or `unchanged` (nothing is written)."""
    data: bytes | None = None
    """The file's new bytes, or with `appended` the bytes added after what is there."""
    appended: bool = False
    why: str = ""
    part: str = "workspace"
    """`catalog` (the catalog, a binding), `workspace` (`init_workspace`'s) or `git` (ignores)."""

    def apply(self) -> None:
        """Carry out the write; an OSError names its file."""
        if self.change == "unchanged":
            return
        if self.data is None:
            self.path.mkdir(parents=True, exist_ok=True)
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.appended:  # what is there is kept (and refused if no regular file)
            append_text(self.path, None, self.data.decode("utf-8"))
        else:
            write_atomic(self.path, self.data)

    def said(self, dry_run: bool) -> str:
        """`wrote X (new)`, `appended 3 lines to X: why`, `unchanged X`; `would ...` if dry."""
        if self.change == "unchanged":
            return f"unchanged {self.shown}"
        why = f": {self.why}" if self.why else ""
        if self.appended and self.data is not None:
            lines = [line for line in self.data.decode("utf-8").splitlines() if line]
            what = lines[0] if len(lines) == 1 else f"{len(lines)} lines"
            verb = "would append" if dry_run else "appended"
            return f"{verb} {what} to {self.shown}{why or ' (kept what was there)'}"
        if self.data is None:
            return f"{'would create' if dry_run else 'created'} {self.shown}{why}"
        return f"{'would write' if dry_run else 'wrote'} {self.shown} ({self.change}){why}"


def planned_writes(root: Path, plan: AdoptionPlan, git: GitPlan) -> list[Write]:
    """The catalog and bindings, the workspace around them, git's lines; ADOPT_CONFLICT."""
    writes = [_document(root, relpath, document) for relpath, document in plan.files.items()]
    writes += _skeleton(root, plan.catalog["run_roots"])
    now = {write.path: write.data for write in writes if write.data is not None}  # as it ends
    for append in git.appends:
        existing = now[append.target] if append.target in now else read_existing(append.target)
        gap = b"\n" if existing and not existing.endswith(b"\n") else b""
        data = gap + append.text().encode("utf-8")
        change = "new" if existing is None else "updated"
        writes.append(Write(append.shown, append.target, change, data, True, append.why, "git"))
    return writes


def carry_out(writes: Sequence[Write]) -> None:
    """Make the planned writes in order; the workspace's cannot be made: INIT_FAILED, as init's."""
    for write in writes:
        try:
            write.apply()
        except OSError as exc:
            if write.part != "workspace":
                raise  # IO_ERROR naming the file
            raise UsageError.of("INIT_FAILED", path=exc.filename or write.path,
                                what="create the workspace",
                                reason=exc.strerror or exc) from None  # fmt: skip


def unfixed(findings: list[Problem], writes: Sequence[Write]) -> list[Problem]:
    """The git findings the writes leave (not a line-ending one `.gitattributes` then fixes)."""
    data = b"".join(w.data or b"" for w in writes if w.shown == ".gitattributes")
    added = set(data.decode("utf-8", "replace").splitlines())
    return [
        finding
        for finding in findings
        if finding.code != "LINE_ENDINGS_CONVERTIBLE"
        or attributes_line(str(finding.path)) not in added
    ]


def _skeleton(root: Path, run_roots: Sequence[str]) -> list[Write]:
    """What `init_workspace` would write under `root`: run on a scratch copy of its files."""
    targets = init_targets(root)
    before = {target: read_existing(target) for target in targets}
    runs = root / RUNS_RELPATH
    writes = [] if runs.is_dir() else [Write(f"{RUNS_RELPATH}/", runs, "new")]
    with tempfile.TemporaryDirectory(prefix="registry-adopt-") as folder:
        scratch = Path(folder)
        for target, data in before.items():
            if data is not None:
                (scratch / target.relative_to(root)).parent.mkdir(parents=True, exist_ok=True)
                (scratch / target.relative_to(root)).write_bytes(data)
        init_workspace(scratch, run_roots)
        after = {target: read_existing(scratch / target.relative_to(root)) for target in targets}
    for target in targets:
        old, new = before[target], after[target]
        if new is None or new == old:
            continue
        appended = old is not None and new.startswith(old)
        data = new[len(old) :] if old is not None and appended else new
        change = "new" if old is None else "updated"
        writes.append(Write(target.relative_to(root).as_posix(), target, change, data, appended))
    return writes


def _document(root: Path, relpath: str, document: dict[str, Any]) -> Write:
    """The write of a catalog or binding: `unchanged` when it says the same already."""
    path = root / relpath
    change = _change(path, document)
    return Write(relpath, path, change, dumps_pretty(document, sort_keys=False), part="catalog")


def _change(path: Path, document: dict[str, Any]) -> str:
    """`new`, `unchanged`, or `updated`; ADOPT_CONFLICT for a catalog adopt did not write."""
    try:  # read as every catalog is: a duplicate key or a FIFO is not "ours"
        data = read_existing(path)
        if data is None:
            return "new"
        current, why = loads_strict(data), "was not written by registry adopt"
    except (OSError, ValueError, RegistryError) as exc:
        current, why = None, f"cannot be read as the catalog adopt writes ({exc})"
    if current == document:
        return "unchanged"
    said = current if isinstance(current, dict) else {}
    if MARKER not in str(said.get("description", "")) and "x-schema-file" not in said:
        raise UsageError.of("ADOPT_CONFLICT", path=path, why=why)
    return "updated"
