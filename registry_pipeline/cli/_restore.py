"""`registry restore-line-endings FOLDER DEST`: a verified copy, converted line endings undone."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from registry_pipeline.cli._args import command, common
from registry_pipeline.cli._output import answer


def add_restore(commands: Any) -> None:
    parser = command(
        commands,
        "restore-line-endings",
        "write a verified copy of a run folder whose line endings git converted",
        "A file that matches its sealed SHA-256 once its line endings are converted\n"
        "back (LF to CRLF or CRLF to LF) is restored to the sealed bytes. The copy is written to\n"
        "DEST/<folder name>, never over FOLDER, and only when every listed file is intact or\n"
        "restored and the copy verifies (the seal contract, or its plain sha256sum list).\n"
        "MANIFEST.sha256 gets its LF line endings back too. Only regular files are read:\n"
        "a symlink, FIFO or device anywhere in FOLDER is refused.\n"
        "Exit 0 written, 1 a file cannot be restored or the copy does not verify (nothing\n"
        "written), 2 bad usage, nothing written: DEST/<name> exists (DEST_EXISTS), DEST is\n"
        "FOLDER or inside it (DEST_INSIDE_FOLDER) or is not a folder (DEST_NOT_A_FOLDER),\n"
        "FOLDER has no MANIFEST.sha256 (NOT_A_RUN_FOLDER) or a malformed one\n"
        "(MALFORMED_MANIFEST), or holds a symlink or special file (NOT_A_REGULAR_FILE).",
        "examples:\n"
        "  registry restore-line-endings reports/path1/evidence/runs/p1_20260204_001 /tmp/fixed\n"
        "  registry restore-line-endings .codex/RUNS/2026-02-05__000138__run_registry_build "
        "/tmp/restored --json\n\nThen compare or re-commit the restored copy with line-ending "
        "conversion off for it (`-text` in .gitattributes).",
    )
    parser.add_argument("folder", metavar="FOLDER", help="the damaged run folder (read only)")
    parser.add_argument("dest", metavar="DEST", help="folder to write the restored copy into")
    common(parser, run_restore, workspace=False)


def run_restore(args: argparse.Namespace) -> int:
    from registry_pipeline.core.seal.restore import restore_line_endings

    restored = restore_line_endings(Path(args.folder), Path(args.dest))
    return answer(args.json, restored.as_json(), [
        f"wrote {restored.folder} (verified)",
        *(f"  restored  {relpath}  ({how})" for relpath, how in sorted(restored.restored.items())),
        f"  {len(restored.kept)} file(s) were intact and copied as they are",
    ])  # fmt: skip
