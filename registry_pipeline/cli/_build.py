"""`registry build`: build, seal and check the registries through Dagster."""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from registry_pipeline.cli._args import bounded_float, command, common
from registry_pipeline.cli._output import answer, err
from registry_pipeline.core.errors import IO_ERROR, UsageError, advised, problem_text
from registry_pipeline.core.workspace.build_slot import DEFAULT_WAIT
from registry_pipeline.core.workspace.layout import resolve_workspace

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from registry_pipeline.lib.build import BuildSummary, RegistryBuild

DESCRIPTION = """\
Build, seal and check the registries in one run of the Dagster job build_registries on the
workspace's instance, executed here, then promote what passed in one run of promote_registries
(the publish gate, one journaled compare-and-swap); one line per registry, then the run's link.
When nothing it reads changed it says `up to date` without starting Dagster. See README.md
("Building the registries") and docs/OPERATIONS.md."""
EPILOG = """\
examples:
  registry build
  registry build --select op_status_table --json
  registry build --force      # even when nothing changed
  registry build --wait 0     # fail at once if another build runs

exit codes: 0 every registry built, checked and promoted (or needing no promotion), 1 otherwise,
2 bad usage, 130 interrupted (Ctrl-C: the run ends CANCELED)"""


def add_build(commands: Any) -> None:
    parser = command(
        commands,
        "build",
        "build every registry of the catalog through Dagster",
        DESCRIPTION,
        EPILOG,
    )
    parser.add_argument(
        "--select", nargs="+", action="extend", metavar="REGISTRY", default=[],
        help="build only these registries (inputs come from sealed snapshots)",
    )  # fmt: skip
    parser.add_argument(
        "--full-audit", action="store_true",
        help="re-hash every run folder instead of trusting the previous index",
    )  # fmt: skip
    parser.add_argument(
        "--wait", type=bounded_float(0, 86400), default=DEFAULT_WAIT, metavar="SECONDS",
        help="how long to wait for another build of this workspace before failing with "
        f"BUILD_IN_PROGRESS (default {DEFAULT_WAIT:g}; 0 fails at once)",
    )  # fmt: skip
    parser.add_argument(
        "--force", action="store_true",
        help="build even when nothing changed since the last successful build",
    )  # fmt: skip
    parser.add_argument("--in-process", action="store_true",
                        help="accepted for scripts of earlier releases: every build now "
                        "executes in this process")  # fmt: skip
    parser.add_argument(
        "--progress", action=argparse.BooleanOptionalAction, default=None,
        help="a line per registry on stderr as its checks finish (default: when stderr is a "
        "terminal)",
    )  # fmt: skip
    common(parser, run_build_command)


def run_build_command(args: argparse.Namespace) -> int:
    workspace = resolve_workspace(args.workspace).require()
    from registry_pipeline.core.freshness import up_to_date  # the gate and pointers: builds only
    from registry_pipeline.core.workspace.catalog import load_catalog

    catalog = load_catalog(workspace)
    for registry_id in args.select:
        if registry_id == "drift_signals_daily":
            raise UsageError.of("PARTITIONED_ASSET", path=registry_id)
        catalog.get(registry_id)
    whole = not args.select

    def waiting(why: str) -> None:
        err(f"waiting: {why}")

    defs = None
    if whole and not (args.force or args.full_audit):
        freshness = up_to_date(workspace, catalog)
        if not freshness.up_to_date:  # a build of another door may be promoted, or pending
            from registry_pipeline.definitions import build_definitions
            from registry_pipeline.lib.build import settle_promotions

            defs = build_definitions(workspace.root)
            settle_promotions(workspace.root, defs, args.wait, waiting, err)
            freshness = up_to_date(workspace, catalog)
        if freshness.up_to_date:  # answered without Dagster when nothing was pending
            fresh = {"dagster_run_id": None, "dagster_run_url": None, "success": True}
            return answer(args.json, {**fresh, **freshness.as_json()}, [freshness.summary()])

    from registry_pipeline.definitions import build_definitions
    from registry_pipeline.lib.build import run_build

    progress = sys.stderr.isatty() if args.progress is None else args.progress
    told: dict[str, RegistryBuild] = {}

    def tell(entry: RegistryBuild) -> None:  # as its checks finish, before the promotion
        told[entry.registry_id] = entry
        for line in _entry_lines(entry, promotion=False):
            err(line)

    summary = run_build(
        workspace.root,
        defs or build_definitions(workspace.root),
        select=args.select,
        full_audit=args.full_audit,
        force=args.force,
        wait=args.wait,
        on_wait=waiting,
        on_entry=tell if progress else None,
        on_note=err,
    )
    from registry_pipeline.lib.webserver import run_url

    url = run_url(summary.dagster_run_id) if summary.dagster_run_id else None
    document: dict[str, object] = {
        "dagster_run_id": summary.dagster_run_id, "dagster_run_url": url,
        "promotion_run_id": summary.promotion_run_id,
        "success": summary.success, "up_to_date": False,
        "registries": [asdict(entry) for entry in summary.registries],
        "problems": summary.problems,
    }  # fmt: skip
    done = "the selected registries" if args.select else "all registries"
    on_screen = sys.stdout.isatty() and sys.stderr.isatty()  # the live lines are above
    lines = _summary(summary, url, done, told if on_screen else {})
    return answer(args.json, document, lines, 0 if summary.success else 1)


def _summary(
    summary: BuildSummary, url: str | None, done: str, told: Mapping[str, RegistryBuild]
) -> Iterator[str]:
    """A line per registry with its problems and notes (only its promotion if `told`), the run."""
    widths = (
        max((len(entry.registry_id) for entry in summary.registries), default=0),
        max((len(entry.run_id or "") for entry in summary.registries), default=0),
    )
    promotions: dict[str, list[str]] = {}
    for entry in summary.registries:
        live = told.get(entry.registry_id)
        if live is None or _line(live, promotion=False) != _line(entry, promotion=False):
            yield from _entry_lines(entry, widths)
            continue
        said = _entry_lines(live, promotion=False)
        now = _entry_lines(entry, promotion=False)[1:]
        yield from (f"{entry.registry_id}: {line.strip()}" for line in now if line not in said)
        outcome = "promoted" if entry.promoted else f"not promoted ({entry.promotion})"
        promotions.setdefault(outcome, []).append(entry.registry_id)
    yield from (f"{outcome}: {', '.join(ids)}" for outcome, ids in promotions.items())
    yield from (f"         {problem_text(problem)}" for problem in summary.problems)
    run = f"dagster run {summary.dagster_run_id}" if summary.dagster_run_id else "no dagster run"
    link = f" ({url})" if url else ""
    yield f"{run}: " + (f"{done} built and checked" if summary.success else _failed(summary)) + link


def _failed(summary: BuildSummary) -> str:
    """FAILED; when the promotion stopped (`fault`), also what was promoted, why and where."""
    fault = summary.fault
    if fault is None:
        return "FAILED"
    promoted = sum(entry.promoted for entry in summary.registries)
    code, message = str(fault["code"]), str(fault["message"])
    where = f" {fault['path']}:" if fault.get("path") else ":"
    said = advised(message) if code == IO_ERROR else message
    return f"FAILED, {promoted or 'nothing'} promoted: {code}{where} {said}"


def _entry_lines(
    entry: RegistryBuild, widths: tuple[int, int] = (0, 0), *, promotion: bool = True
) -> list[str]:
    """A registry's line, then its problems and notes."""
    return [
        _line(entry, widths, promotion=promotion),
        *(f"         {problem_text(problem)}" for problem in entry.problems),
        *(f"         note: {note}" for note in entry.notes),
    ]


def _line(entry: RegistryBuild, widths: tuple[int, int] = (0, 0), *, promotion: bool = True) -> str:
    """One registry's line, columns aligned: status, id, snapshot, checks, what its pointer did."""
    id_width, run_width = max(22, widths[0]), max(48, widths[1])
    checks = (
        " ".join(f"{name}={'PASS' if ok else 'FAIL'}" for name, ok in sorted(entry.checks.items()))
        or "-"
    )
    line = (
        f"{entry.status.upper():<8} {entry.registry_id:<{id_width}} "
        f"{entry.run_id or '-':<{run_width}} {checks}"
    )
    if not promotion:
        return line
    return line + ("  promoted" if entry.promoted else f"  not promoted ({entry.promotion})")
