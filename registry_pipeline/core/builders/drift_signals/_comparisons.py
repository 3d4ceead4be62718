"""Signals that compare: versions and threshold pack against expectations, snapshots, schemas."""

from __future__ import annotations

from collections.abc import Mapping

from registry_pipeline.core.builders.drift_signals._model import Evidence, Signal, SnapshotRef


class _SnapshotIndex:
    """The snapshot cited as evidence for a registry: its active one, else its newest valid one."""

    def __init__(
        self,
        active: Mapping[str, SnapshotRef | None] | None,
        newest: Mapping[str, SnapshotRef | None],
    ) -> None:
        self._active = active or {}
        self._newest = newest

    def evidence(self, registry_id: str) -> tuple[Evidence, ...]:
        """Zero or one evidence ref for `registry_id`."""
        ref = self._active.get(registry_id) or self._newest.get(registry_id)
        return (ref.evidence(),) if ref else ()


def _compare(expected: str | None, observed: str | None) -> bool | None:
    """Tri-state inequality: None when either side is unknown."""
    if expected is None or observed is None:
        return None
    return expected != observed


def _version_signals(
    kind: str,
    expected: str | None,
    observed: Mapping[str, str | None],
    refs: _SnapshotIndex,
    per_key: Mapping[str, str | None] | None = None,
) -> list[Signal]:
    """One signal per name: its observed version against the expected one."""
    names = sorted(set(observed) | set(per_key or {}))
    signals = []
    for name in names:
        want = per_key.get(name) if per_key is not None else expected
        have = observed.get(name)
        value = _compare(want, have)
        summary = (
            f"{kind.replace('_', ' ')} of {name}: expected {_text(want)}, observed {_text(have)}"
        )
        signals.append(Signal(f"{kind}:{name}", kind, value, summary, refs.evidence(name)))
    return signals


def _threshold_signal(expected: str | None, observed: str | None) -> Signal:
    """The threshold pack version in use against the expected one."""
    value = _compare(expected, observed)
    summary = f"threshold pack version: expected {_text(expected)}, observed {_text(observed)}"
    return Signal("threshold_pack_version", "threshold_pack_version", value, summary)


def _text(value: str | None) -> str:
    """A compared version in a summary sentence: no Python repr (`(none)` when absent)."""
    return "(none)" if value is None else value


def _order(ref: SnapshotRef) -> tuple[str, str]:
    """Snapshot order: creation time, then run id (our run ids sort by creation)."""
    return (ref.created_utc, ref.run_id)


def _behind_signals(
    active: Mapping[str, SnapshotRef | None] | None,
    newest: Mapping[str, SnapshotRef | None],
) -> list[Signal]:
    """Per registry: is its active snapshot older than its newest valid one?"""
    signals = []
    for registry_id in sorted(set(newest) | set(active or {})):
        current = active.get(registry_id) if active is not None else None
        latest = newest.get(registry_id)
        value: bool | None = None
        if active is None:
            summary = f"{registry_id}: no pointer history yet"
        elif current is None or latest is None:
            summary = f"{registry_id}: active {_name(current)}, newest valid {_name(latest)}"
        else:
            value = _order(latest) > _order(current)
            summary = f"{registry_id}: active {current.run_id}, newest valid {latest.run_id}"
        evidence = tuple(ref.evidence() for ref in (current, latest) if ref is not None)
        kind = "active_snapshot_behind"
        signals.append(Signal(f"{kind}:{registry_id}", kind, value, summary, evidence))
    return signals


def _name(ref: SnapshotRef | None) -> str:
    """A snapshot's run id, or `unknown`."""
    return ref.run_id if ref is not None else "unknown"


def _schema_changed_signals(
    now: Mapping[str, str], at_active: Mapping[str, str | None], refs: _SnapshotIndex
) -> list[Signal]:
    """Per registry: has its schema file changed since its active snapshot was built?"""
    signals = []
    for registry_id in sorted(set(now) | set(at_active)):
        before = at_active.get(registry_id)
        after = now.get(registry_id)
        value: bool | None
        if before is None:
            value, summary = None, f"{registry_id}: schema hash at the active snapshot unknown"
        elif after is None:
            value, summary = True, f"{registry_id}: schema file removed since the active snapshot"
        else:
            value = before != after
            summary = f"{registry_id}: schema sha256 {before[:12]} then, {after[:12]} now"
        kind = "schema_changed"
        signals.append(
            Signal(f"{kind}:{registry_id}", kind, value, summary, refs.evidence(registry_id))
        )
    return signals
