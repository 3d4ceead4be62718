"""Bring a workspace's local copy up to date with its bucket before a command reads it."""

from __future__ import annotations

from dataclasses import dataclass

from registry_pipeline.core.gate.gate import admission
from registry_pipeline.core.pointers.bucket import SetAside
from registry_pipeline.core.pointers.store import PointerStore
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.core.workspace.remote import remote_for


@dataclass(frozen=True)
class Synced:
    """What one sync did: the bucket's URL, the run folders new to this machine, and the local
    journal kept aside because it held records the bucket does not."""

    url: str
    folders: tuple[str, ...]
    set_aside: SetAside | None = None


def sync(workspace: Workspace) -> Synced | None:
    """Fetch the bucket's journal and active pointers, verified before anything of them is
    applied (a change interrupted between its entry and the head completed here only when its
    target passes the gate), then every run folder this machine lacks; None on a workspace
    without a bucket. Nothing is written to the bucket. Pointers first: a folder is published
    before any pointer names it, so every folder the pointers name is listed after them."""
    remote = remote_for(workspace)
    if remote is None or not workspace.runs_dir.is_dir():
        return None
    store = PointerStore(workspace)
    store.pull(admit=admission)
    workspace.require_writable(workspace.runs_dir)  # UNSAFE_PATH: never fetched through a link
    return Synced(remote.url, tuple(remote.pull_folders(workspace.runs_dir)), store.set_aside)


def share(workspace: Workspace) -> Synced | None:
    """`registry init` in a workspace with a bucket: an empty bucket takes the workspace's run
    folders, journal and pointer file (a workspace moving from a disk keeps its history; a
    bucket whose history vanished is refused, POINTERS_MISSING), then the sync of any command.
    None without a bucket."""
    if remote_for(workspace) is None or not workspace.runs_dir.is_dir():
        return None
    store = PointerStore(workspace)
    store.require_safe_paths()
    with store.locked(
        admit=admission
    ):  # a change that changes nothing: what an empty bucket takes, it takes
        pass
    return sync(workspace)
