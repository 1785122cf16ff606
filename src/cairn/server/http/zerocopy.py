"""ASGI's zero-copy send: file bytes handed to the kernel (``sendfile``) instead of read.

uvicorn does not implement the ``http.response.zerocopysend`` extension; ``ZeroCopyCycle``
adds it to its httptools request cycle (``BodyProtocol`` offers it on every plain-TCP
request), and ``FilePartsResponse`` uses it where offered, streaming otherwise. A download
then costs the server neither the read into its own memory nor the write out of it: one
1 GiB download took ~0.2 s of server CPU instead of ~0.85 s (bench/README).

The file goes out on the connection's socket from a worker thread of its own pool, so
neither the disk nor the client holds up the event loop, and a thread is never held
waiting for a client that does not read: when the socket takes nothing for POLL_MS, the
send goes back to the event loop and tries again a little later.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import os
import select
import time
from collections.abc import AsyncIterable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

EXTENSION = "http.response.zerocopysend"
SENDING_THREADS = 8
POLL_MS = 10  # how long a thread waits for a full socket before handing back
RETRY_S = (0.001, 0.2)  # the event loop's wait before trying again: first, then at most
STALL_S = 60.0  # a client that takes no byte for this long is given up on


class ZeroCopyCycle(RequestResponseCycle):
    """uvicorn's request cycle, also taking ``http.response.zerocopysend`` messages for a body
    of declared Content-Length."""

    async def send(self, message: Any) -> None:
        if message["type"] != EXTENSION:
            await super().send(message)
            return
        if not self.response_started or self.response_complete or self.chunked_encoding:
            raise RuntimeError("a zero-copy send needs a started response of known length")
        if self.flow.write_paused and not self.disconnected:
            await self.flow.drain()
        if self.disconnected:
            return
        count = int(message["count"])
        if count > self.expected_content_length:
            raise RuntimeError("Response content longer than Content-Length")
        if self.scope["method"] != "HEAD" and count:
            try:
                sent = await _send_file(
                    self.transport, message["file"], int(message.get("offset") or 0), count
                )
            except OSError:  # the client went away (or stalled): nothing more goes out
                self.disconnected = True
                self.transport.close()
                return
            if sent != count:  # the file ended early: the answer must not look complete
                self.transport.close()
                raise RuntimeError(f"the file ended {count - sent} bytes before its send did")
            self.expected_content_length -= count
        more = bool(message.get("more_body", False))
        await super().send({"type": "http.response.body", "body": b"", "more_body": more})


def offer_zero_copy(cycle: RequestResponseCycle, scope: Any) -> None:
    """Make ``cycle`` take zero-copy sends and say so in ``scope``; not over TLS, where the
    kernel cannot send a file as it is."""
    if cycle.transport.get_extra_info("sslcontext") is not None:
        return
    cycle.__class__ = ZeroCopyCycle  # same state: the subclass only adds a message type
    scope.setdefault("extensions", {})[EXTENSION] = {}


async def _send_file(transport: Any, file: BinaryIO, offset: int, count: int) -> int:
    """Send ``count`` bytes of ``file`` from ``offset`` on the transport's socket, once what
    the transport holds is written; the bytes sent (fewer if the file ends first)."""
    loop = asyncio.get_running_loop()
    fd = transport.get_extra_info("socket").fileno()
    wait = RETRY_S[0]
    idle_since = time.monotonic()
    sent = 0
    while transport.get_write_buffer_size():  # the headers, as a rule: sent at once
        await _pause(idle_since)
        await asyncio.sleep(wait)
    while sent < count:
        step = functools.partial(_send_some, fd, file.fileno(), offset + sent, count - sent)
        n = await loop.run_in_executor(_threads(), step)
        if n is None:  # the file ended
            return sent
        if n:
            sent += n
            wait, idle_since = RETRY_S[0], time.monotonic()
            continue
        await _pause(idle_since)
        await asyncio.sleep(wait)
        wait = min(wait * 2, RETRY_S[1])
    return sent


async def _pause(idle_since: float) -> None:
    if time.monotonic() - idle_since > STALL_S:
        raise TimeoutError(errno.ETIMEDOUT, "the client took no bytes")


def _send_some(sock: int, file: int, offset: int, count: int) -> int | None:
    """In a worker thread: ``sendfile`` until the socket stays full for POLL_MS or all is
    sent; the bytes sent, or None when the file ended before any."""
    poller = select.poll()
    poller.register(sock, select.POLLOUT)
    sent = 0
    while sent < count:
        try:
            n = os.sendfile(sock, file, offset + sent, count - sent)
        except BlockingIOError:
            if not poller.poll(POLL_MS):
                break
            continue
        if n == 0:
            return sent or None
        sent += n
    return sent


@functools.cache
def _threads() -> ThreadPoolExecutor:
    """Threads of their own: a send never waits behind the routes' work, nor they behind it."""
    return ThreadPoolExecutor(SENDING_THREADS, thread_name_prefix="cairn-sendfile")


@dataclass(frozen=True)
class FileRange:
    """Bytes [start, end) of the file at ``path``."""

    path: Path
    start: int
    end: int


class FilePartsResponse(StreamingResponse):
    """A body of byte strings and file ranges, in order: each range handed to the kernel
    where the server offers zero-copy sends, the whole streamed from ``fallback()``
    otherwise. A file that is missing or shorter than its range cuts the body short."""

    def __init__(
        self,
        parts: Iterable[bytes | FileRange],
        fallback: Callable[[], AsyncIterable[bytes]],
        **kwargs: Any,
    ) -> None:
        self._parts = parts
        self._fallback = fallback
        super().__init__((), **kwargs)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if EXTENSION not in scope.get("extensions", {}):
            self.body_iterator = self._fallback()
            await super().__call__(scope, receive, send)
            return
        start = {"type": "http.response.start", "status": self.status_code}
        await send({**start, "headers": self.raw_headers})
        for part in self._parts:
            if isinstance(part, bytes):
                await send({"type": "http.response.body", "body": part, "more_body": True})
                continue
            with part.path.open("rb") as file:
                count = part.end - part.start
                message = {"type": EXTENSION, "file": file, "offset": part.start, "count": count}
                await send({**message, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
