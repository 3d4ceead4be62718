"""`registry`: seal files into run folders, validate them, create workspaces.

`main(argv) -> int` builds the parser, runs one command, and is the one place where errors
become a message and an exit code: 0 done, 1 failed or refused, 2 bad usage or unreadable input.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from registry_pipeline._version import __version__
from registry_pipeline.cli import (
    _adopt,
    _append_only,
    _build,
    _commands,
    _delta,
    _drift,
    _pointers,
    _restore,
    _runs,
    _validate,
    _write,
)
from registry_pipeline.cli._output import err, json_doc
from registry_pipeline.core.errors import RegistryError

DESCRIPTION = """\
Seal files into immutable run folders (.codex/RUNS/<run_id>/) and validate run folders against
the seal contract (docs/SEAL_CONTRACT.md)."""

EPILOG = """\
examples:
  registry init                      make the current folder a workspace
  registry adopt --dry-run           adopt a repository of the seed system's layout
  registry build                     build, seal and check every registry (Dagster)
  registry seal report.json --registry-id drift_notes
  registry validate --all            check every run folder of the workspace
  registry validate .codex/RUNS/2026-02-04__213601__run_registry_build --json
  registry pointers show             what is active now (see: registry pointers --help)
  registry drift backfill --from 2026-11-01 --to 2026-11-20
  registry delta show --registry migration_ledger --explain
  registry check-append-only registries/rolepack/atelier_rolepack_v1.json --baseline-git main
  registry add-entry --type migration_ledger --entry-file migration.json --dry-run
  registry runs latest --lane artist_id=ART-iron-harbor --lane genre_id=GEN-worship

exit codes: 0 done, 1 failed or refused (a run folder failed validation, a pointer change was
refused), 2 bad usage or bad input (nothing written)
environment: REGISTRY_WORKSPACE selects the workspace when --workspace is not given"""


class _Parser(argparse.ArgumentParser):
    json_errors = False
    """Set by `main` for one command line that asks for --json."""

    def error(self, message: str) -> None:  # type: ignore[override]
        if _Parser.json_errors:
            _error(True, "BAD_USAGE", None, message, "")
        else:
            self.print_usage(sys.stderr)
            err(f"error: BAD_USAGE {message}")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, with examples in every command's --help."""
    parser = _Parser(
        prog="registry",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"registry-pipeline {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    _commands.add_init(commands)
    _adopt.add_adopt(commands)
    _commands.add_seal(commands)
    _validate.add_validate(commands)
    _restore.add_restore(commands)
    _build.add_build(commands)
    _pointers.add_pointers(commands)
    _drift.add_drift(commands)
    _delta.add_delta(commands)
    _append_only.add_check_append_only(commands)
    _write.add_add_entry(commands)
    _write.add_types(commands)
    _runs.add_runs(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `registry` command; returns the process exit code."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    as_json = "--json" in arguments
    _Parser.json_errors = as_json
    parser = build_parser()
    try:
        args = parser.parse_args(arguments)
        if args.command is None:
            parser.print_help(sys.stderr)
            return 2
        code: int = args.run(args)
        return code
    except SystemExit as exc:
        return int(exc.code) if isinstance(exc.code, int) else 2
    except RegistryError as exc:
        _error(as_json, exc.code, exc.path, exc.message, exc.diagnostics(), _details(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        _error(as_json, "INTERRUPTED", None, "interrupted", "interrupted")
        return 130
    except BrokenPipeError:
        sys.stderr.close()
        return 1
    except OSError as exc:
        path = None if exc.filename is None else str(exc.filename)
        text = f"error: IO_ERROR {path or ''}: {exc.strerror or exc}".replace(" :", ":")
        _error(as_json, "IO_ERROR", path, str(exc.strerror or exc), text)
        return 1
    except Exception as exc:  # the last line of defence: never a traceback for users
        if os.environ.get("REGISTRY_DEBUG"):
            raise
        message = f"{type(exc).__name__}: {exc} (set REGISTRY_DEBUG=1 for a traceback)"
        _error(as_json, "INTERNAL", None, message, f"error: INTERNAL {message}")
        return 3


def _error(
    as_json: bool,
    code: str,
    path: str | None,
    message: str,
    text: str,
    details: list[object] | None = None,
) -> None:
    """An error as the human text on stderr, or with --json as one JSON object on stdout (a
    script reads one format whatever happens)."""
    if not as_json:
        err(text)
        return
    document: dict[str, object] = {"code": code, "path": path, "message": message}
    if details:
        document["details"] = details
    json_doc({"error": document})


def _details(exc: RegistryError) -> list[object]:
    """The problems an error lists (catalog fields, files to seal, folder problems)."""
    listed = getattr(exc, "details", ())
    return [item.as_json() if hasattr(item, "as_json") else str(item) for item in listed]
