"""A CLI that helps (issue 41): every command's --help (a description, examples of the command,
help on every argument), did you mean, `registry help`, bare groups, nearest run ids."""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from registry_pipeline.cli.main import build_parser
from registry_pipeline.core.seal.envelope import RunSpec
from registry_pipeline.core.seal.run_store import RunStore, seal_files
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline_tests._helpers import Run

CommandPath = tuple[str, ...]
"""A command path: the words after `registry` (() is `registry` itself)."""

REGISTRY = Path(sys.executable).parent / "registry"
"""The installed `registry` console script, beside this interpreter."""


def _error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("error:")]


# -- every command's --help -----------------------------------------------------------------


def _subcommands(
    parser: argparse.ArgumentParser,
) -> argparse._SubParsersAction[argparse.ArgumentParser] | None:
    """The parser's COMMAND placeholder, if it has subcommands."""
    found = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return found[0] if found else None


def _commands(
    parser: argparse.ArgumentParser, path: CommandPath = ()
) -> Iterator[tuple[CommandPath, argparse.ArgumentParser]]:
    """Every parser of the tree with its command path, depth first."""
    yield path, parser
    if (action := _subcommands(parser)) is not None:
        for name, child in action.choices.items():
            yield from _commands(child, (*path, name))


COMMANDS = dict(_commands(build_parser()))
GROUPS = [
    (path, {choice.dest: choice.help or "" for choice in action._get_subactions()})
    for path, parser in COMMANDS.items()
    if path and (action := _subcommands(parser)) is not None
]
"""Every command that has subcommands, with each one's help text."""


def _examples(epilog: str) -> list[str]:
    """The example lines under `examples:`, up to a blank line, continuation lines folded in."""
    lines = epilog.splitlines()
    start = lines.index("examples:") + 1
    examples: list[str] = []
    for line in lines[start:]:
        if not line.strip():
            break
        if examples and examples[-1].endswith("\\"):
            examples[-1] = examples[-1][:-1].rstrip() + " " + line.strip()
        else:
            examples.append(line.strip())
    return examples


def _problems(path: CommandPath, parser: argparse.ArgumentParser) -> list[str]:
    """What the --help of `registry PATH` lacks, each line naming the command."""
    name = " ".join(("registry", *path))
    problems: list[str] = []
    if not (parser.description or "").strip():
        problems.append(f"{name}: no description")
    epilog = parser.epilog or ""
    if "examples:" not in epilog.splitlines():
        problems.append(f"{name}: no 'examples:' in the epilog")
    else:
        examples = _examples(epilog)
        if not examples:
            problems.append(f"{name}: no example under 'examples:'")
        problems.extend(
            f"{name}: example does not start with {name!r}: {example}"
            for example in examples
            if example != name and not example.startswith(name + " ")
        )
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        if isinstance(action, argparse._SubParsersAction):
            # the COMMAND placeholder itself; each command is listed with its own help
            problems.extend(
                f"{name} {choice.dest}: no help in the command list"
                for choice in action._get_subactions()
                if not (choice.help or "").strip()
            )
            continue
        if not (action.help or "").strip():
            label = "/".join(action.option_strings) or action.metavar or action.dest
            problems.append(f"{name} {label}: no help")
    return problems


def test_every_command_has_a_description_examples_and_argument_help() -> None:
    problems = [problem for path, parser in COMMANDS.items() for problem in _problems(path, parser)]
    assert not problems, "\n".join(problems)


def test_the_walk_reaches_nested_commands() -> None:
    """The tree walk itself: a command that stopped being found would pass unseen."""
    expected = {
        ("init",), ("seal",), ("validate",), ("build",), ("drift",), ("drift", "backfill"),
        ("delta", "show"), ("delta", "verify"), ("pointers", "show"), ("pointers", "history"),
        ("pointers", "promote"), ("pointers", "rollback"), ("pointers", "hold"),
        ("pointers", "release"), ("pointers", "accept"), ("pointers", "verify"),
        ("pointers", "as-of"),
    }  # fmt: skip
    assert expected <= set(COMMANDS)
    assert {("pointers",), ("runs",), ("drift",), ("delta",)} <= {path for path, _ in GROUPS}


def test_examples_are_read_with_their_continuation_lines() -> None:
    epilog = "examples:\n  registry a b \\\n      --c d\n  registry a\n\nnot an example"
    assert _examples(epilog) == ["registry a b --c d", "registry a"]
    assert _problems(("a",), argparse.ArgumentParser(description="x", epilog=epilog)) == []


def test_the_problems_of_a_bare_command_are_all_named() -> None:
    parser = argparse.ArgumentParser(epilog="examples:\n  registry other\n")
    parser.add_argument("--flag")
    assert _problems(("a",), parser) == [
        "registry a: no description",
        "registry a: example does not start with 'registry a': registry other",
        "registry a --flag: no help",
    ]


@pytest.mark.parametrize("path", sorted(COMMANDS), ids=lambda path: " ".join(path) or "registry")
def test_help_and_help_command_print_the_same_examples_and_exit_0(
    cli: Run, path: CommandPath
) -> None:
    code, out, err = cli(*path, "--help")
    assert code == 0 and err == ""
    assert out.startswith("usage: " + " ".join(("registry", *path))) and "examples:" in out
    assert cli("help", *path) == (0, out, "")


@pytest.mark.parametrize(
    "path", [(), ("pointers", "as-of"), ("delta", "show"), ("drift", "backfill")]
)
def test_the_installed_command_prints_help(path: CommandPath) -> None:
    done = subprocess.run(
        [str(REGISTRY), *path, "--help"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "examples:" in done.stdout and done.stderr == ""


# -- did you mean ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "meant"),
    [
        (("biuld",), "'build'"),
        (("pointers", "promte"), "'promote'"),
        (("pointers", "rolback", "x", "--to", "y"), "'rollback'"),
        (("runs", "lates"), "'latest'"),
        (("build", "--forse"), "--force"),
        (("pointers", "show", "--jsno"), "--json"),
        (("validate", "--all", "--worksapce", "."), "--workspace"),
    ],
)  # fmt: skip
def test_a_typo_gets_a_did_you_mean(cli: Run, args: tuple[str, ...], meant: str) -> None:
    code, out, err = cli(*args)
    assert code == 2 and out == ""
    (line,) = _error_lines(err)  # one clear line, after the usage
    assert line.startswith("error: BAD_USAGE ") and f"did you mean {meant}?" in line


def test_an_unknown_option_is_named_with_its_own_command_s_usage(cli: Run) -> None:
    code, _out, err = cli("build", "--forse")
    assert code == 2 and err.startswith("usage: registry build ")
    assert "--forse" in err


def test_nothing_close_gets_no_guess_but_the_list(cli: Run) -> None:
    code, _out, err = cli("zzzzzz")
    assert code == 2 and "did you mean" not in err
    (line,) = _error_lines(err)
    assert "'zzzzzz'" in line and "build" in line and "pointers" in line


def test_a_did_you_mean_with_json_is_one_json_error(cli: Run) -> None:
    code, out, err = cli("biuld", "--json")
    assert code == 2 and err == ""
    error = json.loads(out)["error"]
    assert error["code"] == "BAD_USAGE" and error["field"] == "COMMAND"
    assert "did you mean 'build'?" in error["message"]
    code, out, err = cli("build", "--forse", "--json")
    assert code == 2 and err == ""
    assert "did you mean --force?" in json.loads(out)["error"]["message"]


# -- registry help ---------------------------------------------------------------------------


def test_help_alone_lists_the_commands(cli: Run) -> None:
    code, out, err = cli("help")
    assert code == 0 and err == ""
    assert out == cli("--help")[1]
    assert "pointers" in out and "build" in out


@pytest.mark.parametrize(("path", "meant"), [(("biuld",), "'build'"),
                                             (("pointers", "promte"), "'promote'")])  # fmt: skip
def test_help_of_an_unknown_command_gets_a_did_you_mean(
    cli: Run, path: tuple[str, ...], meant: str
) -> None:
    code, out, err = cli("help", *path)
    assert code == 2 and out == ""
    (line,) = _error_lines(err)
    assert "BAD_USAGE" in line and f"did you mean {meant}?" in line


# -- a bare group ----------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "helps"), GROUPS, ids=[" ".join(path) for path, _ in GROUPS])
def test_a_bare_group_lists_its_subcommands(
    cli: Run, path: tuple[str, ...], helps: dict[str, str]
) -> None:
    code, out, err = cli(*path)
    assert code == 2 and out == ""
    assert "BAD_USAGE" in err and "required: COMMAND" not in err
    lines = err.splitlines()
    for name, helptext in helps.items():
        first_words = " ".join(helptext.split()[:4])
        assert any(line.split()[:1] == [name] and first_words in line for line in lines), (
            f"{name} ({first_words}) is not listed:\n{err}"
        )


def test_a_bare_group_with_json_names_its_subcommands(cli: Run) -> None:
    code, out, err = cli("pointers", "--json")
    assert code == 2 and err == ""
    error = json.loads(out)["error"]
    assert error["code"] == "BAD_USAGE" and error["field"] == "COMMAND"
    assert "promote" in error["message"] and "rollback" in error["message"]


# -- --workspace -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [("pointers", "show"), ("build",), ("types",), ("validate", "--all"), ("delta", "show"),
     ("runs", "failed")],
)  # fmt: skip
def test_a_workspace_option_naming_nothing_says_so(
    cli: Run, tmp_path: Path, args: tuple[str, ...]
) -> None:
    typo = tmp_path / "wrokspace"
    code, out, err = cli(*args, "--workspace", str(typo))
    assert code == 2 and out == ""
    (line,) = _error_lines(err)
    assert line.startswith(f"error: NOT_A_WORKSPACE {typo}:")
    assert "does not exist" in line and "--workspace" in line
    assert "pass --workspace" not in line and f"registry init {typo}" not in line


def test_the_environment_variable_naming_nothing_is_named(
    cli: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    typo = tmp_path / "wrokspace"
    monkeypatch.setenv("REGISTRY_WORKSPACE", str(typo))
    code, _out, err = cli("pointers", "show")
    assert code == 2
    (line,) = _error_lines(err)
    assert "NOT_A_WORKSPACE" in line and "does not exist" in line and "REGISTRY_WORKSPACE" in line
    assert "pass --workspace" not in line and f"registry init {typo}" not in line


def test_a_workspace_typo_next_to_a_workspace_gets_a_did_you_mean(
    cli: Run, workspace: Workspace
) -> None:
    typo = workspace.root.with_name("wss")
    code, _out, err = cli("pointers", "show", "--workspace", str(typo))
    assert code == 2 and f"did you mean {workspace.root}?" in err


def test_a_named_folder_that_is_no_workspace_is_told_to_init_not_to_pass_the_option(
    cli: Run, tmp_path: Path
) -> None:
    folder = tmp_path / "plain"
    folder.mkdir()
    code, _out, err = cli("pointers", "show", "--workspace", str(folder))
    assert code == 2
    (line,) = _error_lines(err)
    assert "NOT_A_WORKSPACE" in line and "--workspace" in line
    assert f"registry init {folder}" in line and "pass --workspace" not in line
    assert "any parent folder" not in line  # a named folder's parents are not searched


def test_without_a_workspace_anywhere_the_option_is_still_suggested(
    cli: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _out, err = cli("pointers", "show")
    assert code == 2 and "NOT_A_WORKSPACE" in err and "--workspace" in err


# -- unknown run ids -------------------------------------------------------------------------


def _snapshots(workspace: Workspace, registry_id: str, count: int) -> list[str]:
    store = RunStore(workspace)
    return [
        seal_files(store, RunSpec(registry_id=registry_id),
                   {f"{registry_id.upper()}.json": b'{"n": %d}\n' % n}).run_id
        for n in range(count)
    ]  # fmt: skip


def _pointers(cli: Run, workspace: Workspace, *args: str) -> tuple[int, str, str]:
    return cli("pointers", *args, "--workspace", str(workspace.root))


def _named(line: str) -> list[str]:
    """The words of an error line, in order (a run id is never taken for one it is a prefix of)."""
    return [word for word in re.split(r"[\s,;:()'`?]+", line) if word]


def test_a_rollback_to_an_unknown_run_id_lists_the_nearest_snapshots(
    cli: Run, workspace: Workspace
) -> None:
    first, second = _snapshots(workspace, "alpha", 2)
    _snapshots(workspace, "beta", 1)
    assert _pointers(cli, workspace, "promote", "alpha", first)[0] == 0
    assert _pointers(cli, workspace, "promote", "alpha", second)[0] == 0
    typo = first.replace("alpha", "alhpa")
    code, out, err = _pointers(cli, workspace, "rollback", "alpha", "--to", typo, "--reason", "x")
    assert code == 1 and out == ""
    (line,) = _error_lines(err)
    assert "TARGET_MISSING" in line and typo in line
    assert {first, second} <= set(_named(line)) and not any("beta" in w for w in _named(line))


def test_at_most_five_candidates_nearest_first(cli: Run, workspace: Workspace) -> None:
    runs = _snapshots(workspace, "alpha", 7)
    typo = runs[3] + "x"
    code, _out, err = _pointers(cli, workspace, "promote", "alpha", typo)
    assert code == 1
    (line,) = _error_lines(err)
    named = [word for word in _named(line) if word in runs]
    assert named[0] == runs[3] and 1 < len(named) <= 5


def test_check_of_an_unknown_run_id_lists_the_nearest_too(cli: Run, workspace: Workspace) -> None:
    (run,) = _snapshots(workspace, "alpha", 1)
    code, _out, err = _pointers(cli, workspace, "check", "alpha", run[:-1])
    assert code == 1 and "TARGET_MISSING" in err and run in _named(err)


def test_an_unknown_run_id_of_a_registry_without_snapshots_says_so(
    cli: Run, workspace: Workspace
) -> None:
    (other,) = _snapshots(workspace, "beta", 1)
    code, _out, err = _pointers(cli, workspace, "promote", "alpha", "2026-01-01__000000__alpha")
    assert code == 1 and "TARGET_MISSING" in err and "no snapshot" in err
    assert other not in _named(err)


def test_a_run_id_close_to_none_is_answered_with_the_newest(cli: Run, workspace: Workspace) -> None:
    runs = _snapshots(workspace, "alpha", 2)
    code, _out, err = _pointers(cli, workspace, "promote", "alpha", "nonsense")
    assert code == 1 and "TARGET_MISSING" in err and "newest" in err
    assert [word for word in _named(err) if word in runs] == runs[::-1]


def test_the_candidates_are_in_the_json_error(cli: Run, workspace: Workspace) -> None:
    (run,) = _snapshots(workspace, "alpha", 1)
    code, out, _err = _pointers(cli, workspace, "promote", "alpha", run + "x", "--json")
    assert code == 1
    error = json.loads(out)["error"]
    assert error["code"] == "TARGET_MISSING" and run in _named(error["message"])


def test_the_parser_is_built_once_and_keeps_nothing_of_a_parse() -> None:
    """Each `main()` of a process (the tests' in-process commands) reuses one parser, ~20 ms to
    build: every example of every --help, parsed in turn by it backwards, reads as a new parser
    reads it forwards (what one parse left behind would change what another reads)."""
    import shlex

    assert build_parser() is build_parser()
    examples = [
        argv
        for parser in COMMANDS.values()
        for example in _examples(parser.epilog or "examples:\n")
        if example.startswith("registry ")
        for argv in [shlex.split(example.split("   ")[0].split(" #")[0])[1:]]
        if not {"--help", "-h"} & set(argv)
    ]
    assert len(examples) > 50
    fresh = build_parser.__wrapped__()
    forwards = [_parsed(fresh, argv) for argv in examples]
    backwards = [_parsed(build_parser(), argv) for argv in reversed(examples)]
    assert backwards[::-1] == forwards


def _parsed(parser: argparse.ArgumentParser, argv: list[str]) -> tuple[dict[str, Any], list[str]]:
    """What `parser` reads of `argv`, but the parser objects it names."""
    args, extras = parser.parse_known_args(argv)
    values = {k: v for k, v in vars(args).items() if not isinstance(v, argparse.ArgumentParser)}
    return values, extras
