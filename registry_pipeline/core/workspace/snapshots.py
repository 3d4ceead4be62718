"""Sealed snapshots of a registry in RUNS/: listing them in creation order and picking inputs."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

from registry_pipeline.core.errors import RegistryError, UsageError
from registry_pipeline.core.fs import read_regular
from registry_pipeline.core.json_strict import JSONDecodeProblem, loads_strict
from registry_pipeline.core.seal.envelope import SealedRef
from registry_pipeline.core.seal.folder_report import FolderReport
from registry_pipeline.core.seal.hashing import sha256_bytes, sha256_file
from registry_pipeline.core.seal.manifest import (
    MANIFEST_JSON,
    MANIFEST_SHA256,
    RUN_JSON,
    claimed_root,
)
from registry_pipeline.core.seal.run_id import (
    created_moment,
    named_second,
    normalize_created_utc,
    now_utc,
    registry_of,
)
from registry_pipeline.core.seal.schemas import SchemaCatalog
from registry_pipeline.core.seal.validate import inspect_run_folder
from registry_pipeline.core.seal.verdicts import FAIL, Verdict, verdict_of
from registry_pipeline.core.workspace.layout import RUNS_RELPATH, Workspace

SEAL_PROMOTION = re.compile(r"\d{4}-\d{2}-\d{2}__\d{6}__seal_[a-z0-9_]+")
"""The seed system's seal-promotion folders: a hand-edited registry sealed by its script."""


def snapshot_registry(folder: Path) -> str | None:
    """The registry `folder` is a snapshot of: its run id's, or a seal-promotion's run.json's."""
    owner = registry_of(folder.name)
    if owner is not None or not SEAL_PROMOTION.fullmatch(folder.name):
        return owner
    envelope = read_envelope(folder)
    source = envelope.get("source_registry") if envelope else None
    return source if isinstance(source, str) and source else None


def sealed_name(folder: Path, name: str) -> str:
    """The relpath of artifact `name` in `folder`: `name`, or a seal-promotion's renamed one."""
    renamed = snapshot_name(name)
    seed = SEAL_PROMOTION.fullmatch(folder.name) and not (folder / name).exists()
    return renamed if seed and (folder / renamed).is_file() else name


def snapshot_name(name: str) -> str:
    """The name the seed's seal-promotion script gives the file `name`: `<stem>_snapshot<ext>`."""
    stem, dot, suffix = name.rpartition(".")
    return f"{stem}_snapshot{dot}{suffix}" if dot else f"{name}_snapshot"


def logical_name(folder: Path, relpath: str) -> str:
    """The inverse of `sealed_name`: what we call the artifact `relpath` of `folder`."""
    if SEAL_PROMOTION.fullmatch(folder.name):
        match = re.fullmatch(r"(.+)_snapshot(\.[^./]+)?", relpath)
        if match:
            return match[1] + (match[2] or "")
    return relpath


@dataclass(frozen=True)
class Snapshot:
    """One sealed run folder of a registry, as found on disk."""

    registry_id: str
    run_id: str
    path: Path
    created_utc: str
    root_sha256: str | None
    generation: int = 0
    """Its place in its registry's line (`run.json` GENERATION; 0 for a folder without one)."""

    def order(self) -> tuple[int, str, str]:
        """Where it stands among the registry's snapshots (`snapshot_order`)."""
        return snapshot_order(self.generation, self.created_utc, self.run_id)

    @property
    def second(self) -> str:
        """The second it was sealed (its created_utc, else its run id's), "" when unknown."""
        return dated_second(self.created_utc, self.run_id)

    def ref(self, relpath: str | None = None) -> SealedRef:
        """The sealed ref recorded in a dependent build's `run.json` inputs."""
        return SealedRef(
            self.registry_id, self.run_id, self.root_sha256 or "", RUNS_RELPATH, relpath
        )

    def artifact(self, name: str) -> Path:
        """The file of the artifact we call `name` (see `sealed_name`)."""
        return self.path / sealed_name(self.path, name)

    def payload(self) -> dict[str, Path]:
        """Sealed artifact files (relpath -> path) as manifest.json lists them, minus run.json."""
        return {relpath: self.path / relpath for relpath in self.digests()}

    def digests(self) -> dict[str, str]:
        """Sealed artifact files (relpath -> SHA-256) as manifest.json lists them, but run.json."""
        try:
            rows = loads_strict((self.path / MANIFEST_JSON).read_bytes())
        except (OSError, JSONDecodeProblem) as exc:
            raise RegistryError.of("SNAPSHOT_UNREADABLE", path=self.path, reason=exc) from None
        return {
            str(row["relpath"]): str(row.get("sha256"))
            for row in rows
            if isinstance(row, dict) and row.get("relpath") not in (None, RUN_JSON)
        }

    def envelope(self) -> dict[str, object]:
        """The snapshot's run.json (empty when it cannot be read)."""
        return read_envelope(self.path) or {}

    def __str__(self) -> str:
        return f"{self.registry_id}@{self.run_id}"


def list_snapshots(
    workspace: Workspace, registry_id: str, *, not_before: str | None = None
) -> list[Snapshot]:
    """Every run folder of `registry_id`, oldest first, except those dated in the future."""
    return split_snapshots(workspace, registry_id, not_before=not_before)[0]


def split_snapshots(
    workspace: Workspace, registry_id: str, *, not_before: str | None = None
) -> tuple[list[Snapshot], list[tuple[Snapshot, str]]]:
    """`list_snapshots`, and the folders it leaves out as dated in the future, each with why."""
    now = now_utc()
    found: list[Snapshot] = []
    future: list[tuple[Snapshot, str]] = []
    for snapshot in _scan(workspace, registry_id, not_before):
        reason = future_dated(snapshot.run_id, snapshot.created_utc, now)
        if reason is None:
            found.append(snapshot)
        else:
            future.append((snapshot, reason))
    found.sort(key=Snapshot.order)
    future.sort(key=lambda pair: pair[0].run_id)
    return found, future


CLOCK_SKEW = timedelta(minutes=5)
"""How far past this machine's clock a folder may be dated and still count as sealed."""


GENERATION = "generation"
"""The `run.json` field that orders a registry's snapshots without a clock: one more than the
highest generation among the registry's folders when it was sealed (`next_generation`). Folders
without it (the seed's, older releases') are generation 0, ordered among themselves by date."""
MAX_GENERATION = 2**53 - 1
"""A generation is an integer JSON readers keep exactly (the schema's maximum); a folder that
claims this one or more counts as none, so the next one sealed never passes the maximum."""


def snapshot_order(generation: int, created_utc: object, run_id: str) -> tuple[int, str, str]:
    """The one order of a registry's snapshots for every reader (the gate's NOT_NEWER, the
    newest to reuse, lists): the generation, then, among equals only, the sealed second, run id.
    A clock that is behind never puts a newer snapshot before an older one."""
    return generation, dated_second(created_utc, run_id), run_id


def dated_second(created_utc: object, run_id: str) -> str:
    """The created_utc second, else the one the run id encodes (`2026-02-05__031005__...`)."""
    return normalize_created_utc(created_utc) or normalize_created_utc(named_second(run_id)) or ""


def generation_of(envelope: Mapping[str, object] | None) -> int:
    """A run.json's GENERATION, 0 when absent or not a whole number in range."""
    value = (envelope or {}).get(GENERATION)
    ok = isinstance(value, int) and not isinstance(value, bool) and 0 < value < MAX_GENERATION
    return value if ok else 0  # type: ignore[return-value]


def next_generation(workspace: Workspace, registry_id: str) -> int:
    """The GENERATION a new snapshot of `registry_id` gets: after every sealed folder of it here
    (one whose MANIFEST.sha256 claims a root), those dated in the future included (a sealed
    folder is a fact, whatever its clock said); a folder with no seal never counts."""
    sealed = (s.generation for s in _scan(workspace, registry_id, None) if s.root_sha256)
    return 1 + max(sealed, default=0)


SECOND = "%Y-%m-%dT%H:%M:%SZ"
"""`created_utc` to the second."""


def future_dated(run_id: str, created_utc: object, now: datetime | None = None) -> str | None:
    """Why a run folder is dated past `now` plus CLOCK_SKEW, or None."""
    limit = (now or now_utc()) + CLOCK_SKEW
    for what, value in (("its run id", named_second(run_id)),
                        ("its run.json created_utc", created_utc)):  # fmt: skip
        moment = created_moment(value)
        if moment is not None and moment > limit:
            return (
                f"{what} dates it {moment:{SECOND}}, after now ({limit - CLOCK_SKEW:{SECOND}}) "
                f"plus {int(CLOCK_SKEW.total_seconds()) // 60} minutes of clock skew: not a "
                "snapshot yet, so no build reads, reuses or records it"
            )
    return None


FUTURE_DATED = "FUTURE_DATED"
"""The reason code of a folder dated after now plus the clock skew (`future_dated`)."""


def folder_verdict(report: FolderReport, now: datetime | None = None) -> tuple[Verdict, str | None]:
    """The one verdict on a run folder, FAIL when future-dated: `validate` and run registry's."""
    verdict = verdict_of(report)
    dated = future_dated(os.path.basename(report.run_folder), report.created_utc, now)
    return (replace(verdict, status=FAIL) if dated else verdict), dated


def newest_valid(
    workspace: Workspace,
    registry_id: str,
    schemas: SchemaCatalog | None = None,
    *,
    before: str | None = None,
) -> Snapshot | None:
    """The newest snapshot that validates, or None; with `before`, the newest ordered before it."""
    listed = list_snapshots(workspace, registry_id)
    ids = [snapshot.run_id for snapshot in listed]
    if before is not None and before in ids:
        listed = listed[: ids.index(before)]
    for snapshot in reversed(listed):
        try:
            if inspect_run_folder(snapshot.path, schemas=schemas).ok:
                return snapshot
        except UsageError:
            continue
    return None


def unchanged_snapshot(
    newest: Path | None, files: Mapping[str, bytes | Path], schemas: SchemaCatalog
) -> tuple[bool, bool]:
    """(reusable, valid): `newest` holds exactly `files`, seal intact, and passes its schemas."""
    if newest is None:
        return False, False
    try:
        listed = loads_strict((newest / MANIFEST_JSON).read_bytes())
        sealed = {
            logical_name(newest, row["relpath"]): (row["bytes"], row["sha256"])
            for row in listed
            if row["relpath"] != RUN_JSON
        }
    except (OSError, JSONDecodeProblem, TypeError, KeyError):
        return False, False
    sizes = {relpath: _size(content) for relpath, content in files.items()}
    if {relpath: size for relpath, (size, _digest) in sealed.items()} != sizes:
        return False, False
    if {relpath: digest for relpath, (_size, digest) in sealed.items()} != file_digests(files):
        return False, False
    try:
        problems = inspect_run_folder(newest, schemas=schemas).problems
    except UsageError:
        return False, False
    seal_problems = [p for p in problems if p.code != "SCHEMA_VIOLATION"]
    return not seal_problems, not problems


def file_digests(files: Mapping[str, bytes | Path]) -> dict[str, str]:
    """The SHA-256 (hex) of each file's bytes; a file given by its path read a block at a time."""
    return {
        relpath: sha256_file(content)[0] if isinstance(content, Path) else sha256_bytes(content)
        for relpath, content in files.items()
    }


def _size(content: bytes | Path) -> int:
    return content.stat().st_size if isinstance(content, Path) else len(content)


def read_snapshot(path: Path, registry_id: str) -> Snapshot:
    """The snapshot at `path` (a run folder), with its created_utc and root hash."""
    envelope = read_envelope(path)
    created = envelope.get("created_utc") if envelope else None
    created = created if isinstance(created, str) else ""
    return Snapshot(
        registry_id, path.name, path, created, manifest_root(path), generation_of(envelope)
    )


def _scan(workspace: Workspace, registry_id: str, not_before: str | None) -> Iterator[Snapshot]:
    runs = workspace.runs_dir
    if not runs.is_dir():
        return
    for entry in os.scandir(runs):
        # `in` first: a substring test is far cheaper than the run id pattern on 10,000 names
        if "__seal_" in entry.name:  # a seed seal-promotion folder: its run.json says whose
            if snapshot_registry(Path(entry.path)) != registry_id:
                continue
        elif registry_id not in entry.name or registry_of(entry.name) != registry_id:
            continue
        if not_before is not None and entry.name[: len(not_before)] < not_before:
            continue
        if not entry.is_dir(follow_symlinks=False):
            continue
        yield read_snapshot(Path(entry.path), registry_id)


def read_envelope(path: Path) -> dict[str, object] | None:
    """The run.json of the folder at `path`, or None, also for a symlink, FIFO or device."""
    try:
        document = loads_strict(read_regular(path / RUN_JSON))
    except (OSError, JSONDecodeProblem):
        return None
    return document if isinstance(document, dict) else None


def manifest_root(folder: str | os.PathLike[str], *, well_formed: bool = False) -> str | None:
    """The ROOT_SHA256 a folder's MANIFEST.sha256 claims, never checking the seal; else None."""
    try:
        data = read_regular(os.path.join(folder, MANIFEST_SHA256))
    except OSError:
        return None
    return claimed_root(data, well_formed=well_formed)
