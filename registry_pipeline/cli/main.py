"""`registry`'s command line: the one place errors become a message and an exit code (0, 1, 2)."""

from __future__ import annotations

import argparse
import difflib
import functools
import os
import re
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

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
from registry_pipeline.cli._args import RAW, arg, declare, examples
from registry_pipeline.cli._output import err, report
from registry_pipeline.core.errors import IO_ERROR, RegistryError, advised, io_error
from registry_pipeline.core.verified import take_set_aside

DESCRIPTION = """\
Governance registries as sealed, validated, lineage-tracked Dagster assets. Every build seals each
registry into an immutable run folder (.codex/RUNS/<run_id>/: artifact, run.json, manifest.json,
MANIFEST.sha256); blocking checks verify seal, schema and the registry's own rules; one publish gate
moves each active pointer by compare-and-swap, journaled in an append-only, hash-chained history.
Hand-edited registries change through a checked, atomic write path; run records go to an
append-only run index; what changed between snapshots is in the delta log."""

EPILOG = """\
examples:
  registry init                        workspace: make the current folder a workspace
  registry adopt --dry-run             workspace: adopt a repository of the seed's layout
  registry build                       build: build, seal, check and promote every registry
  registry build --select rolepack --json
  registry seal report.json --registry-id drift_notes   snapshots: seal files by hand
  registry validate --all              snapshots: check every run folder against its seal
  registry restore-line-endings .codex/RUNS/RUN_ID /tmp/fixed   snapshots: undo git's CRLF
  registry pointers show               pointers: what is active now, and since when
  registry pointers verify             pointers: the journal's hash chain and every target
  registry delta show --registry migration_ledger --explain   history: what changed, when
  registry drift backfill --from 2026-11-01 --to 2026-11-20   drift: signals by day
  registry add-entry --type migration_ledger --entry-file migration.json --dry-run
  registry deprecate rolepack visuals_2 --reason 'merged into visuals_1' --dry-run
  registry types                       write path: the registry types add-entry writes
  registry check-append-only registries/rolepack/atelier_rolepack_v1.json \\
    --baseline-git origin/main --require-baseline   append-only: the CI and pre-commit check
  registry runs append --record-file runs.jsonl   run index: append run records (checked)
  registry runs failed                 run index: runs that failed a uniqueness check
  registry runs latest --lane artist_id=ART-iron-harbor --lane genre_id=GEN-worship
  registry help pointers promote       help: a command's --help, with its examples

Every command has --help with more examples (`registry help COMMAND` prints the same), and
--json: JSON for scripts (one document; `validate`: one object per folder, a line each), every
problem in it an object {"code", "path", "line", "field", "message"}.

exit codes: 0 done, 1 failed or refused (a run folder failed validation, a check failed, a pointer
change was refused), 2 bad usage or bad input (nothing written), 3 a bug (INTERNAL; please report)
environment: REGISTRY_WORKSPACE selects the workspace when --workspace is not given
docs: README.md, docs/ (SEAL_CONTRACT, POINTERS, WRITE_PATH, APPEND_ONLY, RUN_INDEX, DELTA_LOG)"""


class _Parser(argparse.ArgumentParser):
    json_errors = False
    """Set by `main` for one command line that asks for --json."""

    def error(self, message: str) -> NoReturn:
        """Any usage error: BAD_USAGE after the usage, exit 2; a bare group lists its commands."""
        listed = self._bare_group(message)
        named = re.match(r"argument (\S+?):", message)  # `argument --limit: ...`: the field
        field = named.group(1).split("/")[-1] if named else "COMMAND" if listed else None
        if listed is not None:
            message = f"{self.prog} needs a COMMAND, one of: {', '.join(listed)}"
        if not _Parser.json_errors:
            self.print_usage(sys.stderr)
        if _Parser.json_errors or listed is None:
            report(_Parser.json_errors, RegistryError.of("BAD_USAGE", reason=message, field=field))
        else:
            err(f"error: BAD_USAGE {self.prog} needs a COMMAND, one of:")
            width = max(map(len, listed)) + 2
            for name, helptext in listed.items():
                err(f"  {name:<{width}}{helptext}")
            err(f"`{_help_of(self)} COMMAND` shows a command's options and examples")
        raise SystemExit(2)

    def _check_value(self, action: argparse.Action, value: Any) -> None:
        """argparse's check of a choice, whose error names the nearest choice ("did you mean")."""
        if action.choices is None or value in action.choices:
            return
        names = [str(choice) for choice in action.choices]
        close = difflib.get_close_matches(str(value), names, n=1, cutoff=0.6)
        guess = f"; did you mean {close[0]!r}?" if close else ""
        if close and isinstance(action, argparse._SubParsersAction):
            listed = f"`{_help_of(self)}` lists them all"
        else:
            listed = f"choose from {', '.join(names)}"
        raise argparse.ArgumentError(action, f"invalid choice: {value!r}{guess} ({listed})")

    def refuse_unrecognized(self, extras: Sequence[str]) -> NoReturn:
        """argparse's unrecognized-arguments error from this command, naming each nearest option."""
        options = [option for action in self._actions for option in action.option_strings]
        guesses = {
            extra: close[0]
            for extra in extras
            if extra.startswith("-")
            for close in [difflib.get_close_matches(extra.split("=", 1)[0], options, n=1)]
            if close
        }
        pairs = [option if len(guesses) == 1 else f"{option} for {extra}"
                 for extra, option in guesses.items()]  # fmt: skip
        hint = f"; did you mean {', '.join(pairs)}?" if pairs else ""
        self.error(f"unrecognized arguments: {' '.join(extras)}{hint}")

    def _bare_group(self, message: str) -> dict[str, str] | None:
        """This command's subcommands and help when `message` says COMMAND is missing, else None."""
        required = message.removeprefix("the following arguments are required: ")
        subcommands = _subcommands(self)
        if required == message or subcommands is None:
            return None
        if subcommands.metavar not in required.split(", "):
            return None
        return {
            str(choice.dest): " ".join((choice.help or "").split())
            for choice in subcommands._get_subactions()
        }


def _subcommands(parser: argparse.ArgumentParser) -> argparse._SubParsersAction[Any] | None:
    """The action that picks a subcommand of `parser` (None for a command without any)."""
    return next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)


def _help_of(parser: argparse.ArgumentParser) -> str:
    """`registry help pointers` for the parser of `registry pointers`."""
    return "registry help" + parser.prog.removeprefix("registry")


def add_help(commands: Any) -> None:
    declare(
        commands,
        "help",
        "a command's help: `registry help build` is `registry build --help`",
        "Print the help of a command, as its --help does: its description, options and "
        "examples; without COMMAND, the list of commands (`registry --help`). A command that "
        "does not exist is refused (BAD_USAGE, exit 2) with the nearest one.",
        examples("registry help", "registry help build", "registry help pointers rollback"),
        run_help,
        arg("topic", nargs="*", metavar="COMMAND",
            help="a command, then one of its subcommands (default: the list of commands)"),
        json=None,
        workspace=False,
    )  # fmt: skip


def run_help(args: argparse.Namespace) -> int:
    """The help of `registry TOPIC...`, on stdout; an unknown word is the parser's error."""
    parser = build_parser()
    for word in args.topic:
        subcommands = _subcommands(parser)
        if subcommands is None:
            parser.error(f"{parser.prog} has no subcommand {word!r}; `{_help_of(parser)}` shows "
                         "its help")  # fmt: skip
        try:
            parser._check_value(subcommands, word)
        except argparse.ArgumentError as exc:
            parser.error(str(exc))
        parser = subcommands.choices[word]
    parser.print_help()
    return 0


@functools.cache
def build_parser() -> _Parser:
    """The full argument parser, with examples in every command's --help: built once a process
    (~20 ms; a parse changes nothing in it), for each `main()` of a process that runs several."""
    parser = _Parser(prog="registry", description=DESCRIPTION, epilog=EPILOG, formatter_class=RAW)
    parser.add_argument("--version", action="version", version=f"registry-pipeline {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for add in (_commands.add_init, _adopt.add_adopt, _commands.add_seal, _validate.add_validate,
                _restore.add_restore, _build.add_build, _pointers.add_pointers, _drift.add_drift,
                _delta.add_delta, _append_only.add_check_append_only, _write.add_add_entry,
                _write.add_types, _write.add_deprecate, _runs.add_runs, add_help):  # fmt: skip
        add(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `registry` command; returns the process exit code."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    as_json = "--json" in arguments
    _Parser.json_errors = as_json
    parser = build_parser()
    try:
        args, extras = parser.parse_known_args(arguments)
        if extras:
            getattr(args, "command_parser", parser).refuse_unrecognized(extras)
        if args.command is None:
            parser.print_help(sys.stderr)
            return 2
        _sync(args)
        return int(args.run(args))
    except SystemExit as exc:
        return int(exc.code) if isinstance(exc.code, int) else 2
    except BrokenPipeError:
        sys.stderr.close()
        return 1
    except (Exception, KeyboardInterrupt) as exc:  # the last line of defence: never a traceback
        failure = _failure(exc)
        report(as_json, failure)
        return failure.exit_code
    finally:  # a cache that was no cache file (a FIFO, a link, garbage): said once, set aside
        for workspace, aside in take_set_aside():
            err(f"note: {aside.note(workspace)}")


def _failure(exc: BaseException) -> RegistryError:
    """The error a user is told of: a RegistryError as raised; interrupt, OSError, bug as one."""
    if isinstance(exc, RegistryError):
        if exc.code == IO_ERROR:  # wherever it was raised: it says what to do
            exc.message = advised(exc.message)
        return exc
    if isinstance(exc, KeyboardInterrupt):
        return RegistryError.of("INTERRUPTED")
    if isinstance(exc, OSError):  # every write path names its file (`core.errors.naming`)
        return io_error(exc)
    if os.environ.get("REGISTRY_DEBUG"):
        raise exc
    error = f"{type(exc).__name__}: {exc}"
    return RegistryError.of("INTERNAL", error=error, traceback="set REGISTRY_DEBUG=1 for one")


def _sync(args: argparse.Namespace) -> None:
    """Fetch a bucket workspace's remote writes before the command reads its local copy."""
    if not hasattr(args, "workspace") or not getattr(args, "sync", True):
        return
    from registry_pipeline.core.workspace.layout import resolve_workspace
    from registry_pipeline.core.workspace.remote import remote_for

    workspace = resolve_workspace(args.workspace)
    if remote_for(workspace) is None:
        return  # no bucket: the gate and the pointer store are not even imported
    from registry_pipeline.core.gate.gate import sync

    synced = sync(workspace)
    if synced is not None and synced.set_aside is not None:
        err(f"warning: SET_ASIDE {synced.set_aside.advice()}")
    if synced is not None and synced.folders:
        err(f"fetched {len(synced.folders)} run folder(s) from {synced.url}")
