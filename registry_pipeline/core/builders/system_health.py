"""The system_health_report builder: one read-only view of registries, operations and drift.

Pure and deterministic. It renders the same report model three ways: Markdown
(`SYSTEM_HEALTH_REPORT_v0_1.md`), a self-contained HTML page (inline CSS, no scripts, no external
resources, every text escaped), and `SYSTEM_HEALTH_SUMMARY_v0_1.json` (counts and scorecard).

Inputs are plain parsed JSON:
- `catalog_summary`: one object per catalog registry: `registry_id`, `kind`, `has_builder` (bool),
  `latest_run_id` (str or null), `latest_status` (`PASS` | `FAIL` | `none`: whether the newest
  snapshot validates), optional `operation_id` (the operation that builds it).
- `op_status_rows`: OPERATION_STATUS_TABLE_v0_1 rows; `op_status_detail`: `{"operations": [...]
  or {op_id: {...}}, "unauthorized": [op_id or {"operation_id": ...}]}` with each operation's
  `status` (`ok` | `failing` | `stale` | `never_run`).
- `drift_v01`, `drift_detail`: the two drift_signals documents; `run_registry_lines`: RUN_REGISTRY
  lines with `seal:` warnings.

Scorecard, computed from those inputs only:
- sealed registries: registries whose `latest_status` is PASS / registries in the catalog;
- operations with builders: operations (rows) built by a catalog registry that has a builder /
  operations;
- check coverage: operations at coverage level C3 or above (enforced by a check) / operations.
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from registry_pipeline.core._json import dumps_pretty
from registry_pipeline.core.builders.drift_signals import seal_status

MARKDOWN_ARTIFACT = "SYSTEM_HEALTH_REPORT_v0_1.md"
HTML_ARTIFACT = "SYSTEM_HEALTH_REPORT_v0_1.html"
SUMMARY_ARTIFACT = "SYSTEM_HEALTH_SUMMARY_v0_1.json"
CHECKED_LEVELS = frozenset({"C3", "C4", "C5"})
SEAL_STATUSES = ("PASS", "FAIL", "TAMPERED", "UNSEALED", "unknown")
OP_STATUSES = ("ok", "failing", "stale", "never_run", "unknown")


@dataclass(frozen=True)
class Ratio:
    """A scorecard figure: `count` of `total`."""

    count: int
    """Items that meet the bar."""
    total: int
    """Items considered."""

    def __str__(self) -> str:
        return f"{self.count}/{self.total}"

    def as_json(self) -> dict[str, int]:
        """`{"count": x, "total": y}`."""
        return {"count": self.count, "total": self.total}


@dataclass(frozen=True)
class Scorecard:
    """The governance figures, computed from data."""

    sealed_registries: Ratio
    """Registries whose latest snapshot validates, of all registries in the catalog."""
    operations_with_builders: Ratio
    """Operations built by a catalog registry that has a builder, of all operations."""
    check_coverage: Ratio
    """Operations at coverage level C3 or above, of all operations."""


@dataclass(frozen=True)
class Section:
    """One part of the report: a title, optional bullet notes and an optional table."""

    title: str
    notes: tuple[str, ...] = ()
    headers: tuple[str, ...] = ()
    rows: tuple[tuple[str, ...], ...] = ()


def compute_scorecard(
    catalog_summary: Sequence[Mapping[str, Any]], op_status_rows: Sequence[Mapping[str, Any]]
) -> Scorecard:
    """The three governance ratios (see module doc)."""
    built_ops = {
        entry.get("operation_id")
        for entry in catalog_summary
        if entry.get("has_builder") is True and entry.get("operation_id")
    }
    return Scorecard(
        sealed_registries=Ratio(
            sum(1 for entry in catalog_summary if entry.get("latest_status") == "PASS"),
            len(catalog_summary),
        ),
        operations_with_builders=Ratio(
            sum(1 for row in op_status_rows if row.get("operation_id") in built_ops),
            len(op_status_rows),
        ),
        check_coverage=Ratio(
            sum(1 for row in op_status_rows if row.get("coverage_level") in CHECKED_LEVELS),
            len(op_status_rows),
        ),
    )


def build_system_health(
    *,
    catalog_summary: Sequence[Mapping[str, Any]],
    op_status_rows: Sequence[Mapping[str, Any]],
    op_status_detail: Mapping[str, Any],
    drift_v01: Mapping[str, Any],
    drift_detail: Mapping[str, Any],
    run_registry_lines: Sequence[Mapping[str, Any]],
    as_of: str,
    input_sources: Mapping[str, str] | None = None,
) -> dict[str, bytes]:
    """Artifact name to bytes for the Markdown report, the HTML page and the JSON summary.

    `input_sources` (the seed summary's field: input name -> workspace-relative artifact path of
    the sealed snapshot read) is recorded as given.
    """
    scorecard = compute_scorecard(catalog_summary, op_status_rows)
    statuses = operation_statuses(op_status_detail)
    unauthorized = unauthorized_operations(op_status_detail)
    signals = [s for s in drift_detail.get("signals", ()) if isinstance(s, Mapping)]
    sections = (
        _scorecard_section(scorecard),
        _registry_section(catalog_summary),
        _operation_section(op_status_rows, statuses),
        Section("Unauthorized operations", notes=tuple(unauthorized) or ("none",)),
        _run_folder_section(run_registry_lines),
        _system_drift_section(drift_v01),
        _signal_section(signals),
    )
    summary = _summary(
        scorecard, catalog_summary, op_status_rows, statuses, unauthorized, run_registry_lines,
        signals, drift_v01, as_of,
    )  # fmt: skip
    summary["stale_threshold_days"] = _stale_threshold_days(op_status_detail)
    summary["input_sources"] = dict(sorted((input_sources or {}).items()))
    return {
        MARKDOWN_ARTIFACT: render_markdown(sections, as_of).encode("utf-8"),
        HTML_ARTIFACT: render_html(sections, as_of).encode("utf-8"),
        SUMMARY_ARTIFACT: dumps_pretty(summary, sort_keys=False),
    }


def _stale_threshold_days(detail: Mapping[str, Any]) -> int | None:
    """The strictest staleness limit of any operation, in whole days (the seed's single figure)."""
    raw = detail.get("operations", ())
    entries = raw.values() if isinstance(raw, Mapping) else raw
    hours: list[float] = []
    for entry in entries:
        value = entry.get("stale_after_hours") if isinstance(entry, Mapping) else None
        if isinstance(value, int | float) and not isinstance(value, bool):
            hours.append(float(value))
    return int(min(hours) // 24) if hours else None


def operation_statuses(detail: Mapping[str, Any]) -> dict[str, str]:
    """Operation id to status from the status detail (a list or a mapping of operations)."""
    raw = detail.get("operations", ())
    entries = (
        [{"operation_id": key, **value} for key, value in raw.items()]
        if isinstance(raw, Mapping)
        else [entry for entry in raw if isinstance(entry, Mapping)]
    )
    return {str(entry.get("operation_id")): str(entry.get("status")) for entry in entries}


def unauthorized_operations(detail: Mapping[str, Any]) -> list[str]:
    """Sorted ids of operations seen in runs but absent from the operations catalog."""
    ids = {
        str(item.get("operation_id")) if isinstance(item, Mapping) else str(item)
        for item in detail.get("unauthorized", ())
    }
    return sorted(ids)


def tri_state(value: Any) -> str:
    """`yes`, `no` or `unknown` for true, false and anything else (null)."""
    if value is True:
        return "yes"
    if value is False:
        return "no"
    return "unknown"


def _text(value: Any) -> str:
    """A cell's text: `-` for null."""
    return "-" if value is None else str(value)


def _scorecard_section(scorecard: Scorecard) -> Section:
    """The governance scorecard as a table."""
    return Section(
        "Governance scorecard",
        headers=("figure", "value", "computed as"),
        rows=(
            ("sealed registries", str(scorecard.sealed_registries),
             "registries whose latest snapshot validates / registries in the catalog"),
            ("operations with builders", str(scorecard.operations_with_builders),
             "operations built by a registry with a builder / operations"),
            ("check coverage", str(scorecard.check_coverage),
             "operations at coverage level C3 or above / operations"),
        ),
    )  # fmt: skip


def _registry_section(catalog_summary: Sequence[Mapping[str, Any]]) -> Section:
    """Status per registry, in catalog order."""
    rows = tuple(
        (
            _text(entry.get("registry_id")),
            _text(entry.get("kind")),
            tri_state(entry.get("has_builder")),
            _text(entry.get("latest_run_id")),
            _text(entry.get("latest_status")),
        )
        for entry in catalog_summary
    )
    headers = ("registry_id", "kind", "builder", "latest_run_id", "latest_status")
    return Section("Registries", headers=headers, rows=rows)


def _operation_section(rows: Sequence[Mapping[str, Any]], statuses: Mapping[str, str]) -> Section:
    """Status per operation, sorted by operation id."""
    table = tuple(
        (
            _text(row.get("operation_id")),
            _text(row.get("operation_name")),
            _text(row.get("coverage_level")),
            statuses.get(str(row.get("operation_id")), "unknown"),
            _text(row.get("last_run_id")),
            _text(row.get("staleness_days")),
            tri_state(row.get("op_drift")),
        )
        for row in sorted(rows, key=lambda r: str(r.get("operation_id")))
    )
    headers = ("operation_id", "name", "coverage", "status", "last_run_id", "staleness_days",
               "op_drift")  # fmt: skip
    return Section("Operations", headers=headers, rows=table)


def _seal_counts(lines: Sequence[Mapping[str, Any]]) -> Counter[str]:
    """Run folders per seal status (`unknown` when a line records none)."""
    return Counter(seal_status(line.get("warnings", ()))[0] or "unknown" for line in lines)


def _run_folder_section(lines: Sequence[Mapping[str, Any]]) -> Section:
    """Run folders per seal status."""
    counts = _seal_counts(lines)
    rows = tuple((status, str(counts[status])) for status in SEAL_STATUSES)
    return Section(
        "Run folders", notes=(f"total: {len(lines)}",), headers=("seal", "count"), rows=rows
    )


def _system_drift_section(drift_v01: Mapping[str, Any]) -> Section:
    """The v0.1 system drift flags, tri-state shown as yes/no/unknown."""
    flags = drift_v01.get("system_drift", {})
    keys = ("canon_dirty", "schema_drift", "threshold_drift")
    return Section(
        "System drift", notes=tuple(f"{key}: {tri_state(flags.get(key))}" for key in keys)
    )


def _signal_section(signals: Sequence[Mapping[str, Any]]) -> Section:
    """Every drift signal, in the detail file's order."""
    rows = tuple(
        (
            _text(signal.get("signal_id")),
            _text(signal.get("severity")),
            tri_state(signal.get("value")),
            _text(signal.get("summary")),
        )
        for signal in signals
    )
    return Section(
        "Drift signals", headers=("signal_id", "severity", "drift", "summary"), rows=rows
    )


def _md_cell(text: str) -> str:
    """Text safe in Markdown: one line, HTML escaped (renderers pass raw HTML), pipes escaped."""
    flat = html.escape(" ".join(text.split()), quote=False)
    return flat.replace("\\", "\\\\").replace("|", "\\|").replace("`", "\\`")


def render_markdown(sections: Sequence[Section], as_of: str) -> str:
    """The report as Markdown."""
    out = ["# System Health Report v0.1", "", f"- generated_utc: `{_md_cell(as_of)}`", ""]
    for section in sections:
        out += [f"## {section.title}", ""]
        out += [f"- {_md_cell(note)}" for note in section.notes]
        if section.notes:
            out.append("")
        if section.headers:
            out.append("| " + " | ".join(section.headers) + " |")
            out.append("|" + "---|" * len(section.headers))
            out += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in section.rows]
            out.append("")
    return "\n".join(out)


_CSS = (
    "body{font-family:system-ui,sans-serif;margin:2rem;color:#1b1b1b}"
    "table{border-collapse:collapse;margin:0 0 1.5rem}"
    "th,td{border:1px solid #bbb;padding:.25rem .5rem;text-align:left;vertical-align:top}"
    "th{background:#eee}"
    "td.yes{background:#fde2e1}td.unknown{background:#fff4d6}"
)


def render_html(sections: Sequence[Section], as_of: str) -> str:
    """The report as one self-contained HTML page (inline CSS only, all text escaped)."""
    esc = html.escape
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>System Health Report v0.1</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>System Health Report v0.1</h1>",
        f"<p>generated_utc: <code>{esc(as_of)}</code></p>",
    ]
    for section in sections:
        out.append(f"<h2>{esc(section.title)}</h2>")
        if section.notes:
            out.append("<ul>" + "".join(f"<li>{esc(n)}</li>" for n in section.notes) + "</ul>")
        if section.headers:
            out.append("<table><thead><tr>")
            out.append("".join(f"<th>{esc(h)}</th>" for h in section.headers))
            out.append("</tr></thead><tbody>")
            out += ["<tr>" + "".join(_td(cell) for cell in row) + "</tr>" for row in section.rows]
            out.append("</tbody></table>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def _td(cell: str) -> str:
    """A table cell; drift values get a class so the CSS can colour them."""
    css = f' class="{cell}"' if cell in ("yes", "unknown") else ""
    return f"<td{css}>{html.escape(cell)}</td>"


MAX_LIST = 20
"""Rows per category list in the summary, as in the seed system's summaries."""


def _summary(
    scorecard: Scorecard,
    catalog_summary: Sequence[Mapping[str, Any]],
    rows: Sequence[Mapping[str, Any]],
    statuses: Mapping[str, str],
    unauthorized: Sequence[str],
    lines: Sequence[Mapping[str, Any]],
    signals: Sequence[Mapping[str, Any]],
    drift_v01: Mapping[str, Any],
    as_of: str,
) -> dict[str, Any]:
    """The JSON summary: seed-compatible operation counts, our counts, and the scorecard."""
    evidence = Counter(str(row.get("run_evidence_state")) for row in rows)
    by_status = Counter(statuses.get(str(row.get("operation_id")), "unknown") for row in rows)
    seals = _seal_counts(lines)
    values = [signal.get("value") for signal in signals]
    return {
        "summary_version": "0.1",
        "generated_utc": as_of,
        "counts": {
            "total_ops": len(rows),
            "observed": evidence["OBSERVED"],
            "stale": by_status["stale"],
            "drifting": sum(1 for row in rows if row.get("op_drift") is True),
            "legacy_only": evidence["LEGACY_ONLY"],
            "unobserved": evidence["UNOBSERVED"],
            "coverage_below_c3": sum(
                1 for row in rows if row.get("coverage_level") not in CHECKED_LEVELS
            ),
            "operations_by_status": {status: by_status[status] for status in OP_STATUSES},
            "unauthorized_ops": len(unauthorized),
            "registries": len(catalog_summary),
            "run_folders": len(lines),
            "run_folders_by_seal": {status: seals[status] for status in SEAL_STATUSES},
            "drift_signals": {
                "true": values.count(True),
                "false": values.count(False),
                "unknown": values.count(None),
            },
        },
        "scorecard": {
            "sealed_registries": scorecard.sealed_registries.as_json(),
            "operations_with_builders": scorecard.operations_with_builders.as_json(),
            "check_coverage": scorecard.check_coverage.as_json(),
        },
        "unauthorized_operations": list(unauthorized),
        "system_drift": dict(drift_v01.get("system_drift", {})),
        **_seed_lists(rows, statuses),
    }


def _seed_lists(rows: Sequence[Mapping[str, Any]], statuses: Mapping[str, str]) -> dict[str, Any]:
    """The seed system's per-category lists of operation rows (at most MAX_LIST each)."""

    def status_of(row: Mapping[str, Any]) -> str:
        return statuses.get(str(row.get("operation_id")), "unknown")

    categories = {
        "observed": [r for r in rows if r.get("run_evidence_state") == "OBSERVED"],
        "stale": [r for r in rows if status_of(r) == "stale"],
        "legacy_only": [r for r in rows if r.get("run_evidence_state") == "LEGACY_ONLY"],
        "unobserved": [r for r in rows if r.get("run_evidence_state") == "UNOBSERVED"],
        "coverage_below_c3": [r for r in rows if r.get("coverage_level") not in CHECKED_LEVELS],
        "drifting": [r for r in rows if r.get("op_drift") is True],
    }
    lists: dict[str, Any] = {"max_list": MAX_LIST}
    for name, members in categories.items():
        lists[name] = [dict(row) for row in members[:MAX_LIST]]
    lists["drifting_ops"] = lists["drifting"]
    lists["truncated"] = {name: len(m) > MAX_LIST for name, m in categories.items()}
    return lists
