"""A TCP relay on 127.0.0.1 between the bucket client and the S3 server that loses what a
flaky network loses: the answer to a conditional write the server has carried out (the client
never learns it won; the connection is cut, or held open until the client gives up), or the
request itself (the server never sees it). Everything else is passed through byte for byte.

A conditional write is told by its `If-None-Match` / `If-Match` header; the server answers a
request only once it has read the whole of it, so a lost answer is always to a write done."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

CONDITIONAL = (b"\r\nif-none-match:", b"\r\nif-match:")
READS = (b"\r\nget ",)
"""Markers of a request (lowercase, a line start): a conditional write's header, a GET's line."""


@dataclass
class Relay:
    """Relays to `target_port`; `lose_answers(n)` / `lose_requests(n)` arm the next n
    conditional writes (or requests with other markers: `of`), or every `every`-th one.
    `hold`: the answer is never sent and the connection stays open, so the client times out;
    `keep`: the answer's first bytes are sent before the cut. `lost` counts what was lost."""

    target_port: int
    listener: socket.socket = field(default_factory=socket.socket)
    lost: int = 0
    _answers: int = 0
    _requests: int = 0
    _every: int = 0
    _hold: bool = False
    _keep: int = 0
    _of: tuple[bytes, ...] = CONDITIONAL
    _seen: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _sockets: list[socket.socket] = field(default_factory=list)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}"

    def lose_answers(
        self,
        count: int = 1,
        every: int = 0,
        hold: bool = False,
        keep: int = 0,
        of: tuple[bytes, ...] = CONDITIONAL,
    ) -> None:
        with self._lock:
            self._answers, self._every, self._hold = count, every, hold
            self._keep, self._of = keep, of

    def lose_requests(self, count: int = 1) -> None:
        with self._lock:
            self._requests = count

    def start(self) -> Relay:
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(128)
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def close(self) -> None:
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in [self.listener, *sockets]:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # closed
            server = socket.create_connection(("127.0.0.1", self.target_port))
            with self._lock:
                self._sockets += [client, server]
            armed = threading.Event()
            threading.Thread(target=self._up, args=(client, server, armed), daemon=True).start()
            threading.Thread(target=self._down, args=(server, client, armed), daemon=True).start()

    def _up(self, client: socket.socket, server: socket.socket, armed: threading.Event) -> None:
        """Client to server: a conditional write's request is lost, or its answer armed."""
        for chunk in _chunks(client):
            if any(mark in b"\r\n" + chunk.lower() for mark in self._of):
                with self._lock:
                    self._seen += 1
                    if self._requests:
                        self._requests -= 1
                        self.lost += 1
                        return _cut(client, server)
                    due = self._every == 0 or self._seen % self._every == 0
                    if self._answers and due:
                        self._answers -= 1
                        self.lost += self._hold  # held: never delivered, whenever it comes
                        armed.set()
            with contextlib.suppress(OSError):
                server.sendall(chunk)
        _cut(client, server)

    def _down(self, server: socket.socket, client: socket.socket, armed: threading.Event) -> None:
        """Server to client: an armed answer is lost, the connection cut."""
        for chunk in _chunks(server):
            if armed.is_set():
                with self._lock:
                    hold, keep = self._hold, self._keep
                    self.lost += not hold
                if hold:
                    return _drain(server)  # the client waits for an answer that never comes
                with contextlib.suppress(OSError):
                    client.sendall(chunk[:keep])
                return _cut(client, server)
            with contextlib.suppress(OSError):
                client.sendall(chunk)
        _cut(client, server)


def _chunks(sock: socket.socket) -> Iterator[bytes]:
    while True:
        try:
            chunk = sock.recv(65536)
        except OSError:
            return
        if not chunk:
            return
        yield chunk


def _drain(sock: socket.socket) -> None:
    for _ in _chunks(sock):
        pass


def _cut(*sockets: socket.socket) -> None:
    for sock in sockets:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
