"""`registry build`: build, seal and check the registries through Dagster."""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from registry_pipeline.cli._args import bounded_float, command, common
from registry_pipeline.cli._output import answer, err
from registry_pipeline.core.errors import UsageError, problem_text
from registry_pipeline.core.workspace.build_slot import DEFAULT_WAIT
from registry_pipeline.core.workspace.layout import DAGSTER_HOME_RELPATH, resolve_workspace

if TYPE_CHECKING:
    from collections.abc import Iterator

    from registry_pipeline.lib.build import BuildSummary, RegistryBuild

DESCRIPTION = """\
Run the registry graph as one Dagster run of the job build_registries on the workspace's
instance (.codex/dagster_home, which `dagster dev` shows), launched as the UI's Launch button
launches one: it waits in the instance's queue while another build runs (any door: the UI, a
schedule, a sensor, another `registry build`), then runs in a worker forked from this command.
The run is on the job's page, the asset pages and the Overview timeline, and its link is
printed. --in-process (or REGISTRY_BUILD_IN_PROCESS=1) executes it in this process instead,
without the queue. Whichever way it starts, the run does the same build: unchanged sources are
reused, each registry is built or sealed and checked, and when every blocking check passed each
registry with a pointer is promoted and the build recorded, before the run ends (a failed build
promotes nothing). Exit 0 when every registry built, passed its checks and was promoted or
needed no promotion, 1 otherwise (downstream registries of a failed one are not built). When
nothing a build reads changed since the last successful build (sources, catalog, schemas, the
tool, run folders other than the registries' own, the active snapshots), it says `up to date`
without starting Dagster; --force builds anyway."""
EPILOG = """\
examples:
  registry build
  registry build --select op_status_table --json
  registry build --force      # even when nothing changed
  registry build --full-audit
  registry build --in-process # the run executes in this process (it meets the slot, not the queue)
  registry build --wait 0     # fail at once if another build runs

One build at a time per workspace: a second build (CLI, UI, schedule or sensor) waits queued
for the first, up to --wait seconds, then fails with BUILD_IN_PROGRESS naming the run it waited
for. Each registry's line is printed to stderr as its checks finish when stderr is a terminal
(--progress always, --no-progress never); the summary follows on stdout. Ctrl-C cancels the
run (it ends CANCELED; exit 130). The run link's base is $DAGSTER_WEBSERVER_URL, else the
webserver serving this workspace's instance, else http://127.0.0.1:3000."""


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
                        help="execute the run in this process instead of launching it through "
                        "the code location (also REGISTRY_BUILD_IN_PROCESS=1)")  # fmt: skip
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
            raise UsageError(
                "drift_signals_daily has one partition per day: build it with `registry drift "
                "backfill --from DAY --to DAY` (or from the UI)",
                code="PARTITIONED_ASSET",
                path=registry_id,
            )
        catalog.get(registry_id)
    whole = not args.select
    if whole and not (args.force or args.full_audit):
        freshness = up_to_date(workspace, catalog)
        if freshness.up_to_date:  # answered without Dagster
            fresh = {"dagster_run_id": None, "dagster_run_url": None, "success": True}
            return answer(args.json, {**fresh, **freshness.as_json()}, [freshness.summary()])
    from registry_pipeline.lib.build import run_build
    from registry_pipeline.lib.launcher import children_print_to_stderr
    from registry_pipeline.lib.webserver import run_url

    progress = sys.stderr.isatty() if args.progress is None else args.progress
    with children_print_to_stderr():  # the run worker's output: not stdout
        summary = run_build(
            workspace.root,
            select=args.select,
            full_audit=args.full_audit,
            wait=args.wait,
            on_wait=lambda why: err(f"waiting: {why}"),
            on_entry=(lambda entry: err(_line(entry, promotion=False))) if progress else None,
            in_process=True if args.in_process else None,
        )
    home = workspace.root / DAGSTER_HOME_RELPATH
    url = run_url(summary.dagster_run_id, home) if summary.dagster_run_id else None
    document: dict[str, object] = {
        "dagster_run_id": summary.dagster_run_id, "dagster_run_url": url,
        "success": summary.success, "up_to_date": False,
        "registries": [asdict(entry) for entry in summary.registries],
        "problems": summary.problems,
    }  # fmt: skip
    lines = _summary(summary, url, "the selected registries" if args.select else "all registries")
    return answer(args.json, document, lines, 0 if summary.success else 1)


def _summary(summary: BuildSummary, url: str | None, done: str) -> Iterator[str]:
    """The text of a build: a line per registry with its problems and notes, then the run."""
    widths = (
        max((len(entry.registry_id) for entry in summary.registries), default=0),
        max((len(entry.run_id or "") for entry in summary.registries), default=0),
    )
    for entry in summary.registries:
        yield _line(entry, widths)
        yield from (f"         {problem_text(problem)}" for problem in entry.problems)
        yield from (f"         note: {note}" for note in entry.notes)
    yield from (f"         {problem_text(problem)}" for problem in summary.problems)
    run = f"dagster run {summary.dagster_run_id}" if summary.dagster_run_id else "no dagster run"
    link = f" ({url})" if url else ""
    yield f"{run}: " + (f"{done} built and checked" if summary.success else "FAILED") + link


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
