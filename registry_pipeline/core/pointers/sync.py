"""Bring a workspace's local copy up to date with its bucket before a command reads it."""

from __future__ import annotations

from dataclasses import dataclass

from registry_pipeline.core.pointers.store import PointerStore
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline.core.workspace.remote import remote_for


@dataclass(frozen=True)
class Synced:
    """What one sync fetched: the bucket's URL and the run folders new to this machine."""

    url: str
    folders: tuple[str, ...]


def sync(workspace: Workspace) -> Synced | None:
    """Fetch the bucket's journal and active pointers (a change interrupted between its entry
    and the head completed), then every run folder this machine lacks; None on a workspace
    without a bucket. Pointers first: a folder is published before any pointer names it, so
    every folder the pointers name is listed after them."""
    remote = remote_for(workspace)
    if remote is None or not workspace.runs_dir.is_dir():
        return None
    PointerStore(workspace).pull()
    workspace.require_writable(workspace.runs_dir)  # UNSAFE_PATH: never fetched through a link
    return Synced(remote.url, tuple(remote.pull_folders(workspace.runs_dir)))
