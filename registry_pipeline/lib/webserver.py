"""Where the Dagster UI shows a run: the webserver found serving the workspace's instance."""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import json
import os
import re
import sys
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path

WEBSERVER_URL_ENV = "DAGSTER_WEBSERVER_URL"
DEFAULT_WEBSERVER_URL = "http://127.0.0.1:3000"
"""Where `dagster dev` serves the UI unless told otherwise: the base of the run links printed."""
PROC = Path("/proc")
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 3000
"""dagster-webserver's defaults, for a process whose sockets are not readable."""
ANSWER_TIMEOUT = 1.0
"""Seconds a webserver has to answer `/server_info` (a local request: it answers in ms)."""
_LISTEN = "0A"
"""TCP_LISTEN in the `st` column of `/proc/net/tcp`."""
_PATH = re.compile(r"/[^\s\"',:]+")
"""An absolute path inside the instance reference's JSON and YAML text."""
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def run_url(run_id: str, home: Path | None = None) -> str:
    """The run's UI page: $DAGSTER_WEBSERVER_URL, else `home`'s webserver, else the default."""
    base = os.environ.get(WEBSERVER_URL_ENV)
    if not base and (home or os.environ.get("DAGSTER_HOME")):
        base = webserver_url(home or Path(os.environ["DAGSTER_HOME"]))
    return f"{(base or DEFAULT_WEBSERVER_URL).rstrip('/')}/runs/{run_id}"


def webserver_url(home: Path) -> str | None:
    """`http://HOST:PORT[/prefix]` of an answering webserver whose instance is `home`, else None."""
    wanted = _resolved(home)
    for pid, argv, environ, cwd in _processes():
        if not _is_webserver(argv) or not _serves(argv, environ, cwd, wanted):
            continue
        prefix = (_option(argv, "--path-prefix", "-l") or "").rstrip("/")
        for host, port in _addresses(pid, argv):
            url = f"http://{host}:{port}{prefix}"
            if _answers(url):
                return url
    return None


def _processes() -> Iterator[tuple[str, list[str], dict[str, str], Path]]:
    """(pid, argv, environment, working folder) of each readable process."""
    try:
        pids = [entry.name for entry in os.scandir(PROC) if entry.name.isdigit()]
    except OSError:
        return
    for pid in pids:
        try:
            argv = (PROC / pid / "cmdline").read_bytes().split(b"\0")
            environ = (PROC / pid / "environ").read_bytes().split(b"\0")
            cwd = Path(os.readlink(PROC / pid / "cwd"))
        except OSError:  # gone, or another user's
            continue
        yield (
            pid,
            [arg.decode("utf-8", "replace") for arg in argv if arg],
            dict(item.decode("utf-8", "replace").split("=", 1) for item in environ if b"=" in item),
            cwd,
        )


def _addresses(pid: str, argv: Sequence[str]) -> list[tuple[str, int]]:
    """(host, port) to try for webserver `pid`: its listening sockets, else its args or defaults."""
    host = _option(argv, "--host", "-h")
    named = host if host not in (None, "", "0.0.0.0", "::", "[::]") else None
    port = _option(argv, "--port", "-p")
    listening = sorted(_listening(pid), key=lambda address: str(address[1]) != port)
    if not listening:
        return [(named or DEFAULT_HOST, int(port) if port and port.isdigit() else DEFAULT_PORT)]
    return [(named or address, number) for address, number in listening]


def _listening(pid: str) -> list[tuple[str, int]]:
    """(address for a URL, port) of each TCP socket process `pid` listens on."""
    try:
        fds = list((PROC / pid / "fd").iterdir())
    except OSError:
        return []
    sockets = set()
    for fd in fds:
        with contextlib.suppress(OSError):  # closed meanwhile (a browser's request)
            sockets.add(os.readlink(fd))
    found = []
    for table in ("tcp", "tcp6"):
        try:
            rows = (PROC / pid / "net" / table).read_text(encoding="ascii").splitlines()[1:]
        except OSError:
            continue
        for fields in (row.split() for row in rows):
            if len(fields) > 9 and fields[3] == _LISTEN and f"socket:[{fields[9]}]" in sockets:
                address, _, port = fields[1].partition(":")
                found.append((_url_host(address), int(port, 16)))
    return found


def _url_host(hex_address: str) -> str:
    """A `/proc/net/tcp*` address as a URL's host (each 32-bit word in the machine's byte order)."""
    raw = bytes.fromhex(hex_address)
    if sys.byteorder == "little":
        raw = b"".join(raw[at : at + 4][::-1] for at in range(0, len(raw), 4))
    ip = ipaddress.ip_address(raw)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_unspecified:
        return DEFAULT_HOST
    return f"[{ip}]" if ip.version == 6 else str(ip)


def _answers(url: str) -> bool:
    """Whether a Dagster webserver answers at `url` (its `/server_info`), proxies bypassed."""
    try:
        with _NO_PROXY.open(f"{url}/server_info", timeout=ANSWER_TIMEOUT) as response:
            info = json.loads(response.read(65536))
    except (OSError, ValueError, http.client.HTTPException):
        return False
    return isinstance(info, dict) and "dagster_webserver_version" in info


def _is_webserver(argv: Sequence[str]) -> bool:
    """A `dagster-webserver` (its console script, or `-m dagster_webserver`)."""
    return any(Path(arg).name in ("dagster-webserver", "dagster_webserver") for arg in argv[:3])


def _serves(argv: Sequence[str], environ: dict[str, str], cwd: Path, home: Path | None) -> bool:
    """Whether the process's instance is `home`: its `--instance-ref`, else its DAGSTER_HOME."""
    if home is None:
        return False
    ref = _option(argv, "--instance-ref")
    if ref is not None:  # the home itself, or its storage folders (history/, storage/, ...)
        paths = {_resolved(Path(found)) for found in _PATH.findall(ref)}
        return home in paths or any(path is not None and path.parent == home for path in paths)
    return _resolved(_home_of(environ, cwd)) == home


def _home_of(environ: dict[str, str], cwd: Path) -> Path | None:
    """DAGSTER_HOME of a process: its environment's, else its `.env`'s, read as Dagster does."""
    from dagster._core.secrets.env_file import get_env_var_dict

    try:
        home = environ.get("DAGSTER_HOME") or get_env_var_dict(str(cwd)).get("DAGSTER_HOME")
    except (OSError, ValueError):  # an unreadable `.env`
        return None
    return Path(home) if home else None


def _resolved(path: Path | None) -> Path | None:
    try:
        return path.resolve() if path is not None else None
    except OSError:
        return None


def _option(argv: Sequence[str], *names: str) -> str | None:
    """The value of the first of `names` in `argv` (`--port 3001`, `--port=3001`, `-p3001`)."""
    for index, arg in enumerate(argv):
        for name in names:
            glued = name + "=" if name.startswith("--") else name  # `--port=3001`, `-p3001`
            if arg == name and index + 1 < len(argv):
                return argv[index + 1]
            if arg.startswith(glued) and len(arg) > len(name):
                return arg[len(glued) :]
    return None
