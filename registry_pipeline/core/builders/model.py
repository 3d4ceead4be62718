"""What a builder is: the sealed inputs it reads, the files it returns, how it asks to be sealed."""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from markupsafe import Markup

from registry_pipeline.core.json_strict import loads_strict
from registry_pipeline.core.seal.envelope import SealedRef
from registry_pipeline.core.workspace.catalog import RegistrySpec
from registry_pipeline.core.workspace.layout import RUNS_RELPATH, Workspace
from registry_pipeline.core.workspace.snapshots import Snapshot

if TYPE_CHECKING:
    import jinja2


@dataclass(frozen=True)
class BuildInputs:
    """Everything a builder may read: sealed input snapshots, never live files."""

    workspace: Workspace
    spec: RegistrySpec
    inputs: Mapping[str, Snapshot]
    """Upstream registry id -> the sealed snapshot this build reads."""
    previous: Snapshot | None = None
    """This registry's own newest valid snapshot (for incremental builders)."""
    full_audit: bool = False


@dataclass(frozen=True)
class BuildResult:
    """Artifact files (relpath -> bytes) and how many records the primary artifact holds."""

    files: Mapping[str, bytes]
    record_count: int
    summary: Mapping[str, object] = field(default_factory=dict)
    seal: SealPlan | None = None
    """How to seal, for builders whose records name their own run (the delta log)."""


@dataclass(frozen=True)
class SealPlan:
    """A build's run folder as its builder decides: a fixed run id, or a snapshot to reuse."""

    run_id: str
    """The run id the new folder must get (the records already name it)."""
    moment: datetime
    """The store's clock for this seal: the run id and created_utc derive from it."""
    reuse: Snapshot | None = None
    """An existing snapshot with exactly these files: reuse it, seal nothing."""
    extra_inputs: tuple[SealedRef, ...] = ()
    """More run.json inputs (the delta log names its previous snapshot)."""


Builder = Callable[[BuildInputs], BuildResult]


def read_json(snapshot: Snapshot, relpath: str) -> Any:
    """A sealed JSON artifact of an input snapshot, read strictly."""
    return loads_strict(snapshot.artifact(relpath).read_bytes())


def artifact_source(snapshot: Snapshot, relpath: str) -> str:
    """Workspace-relative path of an artifact of a sealed snapshot, as the seed records inputs."""
    return f"{RUNS_RELPATH}/{snapshot.run_id}/{relpath}"


def _md_cell(text: str) -> str:
    """Text safe in Markdown: one line, HTML escaped (renderers pass raw HTML), pipes escaped."""
    flat = html.escape(" ".join(text.split()), quote=False)
    return flat.replace("\\", "\\\\").replace("|", "\\|").replace("`", "\\`")


def _num(value: float) -> str:
    """A coordinate: at most one decimal, never `-0`."""
    text = f"{value:.1f}".removesuffix(".0")
    return "0" if text == "-0" else text


@cache
def templates() -> jinja2.Environment:
    """The report templates (HTML autoescaped) and their filters, loaded on first use (slow)."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("registry_pipeline.core.builders", "templates"),
        autoescape=jinja2.select_autoescape(["html.j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        extensions=["jinja2.ext.do"],
    )
    env.filters.update(
        md=_md_cell,
        h=lambda text: Markup(html.escape(text)),
        t=lambda text: html.escape(text, quote=False),
        a=html.escape,
        num=_num,
    )
    return env
