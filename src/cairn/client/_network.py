"""The SDK's HTTP transport: httpx, its connections reading a large body in large pieces, or
leaving it in the socket for the caller to receive into its own buffers."""

from __future__ import annotations

import contextlib
import os
import re
import select
import socket
import ssl
import threading
from collections.abc import Iterable, Iterator
from typing import Any

import httpcore
import httpx

from cairn._filewriter import SPLICE_REFUSALS, SpliceRefused

# httpcore reads 64 KiB at a time, and every read costs h11 and httpx a pass of Python code
# and copies: receiving 1 GiB took 4-6 s of CPU that way on a 2-core VM, and 1.7-3 s with
# reads of up to 1 MiB. Reads grow while they come back full (a body arriving faster than it
# is read) and shrink back when they do not, so small answers keep small reads.
FIRST_READ = 64 << 10
LARGEST_READ = 1 << 20

# A body left in the socket is received at most this much per call. Larger receives (up to
# the 4 MiB the download's buffers hold) drain the socket in big gulps, and the server then
# spent up to 2-3x the CPU sending (median 1,146 against 1,368 MB/s for 1 GiB, 9 interleaved
# runs on a 2-core VM); with this cap it spends what it spends for httpx's reads.
LARGEST_RECEIVE = 1 << 20

# Header blocks are read with MSG_PEEK in pieces of up to this size, then taken to their end
# only: a blank line, found the way h11 finds it (a bare LF ends a line there too).
HEAD_PEEK = 16 << 10
HEAD_END = re.compile(b"\n\r?\n")

SocketOption = (
    tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]
)
SocketOptions = Iterable[SocketOption]


_requested = threading.local()


@contextlib.contextmanager
def body_left_in_socket() -> Iterator[None]:
    """Within this block, the answers to this thread's requests over plain TCP are read up to
    the end of their headers only: their body stays in the socket for ``raw_body``."""
    before = getattr(_requested, "raw", False)
    _requested.raw = True
    try:
        yield
    finally:
        _requested.raw = before


class RawBody:
    """The body of an answer, its ``length`` bytes received from its socket straight into the
    caller's buffers (no copy through h11 or httpx, no new bytes object per read)."""

    def __init__(self, sock: socket.socket, length: int, timeout: float | None) -> None:
        self._sock = sock
        self._left = length
        sock.settimeout(timeout)  # once: nothing else uses the socket until the body ends

    def receive_into(self, view: memoryview) -> int:
        """Receive what has arrived (waiting for something) into ``view``; 0 at the body's
        end. A peer that closes before it raises, as httpx does: what arrived is kept for
        resuming, not taken for a whole (and wrong) body."""
        if not self._left:
            return 0
        try:
            received = self._sock.recv_into(view[: min(self._left, LARGEST_RECEIVE)])
        except TimeoutError as exc:
            raise httpx.ReadTimeout("timed out receiving the body") from exc
        except OSError as exc:
            raise httpx.ReadError(str(exc) or type(exc).__name__) from exc
        return self._took(received)

    def splice_into(self, pipe: int, count: int) -> int:
        """Move what has arrived (waiting for something), at most ``count`` bytes, from the
        socket into ``pipe`` inside the kernel; 0 at the body's end. Errors as
        ``receive_into``; SpliceRefused, before anything moved, where splice() cannot."""
        if not self._left:
            return 0
        while True:
            try:
                moved = os.splice(self._sock.fileno(), pipe, min(self._left, count))
                break
            except BlockingIOError:  # a socket with a timeout does not block: wait here
                self._wait_readable()
            except OSError as exc:
                if exc.errno in SPLICE_REFUSALS:
                    raise SpliceRefused(str(exc)) from exc
                raise httpx.ReadError(str(exc) or type(exc).__name__) from exc
        return self._took(moved)

    def _took(self, count: int) -> int:
        """Count ``count`` bytes of the body as taken; none means the peer closed early."""
        if not count:
            raise httpx.RemoteProtocolError(
                f"peer closed connection without sending complete message body "
                f"({self._left} bytes missing)"
            )
        self._left -= count
        return count

    def _wait_readable(self) -> None:
        timeout = self._sock.gettimeout()
        poller = select.poll()
        poller.register(self._sock.fileno(), select.POLLIN)
        if not poller.poll(None if timeout is None else timeout * 1000):
            raise httpx.ReadTimeout("timed out receiving the body")


def raw_body(response: httpx.Response) -> RawBody | None:
    """The body of ``response`` to receive from its socket, when ``body_left_in_socket`` left
    it there and it is exactly Content-Length plain bytes; else None (read it with httpx).
    Once it is received, closing the response closes its connection: httpx never saw the
    body end, so the connection is not used again."""
    stream = response.extensions.get("network_stream")
    headers = response.headers
    length = headers.get("content-length", "")
    if (
        not isinstance(stream, _GrowingReads)
        or not stream.body_in_socket
        or response.is_stream_consumed
        or not length.isdigit()
        or "transfer-encoding" in headers
        or headers.get("content-encoding", "identity").lower() != "identity"
    ):
        return None
    stream.body_in_socket = False
    assert stream.raw_socket is not None
    timeout = response.request.extensions.get("timeout", {}).get("read")
    return RawBody(stream.raw_socket, int(length), timeout)


class _GrowingReads(httpcore.NetworkStream):
    """A connection whose reads double while they fill up, up to LARGEST_READ; it reads only
    the headers of an answer ``body_left_in_socket`` asks it to (over plain TCP)."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner
        self._size = FIRST_READ
        sock = inner.get_extra_info("socket")
        self.raw_socket = sock if type(sock) is socket.socket else None
        self._heads_only = False
        self._head = b""
        self.body_in_socket = False

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        if self._heads_only:
            return self._read_head(max_bytes, timeout)
        size = max(max_bytes, self._size)
        data = self._inner.read(size, timeout)
        if len(data) == size:
            self._size = min(size * 2, LARGEST_READ)
        elif len(data) < size // 2:
            self._size = max(self._size // 2, FIRST_READ)
        return data

    def _read_head(self, max_bytes: int, timeout: float | None) -> bytes:
        """The next bytes of the header block being received, never past its end; after the
        final (non-1xx) block, the body is left in the socket."""
        assert self.raw_socket is not None
        sock = self.raw_socket
        try:
            sock.settimeout(timeout)
            peeked = sock.recv(min(HEAD_PEEK, max_bytes), socket.MSG_PEEK)
            tail = self._head[-2:]  # a blank line may begin in what was taken already
            end = HEAD_END.search(tail + peeked)
            wanted = len(peeked) if end is None else end.end() - len(tail)
            data = b""
            while len(data) < wanted:  # the peeked bytes are queued: these reads do not wait
                piece = sock.recv(wanted - len(data))
                if not piece:
                    break
                data += piece
        except TimeoutError as exc:
            raise httpcore.ReadTimeout(str(exc)) from exc
        except OSError as exc:
            raise httpcore.ReadError(str(exc)) from exc
        self._head += data
        if end is not None:
            informational = self._head[9:10] == b"1"  # "HTTP/1.1 1xx": another block follows
            self._head = b""
            if not informational:
                self._heads_only = False
                self.body_in_socket = True
        return data

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.body_in_socket = False
        self._heads_only = self.raw_socket is not None and getattr(_requested, "raw", False)
        self._head = b""
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
