"""How every `registry pointers` subcommand opens the gated pointer store and names its user."""

from __future__ import annotations

import argparse
import getpass
import socket
from typing import Any

from registry_pipeline.core.workspace.layout import Workspace, resolve_workspace


def open_store(args: argparse.Namespace) -> tuple[Workspace, Any]:
    from registry_pipeline.core.pointers.store import PointerStore

    workspace = resolve_workspace(args.workspace).require()
    timeout = getattr(args, "lock_timeout", None)  # range-checked when parsed (bounded_float)
    if timeout is None:
        return workspace, PointerStore(workspace)
    return workspace, PointerStore(workspace, lock_timeout=timeout)


def cli_actor() -> dict[str, str]:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return {"kind": "cli_user", "id": f"{user}@{socket.gethostname()}"}
