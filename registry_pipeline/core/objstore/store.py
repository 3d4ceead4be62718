"""An S3-compatible bucket: whole objects, conditional writes only (callers make bodies unique)."""

from __future__ import annotations

import functools
import hashlib
import os
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from registry_pipeline.core.errors import RegistryError, UsageError

SCHEME = "s3://"
QUARANTINE_PREFIX = "quarantine/"
"""Where `set_aside` keeps the objects `registry pointers repair` takes out of use."""
SET_ASIDE = (
    "`registry pointers repair --reason TEXT` sets it aside in the bucket's "
    "quarantine/ once no build runs (or restore it from the bucket's versions)"
)
"""What to do about an object this release did not write (`not_ours`)."""
BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
"""S3's bucket names: 3-63 lowercase letters, digits, dots and hyphens."""
RETRIES = 100
"""High enough that `RETRY_FOR` bounds the retries, not their count."""
RETRY_FOR = timedelta(seconds=15)
"""How long a failing request (5xx, dropped connection) is retried, 0.1 s doubling to 2 s."""
TIMEOUT = timedelta(seconds=30)
SETTINGS = (
    ("endpoint", "AWS_ENDPOINT_URL"),
    ("access_key_id", "AWS_ACCESS_KEY_ID"),
    ("secret_access_key", "AWS_SECRET_ACCESS_KEY"),
    ("session_token", "AWS_SESSION_TOKEN"),
    ("region", "AWS_DEFAULT_REGION"),
    ("region", "AWS_REGION"),
)
"""The client's settings and the standard variables they come from (the first region set wins)."""
SECRETS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
"""Settings never printed, not even when malformed."""
TOKEN = re.compile(r"[!-~]+")
"""A credential or a region: printable ASCII with no space (what an HTTP header carries)."""
HOST = re.compile(r"[a-z0-9_.:-]+")
"""An endpoint's host as `urlsplit` gives it (lowercase; IPv6 without brackets)."""
URL_PATH = re.compile(r"(?:[A-Za-z0-9._~!$&'()*+,;=:@/-]|%[0-9A-Fa-f]{2})*")
"""An endpoint's path: RFC 3986's characters, a `%` only before two hex digits."""


def not_ours(where: str, what: str, reason: object, **fields: Any) -> RegistryError:
    """REMOTE_STATE_INVALID: `what` at `where` is no object this release writes (`SET_ASIDE`)."""
    return RegistryError.of(
        "REMOTE_STATE_INVALID", path=where, what=what, reason=reason, remedy=SET_ASIDE, **fields
    )


class Conflict(Exception):
    """A conditional write lost: another writer created or replaced the object first."""


@dataclass(frozen=True)
class Blob:
    """An object's bytes and the ETag a `replace` must name."""

    data: bytes
    etag: str


@dataclass(frozen=True)
class StoreUrl:
    """`s3://BUCKET/PREFIX`, parsed."""

    bucket: str
    prefix: str

    def __str__(self) -> str:
        return f"{SCHEME}{self.bucket}/{self.prefix}".rstrip("/")


def parse_store_url(raw: str, field: str = "REGISTRY_STORE") -> StoreUrl:
    """`s3://BUCKET[/PREFIX]`; STORE_URL_INVALID naming `field` otherwise."""
    parts = urlsplit(raw)  # it drops a newline or a tab anywhere: refused before, below
    prefix, problem = parts.path.strip("/"), None
    if not raw.isprintable() or raw != raw.strip():
        problem = "a control character, a newline or a space around it"
    elif parts.scheme != "s3":
        problem = "only s3://BUCKET/PREFIX is supported"
    elif not BUCKET.fullmatch(parts.netloc):
        problem = "the bucket name must be 3-63 lowercase letters, digits, dots or hyphens"
    elif parts.query or parts.fragment:
        problem = "a store URL has no query or fragment"
    elif prefix and any(seg in ("", ".", "..") for seg in prefix.split("/")):
        problem = "the prefix has an empty, '.' or '..' segment"
    if problem:
        raise UsageError.of(
            "STORE_URL_INVALID", field=field, setting=f"{field}={raw!r}", reason=problem
        )
    return StoreUrl(parts.netloc, prefix)


def store_settings(environ: Mapping[str, str]) -> dict[str, str]:
    """The client's settings from the AWS variables in `environ`, each checked first."""
    config: dict[str, str] = {}
    for key, name in SETTINGS:
        value = environ.get(name)
        if value is None or (value == "" and key != "endpoint") or key in config:
            continue
        if key == "endpoint":
            problem = _endpoint_problem(value)
        else:
            problem = None if TOKEN.fullmatch(value) else "printable ASCII with no space expected"
        if problem:
            shown = "" if name in SECRETS or "@" in value else f"={value!r}"  # no secret shown
            raise UsageError.of(
                "STORE_URL_INVALID", field=name, setting=f"{name}{shown}", reason=problem
            )
        config[key] = value
    return config


def _endpoint_problem(value: str) -> str | None:
    """What keeps `value` from being an S3 server's URL, `http(s)://HOST[:PORT][/PATH]`."""
    if not value.strip():
        return "empty: unset it for AWS S3, or name the server (http://HOST:PORT)"
    if not TOKEN.fullmatch(value):
        return "a space, a control character or a non-ASCII character in the URL"
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as exc:  # a port out of range or not a number, a broken IPv6 address
        return f"not a URL ({exc})"
    if parts.scheme not in ("http", "https"):
        return "an S3 server's URL starts with http:// or https://"
    if "@" in parts.netloc:
        return "credentials belong in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, not the URL"
    if not parts.hostname or not HOST.fullmatch(parts.hostname):
        return "the URL names no host (a name or an IP address)"
    if port == 0:
        return "port 0 is no server's port"
    if "?" in value or "#" in value or not URL_PATH.fullmatch(parts.path):
        return "an S3 server's URL has no query or fragment, and a path of URL characters"
    return None


class ObjectStore:
    """Objects under one prefix of one bucket. Keys are relative to the prefix ('a/b.json')."""

    def __init__(self, backend: Any, url: str, retry_for: timedelta = RETRY_FOR) -> None:
        self._backend = backend
        self.url = url
        self._retry_for = retry_for

    @classmethod
    def open(
        cls,
        url: StoreUrl,
        environ: Mapping[str, str] | None = None,
        retry_for: timedelta = RETRY_FOR,
        timeout: timedelta = TIMEOUT,
    ) -> ObjectStore:
        """The bucket of `url`, configured from the standard AWS variables in `environ`."""
        from obstore.store import S3Store

        config: dict[str, Any] = store_settings(os.environ if environ is None else environ)
        config.setdefault("region", "us-east-1")
        if "endpoint" in config:
            config["virtual_hosted_style_request"] = False
        with _client_errors(functools.partial(_unusable, str(url))):
            backend = S3Store(
                url.bucket,
                prefix=url.prefix or None,
                config=config,  # type: ignore[arg-type]
                client_options={"allow_http": True, "timeout": timeout},
                retry_config={
                    "max_retries": RETRIES,
                    "retry_timeout": retry_for,
                    "backoff": {
                        "init_backoff": timedelta(milliseconds=100),
                        "max_backoff": timedelta(seconds=2),
                        "base": 2,
                    },
                },
            )
        return cls(backend, str(url), retry_for)

    @classmethod
    def in_memory(cls) -> ObjectStore:
        """obstore's in-memory store (same conditional writes): simulations and unit tests."""
        from obstore.store import MemoryStore

        return cls(MemoryStore(), "memory://")

    def get(self, key: str, limit: int | None = None) -> Blob | None:
        """The object at `key`, or None; REMOTE_STATE_INVALID, unread, when over `limit` bytes."""
        import obstore
        from obstore.exceptions import NotFoundError

        gone = (NotFoundError, FileNotFoundError)
        try:
            with self._client("read", key, passing=gone):
                result = obstore.get(self._backend, key)
                if limit is not None and result.meta["size"] > limit:
                    size = f"{result.meta['size']} bytes, more than {limit}"
                    raise not_ours(f"{self.url}/{key}", "an object", size)
                data = bytes(result.bytes())
        except gone:
            return None
        return Blob(data, str(result.meta["e_tag"] or ""))

    def put(self, key: str, data: bytes | Path) -> str:
        """Write `key` whatever is there (content-addressed objects only), streamed; its ETag."""
        import obstore

        with self._client("write", key):
            return str(obstore.put(self._backend, key, data)["e_tag"] or "")

    def download(self, key: str, target: Path) -> bool:
        """Stream the object at `key` into the new file `target`; False when there is none."""
        import obstore
        from obstore.exceptions import NotFoundError

        gone = (NotFoundError, FileNotFoundError)
        with target.open("xb") as handle:  # our own file: its errors are OSError, as on a disk
            try:  # writing our file (a full disk) fails with OSError: IO_ERROR, as on a disk
                with self._client("read", key, passing=(*gone, OSError)):
                    for chunk in obstore.get(self._backend, key).stream():
                        handle.write(chunk)
            except gone:
                target.unlink()
                return False
        return True

    def create(self, key: str, data: bytes) -> str:
        """Write `key` only if no object is there; else Conflict, also if it holds others' bytes."""
        from obstore.exceptions import AlreadyExistsError, PreconditionError

        self._conditional("create", key, data, "create", (AlreadyExistsError, PreconditionError))
        return self._won_anyway(key, data)  # accepted or refused: what the object holds decides

    def replace(self, key: str, data: bytes, etag: str) -> str:
        """Write `key` only if it still has `etag`; Conflict otherwise, its bytes deciding."""
        from obstore.exceptions import AlreadyExistsError, NotFoundError, PreconditionError

        refused = (PreconditionError, NotFoundError, FileNotFoundError, AlreadyExistsError)
        moved = self._conditional("replace", key, data, {"e_tag": etag}, refused)
        return moved if moved is not None else self._won_anyway(key, data)

    def _conditional(
        self, action: str, key: str, data: bytes, mode: Any, refused: tuple[type[Exception], ...]
    ) -> str | None:
        """One conditional write, sent again while unanswered: its ETag, or None when refused."""
        import obstore
        import tenacity

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(_unanswered),
            stop=tenacity.stop_after_delay(self._retry_for) & tenacity.stop_after_attempt(3),
            wait=tenacity.wait_random_exponential(multiplier=0.1, max=2),
            reraise=True,
        )
        try:
            with self._client(action, key, passing=refused):
                put = retrying(obstore.put, self._backend, key, data, mode=mode)
                return str(put["e_tag"] or "")
        except refused:
            return None

    def keys(self, prefix: str, after: str | None = None) -> Iterator[str]:
        """Every key under `prefix` (a folder), lexical on S3; only those after `after`."""
        return (key for key, _etag in self.listing(prefix, after))

    def listing(self, prefix: str, after: str | None = None) -> Iterator[tuple[str, str]]:
        """(key, ETag) of every object under `prefix`, as `keys` lists them."""
        import obstore

        with self._client("list", prefix):
            folder = prefix.rstrip("/") or None
            for chunk in obstore.list(self._backend, folder, offset=after):
                for meta in chunk:
                    yield str(meta["path"]), str(meta["e_tag"] or "")

    def delete(self, key: str) -> None:
        """Remove `key` (no error when it is gone already)."""
        import obstore

        with self._client("delete", key):
            obstore.delete(self._backend, key)

    def set_aside(self, keys: list[str], stamp: str) -> list[tuple[str, str]]:
        """Move each existing key to `quarantine/<stamp>/<key>`; the copies' keys and SHA-256."""
        kept = []
        for key in keys:
            blob = self.get(key)
            if blob is None:
                continue
            aside = f"{QUARANTINE_PREFIX}{stamp}/{key}"
            self.put(aside, blob.data)
            self.delete(key)
            kept.append((aside, hashlib.sha256(blob.data).hexdigest()))
        return kept

    def _won_anyway(self, key: str, data: bytes) -> str:
        """After a conditional write: its ETag if the object holds exactly `data`, else Conflict."""
        found = self.get(key)
        if found is not None and found.data == data:
            return found.etag
        raise Conflict(key)

    def _client(
        self, action: str, key: str, passing: tuple[type[BaseException], ...] = ()
    ) -> AbstractContextManager[None]:
        """The client's errors and panics on `action` of `key` as ours (`_failed`)."""
        return _client_errors(functools.partial(self._failed, action, key), passing)

    def _failed(self, action: str, key: str, exc: BaseException) -> RegistryError:
        if _panicked(exc):
            return _unusable(f"{self.url}/{key}", exc)
        first = _first_line(exc)
        name, text = type(exc).__name__, str(exc)
        code = "STORE_UNAVAILABLE"
        if "Permission" in name or "Unauthenticated" in name:
            code = "STORE_DENIED"
        elif "NoSuchBucket" in text:
            code, first = "STORE_NO_BUCKET", f"the bucket {self.url.split('/')[2]} does not exist"
        return RegistryError(
            f"cannot {action} {self.url}/{key}: {first}", code=code, path=f"{self.url}/{key}"
        )


@contextmanager
def _client_errors(
    failed: Callable[[BaseException], RegistryError],
    passing: tuple[type[BaseException], ...] = (),
) -> Iterator[None]:
    """The client's errors and panics as `failed` makes them; `passing` and interrupts pass on."""
    try:
        yield
    except RegistryError:  # ours
        raise
    except passing:  # the caller's to handle
        raise
    except BaseException as exc:
        if not isinstance(exc, Exception) and not _panicked(exc):
            raise
        raise failed(exc) from None


def _panicked(exc: BaseException) -> bool:
    """The client panicked (pyo3's PanicException, which no module exports by name)."""
    kind = type(exc)
    return kind.__name__ == "PanicException" and kind.__module__ == "pyo3_runtime"


def _unusable(where: str, exc: BaseException) -> UsageError:
    """The client panicked on, or refused, settings no check caught: STORE_URL_INVALID."""
    names = ", ".join(dict.fromkeys(name for _key, name in SETTINGS))
    return UsageError.of(
        "STORE_URL_INVALID",
        path=where,
        setting=f"the S3 client's settings ({names})",
        reason=f"unusable: {_first_line(exc)}",
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _unanswered(exc: BaseException) -> bool:
    """A request the server may or may not have carried out (no status in obstore's error)."""
    from obstore.exceptions import GenericError

    return isinstance(exc, GenericError) and "Server returned" not in str(exc)
