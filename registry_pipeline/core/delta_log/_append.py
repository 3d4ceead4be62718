"""The append-only check of a new log against the previous one: one pass, every problem.

Old records are not parsed: the previous log must be an exact byte prefix, and its state says
where each registry stands; only the appended lines are read.
"""

from __future__ import annotations

import io
from collections.abc import Iterable

from registry_pipeline.core.delta_log._errors import DeltaCode, DeltaFinding, DeltaLogError
from registry_pipeline.core.delta_log._model import LOG_ARTIFACT, SealedLogRef
from registry_pipeline.core.delta_log._parse import describe_record, parse_record
from registry_pipeline.core.delta_log._state import LogState, PreviousLog
from registry_pipeline.core.jsonl import bytes_break


def check_append_only(
    new_jsonl: bytes,
    previous: PreviousLog | None,
    *,
    derivation_run_id: str | None = None,
    path: str = LOG_ARTIFACT,
) -> list[DeltaFinding]:
    """Every way `new_jsonl` fails to extend `previous` by valid, chained records ([] = holds).

    With `derivation_run_id`, the appended records must also name that build.
    """
    base = previous.jsonl if previous else b""
    broken = bytes_break(base, new_jsonl)
    if broken is not None:
        return [
            DeltaFinding(
                code=DeltaCode.PREFIX_VIOLATION,
                path=path,
                line=broken.line,
                message=broken.describe(describe_record),
                previous_run_id=previous.run_id if previous else None,
                expected=broken.record[:240].decode("utf-8", "replace"),
            )
        ]
    tail = io.BytesIO(new_jsonl[len(base) :])
    state = previous.state if previous else None
    first = base.count(b"\n") + 1
    return check_records(
        tail, first_line=first, state=state, derivation_run_id=derivation_run_id, path=path
    )


def check_records(
    lines: Iterable[bytes],
    *,
    first_line: int,
    state: LogState | None,
    derivation_run_id: str | None = None,
    path: str = LOG_ARTIFACT,
) -> list[DeltaFinding]:
    """Check appended lines (each with its newline) against the log `state` they extend."""
    findings: list[DeltaFinding] = []
    last: dict[str, tuple[SealedLogRef, str]] = {}
    if state is not None:
        for registry_id, entry in state.registries.items():
            last[registry_id] = (entry.last_to_ref, entry.last_created_utc)
    seen: set[tuple[str, str]] = {(ref.run_root, ref.run_id) for ref, _ in last.values()}
    for number, raw in enumerate(lines, start=first_line):
        if not raw.endswith(b"\n"):
            findings.append(_invalid(path, number, "/", "the last line has no newline"))
        try:
            record = parse_record(raw, line_number=number, path=path)
        except DeltaLogError as exc:
            findings.append(_invalid(path, number, exc.field, exc.message))
            continue
        before = last.get(record.registry_id)
        expected = before[0] if before else None
        if record.from_ref != expected:
            findings.append(
                DeltaFinding(
                    code=DeltaCode.FROM_MISMATCH,
                    field="/from_ref",
                    message=f"{record.registry_id}: from_ref must be the registry's previous "
                    "to_ref in the log" + ("" if before else " (null: its first record)"),
                    expected=str(expected) if expected else "null",
                    found=str(record.from_ref) if record.from_ref else "null",
                    path=path,
                    line=number,
                )
            )
        key = (record.to_ref.run_root, record.to_ref.run_id)
        if key in seen:
            findings.append(
                DeltaFinding(
                    code=DeltaCode.DUPLICATE_SNAPSHOT,
                    field="/to_ref",
                    message=f"{record.to_ref.run_id} is already a to_ref in the log",
                    found=record.to_ref.run_id,
                    path=path,
                    line=number,
                )
            )
        elif before and (record.created_utc, record.to_ref.run_id) < (before[1], before[0].run_id):
            findings.append(
                DeltaFinding(
                    code=DeltaCode.OUT_OF_ORDER,
                    field="/to_ref",
                    message=f"{record.registry_id}: {record.to_ref.run_id} is ordered before the "
                    f"registry's previous to_ref {before[0].run_id}",
                    path=path,
                    line=number,
                )
            )
        if derivation_run_id is not None and record.derivation_run_id != derivation_run_id:
            findings.append(
                DeltaFinding(
                    code=DeltaCode.DERIVATION_MISMATCH,
                    field="/derivation_run_id",
                    message="an appended record must name the build that appended it",
                    expected=derivation_run_id,
                    found=record.derivation_run_id,
                    path=path,
                    line=number,
                )
            )
        seen.add(key)
        last[record.registry_id] = (record.to_ref, record.created_utc)
    return findings


def _invalid(path: str, line: int, field: str | None, message: str) -> DeltaFinding:
    return DeltaFinding(
        code=DeltaCode.RECORD_INVALID, path=path, line=line, field=field, message=message
    )
