"""Readers looping on the pointer file while a writer process promotes never see a torn state.

Reader processes read the pointer file without any lock (as every reader does), parse it strictly
against its schema and check that the named folder validates with the pointer's root. The
negative control runs the same readers against a writer that rewrites the file in place (truncate,
write half, fsync, write the rest): the readers must catch it.
"""

from __future__ import annotations

import itertools
import json
import os
import traceback
from datetime import UTC, datetime
from multiprocessing.synchronize import Barrier, Event
from pathlib import Path
from typing import Any

import pytest

from registry_pipeline.core.errors import UsageError
from registry_pipeline.core.gate.gate import admission
from registry_pipeline.core.pointers.pointer_file import Pointer, parse_pointer_file
from registry_pipeline.core.pointers.store import PointerStore
from registry_pipeline.core.seal.envelope import SealedRef
from registry_pipeline.core.seal.validate import inspect_run_folder
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.core.workspace.snapshots import read_snapshot
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


def _reader(root: str, ready: Barrier, done: Event, failed: Event, out: str) -> None:
    """Loop until `done`: read, parse, validate the target; counts and failures to `out`
    (`failed` set at the first torn file read, which the in-place writer waits for)."""
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
                if "not valid JSON" in problem:  # the torn file itself
                    failed.set()
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


def _writer(
    kind: str, root: str, run_ids: list[str], ready: Barrier, done: Event, failed: Event
) -> None:
    """Promote every snapshot after the first, in order, then set `done`."""
    try:
        pstore = PointerStore(Workspace(Path(root)))
        ready.wait(WAIT_SECONDS)
        for previous, run_id in itertools.pairwise(run_ids):
            if kind == "store":
                pstore.promote(
                    REGISTRY,
                    run_id,
                    relpath=RELPATH,
                    reason="",
                    actor=ACTOR,
                    expect=previous,
                    admit=admission,
                )
            else:
                _rewrite_in_place(pstore, run_id, failed)
    finally:
        done.set()


def _rewrite_in_place(pstore: PointerStore, run_id: str, failed: Event) -> None:
    """The negative control: the right bytes, written over the old file instead of renamed. Half
    the file stays on disk until a reader has read it torn (or WAIT_SECONDS passed): the torn
    state a reader must catch is shown to the readers however loaded the machine is."""
    root = read_snapshot(pstore.workspace.runs_dir / run_id, REGISTRY).root_sha256
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    pointer = Pointer(REGISTRY, SealedRef(REGISTRY, run_id, root or "", relpath=RELPATH), True, now)
    data = pstore.read().with_pointer(pointer, now).render()
    fd = os.open(pstore.pointers_path, os.O_WRONLY | os.O_TRUNC)
    try:
        half = len(data) // 2
        os.write(fd, data[:half])
        os.fsync(fd)
        failed.wait(WAIT_SECONDS)
        os.write(fd, data[half:])
    finally:
        os.close(fd)


def run_readers_during_writes(kind: str, workspace: Workspace, run_ids: list[str]) -> list[Any]:
    """READERS reader processes and one writer of `kind`; each reader's result."""
    context = forked(__name__)
    ready = context.Barrier(READERS + 1)
    done = context.Event()
    failed = context.Event()
    outs = [workspace.root / f"reader_{kind}_{n}.json" for n in range(READERS)]
    readers = [
        context.Process(target=_reader, args=(str(workspace.root), ready, done, failed, str(out)))
        for out in outs
    ]
    writer = context.Process(
        target=_writer, args=(kind, str(workspace.root), run_ids, ready, done, failed)
    )
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
    results = run_readers_during_writes("store", workspace, run_ids)

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


def test_the_readers_catch_a_writer_that_rewrites_the_file_in_place(
    sealed: tuple[Workspace, list[str]],
) -> None:
    workspace, run_ids = sealed
    results = run_readers_during_writes("in_place", workspace, run_ids)

    assert sum(result["failure_count"] for result in results) > 0
    messages = [failure for result in results for failure in result["failures"]]
    assert any("not valid JSON" in message for message in messages), messages[:5]
