"""The three walks: which of the package's files a reader follows for one command.

A maintainer who wants to know what `registry build`, `registry runs append` of one record or
`registry pointers promote` does reads the code the command runs. This script runs each command
once in this process on a copy of the demo workspace, under a profile hook that sees only the
package's own frames (registry_pipeline/, every thread), and counts:

- files: the package's modules whose functions ran (what a reader opens; module bodies run by
  an import, and what they call, are not counted);
- calls: the distinct calls (caller function -> callee function) from one of the package's files
  into another: each is a reader turning to another file;
- returns: those of the calls that go back into a file the walk had already left (not by
  returning to it): each is a reader opening a file again.

The figures are about the code's shape, not its speed: the hook makes the commands slower.

    python benchmarks/bench_walks.py [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import shutil
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PACKAGE = str(ROOT / "registry_pipeline") + "/"


@dataclass
class Walk:
    """What one command's run went through, in the package's files."""

    command: str
    files: int = 0
    calls: int = 0
    returns: int = 0
    modules: list[str] = field(default_factory=list)


class _Tracer:
    """A profile hook keeping, per thread, the stack of package functions being run (module
    bodies run by an import are not the command's walk: they and all they call are skipped)."""

    def __init__(self) -> None:
        self.stacks: dict[int, list[tuple[str, str]]] = {}
        self.importing: dict[int, int] = {}
        self.seen: dict[str, None] = {}
        self.left: set[str] = set()
        self.calls: set[tuple[str, str, str, str]] = set()
        self.returns: set[tuple[str, str, str, str]] = set()

    def __call__(self, frame: FrameType, event: str, _arg: Any) -> None:
        if event not in ("call", "return"):
            return
        code = frame.f_code
        thread = threading.get_ident()
        if code.co_name == "<module>":
            step = 1 if event == "call" else -1
            self.importing[thread] = self.importing.get(thread, 0) + step
            return
        name = code.co_filename
        if self.importing.get(thread, 0) > 0 or not name.startswith(PACKAGE):
            return
        stack = self.stacks.setdefault(thread, [])
        here = stack[-1] if stack else None
        if event == "call":
            stack.append((name, code.co_name))
            self.seen.setdefault(name, None)
            if here is not None and here[0] != name:
                edge = (*here, name, code.co_name)
                self.calls.add(edge)
                self.left.add(here[0])
                if name in self.left:
                    self.returns.add(edge)
        elif stack:
            stack.pop()
            back = stack[-1] if stack else None
            if back is not None and back[0] != name:
                self.left.add(name)


def walk(command: str, run: Callable[[], None]) -> Walk:
    """Run `run` under the hook; the walk it took."""
    tracer = _Tracer()
    threading.setprofile(tracer)
    sys.setprofile(tracer)
    try:
        run()
    finally:
        sys.setprofile(None)
        threading.setprofile(None)  # type: ignore[arg-type]
    modules = sorted(path.removeprefix(str(ROOT) + "/") for path in tracer.seen)
    return Walk(command, len(modules), len(tracer.calls), len(tracer.returns), modules)


def registry(*args: str) -> str:
    """`registry ARGS` in this process; its output (a failure stops the benchmark)."""
    from registry_pipeline.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    if code != 0:
        said = out.getvalue() + err.getvalue()
        raise SystemExit(f"registry {' '.join(args)} failed ({code}): {said}")
    return out.getvalue()


def demo(parent: Path) -> Path:
    """A copy of the demo workspace (catalog, sources, schemas), initialised, with no runs."""
    root = parent / "demo"
    root.mkdir()
    shutil.copytree(ROOT / "registries", root / "registries")
    shutil.copytree(ROOT / "schemas", root / "schemas")
    registry("init", str(root))
    return root


def one_record(root: Path) -> str:
    """A new record like the demo's last one, under a run id of its own."""
    log = root / "registries" / "run_index" / "RUN_INDEX_v0_1.jsonl"
    record = json.loads(log.read_bytes().splitlines()[-1])
    old = record["run_id"]
    record = json.loads(json.dumps(record).replace(old, "RUN-20260902-0900-W4LK"))
    record["created_utc"] = "2026-09-02T09:00Z"
    return json.dumps(record)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", action="store_true", help="print the walks as JSON")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-walks-") as temp:
        root = demo(Path(temp))
        ws = ("--workspace", str(root))
        build = ("build", "--in-process", *ws, "--json")
        walks = [walk("registry build --in-process", lambda: registry(*build))]
        record = one_record(root)
        walks.append(
            walk(
                "registry runs append (one record)",
                lambda: registry("runs", "append", "--record-json", record, *ws, "--json"),
            )
        )
        source = root / "registries" / "expected_versions" / "EXPECTED_VERSIONS_v0_1.json"
        seal = ("seal", str(source), "--registry-id", "expected_versions", *ws, "--json")
        sealed = json.loads(registry(*seal))
        run_id = sealed["run_id"]
        walks.append(
            walk(
                "registry pointers promote",
                lambda: registry("pointers", "promote", "expected_versions", run_id, *ws, "--json"),
            )
        )
    if args.json:
        print(json.dumps([asdict(each) for each in walks], indent=2))
    else:
        print(f"{'command':<36} {'files':>6} {'calls':>6} {'returns':>8}")
        for each in walks:
            print(f"{each.command:<36} {each.files:>6} {each.calls:>6} {each.returns:>8}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
