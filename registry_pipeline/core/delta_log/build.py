"""The incremental build: the previous log's bytes unchanged, then new snapshots' records."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from registry_pipeline.core.delta_log.records import (
    EMPTY_STATE,
    HEX64,
    LOG_ARTIFACT,
    MANIFEST_DIFF,
    STATE_ARTIFACT,
    UNKNOWN,
    DeltaBasis,
    DeltaRecord,
    LogState,
    PreviousLog,
    RegistryState,
)
from registry_pipeline.core.errors import Problem, RegistryError, UsageError
from registry_pipeline.core.fs import read_regular
from registry_pipeline.core.seal.envelope import SealedRef
from registry_pipeline.core.seal.hashing import sha256_bytes
from registry_pipeline.core.seal.manifest import MANIFEST_JSON, parse_manifest_json
from registry_pipeline.core.seal.paths import relpath_problem
from registry_pipeline.core.seal.run_id import created_moment
from registry_pipeline.core.seal.schemas import SchemaCatalog
from registry_pipeline.core.seal.validate import inspect_run_folder
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.core.workspace.snapshots import (
    CLOCK_SKEW,
    Snapshot,
    read_snapshot,
    sealed_name,
    split_snapshots,
)

Files = Mapping[str, str]
"""relpath -> sha256 of every file a manifest.json lists (run.json included, like the seed)."""


def folder_of(workspace: Workspace, ref: SealedRef) -> Path | None:
    """The run folder a ref names, or None when its run_root or run_id would escape the root."""
    if relpath_problem(ref.run_root) or not is_folder_name(ref.run_id):
        return None
    return workspace.root / ref.run_root / ref.run_id


def is_folder_name(name: str) -> bool:
    """Whether `name` is one safe path component (checked before any filesystem call)."""
    return relpath_problem(name) is None and "/" not in name and name not in (".", "..")


def previous_folder(runs_dir: Path, run_id: str) -> Path | None:
    """The previous log snapshot's folder `run_id` names in RUNS; None if none (never outside)."""
    older = runs_dir / run_id if is_folder_name(run_id) else None
    return older if older is not None and older.is_dir() else None


def sealed_files(folder: Path | None, root_sha256: str, schemas: SchemaCatalog) -> Files | None:
    """What `folder`'s manifest.json lists; None (basis unknown) unless validly sealed there."""
    if folder is None:
        return None
    try:
        report = inspect_run_folder(folder, schemas=schemas)
        data = read_regular(folder / MANIFEST_JSON)
    except (UsageError, OSError):
        return None
    if not report.ok or report.root_sha256 != root_sha256:
        return None
    problems: list[Problem] = []
    entries = parse_manifest_json(data, problems.append)
    if entries is None or problems:
        return None
    return {entry.relpath: entry.sha256 for entry in entries}


def diff_record(
    registry_id: str,
    from_ref: SealedRef | None,
    from_files: Files | None,
    to_ref: SealedRef,
    to_files: Files | None,
    *,
    created_utc: str,
    derivation_run_id: str,
) -> DeltaRecord:
    """The record from `from_ref` to `to_ref`: `unknown`, no paths, unless both sides are known."""
    before = {} if from_ref is None else from_files
    if before is None or to_files is None:
        basis: DeltaBasis = UNKNOWN
        paths: tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]] = ((), (), ())
    else:
        basis = MANIFEST_DIFF
        paths = (
            tuple(sorted(path for path in to_files if path not in before)),
            tuple(sorted(path for path in before if path not in to_files)),
            tuple(sorted(p for p in to_files if p in before and before[p] != to_files[p])),
        )
    return DeltaRecord(registry_id, from_ref, to_ref, basis, *paths, created_utc, derivation_run_id)


@dataclass(frozen=True)
class CoveredRegistry:
    """A registry the log covers."""

    registry_id: str
    """Its id."""
    relpath: str | None
    """The relpath its refs name (`pointer_relpath(kind, artifacts)`)."""


@dataclass(frozen=True)
class RegistryCounts:
    """One covered registry in one build."""

    records: int
    """Its records in the new log (carried and appended)."""
    appended: int
    """Records appended by this build."""
    unknown: int = 0
    """Appended records whose basis is `unknown` (a snapshot that does not validate)."""
    skipped: tuple[str, ...] = ()
    """Run folders that cannot be recorded: no ROOT_SHA256, or no creation time at all."""
    late: int = 0
    """Snapshots before the last covered one, appeared after the log was written: never appended."""
    future: tuple[str, ...] = ()
    """Future-dated run folders: not recorded until the clock reaches their date."""

    def as_json(self) -> dict[str, Any]:
        """The counts as a JSON object (`future_dated` only when there are any)."""
        counts: dict[str, Any] = {**asdict(self), "skipped": list(self.skipped)}
        if counts.pop("future"):
            counts["future_dated"] = list(self.future)
        return counts


@dataclass(frozen=True)
class DeltaLogResult:
    """What a build produces: both artifacts, and counts for metadata."""

    files: Mapping[str, bytes]
    """`REGISTRY_DELTA_LOG_v0_1.jsonl` and `REGISTRY_DELTA_LOG_STATE_v0_2.json`."""
    appended: int
    """Records appended by this build."""
    carried: int
    """Records carried unchanged from the previous log."""
    registries: Mapping[str, RegistryCounts]
    """Per covered registry, in the order given."""
    new_records: tuple[DeltaRecord, ...] = ()
    """The appended records, in log order."""
    state: LogState = field(default=EMPTY_STATE)
    """The new state companion."""

    @property
    def records(self) -> int:
        """Records in the new log."""
        return self.appended + self.carried

    @property
    def summary(self) -> dict[str, Any]:
        """Build metadata: totals and the covered registries with their counts."""
        return {
            "records": self.records,
            "appended": self.appended,
            "carried": self.carried,
            "covered": [
                {"registry_id": registry_id, **counts.as_json()}
                for registry_id, counts in self.registries.items()
            ],
            "no_longer_covered": sorted(set(self.state.registries) - set(self.registries)),
            **({"notes": late} if (late := self.late_notes()) else {}),
        }

    def late_notes(self) -> list[str]:
        """One line per covered registry with late snapshots: told, never hidden."""
        return [
            f"{registry_id}: {counts.late} snapshot(s) of a later generation dated before the "
            "log's last record of it (sealed on a clock that was behind) cannot be recorded in "
            "the log's date order: they are active history the log does not show"
            for registry_id, counts in self.registries.items()
            if counts.late
        ]


def build_delta_log(
    workspace: Workspace,
    covered: Sequence[CoveredRegistry],
    previous: PreviousLog | None,
    derivation_run_id: str,
    schemas: SchemaCatalog,
) -> DeltaLogResult:
    """The next log: `previous`'s JSONL bytes unchanged plus one record per new snapshot."""
    ids = [entry.registry_id for entry in covered]
    if len(set(ids)) != len(ids):
        raise RegistryError.of("BAD_USAGE", path=",".join(ids), reason="a registry is listed twice")
    state = previous.state if previous else EMPTY_STATE
    registries = dict(state.registries)
    appended: list[DeltaRecord] = []
    counts: dict[str, RegistryCounts] = {}
    for entry in covered:
        before = registries.get(entry.registry_id)
        records, tally = _registry_records(workspace, entry, before, derivation_run_id, schemas)
        appended.extend(records)
        counts[entry.registry_id] = tally
        if records:
            last = records[-1]
            total = (before.records if before else 0) + len(records)
            registries[entry.registry_id] = RegistryState(total, last.to_ref, last.created_utc)
    jsonl = (previous.jsonl if previous else b"") + b"".join(r.line() for r in appended)
    new_state = LogState(state.records + len(appended), sha256_bytes(jsonl), registries)
    return DeltaLogResult(
        files={LOG_ARTIFACT: jsonl, STATE_ARTIFACT: new_state.render()},
        appended=len(appended),
        carried=state.records,
        registries=counts,
        new_records=tuple(appended),
        state=new_state,
    )


def _registry_records(
    workspace: Workspace,
    entry: CoveredRegistry,
    before: RegistryState | None,
    derivation_run_id: str,
    schemas: SchemaCatalog,
) -> tuple[list[DeltaRecord], RegistryCounts]:
    # Only folders named at or after the last covered snapshot's second, less the clock skew,
    # can be new or late: older ones are covered, so they are not read again. Late: a snapshot
    # of a later generation than the last covered one, dated before it (sealed on a clock that
    # was behind): the log's date order cannot take it, and the build says so.
    not_before = _stamp(before.last_created_utc, CLOCK_SKEW) if before else None
    listed, future = split_snapshots(workspace, entry.registry_id, not_before=not_before)
    ordered, skipped = order_snapshots(listed)
    last = (before.last_created_utc, before.last_to_ref.run_id) if before else None
    new = [(s, created) for s, created in ordered if last is None or (created, s.run_id) > last]
    late = 0
    if before is not None and last is not None:
        recorded = folder_of(workspace, before.last_to_ref)
        line = 0 if recorded is None or not recorded.is_dir() else (
            read_snapshot(recorded, entry.registry_id).generation
        )  # fmt: skip
        late = sum(1 for s, at in ordered if (at, s.run_id) < last and s.generation > line)
    from_ref = before.last_to_ref if before else None
    from_files = None
    if from_ref is not None and new:
        from_files = sealed_files(folder_of(workspace, from_ref), from_ref.manifest_sha256, schemas)
    records: list[DeltaRecord] = []
    for snapshot, created in new:
        relpath = sealed_name(snapshot.path, entry.relpath) if entry.relpath else None
        to_ref = snapshot.ref(relpath)
        to_files = sealed_files(snapshot.path, to_ref.manifest_sha256, schemas)
        records.append(
            diff_record(
                entry.registry_id,
                from_ref,
                from_files,
                to_ref,
                to_files,
                created_utc=created,
                derivation_run_id=derivation_run_id,
            )
        )
        from_ref, from_files = to_ref, to_files
    total = (before.records if before else 0) + len(records)
    unknown = sum(1 for record in records if record.delta_basis == UNKNOWN)
    dated = tuple(snapshot.run_id for snapshot, _why in future)
    return records, RegistryCounts(total, len(records), unknown, tuple(skipped), late, dated)


def _stamp(created_utc: str, earlier: timedelta = timedelta(0)) -> str:
    """`YYYY-MM-DDTHH:MM:SSZ`, `earlier` before, as a run id stamp `YYYY-MM-DD__HHMMSS`."""
    moment = created_moment(created_utc)
    if moment is None:
        return f"{created_utc[:10]}__{created_utc[11:13]}{created_utc[14:16]}{created_utc[17:19]}"
    return f"{moment - earlier:%Y-%m-%d__%H%M%S}"


def order_snapshots(
    snapshots: Sequence[Snapshot],
) -> tuple[list[tuple[Snapshot, str]], list[str]]:
    """Recordable snapshots with their created_utc in log order, and the skipped run ids."""
    ordered: list[tuple[Snapshot, str]] = []
    skipped: list[str] = []
    for snapshot in snapshots:
        created = snapshot.second
        if not created or not HEX64.fullmatch(snapshot.root_sha256 or ""):
            skipped.append(snapshot.run_id)
            continue
        ordered.append((snapshot, created))
    ordered.sort(key=lambda pair: (pair[1], pair[0].run_id))  # the log's own order: by date
    return ordered, sorted(skipped)
