"""A workspace: the folder that holds `.codex/RUNS/`, its staging area and its own schemas."""

from __future__ import annotations

import difflib
import errno
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from registry_pipeline.core.errors import RegistryError
from registry_pipeline.core.fs import require_safe_all, write_atomic
from registry_pipeline.core.seal.validate import VERDICTS_RELPATH
from registry_pipeline.core.workspace.input_files import (
    MAX_CATALOG_FILE_BYTES,
    not_regular,
    read_regular_file,
)

RUNS_RELPATH = ".codex/RUNS"
APPEND_ONLY = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
"""How `append_text` opens a file it appends to (a link followed, as `read_existing` reads it)."""
DAGSTER_HOME_RELPATH = ".codex/dagster_home"
"""The workspace's own Dagster instance (`lib/instance.py`)."""
GITATTRIBUTES_COMMENT = (
    "# registry-pipeline: sealed run folders are compared byte for byte; git must never\n"
    "# convert their line endings (a converted file no longer matches its seal).\n"
)


def attributes_line(run_root: str) -> str:
    """The `.gitattributes` line that keeps git from converting files under `run_root`."""
    return f"/{run_root.strip('/')}/** -text"


CODEX_GITIGNORE = (
    "# registry-pipeline: interrupted builds leave staging folders here\n/.staging/\n"
    "# the workspace's local Dagster instance (run history, event log)\n/dagster_home/\n"
    "# locks and caches: this machine's state, never history (untracked, they would make every\n"
    "# build's working tree `dirty`); anchored, so no file of a sealed folder is ever ignored\n"
    "/*.lock\n/cache/\n"
)
"""`.codex/.gitignore`: what registry-pipeline writes under `.codex/` that is no one's history."""

DOTENV_RELPATH = ".env"
"""Read by `dagster dev`/`dg dev`: its DAGSTER_HOME sends them to the workspace's instance."""
DG_MODULE = "registry_defs"
DG_TOML = f"""\
# Dagster's `dg` loads this workspace's registry graph: `dg dev`, `dg check defs`, `dg list defs`
# (`.env` names the workspace's instance, so the UI shows the runs of `registry build`).
directory_type = "project"

[project]
root_module = "{DG_MODULE}"
code_location_target_module = "{DG_MODULE}"
defs_module = "{DG_MODULE}"
code_location_name = "registry_pipeline"

[cli]
# dg is run from the venv registry-pipeline is installed in, usually without activating it
suppress_warnings = ["project_and_activated_venv_mismatch"]
"""
DG_MODULE_TEXT = '''"""This workspace's registry graph for Dagster's `dg` (dg loads a module of the
project folder; the graph is registry-pipeline's, from the catalog of the workspace dg runs in)."""

from registry_pipeline.definitions import defs

__all__ = ["defs"]
'''
"""What `registry init` writes as `dg.toml` and `registry_defs.py`, unless a dg project."""


@dataclass(frozen=True)
class Workspace:
    """Paths of one workspace, rooted at `root`."""

    root: Path
    named_by: str | None = field(default=None, compare=False, repr=False)
    """Where the path came from, for messages: `--workspace`, `REGISTRY_WORKSPACE`, or None."""

    @property
    def runs_dir(self) -> Path:
        """`.codex/RUNS/`: one sealed folder per run, never modified."""
        return self.root / ".codex" / "RUNS"

    @property
    def staging_dir(self) -> Path:
        """Where run folders are built, on RUNS/'s filesystem so publishing is a rename."""
        codex = self.root / ".codex"
        try:
            if os.stat(self.runs_dir).st_dev != os.stat(codex).st_dev:
                return self.runs_dir / ".staging"
        except OSError:
            pass
        return codex / ".staging"

    @property
    def write_places(self) -> tuple[Path, ...]:
        """Where a build writes besides its lock (the pointer file and logs: their writers')."""
        return (
            self.runs_dir,
            self.staging_dir,
            self.root / VERDICTS_RELPATH,
            self.root / DAGSTER_HOME_RELPATH,
        )

    def require_writable(self, *targets: Path) -> Workspace:
        """This workspace once all `targets` are real places inside it (else UNSAFE_PATH)."""
        require_safe_all(self.root, targets)
        return self

    def publish_shared(self, folder: Path, run_id: str) -> bool:
        """Publish a sealed folder to the workspace's bucket, if any; False if `run_id` is taken."""
        from registry_pipeline.core.workspace.remote import remote_for

        remote = remote_for(self)
        return True if remote is None else remote.publish_folder(folder, run_id)

    @property
    def schemas_dir(self) -> Path:
        """The workspace's own schemas for its source registries."""
        return self.root / "schemas"

    def require(self) -> Workspace:
        """Raise a clear error unless this is an initialized workspace."""
        if not self.runs_dir.is_dir():
            if self.root.exists() and not self.root.is_dir():
                raise _not_a_folder(self.root, self.named_by)
            reason = (
                f"not a registry workspace (no {RUNS_RELPATH}/ here or in any parent folder); "
                f"run `registry init {self.root}` to make this folder one, or pass --workspace DIR"
                if self.named_by is None
                else f"the folder {_named_by(self.named_by)} is not a registry workspace (it has "
                f"no {RUNS_RELPATH}/); run `registry init {self.root}` to make it one"
            )
            raise RegistryError.of("NOT_A_WORKSPACE", path=self.root, reason=reason)
        return self


WORKSPACE_ENV = "REGISTRY_WORKSPACE"
"""The environment variable that names the workspace when --workspace is not given."""


def resolve_workspace(arg: str | None) -> Workspace:
    """--workspace, else $REGISTRY_WORKSPACE, else the nearest `.codex/RUNS/` holder, else cwd."""
    if arg:
        return _named(arg, "--workspace")
    raw = os.environ.get(WORKSPACE_ENV)
    if raw:
        return _named(raw, WORKSPACE_ENV)
    here = Path(os.getcwd()).absolute()
    for folder in (here, *here.parents):
        if (folder / RUNS_RELPATH).is_dir():
            return Workspace(folder)
    return Workspace(here)


def _named(raw: str, named_by: str) -> Workspace:
    """The workspace at `raw`, which `named_by` gave: refused unless it is an existing folder."""
    root = Path(raw).absolute()
    if not root.exists():  # a symlink to nothing names nothing either
        hint = (
            "; set it to a workspace folder, or unset it to use the one of the current folder"
            if named_by == WORKSPACE_ENV
            else _nearest_folder(root)
        )
        reason = f"the folder {_named_by(named_by)} does not exist{hint}"
        raise RegistryError.of("NOT_A_WORKSPACE", path=root, reason=reason)
    if not root.is_dir():
        raise _not_a_folder(root, named_by)
    return Workspace(root, named_by)


def _named_by(named_by: str) -> str:
    """`named by --workspace`, `named by the REGISTRY_WORKSPACE environment variable`."""
    if named_by == WORKSPACE_ENV:
        return f"named by the {WORKSPACE_ENV} environment variable"
    return f"named by {named_by}"


def _not_a_folder(root: Path, named_by: str | None) -> RegistryError:
    where = f" ({_named_by(named_by)})" if named_by else ""
    said = f"{root} is a file, not a folder{where}; --workspace and {WORKSPACE_ENV} name a folder"
    return RegistryError.of("NOT_A_WORKSPACE", path=root, reason=said)


def _nearest_folder(root: Path) -> str:
    """`; did you mean /x/demo?` when a folder beside the missing `root` has a close name."""
    try:
        siblings = [entry.name for entry in os.scandir(root.parent) if entry.is_dir()]
    except OSError:
        return ""
    close = difflib.get_close_matches(root.name, siblings, n=1, cutoff=0.6)
    return f"; did you mean {root.parent / close[0]}?" if close else ""


def _codex_gitignore(ignore: Path) -> list[str]:
    """Create `.codex/.gitignore`, or anchor and complete its patterns, keeping other lines."""
    existing = read_existing(ignore)
    if existing is None:
        ignore.write_text(CODEX_GITIGNORE, encoding="utf-8")
        return ["created .codex/.gitignore"]
    ours = [line for line in CODEX_GITIGNORE.splitlines() if not line.startswith("#")]
    lines = existing.decode("utf-8", "replace").splitlines()
    anchored = {pattern.lstrip("/"): pattern for pattern in ours}
    fixed = [anchored.get(line.strip(), line) for line in lines]
    missing = [pattern for pattern in ours if pattern not in {line.strip() for line in fixed}]
    changes = sum(1 for old, new in zip(lines, fixed, strict=True) if old != new)
    if not missing and not changes:
        return []
    ignore.write_text("\n".join([*fixed, *missing]) + "\n", encoding="utf-8")
    said = [f"anchored {changes}"] if changes else []
    said += [f"appended {len(missing)}"] if missing else []
    return [f"{' and '.join(said)} line(s) of .codex/.gitignore (kept the rest)"]


def point_dagster_here(root: Path) -> list[str]:
    """Point `.env`'s DAGSTER_HOME at the workspace's instance, keeping a user's; what it did."""
    dotenv = root / DOTENV_RELPATH
    require_safe_all(root, [dotenv])
    text = (read_existing(dotenv) or b"").decode("utf-8", errors="replace")
    lines = text.splitlines()
    ours = f"DAGSTER_HOME={(root / DAGSTER_HOME_RELPATH).resolve()}"  # sends them to its instance
    found = [n for n, line in enumerate(lines) if line.strip().startswith("DAGSTER_HOME=")]
    if not found:
        lines.append(ours)
        done = f"{'appended' if lines[:-1] else 'wrote'} {ours} to .env (for `dagster dev`)"
    else:
        current = lines[found[-1]].split("=", 1)[1].strip().strip("'\"")
        another_workspace = Path(current).as_posix().endswith("/" + DAGSTER_HOME_RELPATH)
        if current == ours.split("=", 1)[1] or (Path(current).is_dir() and not another_workspace):
            return []  # this workspace's, or a home the user chose
        lines[found[-1]] = ours  # the checkout was moved or copied: it names another's home
        done = f"replaced {current} in .env with this workspace's {ours}"
    data = ("\n".join(lines) + "\n").encode("utf-8")
    write_atomic(dotenv, data, durable=False)  # replaced whole: it may hold secrets
    return [done]


def init_targets(root: Path) -> list[Path]:
    """Every file `init_workspace` may write under `root` (a dg project's own files excepted)."""
    targets = [
        root / RUNS_RELPATH / ".gitkeep",
        root / ".codex" / ".gitignore",
        root / ".gitattributes",
    ]
    if not _is_dg_project(root):
        targets += [root / f"{DG_MODULE}.py", root / "dg.toml"]
    return targets


def init_workspace(root: Path, run_roots: Sequence[str] = (RUNS_RELPATH,)) -> list[str]:
    """Create the workspace skeleton idempotently, targets checked first; what it did."""
    changed: list[str] = []
    try:
        targets = init_targets(root)
        require_safe_all(root, targets)
        if not (root / RUNS_RELPATH).is_dir():
            (root / RUNS_RELPATH).mkdir(parents=True)
            changed.append(f"created {RUNS_RELPATH}/")
        keep = root / RUNS_RELPATH / ".gitkeep"
        if not keep.exists():
            keep.write_bytes(b"")
            changed.append(f"created {RUNS_RELPATH}/.gitkeep")
        changed.extend(_codex_gitignore(root / ".codex" / ".gitignore"))
        changed.extend(_gitattributes(root / ".gitattributes", run_roots))
        if root / "dg.toml" in targets:
            (root / f"{DG_MODULE}.py").write_text(DG_MODULE_TEXT, encoding="utf-8")
            (root / "dg.toml").write_text(DG_TOML, encoding="utf-8")
            changed.append(f"created dg.toml and {DG_MODULE}.py (for `dg dev`)")
    except OSError as exc:
        why, what = exc.strerror or exc, "create the workspace"
        raise RegistryError.of("INIT_FAILED", path=exc.filename or root, what=what,
                               reason=why) from None  # fmt: skip
    return changed


def _gitattributes(attributes: Path, run_roots: Sequence[str]) -> list[str]:
    """Append a `-text` line for each run root `.gitattributes` lacks (creating the file)."""
    # bytes, never decoded: git does not require the file to be UTF-8, neither do we
    existing = read_existing(attributes)
    have = {line.rstrip(b"\r") for line in (existing or b"").split(b"\n")}
    wanted = [attributes_line(run_root) for run_root in run_roots]
    missing = [line for line in wanted if line.encode("utf-8") not in have]
    if not missing:
        return []
    block = GITATTRIBUTES_COMMENT + "".join(f"{line}\n" for line in missing)
    append_text(attributes, existing, block)
    lines = block.count("\n")
    if existing is None:
        return [f"created .gitattributes ({lines} lines)"]
    return [f"appended {lines} lines to .gitattributes (kept what was there)"]


def append_text(path: Path, existing: bytes | None, text: str) -> None:
    """Append `text` to the file at `path` (whose bytes were `existing`) on a line of its own;
    what is there and no regular file (a FIFO, a device: never waited on) is refused by its
    kind (NOT_A_REGULAR_FILE), nothing written."""
    prefix = b"" if not existing or existing.endswith(b"\n") else b"\n"
    try:  # non-blocking: a FIFO with no reader fails the open (ENXIO) instead of waiting
        fd = os.open(path, APPEND_ONLY, 0o644)
    except OSError as exc:
        if exc.errno != errno.ENXIO:
            raise
        raise not_regular(os.stat(path).st_mode, str(path), path.name) from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):  # a FIFO with a reader, a device: never written to
        os.close(fd)
        raise not_regular(mode, str(path), path.name)
    with open(fd, "ab") as handle:  # O_NONBLOCK changes nothing on a regular file
        handle.write(prefix + text.encode("utf-8"))


def read_existing(path: Path) -> bytes | None:
    """A file's bytes before it is written or appended to; None when absent (a FIFO refused)."""
    try:
        return read_regular_file(path, limit=MAX_CATALOG_FILE_BYTES, what=path.name)
    except FileNotFoundError:
        return None


def _is_dg_project(root: Path) -> bool:
    """Whether dg already finds a project here: a `dg.toml`, or `[tool.dg]` in pyproject.toml."""
    if (root / "dg.toml").exists():
        return True
    pyproject = root / "pyproject.toml"
    return pyproject.is_file() and b"[tool.dg" in pyproject.read_bytes()
