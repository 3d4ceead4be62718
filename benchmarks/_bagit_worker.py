"""bagit-python in its own process, so that it is timed like our CLI: start, import, work, exit.

    python benchmarks/_bagit_worker.py make --processes 2 DIR
    python benchmarks/_bagit_worker.py validate [--pool N|--processes N] [--fast] [--limit K] DIR

`make` turns DIR into a bag in place (`bagit.make_bag(DIR, processes=N, checksums=["sha256"])`).
`validate` validates every bag under DIR: one `bagit.Bag(path).validate()` after another, or
spread over a `multiprocessing.Pool(N)` with `Pool.map` (`--pool N`), or one bag at a time with
`Bag.validate(processes=N)` (`--processes N`). Exit 1 if any bag is invalid.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys

import bagit


def make(path: str, processes: int) -> int:
    """Bag `path` in place with SHA-256 manifests."""
    bagit.make_bag(path, processes=processes, checksums=["sha256"])
    return 0


def validate_one(job: tuple[str, bool, int]) -> str | None:
    """Validate one bag; None when valid, else the reason."""
    path, fast, processes = job
    try:
        bagit.Bag(path).validate(processes=processes, fast=fast)
    except bagit.BagError as exc:
        return f"{path}: {exc}"
    return None


def validate(parent: str, pool: int, processes: int, fast: bool, limit: int | None) -> int:
    """Validate the bags under `parent` (sorted, at most `limit`); 1 if any is invalid."""
    paths = sorted(os.path.join(parent, name) for name in os.listdir(parent))[:limit]
    jobs = [(path, fast, processes) for path in paths]
    if pool > 1:
        with multiprocessing.get_context("fork").Pool(pool) as workers:
            problems = workers.map(validate_one, jobs)
    else:
        problems = [validate_one(job) for job in jobs]
    bad = [problem for problem in problems if problem]
    for problem in bad[:5]:
        print(problem, file=sys.stderr)
    return 1 if bad else 0


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run `make` or `validate`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["make", "validate"])
    parser.add_argument("path")
    parser.add_argument("--processes", type=int, default=1, help="bagit's own processes option")
    parser.add_argument("--pool", type=int, default=1, help="validate: bags spread over N procs")
    parser.add_argument("--fast", action="store_true", help="validate: Payload-Oxum only")
    parser.add_argument("--limit", type=int, help="validate: only the first K bags")
    args = parser.parse_args(argv)
    if args.action == "make":
        return make(args.path, args.processes)
    return validate(args.path, args.pool, args.processes, args.fast, args.limit)


if __name__ == "__main__":
    sys.exit(main())
