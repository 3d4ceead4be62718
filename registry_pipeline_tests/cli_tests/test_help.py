"""Every command's --help has a description, examples of the command, help on every argument."""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from registry_pipeline.cli.main import build_parser
from registry_pipeline_tests._helpers import Run

CommandPath = tuple[str, ...]
"""A command path: the words after `registry` (() is `registry` itself)."""

REGISTRY = Path(sys.executable).parent / "registry"
"""The installed `registry` console script, beside this interpreter."""


def _commands(
    parser: argparse.ArgumentParser, path: CommandPath = ()
) -> Iterator[tuple[CommandPath, argparse.ArgumentParser]]:
    """Every parser of the tree with its command path, depth first."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _commands(child, (*path, name))


COMMANDS = dict(_commands(build_parser()))


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
def test_help_prints_examples_and_exits_0(cli: Run, path: CommandPath) -> None:
    code, out, _err = cli(*path, "--help")
    assert code == 0
    assert out.startswith("usage: " + " ".join(("registry", *path))) and "examples:" in out


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
