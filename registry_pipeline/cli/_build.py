"""`registry build`: build, seal and check the registries through Dagster."""

from __future__ import annotations

import argparse
from typing import Any

from registry_pipeline.cli._commands import workspace_option
from registry_pipeline.cli._output import err, json_doc, out
from registry_pipeline.core.errors import RegistryError, UsageError, problem_text
from registry_pipeline.core.freshness import (
    active_snapshots,
    build_inputs,
    record_build,
    up_to_date,
)
from registry_pipeline.core.workspace.build_lock import DEFAULT_WAIT
from registry_pipeline.core.workspace.layout import resolve_workspace

RAW = argparse.RawDescriptionHelpFormatter
DESCRIPTION = """\
Run the registry graph as one Dagster run of the job build_registries on the workspace's
instance (.codex/dagster_home, which `dagster dev` shows), launched through the workspace's code
location and the instance's run launcher as the UI launches one: the run is on the job's page,
the asset pages and the Overview timeline, and its link is printed. --in-process (or
REGISTRY_BUILD_IN_PROCESS=1) executes it in this process instead (no code server; the run is
in the instance all the same). Each registry is built or, for hand-edited sources, sealed when
its content changed, then its blocking checks run. When all passed, each registry with a
pointer is promoted (the same code as the promote_active_pointers job; a failed build promotes
nothing). Exit 0 when every registry built, passed its checks and was promoted or needed no
promotion, 1 otherwise (downstream registries of a failed one are not built). When nothing a
build reads changed since the last successful build (sources, catalog, schemas, the tool, run
folders other than the registries' own, the active snapshots), it says `up to date` without
starting Dagster; --force builds anyway."""
EPILOG = """\
examples:
  registry build
  registry build --select op_status_table --json
  registry build --force      # even when nothing changed
  registry build --full-audit
  registry build --in-process # no code server: the run executes in this process
  registry build --wait 0     # fail at once if another build runs

One build at a time per workspace: a second build (CLI, UI or schedule) waits for the first,
up to --wait seconds, then fails with BUILD_IN_PROGRESS naming the holder. The run a build
launches is its delegate and needs no lock of its own; Ctrl-C cancels it (exit 130). The run
link's base is $DAGSTER_WEBSERVER_URL, else http://127.0.0.1:3000."""


def add_build(commands: Any) -> None:
    """`registry build [--select REGISTRY...] [--full-audit] [--json]`."""
    parser = commands.add_parser(
        "build",
        help="build every registry of the catalog through Dagster",
        formatter_class=RAW,
        description=DESCRIPTION,
        epilog=EPILOG,
    )
    parser.add_argument(
        "--select",
        nargs="+",
        metavar="REGISTRY",
        default=[],
        help="build only these registries (inputs come from sealed snapshots)",
    )
    parser.add_argument(
        "--full-audit",
        action="store_true",
        help="re-hash every run folder instead of trusting the previous index",
    )
    parser.add_argument(
        "--wait",
        type=_seconds,
        default=DEFAULT_WAIT,
        metavar="SECONDS",
        help="how long to wait for another build of this workspace before failing with "
        f"BUILD_IN_PROGRESS (default {DEFAULT_WAIT:g}; 0 fails at once)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="build even when nothing changed since the last successful build",
    )
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="execute the run in this process instead of launching it through the code "
        "location (also REGISTRY_BUILD_IN_PROCESS=1)",
    )
    parser.add_argument("--json", action="store_true", help="print a JSON object")
    workspace_option(parser)
    parser.set_defaults(run=run_build_command)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 <= value <= 86400:
        raise argparse.ArgumentTypeError(f"must be between 0 and 86400 seconds: {text!r}")
    return value


def run_build_command(args: argparse.Namespace) -> int:
    workspace = resolve_workspace(args.workspace).require()
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
            if args.json:
                json_doc(
                    {
                        "dagster_run_id": None,
                        "dagster_run_url": None,
                        "success": True,
                        **freshness.as_json(),
                    }
                )
            else:
                out(freshness.summary())
            return 0
    read = build_inputs(workspace) if whole else None
    from registry_pipeline.definitions import build_definitions
    from registry_pipeline.lib.build import run_build
    from registry_pipeline.lib.launch import children_print_to_stderr, run_url

    with children_print_to_stderr():  # the code server's and run worker's output: not stdout
        summary = run_build(
            workspace.root,
            build_definitions,
            select=args.select,
            full_audit=args.full_audit,
            wait=args.wait,
            on_wait=err,
            in_process=True if args.in_process else None,
        )
    url = run_url(summary.dagster_run_id) if summary.dagster_run_id else None
    if read is not None and summary.success:
        after = {rid: [run_id] for rid, run_id in active_snapshots(workspace).items()}
        try:
            record_build(workspace, read, after, summary.dagster_run_id)
        except RegistryError as exc:  # the build stands; only the next one cannot be skipped
            err(
                f"warning: the build was not recorded ({exc.code}: {exc.message}); the next "
                "build will run in full"
            )
    if args.json:
        json_doc(
            {
                "dagster_run_id": summary.dagster_run_id,
                "dagster_run_url": url,
                "success": summary.success,
                "up_to_date": False,
                "registries": [entry.as_json() for entry in summary.registries],
                "problems": summary.problems,
            }
        )
    else:
        ids = max((len(entry.registry_id) for entry in summary.registries), default=0)
        runs = max((len(entry.run_id or "") for entry in summary.registries), default=0)
        id_width, run_width = max(22, ids), max(48, runs)  # columns stay aligned
        for entry in summary.registries:
            checks = (
                " ".join(
                    f"{name}={'PASS' if ok else 'FAIL'}"
                    for name, ok in sorted(entry.checks.items())
                )
                or "-"
            )
            promotion = "promoted" if entry.promoted else f"not promoted ({entry.promotion})"
            out(
                f"{entry.status.upper():<8} {entry.registry_id:<{id_width}} "
                f"{entry.run_id or '-':<{run_width}} "
                f"{checks}  {promotion}"
            )
            for problem in entry.problems:
                out(f"         {problem_text(problem)}")
            for note in entry.notes:
                out(f"         note: {note}")
        for problem in summary.problems:
            out(f"         {problem_text(problem)}")
        run_id = summary.dagster_run_id
        run = f"dagster run {run_id}" if run_id else "no dagster run"
        done = "the selected registries" if args.select else "all registries"
        link = f" ({url})" if url else ""
        out(f"{run}: " + (f"{done} built and checked" if summary.success else "FAILED") + link)
    return 0 if summary.success else 1
