"""The SDK's HTTP transport: httpx, its connections reading a large body in large pieces."""

from __future__ import annotations

import ssl
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

# httpcore reads 64 KiB at a time, and every read costs h11 and httpx a pass of Python code
# and copies: receiving 1 GiB took 4-6 s of CPU that way on a 2-core VM, and 1.7-3 s with
# reads of up to 1 MiB. Reads grow while they come back full (a body arriving faster than it
# is read) and shrink back when they do not, so small answers keep small reads.
FIRST_READ = 64 << 10
LARGEST_READ = 1 << 20

SocketOption = (
    tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]
)
SocketOptions = Iterable[SocketOption]


class _GrowingReads(httpcore.NetworkStream):
    """A connection whose reads double while they fill up, up to LARGEST_READ."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner
        self._size = FIRST_READ

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        size = max(max_bytes, self._size)
        data = self._inner.read(size, timeout)
        if len(data) == size:
            self._size = min(size * 2, LARGEST_READ)
        elif len(data) < size // 2:
            self._size = max(self._size // 2, FIRST_READ)
        return data

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, timeout)

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        return _GrowingReads(self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    """httpcore's network backend, its connections wrapped in _GrowingReads."""

    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: SocketOptions | None = None,
    ) -> httpcore.NetworkStream:
        stream = self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        return _GrowingReads(stream)

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: SocketOptions | None = None,
    ) -> httpcore.NetworkStream:
        return _GrowingReads(self._inner.connect_unix_socket(path, timeout, socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def transport() -> httpx.HTTPTransport:
    """httpx's default transport, with growing reads where its connection pool allows it
    (anything else, such as another httpcore's pool, is left as it is)."""
    made = httpx.HTTPTransport()
    pool = getattr(made, "_pool", None)
    backend = getattr(pool, "_network_backend", None)
    if isinstance(pool, httpcore.ConnectionPool) and isinstance(backend, httpcore.NetworkBackend):
        pool._network_backend = _Backend(backend)
    return made
