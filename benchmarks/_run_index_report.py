"""The run index benchmark's tables for docs/benchmarks.md (`bench_run_index`)."""

from __future__ import annotations

from typing import Any

SINGLE_APPENDS = 5
"""Single records appended to the full index, per side."""


def _s(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _mib(kb: int | None) -> str:
    return "n/a" if kb is None else f"{kb / 1024:.0f}"


def markdown(results: dict[str, Any]) -> str:
    """The tables for docs/benchmarks.md."""
    n, runs = results["records"], results["distinct_runs"]
    lines = [
        f"| Question ({n:,} records, {runs:,} runs) | Answer (runs) | Ours median (s) "
        "| DuckDB median (s) | Peak RSS ours / DuckDB (MiB) | Same run ids, records |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for row in results["questions"]:
        same = ", ".join(
            {True: "yes", False: "**NO**", None: "n/a"}[row[key]]
            for key in ("same_run_ids", "same_records")
        )
        lines.append(
            f"| `{' '.join(_short(row['ours_argv']))}` | {row['answer_runs']:,} "
            f"| {_s(row['ours_median_s'])} | {_s(row['duckdb_median_s'])} "
            f"| {_mib(row['ours_peak_rss_kb'])} / {_mib(row['duckdb_peak_rss_kb'])} | {same} |"
        )
    writes = results.get("writes")
    if writes:
        lines += ["", "| Write | Wall (s) | Peak RSS (MiB) |", "|---|---:|---:|"]
        for label, key in (
            (f"`runs import` overrides ({results['overrides']:,})", "overrides"),
            (f"`runs import` all {n:,} records, empty index (once)", "bulk"),
            ("first query after it (`runs show`, may build the sidecar; once)", "first_query"),
        ):
            lines.append(f"| {label} | {writes[key]['s']:.3f} | {_mib(writes[key]['kb'])} |")
        single = writes.get("single")
        if single:
            lines.append(
                f"| `runs append --record-json` one record (CLI, median of {SINGLE_APPENDS}) "
                f"| {single['cli_median_s']:.3f} | {_mib(single['cli_peak_rss_kb'])} |"
            )
            lines.append(
                f"| `RunIndex.append([record])` in-process (the call; median of "
                f"{SINGLE_APPENDS}; open: {single['api_open_median_ms']:.1f} ms) "
                f"| {single['api_append_median_ms'] / 1000:.4f} | - |"
            )
        if "sidecar_bytes" in writes:
            lines += [
                "",
                f"Workspace files outside registries/ after the bulk append (the sidecar index): "
                f"{writes['sidecar_bytes'] / 1e6:,.0f} MB.",
            ]
    return "\n".join(lines) + "\n"


def _short(argv: list[str]) -> list[str]:
    """Our argv without the workspace path, the index and --json (the table's column)."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg in ("--workspace", "--index"):
            skip = True
            continue
        if arg != "--json":
            out.append(arg)
    return out
