"""(i) `registry check-append-only` on a RolePack of 10,000 roles (20,000 contracts).

The baseline is a generated pack (`scaled_pack(10_000)`); the current file has one role removed
and one contract's surface changed, so the check must find exactly ID_REMOVED, two
CONTRACT_REMOVED and one CONTRACT_SURFACE_DRIFT. Timed as a whole process (`registry` start-up,
reading and parsing both files, the check, the JSON output), median of 5 after one warm-up.
Target: at most 2 s wall here. No peer tool exists for this check (the seed's checkers are a
Node script and a Rust validator in a repository we do not have); the floor beside it is Python
alone reading and parsing the same two files (`json.load`).

    python -m benchmarks.bench_append_only
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import tempfile
from pathlib import Path

if __name__ == "__main__" and str(Path(__file__).resolve().parent.parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a file

from benchmarks._common import PYTHON, REGISTRY, BenchError, run_timed

ROLES = 10_000
RUNS = 5
TARGET_SECONDS = 2.0


def workload(folder: Path) -> tuple[Path, Path]:
    """The baseline and the current pack, written as the demo writes its pack."""
    from registry_pipeline_tests._rolepack import scaled_pack

    baseline = scaled_pack(ROLES)
    current = copy.deepcopy(baseline)
    current["roles"].pop(ROLES // 2)
    current["roles"][7]["extract_contracts"][0]["schema_json"]["required"].append("notes")
    paths = folder / "baseline.json", folder / "current.json"
    for path, document in zip(paths, (baseline, current), strict=True):
        path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return paths


def measure(argv: list[str], expect: int) -> tuple[float, int | None]:
    """Median wall seconds of RUNS timed runs (after a warm-up), and the largest peak RSS."""
    run_timed(argv, expect=expect)
    samples = [run_timed(argv, expect=expect)[0] for _ in range(RUNS)]
    peaks = [s.maxrss_kb for s in samples if s.maxrss_kb is not None]
    return statistics.median(s.seconds for s in samples), max(peaks) if peaks else None


def main() -> int:
    argparse.ArgumentParser(  # no options: --help says what it measures, and runs nothing
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    ).parse_args()
    with tempfile.TemporaryDirectory() as work:
        baseline, current = workload(Path(work))
        out = Path(work) / "out.json"
        check = [REGISTRY, "check-append-only", str(current), "--rules", "rolepack",
                 "--baseline", str(baseline), "--json"]  # fmt: skip
        run_timed(check, expect=1, stdout_path=out)
        codes = sorted(v["code"] for v in json.loads(out.read_text())["violations"])
        wanted = ["CONTRACT_REMOVED", "CONTRACT_REMOVED", "CONTRACT_SURFACE_DRIFT", "ID_REMOVED"]
        if codes != wanted:
            raise BenchError(f"wrong violations: {codes}")
        ours = measure(check, expect=1)
        floor = [PYTHON, "-c", "import json,sys; [json.load(open(p)) for p in sys.argv[1:]]",
                 str(baseline), str(current)]  # fmt: skip
        parse = measure(floor, expect=0)
        size = baseline.stat().st_size + current.stat().st_size
    print(f"RolePack of {ROLES} roles ({2 * ROLES} contracts), two files of {size / 1e6:.1f} MB")
    for label, (seconds, peak) in (("registry check-append-only", ours),
                                   ("floor: python json.load of both", parse)):  # fmt: skip
        mib = f"{peak / 1024:.0f} MiB" if peak else "n/a"
        print(f"  {label:34s} {seconds:6.2f} s wall  peak {mib}")
    verdict = "met" if ours[0] <= TARGET_SECONDS else "MISSED"
    print(f"  target <= {TARGET_SECONDS:.1f} s: {verdict}")
    return 0 if ours[0] <= TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
