"""Readers looping on the pointer file while a writer process promotes never see a torn state.

Reader processes read the pointer file without any lock (as every reader does), parse it strictly
against its schema and check that the named folder validates with the pointer's root (a file
written half, as an in-place rewrite leaves it, is caught by that read).
"""

from __future__ import annotations

import itertools
import json
import traceback
from collections.abc import Callable
from multiprocessing.synchronize import Barrier, Event
from pathlib import Path
from typing import Any

import pytest

from registry_pipeline.core.errors import UsageError
from registry_pipeline.core.gate.gate import admission
from registry_pipeline.core.pointers.pointer_file import parse_pointer_file
from registry_pipeline.core.pointers.store import PointerStore
from registry_pipeline.core.seal.run_store import SealedRun
from registry_pipeline.core.seal.validate import inspect_run_folder
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline_tests.core_tests.pointers._processes import forked, sealed_snapshots

READERS = 3
PROMOTIONS = 150
REGISTRY = "alpha"
RELPATH = "ALPHA.json"
ACTOR = {"kind": "test", "id": "writer"}
WAIT_SECONDS = 120.0


@pytest.fixture
def sealed(tmp_path: Path) -> tuple[Workspace, list[str]]:
    """A workspace with PROMOTIONS + 1 snapshots of alpha (oldest first), the first one active."""
    workspace, run_ids = sealed_snapshots(tmp_path / "ws", PROMOTIONS + 1)
    PointerStore(workspace).promote(
        REGISTRY, run_ids[0], relpath=RELPATH, reason="", actor=ACTOR, admit=admission
    )
    return workspace, run_ids


# -- processes -----------------------------------------------------------------------------------


def _reader(root: str, ready: Barrier, done: Event, out: str) -> None:
    """Loop until `done`: read, parse, validate the target; counts and failures to `out`."""
    try:
        pstore = PointerStore(Workspace(Path(root)))
        checked: dict[tuple[str | None, str | None], bool] = {}
        reads, failures, seen = 0, [], [""]
        ready.wait(WAIT_SECONDS)
        while True:
            finished = done.is_set()  # one more read after the writer is done
            reads += 1
            problem = _read_once(pstore, checked, seen)
            if problem is not None:
                failures.append(problem)
            if finished:
                break
        result: dict[str, Any] = {"reads": reads, "failures": failures[:20],
                                  "failure_count": len(failures), "seen": seen[1:]}  # fmt: skip
    except BaseException:
        ready.abort()
        result = {"error": traceback.format_exc()}
    Path(out).write_text(json.dumps(result))


def _read_once(
    pstore: PointerStore, checked: dict[tuple[str | None, str | None], bool], seen: list[str]
) -> str | None:
    """One read as a reader does it; a description of what was wrong, or None."""
    data = pstore.pointers_path.read_bytes()
    try:
        pointers = parse_pointer_file(data, pstore.pointers_path, pstore.schemas)
    except UsageError as exc:  # POINTERS_INVALID, its only refusal
        return f"{exc.message} ({len(data)} bytes)"
    ref = pointers.active(REGISTRY)
    if ref is None or ref.run_id is None:
        return "no active snapshot"
    if ref.run_id < seen[-1]:
        return f"went back from {seen[-1]} to {ref.run_id}"
    key = (ref.run_id, ref.manifest_sha256)
    if key not in checked:
        report = inspect_run_folder(pstore.workspace.runs_dir / ref.run_id, schemas=pstore.schemas)
        checked[key] = report.ok and report.root_sha256 == ref.manifest_sha256
        seen.append(ref.run_id)
    return None if checked[key] else f"{ref.run_id} does not validate with its pointer's root"


def _writer(root: str, run_ids: list[str], ready: Barrier, done: Event) -> None:
    """Promote every snapshot after the first, in order, then set `done`."""
    try:
        pstore = PointerStore(Workspace(Path(root)))
        ready.wait(WAIT_SECONDS)
        for previous, run_id in itertools.pairwise(run_ids):
            pstore.promote(REGISTRY, run_id, relpath=RELPATH, reason="", actor=ACTOR,
                           expect=previous, admit=admission)  # fmt: skip
    finally:
        done.set()


def run_readers_during_writes(workspace: Workspace, run_ids: list[str]) -> list[Any]:
    """READERS reader processes and one writer; each reader's result."""
    context = forked(__name__)
    ready = context.Barrier(READERS + 1)
    done = context.Event()
    outs = [workspace.root / f"reader_{n}.json" for n in range(READERS)]
    readers = [
        context.Process(target=_reader, args=(str(workspace.root), ready, done, str(out)))
        for out in outs
    ]
    writer = context.Process(target=_writer, args=(str(workspace.root), run_ids, ready, done))
    for process in [*readers, writer]:
        process.start()
    for process in [writer, *readers]:
        process.join(WAIT_SECONDS)
    for process in [writer, *readers]:
        if process.is_alive():
            process.kill()
            process.join()
    assert writer.exitcode == 0
    results = [json.loads(out.read_text()) for out in outs]
    errors = [result["error"] for result in results if "error" in result]
    assert not errors, errors[0]
    return results


# -- the tests -----------------------------------------------------------------------------------


def test_readers_never_see_partial_json_or_an_invalid_target(
    sealed: tuple[Workspace, list[str]],
) -> None:
    workspace, run_ids = sealed
    results = run_readers_during_writes(workspace, run_ids)

    assert [result["failure_count"] for result in results] == [0] * READERS, [
        result["failures"] for result in results
    ]
    for result in results:
        assert result["reads"] > len(result["seen"]) >= 2
        assert result["seen"][-1] == run_ids[-1]  # the last read follows the last promotion
    distinct = {run_id for result in results for run_id in result["seen"]}
    assert len(distinct) >= 10, sorted(distinct)
    pointers = PointerStore(workspace).read()
    assert pointers.active(REGISTRY) is not None
    assert pointers.active(REGISTRY).run_id == run_ids[-1]  # type: ignore[union-attr]


def test_the_readers_read_catches_a_file_written_half(
    pstore: PointerStore, snap: Callable[..., SealedRun]
) -> None:
    """What an in-place rewrite (truncate, write half, write the rest) shows a reader between
    its writes: the read above says so."""
    pstore.promote(REGISTRY, snap().run_id, relpath=RELPATH, reason="", actor=ACTOR,
                   admit=admission)  # fmt: skip
    whole = pstore.pointers_path.read_bytes()
    pstore.pointers_path.write_bytes(whole[: len(whole) // 2])
    problem = _read_once(pstore, {}, [""])
    assert problem is not None and "not valid JSON" in problem, problem
