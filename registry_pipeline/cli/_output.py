"""The CLI's only output layer: human lines, JSON lines, errors, and progress on a terminal."""

from __future__ import annotations

import contextlib
import json
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from registry_pipeline.core.errors import RegistryError


def out(line: str = "") -> None:
    """A line of human output on stdout (control characters escaped, see `safe`): one line, so a
    newline in a value it shows (a journaled reason) is escaped too, never a line of its own."""
    print(safe(line).replace("\n", "\\x0a"), flush=False)


def err(line: str) -> None:
    """A line of diagnostics on stderr (control characters escaped, see `safe`)."""
    print(safe(line), file=sys.stderr)


_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def safe(text: str) -> str:
    """Human output that cannot drive a terminal: control characters and surrogates escaped."""
    text = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def json_line(value: Any) -> str:
    """One JSON document as one line of JSON Lines (for scripts), with its newline."""
    return json.dumps(value, ensure_ascii=False, sort_keys=False) + "\n"


def json_doc(value: Any) -> None:
    """One indented JSON document on stdout."""
    sys.stdout.write(json.dumps(value, ensure_ascii=False, indent=2) + "\n")


def answer(as_json: bool, document: Any, lines: Iterable[str] = (), code: int = 0) -> int:
    """A command's answer, `document` with --json, else `lines` on stdout; returns `code`."""
    if as_json:
        json_doc(document)
    else:
        for line in lines:
            out(line)
    return code


def failed(what: str, codes: Sequence[str]) -> str:
    """The verdict line of a failed check: `WHAT FAILED: N problem(s) (each code once)`."""
    return f"{what} FAILED: {len(codes)} problem(s) ({', '.join(dict.fromkeys(codes))})"


def report(as_json: bool, failure: RegistryError) -> None:
    """An error as diagnostics on stderr, or with --json as one problem object on stdout."""
    if as_json:
        json_doc({"error": failure.as_json()})
    else:
        err(failure.diagnostics())


@contextlib.contextmanager
def progress(total: int, label: str, enabled: bool) -> Iterator[Callable[[], None]]:
    """A progress bar on stderr, only on a terminal; yields the function that counts one done."""
    if not (enabled and sys.stderr.isatty()):
        yield lambda: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    columns = (BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    description = "[progress.description]{task.description}"
    with Progress(description, *columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda: bar.advance(task)
