"""Render the results of one run: a plain-text table for the terminal and Markdown for the docs.

Both read the results dictionary that run_all.py also writes to benchmarks/_data/results.json.
"""

from __future__ import annotations

from typing import Any

Results = dict[str, Any]


def rate(row: dict[str, Any]) -> str:
    """Throughput of one measurement: MB/s for bytes, items per second for folders."""
    if row["mb_per_s"] is not None:
        return f"{row['mb_per_s']:,.0f} MB/s"
    if row["items_per_s"] is not None and row["items"] > 1:
        return f"{row['items_per_s']:,.0f} folders/s"
    return ""


def rss(row: dict[str, Any]) -> str:
    """Peak RSS of the largest process of a measurement, or '-' for in-process contenders."""
    return f"{row['max_rss_kb'] / 1024:.0f} MiB" if row["max_rss_kb"] else "-"


def machine_line(machine: dict[str, Any]) -> str:
    """One line saying where and with what the figures were measured."""
    return (
        f"{machine['date_utc']}  {machine['cpu_model']}  nproc={machine['nproc']}  "
        f"sha_ni={'yes' if machine['sha_ni'] else 'no'}  Python {machine['python']}  "
        f"{machine['coreutils']}  bagit {machine['bagit']}  cache: {machine['page_cache']}  "
        f"commit {machine['git_head']}"
    )


def print_results(results: Results) -> None:
    """The table, every target with PASS/MISS, and the sanity checks, on stdout."""
    print()
    print(machine_line(results["machine"]))
    header = f"{'benchmark':<26} {'contender':<50} {'median':>9} {'throughput':>16} {'max RSS':>8}"
    print(header)
    print("-" * len(header))
    for row in results["measurements"]:
        mark = "*" if row["ours"] else " "
        print(
            f"{row['benchmark']:<26} {mark}{row['contender']:<49} {row['median_s']:>8.3f}s "
            f"{rate(row):>16} {rss(row):>8}"
        )
    print("(* = ours; median of the runs; MB = 10^6 bytes; max RSS: largest one process)")
    print()
    for target in results["targets"]:
        print(f"{target['status']}  {target['target']}: {target['detail']}")
    print()
    for check in results["checks"]:
        print(f"check: {check}")


def markdown(results: Results) -> str:
    """The results and targets as Markdown tables, ready to paste into docs/benchmarks.md."""
    lines = [
        "| Benchmark | Contender | Runs (s) | Median (s) | Throughput | Max RSS |",
        "|---|---|---|---:|---:|---:|",
    ]
    for row in results["measurements"]:
        name = f"**{row['contender']}** (ours)" if row["ours"] else row["contender"]
        runs = ", ".join(f"{value:.2f}" for value in row["runs_s"])
        lines.append(
            f"| {row['benchmark']} | {name} | {runs} | {row['median_s']:.3f} | {rate(row)} "
            f"| {rss(row)} |"
        )
    lines += ["", "| Target | Result | Figures |", "|---|---|---|"]
    for target in results["targets"]:
        lines.append(f"| {target['target']} | **{target['status']}** | {target['detail']} |")
    return "\n".join(lines) + "\n"
