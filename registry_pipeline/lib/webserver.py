"""The Dagster webserver serving a workspace's instance, found among this machine's processes:
where the links `registry build` prints should point (the port `dagster dev` or `dg dev`
actually uses, not the default).

A webserver is a `dagster-webserver` process (`dagster dev` and `dg dev` start one as a child,
handing it the instance in `--instance-ref`) whose instance is the workspace's home (else its
`DAGSTER_HOME`, from its environment or the `.env` of the folder it runs in); its address is
its `--host`/`-h` and `--port`/`-p` arguments (Dagster's defaults: 127.0.0.1, 3000). Only
processes of this user are readable; on a system without `/proc` nothing is found.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

PROC = Path("/proc")
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = "3000"
_PATH = re.compile(r"/[^\s\"',:]+")
"""An absolute path inside the instance reference's JSON and YAML text."""


def webserver_url(home: Path) -> str | None:
    """`http://HOST:PORT` of a running webserver whose instance is `home`, else None."""
    wanted = _resolved(home)
    for argv, environ, cwd in _processes():
        if not _is_webserver(argv):
            continue
        if not _serves(argv, environ, cwd, wanted):
            continue
        host = _option(argv, "--host", "-h") or DEFAULT_HOST
        port = _option(argv, "--port", "-p") or DEFAULT_PORT
        if host in ("0.0.0.0", "::", ""):
            host = DEFAULT_HOST
        return f"http://{host}:{port}"
    return None


def _processes() -> Iterator[tuple[list[str], dict[str, str], Path | None]]:
    """(argv, environment, working folder) of each readable process."""
    try:
        entries = [entry for entry in os.scandir(PROC) if entry.name.isdigit()]
    except OSError:
        return
    for entry in entries:
        try:
            argv = (PROC / entry.name / "cmdline").read_bytes().split(b"\0")
            environ = (PROC / entry.name / "environ").read_bytes().split(b"\0")
            cwd: Path | None = Path(os.readlink(PROC / entry.name / "cwd"))
        except OSError:  # gone, or another user's
            continue
        yield (
            [arg.decode("utf-8", "replace") for arg in argv if arg],
            dict(_pair(item.decode("utf-8", "replace")) for item in environ if b"=" in item),
            cwd,
        )


def _pair(item: str) -> tuple[str, str]:
    name, _, value = item.partition("=")
    return name, value


def _is_webserver(argv: Sequence[str]) -> bool:
    """A `dagster-webserver` (its console script, or `-m dagster_webserver`)."""
    return any(Path(arg).name in ("dagster-webserver", "dagster_webserver") for arg in argv[:3])


def _serves(
    argv: Sequence[str], environ: dict[str, str], cwd: Path | None, home: Path | None
) -> bool:
    """Whether the process's instance is `home`: the instance `dagster dev` hands its webserver
    (`--instance-ref`, naming the home's folders), else the process's own DAGSTER_HOME."""
    if home is None:
        return False
    ref = _option(argv, "--instance-ref")
    if ref is not None:  # the home itself, or its storage folders (history/, storage/, ...)
        paths = {Path(found) for found in _PATH.findall(ref)}
        return home in paths or any(path.parent == home for path in paths)
    return _resolved(_home_of(environ, cwd)) == home


def _home_of(environ: dict[str, str], cwd: Path | None) -> Path | None:
    """The DAGSTER_HOME a process uses: its environment's, else its folder's `.env` line."""
    if environ.get("DAGSTER_HOME"):
        return Path(environ["DAGSTER_HOME"])
    if cwd is None:
        return None
    try:
        lines = (cwd / ".env").read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        name, _, value = line.strip().partition("=")
        if name == "DAGSTER_HOME" and value:
            return Path(value.strip().strip("'\""))
    return None


def _resolved(path: Path | None) -> Path | None:
    try:
        return path.resolve() if path is not None else None
    except OSError:
        return None


def _option(argv: Sequence[str], *names: str) -> str | None:
    """The value of the first of `names` in `argv` (`--port 3001`, `--port=3001`, `-p3001`)."""
    for index, arg in enumerate(argv):
        for name in names:
            if arg == name and index + 1 < len(argv):
                return argv[index + 1]
            if name.startswith("--") and arg.startswith(name + "="):
                return arg.split("=", 1)[1]
            if not name.startswith("--") and arg.startswith(name) and len(arg) > len(name):
                return arg[len(name) :]
    return None
