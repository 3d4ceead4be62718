"""An S3-compatible bucket (or obstore's in-memory store) as a workspace keeps it: whole objects
read and written under one prefix, with the two conditional writes everything shared rests on:
`create` (If-None-Match: *, the object must not exist) and `replace` (If-Match: its ETag).

The client is obstore (Rust's `object_store`, maintained by the Apache Arrow project): it
imports in ~10 ms, signs requests itself, and refuses a lost conditional write with a typed error.
Settings come from the standard variables (`AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`,
`AWS_SECRET_ACCESS_KEY`, `AWS_DEFAULT_REGION`); an `http://` endpoint is allowed (a server on
the same network). A conditional write whose answer was lost (a timeout, a cut connection) is
sent again, by the client or, where the client will not (`_conditional`), by us, and may then
be refused as if another writer had won: `create` and `replace` read the object back and count
it as won when it holds exactly the bytes written (callers make every body unique).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from registry_pipeline.core.errors import RegistryError, UsageError

SCHEME = "s3://"
BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
"""S3's bucket names: 3-63 lowercase letters, digits, dots and hyphens."""
RETRIES = 100
"""High enough that `RETRY_FOR` bounds the retries, not their count (with jitter, ten retries
took 2 s while a restarted server was still loading its volumes)."""
RETRY_FOR = timedelta(seconds=15)
"""How long a request is retried (5xx, a dropped connection, a server restarting: SeaweedFS
answers 500 for a moment after a restart while it loads its volumes), 0.1 s doubling to 2 s."""
TIMEOUT = timedelta(seconds=30)


class StoreError(RegistryError):
    """The bucket could not be reached, refused us, or holds something unreadable (exit 1: the
    place, not the request, must change)."""


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
    parts = urlsplit(raw)
    problem = None
    if parts.scheme != "s3":
        problem = "only s3://BUCKET/PREFIX is supported"
    elif not BUCKET.fullmatch(parts.netloc):
        problem = "the bucket name must be 3-63 lowercase letters, digits, dots or hyphens"
    elif parts.query or parts.fragment:
        problem = "a store URL has no query or fragment"
    elif parts.path.strip("/") and any(
        seg in ("", ".", "..") for seg in parts.path.strip("/").split("/")
    ):
        problem = "the prefix has an empty, '.' or '..' segment"
    if problem:
        raise UsageError(f"{field}={raw!r}: {problem}", code="STORE_URL_INVALID", field=field)
    return StoreUrl(parts.netloc, parts.path.strip("/"))


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
        """The bucket of `url`, configured from the standard AWS variables in `environ`; a
        failing request is retried for up to `retry_for`, one unanswered after `timeout`."""
        from obstore.store import S3Store

        env = os.environ if environ is None else environ
        config: dict[str, Any] = {}
        for key, name in (
            ("endpoint", "AWS_ENDPOINT_URL"),
            ("access_key_id", "AWS_ACCESS_KEY_ID"),
            ("secret_access_key", "AWS_SECRET_ACCESS_KEY"),
            ("session_token", "AWS_SESSION_TOKEN"),
            ("region", "AWS_DEFAULT_REGION"),
        ):
            if env.get(name):
                config[key] = env[name]
        config.setdefault("region", env.get("AWS_REGION") or "us-east-1")
        if "endpoint" in config:
            config["virtual_hosted_style_request"] = False
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

    def get(self, key: str) -> Blob | None:
        """The object at `key`, or None when there is none."""
        import obstore
        from obstore.exceptions import NotFoundError

        try:
            result = obstore.get(self._backend, key)
            data = bytes(result.bytes())
        except (NotFoundError, FileNotFoundError):
            return None
        except Exception as exc:  # obstore's errors: the bucket is unreachable or refuses us
            raise self._failed("read", key, exc) from None
        return Blob(data, str(result.meta["e_tag"] or ""))

    def put(self, key: str, data: bytes | Path) -> str:
        """Write `key` whatever is there (content-addressed objects only), from bytes or a
        file (streamed: never held whole in memory); its ETag."""
        import obstore

        try:
            return str(obstore.put(self._backend, key, data)["e_tag"] or "")
        except Exception as exc:
            raise self._failed("write", key, exc) from None

    def download(self, key: str, target: Path) -> bool:
        """Stream the object at `key` into the new file `target`; False when there is none."""
        import obstore
        from obstore.exceptions import NotFoundError

        with target.open("xb") as handle:  # our own file: its errors are OSError, as on a disk
            try:
                for chunk in obstore.get(self._backend, key).stream():
                    handle.write(chunk)
            except (NotFoundError, FileNotFoundError):
                target.unlink()
                return False
            except OSError:
                raise  # writing our file (a full disk): IO_ERROR, as on a disk
            except Exception as exc:  # obstore's errors: the bucket is unreachable or refuses us
                raise self._failed("read", key, exc) from None
        return True

    def create(self, key: str, data: bytes) -> str:
        """Write `key` only if no object is there (If-None-Match: *); Conflict otherwise, also
        when, read back, it holds another writer's bytes: a server that let two creates of one
        key both succeed (its If-None-Match a check, then a write, as moto's is) loses the
        race for the writer that sees the other's bytes, not its change."""
        from obstore.exceptions import AlreadyExistsError, PreconditionError

        self._conditional("create", key, data, "create", (AlreadyExistsError, PreconditionError))
        return self._won_anyway(key, data)  # accepted or refused: what the object holds decides

    def replace(self, key: str, data: bytes, etag: str) -> str:
        """Write `key` only if it still has `etag` (If-Match); Conflict otherwise: a 412, a 404
        (AWS and moto, the object gone) or a 409 (S3's ConditionalRequestConflict, two
        conditional writes racing; obstore calls it AlreadyExists), what the object holds
        deciding."""
        from obstore.exceptions import AlreadyExistsError, NotFoundError, PreconditionError

        refused = (PreconditionError, NotFoundError, FileNotFoundError, AlreadyExistsError)
        moved = self._conditional("replace", key, data, {"e_tag": etag}, refused)
        return moved if moved is not None else self._won_anyway(key, data)

    def _conditional(
        self, action: str, key: str, data: bytes, mode: Any, refused: tuple[type[Exception], ...]
    ) -> str | None:
        """One conditional write: its ETag, or None when the server refused it. The client's
        HTTP layer retries a conditional write only when the server answered (5xx) or never
        got it, never one left unanswered (a timeout, a connection cut after the request was
        sent: the server may have carried it out). Here it is sent again, the same bytes, for
        up to `retry_for` and three times at least; refused then, the caller's `_won_anyway`
        tells our own write from a rival's."""
        import obstore
        from tenacity import (
            Retrying,
            retry_if_exception,
            stop_after_attempt,
            stop_after_delay,
            wait_random_exponential,
        )

        retrying = Retrying(
            retry=retry_if_exception(_unanswered),
            stop=stop_after_delay(self._retry_for) & stop_after_attempt(3),
            wait=wait_random_exponential(multiplier=0.1, max=2),
            reraise=True,
        )
        try:
            return str(retrying(obstore.put, self._backend, key, data, mode=mode)["e_tag"] or "")
        except refused:
            return None
        except Exception as exc:
            raise self._failed(action, key, exc) from None

    def keys(self, prefix: str, after: str | None = None) -> Iterator[str]:
        """Every key under `prefix` (a folder: 'RUNS/'), in the store's order (lexical on S3);
        only those sorting after the key `after`, when given (S3's start-after)."""
        import obstore

        try:
            folder = prefix.rstrip("/") or None
            for chunk in obstore.list(self._backend, folder, offset=after):
                for meta in chunk:
                    yield str(meta["path"])
        except Exception as exc:
            raise self._failed("list", prefix, exc) from None

    def delete(self, key: str) -> None:
        """Remove `key` (no error when it is gone already)."""
        import obstore

        try:
            obstore.delete(self._backend, key)
        except Exception as exc:
            raise self._failed("delete", key, exc) from None

    def _won_anyway(self, key: str, data: bytes) -> str:
        """After a conditional write: ours (also one refused when sent again after a lost
        answer) when the object holds exactly `data`, its ETag; Conflict otherwise."""
        found = self.get(key)
        if found is not None and found.data == data:
            return found.etag
        raise Conflict(key)

    def _failed(self, action: str, key: str, exc: Exception) -> StoreError:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        name, text = type(exc).__name__, str(exc)
        code = "STORE_UNAVAILABLE"
        if "Permission" in name or "Unauthenticated" in name:
            code = "STORE_DENIED"
        elif "NoSuchBucket" in text:
            code, first = "STORE_NO_BUCKET", f"the bucket {self.url.split('/')[2]} does not exist"
        return StoreError(
            f"cannot {action} {self.url}/{key}: {first}", code=code, path=f"{self.url}/{key}"
        )


def _unanswered(exc: BaseException) -> bool:
    """A request the server may or may not have carried out: obstore's error carries no
    status (the text of one the server answered says which it returned)."""
    from obstore.exceptions import GenericError

    return isinstance(exc, GenericError) and "Server returned" not in str(exc)
