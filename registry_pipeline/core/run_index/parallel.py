"""The records of an append checked alone (`checked`) in worker processes when there are many:
parsing, the schema and each record's own rules take most of a bulk append's time, and each
block of lines can be checked without the others.

The results come back in input order, a few blocks per worker in flight (memory stays flat), and
are taken in that order (`intake`), so what an append finds and says is what checking the blocks
one after the other here finds. Workers are forked (Linux) after the schema is compiled, and only
for an input of several blocks whose records the rules judge one by one (`RecordRules.heads`;
otherwise each record would have to come back whole). Elsewhere, and for small inputs, the blocks
are checked here.
"""

from __future__ import annotations

import itertools
import os
import sys
from collections import deque
from collections.abc import Generator, Iterable, Iterator
from concurrent.futures import Future

from registry_pipeline.core.json_strict import gc_paused
from registry_pipeline.core.run_index import columns
from registry_pipeline.core.run_index.checked import Checked, Context
from registry_pipeline.core.run_index.columns import check_batch, check_block
from registry_pipeline.core.run_index.given import Batch

Item = Batch | tuple[int, bytes]
"""Records given: a parsed batch, or (first line, whole lines) of JSONL to parse."""


class Failure:
    """Reading the records given failed here (e.g. a line too long): raised in its turn, after
    what comes before it."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


MAX_JOBS = 8
"""Worker processes at most."""
IN_FLIGHT = 3
"""Blocks per worker submitted ahead of the one taken."""

_CONTEXT: Context | None = None
"""What the workers check with, set before they are forked (and inherited)."""


def jobs() -> int:
    """Worker processes for a bulk append: one per core this process may use (1: none)."""
    if not sys.platform.startswith("linux"):
        return 1
    return max(1, min(MAX_JOBS, len(os.sched_getaffinity(0))))


def checked(
    context: Context, items: Iterable[Item], origin: str, workers: int
) -> Generator[tuple[Checked, bytes | None], None, None]:
    """(what checking it alone found, its block of lines or None) of each item, in order."""
    stream = _deferred(items)
    ahead = list(itertools.islice(stream, 2))
    many = len(ahead) == 2 and all(isinstance(item, tuple) for item in ahead)
    rest = itertools.chain(ahead, stream)
    if workers > 1 and many and context.heads is not None:
        yield from _in_workers(context, rest, origin, workers)
        return
    for item in rest:
        yield _check(context, item, origin)


def _deferred(items: Iterable[Item]) -> Iterator[Item | Failure]:
    """`items`, then a Failure when reading them fails."""
    try:
        yield from items
    except Exception as exc:  # a RegistryError, or an OSError reading the input
        yield Failure(exc)


def _check(context: Context, item: Item | Failure, origin: str) -> tuple[Checked, bytes | None]:
    if isinstance(item, Failure):
        raise item.error
    if isinstance(item, Batch):
        return check_batch(context, item), None
    first, block = item
    return check_block(context, first, block, origin), block


def _in_workers(
    context: Context, items: Iterator[Item | Failure], origin: str, workers: int
) -> Iterator[tuple[Checked, bytes | None]]:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    global _CONTEXT
    columns.prepare(context)  # compiled and imported once, inherited by every worker
    pending: deque[tuple[Future[Checked] | Failure, bytes | None]] = deque()
    outer, _CONTEXT = _CONTEXT, context
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork"))
    try:
        for item in items:
            if isinstance(item, Failure):
                pending.append((item, None))
            elif isinstance(item, Batch):  # never after the first block; kept general
                pending.append((pool.submit(_worker_batch, item), None))
            else:
                first, block = item
                pending.append((pool.submit(_worker_block, first, block, origin), block))
            if len(pending) >= workers * IN_FLIGHT:
                yield _taken(pending)
        while pending:
            yield _taken(pending)
    finally:  # taken to the end, or stopped at a refusal: the blocks still queued are dropped
        pool.shutdown(wait=True, cancel_futures=True)
        _CONTEXT = outer


def _taken(
    pending: deque[tuple[Future[Checked] | Failure, bytes | None]],
) -> tuple[Checked, bytes | None]:
    """The first result pending (a reading failure raised in its turn)."""
    future, lines = pending.popleft()
    if isinstance(future, Failure):
        raise future.error
    return future.result(), lines


def _worker_block(first: int, block: bytes, origin: str) -> Checked:
    assert _CONTEXT is not None
    with gc_paused():  # a block parses into many thousand acyclic objects
        return check_block(_CONTEXT, first, block, origin)


def _worker_batch(batch: Batch) -> Checked:
    assert _CONTEXT is not None
    with gc_paused():
        return check_batch(_CONTEXT, batch)
