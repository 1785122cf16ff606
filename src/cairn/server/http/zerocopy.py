"""File bytes handed to the kernel (``sendfile``) instead of read: ``cairn.sendparts``.

uvicorn has no zero-copy send. ``ZeroCopyCycle`` adds one to its httptools request cycle as
an ASGI extension (``BodyProtocol`` offers it on every plain-TCP request): a
``cairn.sendparts`` message carries parts of a body of declared length, byte strings and
``FileRange``s, and one worker thread writes a whole group of them to the connection's
socket, the file ranges with ``os.sendfile``, so the server neither reads a file into its
memory nor pays an event-loop pass per small file. ``FilePartsResponse`` uses it where
offered and streams otherwise. One 1 GiB download took ~0.2 s of server CPU instead of
~0.85 s (bench/README).

The sends run on a pool of their own threads, so neither the disk nor a client holds up
the event loop, and no thread waits on a client that does not read: when the socket takes
nothing for POLL_MS the send goes back to the event loop and tries again a little later;
a client that takes nothing for STALL_S is dropped. A file that is missing or ends before
its range does cuts the answer short (the connection closes), never passing it off as
complete.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import os
import select
import time
from collections.abc import AsyncIterable, Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

from cairn._prefetch import Prefetcher

EXTENSION = "cairn.sendparts"
SENDING_THREADS = 8
POLL_MS = 10  # how long a thread waits for a full socket before handing back
RETRY_S = (0.001, 0.2)  # the event loop's wait before trying again: first, then at most
STALL_S = 60.0  # a client that takes no byte for this long is given up on
CALL_BYTES = 16 << 20  # sent per thread hop at most, so concurrent sends take turns
GROUP_BYTES = 8 << 20  # parts sent in one message, up to this many bytes
GROUP_PARTS = 128  # or this many parts


@dataclass(frozen=True)
class FileRange:
    """Bytes [start, end) of the file at ``path``."""

    path: Path
    start: int
    end: int


Part = bytes | FileRange


def _length(part: Part) -> int:
    return len(part) if isinstance(part, bytes) else part.end - part.start


class ZeroCopyCycle(RequestResponseCycle):
    """uvicorn's request cycle, also taking ``cairn.sendparts`` messages for a body of
    declared Content-Length."""

    async def send(self, message: Any) -> None:
        if message["type"] != EXTENSION:
            await super().send(message)
            return
        if not self.response_started or self.response_complete or self.chunked_encoding:
            raise RuntimeError("parts need a started response of known length")
        if self.flow.write_paused and not self.disconnected:
            await self.flow.drain()
        if self.disconnected:
            return
        parts: list[Part] = list(message["parts"])
        count = sum(_length(part) for part in parts)
        if count > self.expected_content_length:
            raise RuntimeError("Response content longer than Content-Length")
        if self.scope["method"] != "HEAD" and count:
            try:
                sent = await _send_parts(self.transport, parts)
            except OSError:  # the client went away (or stalled): nothing more goes out
                self.disconnected = True
                self.transport.close()
                return
            if sent != count:  # a file ended early: the answer must not look complete
                self.transport.close()
                raise RuntimeError(f"a file was {count - sent} bytes short of its parts")
            self.expected_content_length -= count
        more = bool(message.get("more_body", False))
        await super().send({"type": "http.response.body", "body": b"", "more_body": more})


def offer_zero_copy(cycle: RequestResponseCycle, scope: Any) -> None:
    """Make ``cycle`` take ``cairn.sendparts`` and say so in ``scope``; not over TLS, where
    the kernel cannot send a file as it is."""
    if cycle.transport.get_extra_info("sslcontext") is not None:
        return
    cycle.__class__ = ZeroCopyCycle  # same state: the subclass only adds a message type
    scope.setdefault("extensions", {})[EXTENSION] = {}


async def _send_parts(transport: Any, parts: Sequence[Part]) -> int:
    """Write ``parts`` to the transport's socket, once what the transport holds is written;
    the bytes sent (fewer when a file is missing or ends early)."""
    loop = asyncio.get_running_loop()
    wait = RETRY_S[0]
    idle_since = time.monotonic()
    while transport.get_write_buffer_size():  # the headers, as a rule: sent at once
        _check_stall(idle_since)
        await asyncio.sleep(wait)
    _check_open(transport)  # a closed transport may have no socket left to duplicate
    # A descriptor of our own: once the transport closes its socket (the client reset the
    # connection, say), that number may at once name another client's connection.
    fd = os.dup(transport.get_extra_info("socket").fileno())
    cursor = _Cursor(parts)
    try:
        while not cursor.done():
            _check_open(transport)
            n = await loop.run_in_executor(_threads(), cursor.send_some, fd)
            if n is None:  # a file is missing or ended early
                break
            if n:
                wait, idle_since = RETRY_S[0], time.monotonic()
                continue
            _check_stall(idle_since)
            await asyncio.sleep(wait)
            wait = min(wait * 2, RETRY_S[1])
    finally:
        cursor.close()
        os.close(fd)
    return cursor.sent


def _check_open(transport: Any) -> None:
    """Raise ConnectionResetError once the transport is closing: nothing more is sent."""
    if transport.is_closing():
        raise ConnectionResetError(errno.ECONNRESET, "the connection was closed")


def _check_stall(idle_since: float) -> None:
    if time.monotonic() - idle_since > STALL_S:
        raise TimeoutError(errno.ETIMEDOUT, "the client took no bytes")


class _Cursor:
    """How far the sending of ``parts`` has come, carried from one thread hop to the next."""

    def __init__(self, parts: Sequence[Part]) -> None:
        self.parts = parts
        self.index = 0  # the part being sent
        self.offset = 0  # bytes of it already sent
        self.sent = 0
        self.file: BinaryIO | None = None
        self.prefetch: Prefetcher | None = None  # the open file's bytes asked of the disk

    def done(self) -> bool:
        return self.index >= len(self.parts)

    def send_some(self, sock: int) -> int | None:
        """In a worker thread: send until the socket stays full for POLL_MS, CALL_BYTES are
        sent or every part is; the bytes sent, or None when a file is missing or ended."""
        poller = select.poll()
        poller.register(sock, select.POLLOUT)
        sent = 0
        while not self.done() and sent < CALL_BYTES:
            part = self.parts[self.index]
            left = _length(part) - self.offset
            try:
                if left <= 0:
                    n = 0
                elif isinstance(part, bytes):
                    n = os.write(sock, memoryview(part)[self.offset :])
                else:
                    n = self._send_file(sock, part, left)
                    if n == 0:
                        return None
            except BlockingIOError:
                if not poller.poll(POLL_MS):
                    break
                continue
            except FileNotFoundError:
                return None
            self.offset += n
            self.sent += n
            sent += n
            if self.offset >= _length(part):
                self._next()
        return sent

    def _send_file(self, sock: int, part: FileRange, left: int) -> int:
        if self.file is None:
            self.file = part.path.open("rb")
            self.prefetch = Prefetcher(self.file.fileno(), part.end)
        assert self.prefetch is not None, "opened with the file"
        position = part.start + self.offset
        self.prefetch.ahead_of(position)
        return os.sendfile(sock, self.file.fileno(), position, left)

    def _next(self) -> None:
        self.close()
        self.index += 1
        self.offset = 0

    def close(self) -> None:
        self.prefetch = None
        if self.file is not None:
            file, self.file = self.file, None
            file.close()


@functools.cache
def _threads() -> ThreadPoolExecutor:
    """Threads of their own: a send never waits behind the routes' work, nor they behind it."""
    return ThreadPoolExecutor(SENDING_THREADS, thread_name_prefix="cairn-sendfile")


def _groups(parts: Iterable[Part]) -> Iterable[list[Part]]:
    """``parts`` in groups of up to GROUP_BYTES (a larger part alone) or GROUP_PARTS."""
    group: list[Part] = []
    grouped = 0
    for part in parts:
        group.append(part)
        grouped += _length(part)
        if grouped >= GROUP_BYTES or len(group) >= GROUP_PARTS:
            yield group
            group, grouped = [], 0
    if group:
        yield group


class FilePartsResponse(StreamingResponse):
    """A body of byte strings and file ranges, in order: sent as ``cairn.sendparts`` where
    the server offers it, otherwise streamed from ``fallback()``. A file that is missing or
    shorter than its range cuts the body short."""

    def __init__(
        self,
        parts: Iterable[Part],
        fallback: Callable[[], AsyncIterable[bytes]],
        **kwargs: Any,
    ) -> None:
        self.parts = parts
        self._fallback = fallback
        super().__init__((), **kwargs)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if EXTENSION not in scope.get("extensions", {}):
            self.body_iterator = self._fallback()
            await super().__call__(scope, receive, send)
            return
        start = {"type": "http.response.start", "status": self.status_code}
        await send({**start, "headers": self.raw_headers})
        for group in _groups(self.parts):
            await send({"type": EXTENSION, "parts": group, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        if self.background is not None:
            await self.background()
