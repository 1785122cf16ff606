"""Request bodies received from the socket straight into the route's own buffers.

uvicorn hands a body to the application through its HTTP parser: every piece becomes a new
bytes object, is appended to a bytearray, and is copied again into the bytes that
``receive()`` returns, before the route copies it once more. For file uploads those passes
over the bytes cost more than hashing them. ``BodyProtocol`` is uvicorn's httptools protocol
plus one ASGI extension, ``scope["extensions"]["cairn.body"]``: a ``BodyReader`` for a
request with a Content-Length, whose ``fill()`` has the event loop receive the rest of the
body into the buffer it is given (``asyncio.BufferedProtocol``), never past the body's end.

Once the body is complete, the connection goes back to a fresh parser for the next request.
A body the route stops reading halfway leaves the parser out of step with the socket, so
such a connection is closed after its response (never kept alive).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import httptools
from starlette.requests import ClientDisconnect
from starlette.types import Scope
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

EXTENSION = "cairn.body"
# Where bytes go that arrive past a body its route stopped reading (the connection closes).
_SCRAP_BYTES = 64 << 10


def body_reader(scope: Scope) -> BodyReader | None:
    """The request's reader, where the server offers one (uvicorn with BodyProtocol, a body
    of declared length); otherwise the body is read through ``receive()`` as usual."""
    reader = scope.get("extensions", {}).get(EXTENSION)
    return reader if isinstance(reader, BodyReader) else None


class BodyProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol offering each request with a Content-Length a reader."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.parsed_body = 0  # body bytes of the current request the parser has taken
        self.shutting_down = False

    def on_message_begin(self) -> None:
        self.parsed_body = 0
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is None or cycle.scope is not self.scope:  # an upgrade: no request cycle
            return
        length = _declared_length(self.headers)
        if length is not None:
            extensions: dict[str, Any] = self.scope.setdefault("extensions", {})
            extensions[EXTENSION] = BodyReader(self, cycle, length)

    def on_body(self, body: bytes) -> None:
        self.parsed_body += len(body)
        super().on_body(body)

    def shutdown(self) -> None:
        self.shutting_down = True
        super().shutdown()

    def restart_parser(self) -> None:
        """A new parser for the next request, after a body it did not see."""
        self.parser = httptools.HttpRequestParser(self)
        with contextlib.suppress(AttributeError):  # httptools < 0.6.3 has none
            self.parser.set_dangerous_leniencies(lenient_data_after_close=True)


def _declared_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    """The body's length: one plain Content-Length and no Transfer-Encoding, else None."""
    lengths = [value for name, value in headers if name == b"content-length"]
    if len(lengths) != 1 or not lengths[0].isdigit():
        return None
    if any(name == b"transfer-encoding" for name, _ in headers):
        return None
    return int(lengths[0])


class BodyReader:
    """One request's body, received into the buffers given to ``fill()``, in order.

    Bytes the parser already took come first; the rest are received from the socket into
    the caller's buffer. Read a body through this or through ``receive()``, not both.
    """

    def __init__(self, http: BodyProtocol, cycle: RequestResponseCycle, length: int) -> None:
        self._http = http
        self._cycle = cycle
        self.length = length
        self._receiver: _Receiver | None = None

    async def fill(self, buf: memoryview) -> int:
        """Receive into ``buf`` until it is full or the body ends: the bytes written, 0 once
        the body has ended. Raises ClientDisconnect when the client goes away first."""
        got = self._take_parsed(buf)
        if got == len(buf):
            return got
        if self._receiver is None:
            if not self._cycle.more_body:  # the parser saw the whole body
                return got
            self._receiver = self._start()
        receiver = self._receiver
        if receiver.left == 0:
            return got
        waiter = receiver.want(buf[got:])
        try:
            got += await waiter
        except BaseException:
            receiver.drop()
            raise
        if receiver.left == 0:
            self._finish()
        return got

    def _take_parsed(self, buf: memoryview) -> int:
        """Move bytes the parser took (and the route has not had) into ``buf``."""
        cycle = self._cycle
        if cycle.disconnected:
            raise ClientDisconnect()
        pending = cycle.body
        n = min(len(pending), len(buf))
        if n:
            buf[:n] = pending[:n]
            del pending[:n]
        return n

    def _start(self) -> _Receiver:
        """Take the connection's bytes from the parser until the body's end."""
        http, cycle = self._http, self._cycle
        assert http.cycle is cycle, "a later request started before this body ended"
        if cycle.waiting_for_100_continue and not http.transport.is_closing():
            http.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            cycle.waiting_for_100_continue = False
        receiver = _Receiver(http, self.length - http.parsed_body, cycle.keep_alive)
        cycle.keep_alive = False  # until the body has ended where the next request begins
        http.flow.pause_reading()
        http.transport.set_protocol(receiver)
        return receiver

    def _finish(self) -> None:
        """The body has ended: the connection's next bytes go to a new parser."""
        http, cycle = self._http, self._cycle
        assert self._receiver is not None
        cycle.keep_alive = self._receiver.keep_alive and not http.shutting_down
        cycle.more_body = False
        cycle.message_event.set()
        http.restart_parser()
        if not http.transport.is_closing():
            http.transport.set_protocol(http)
            http.flow.resume_reading()


class _Receiver(asyncio.BufferedProtocol):
    """The connection's protocol while a body is received into the route's buffer; anything
    else the transport reports goes on to the HTTP protocol."""

    def __init__(self, http: BodyProtocol, left: int, keep_alive: bool) -> None:
        self._http = http
        self.left = left  # body bytes still in the socket
        self.keep_alive = keep_alive  # what the request asked for, restored at its end
        self._target: memoryview | None = None
        self._filled = 0
        self._waiter: asyncio.Future[int] | None = None
        self._scrap: bytearray | None = None

    def want(self, buf: memoryview) -> asyncio.Future[int]:
        """Receive into ``buf`` (until full, or the body's end); the future gives the count."""
        self._target, self._filled = buf, 0
        self._waiter = self._http.loop.create_future()
        if self._http.cycle.disconnected:
            self._waiter.set_exception(ClientDisconnect())
        else:
            self._http.flow.resume_reading()
        return self._waiter

    def drop(self) -> None:
        """Forget the buffer (its route gave up on it): no byte goes into it any more."""
        self._target, self._waiter = None, None
        if not self._http.transport.is_closing():
            self._http.flow.pause_reading()

    def get_buffer(self, sizehint: int) -> memoryview | bytearray:
        if self._target is None or self.left == 0:
            if self._scrap is None:
                self._scrap = bytearray(_SCRAP_BYTES)
            return self._scrap
        end = min(len(self._target), self._filled + self.left)
        return self._target[self._filled : end]

    def buffer_updated(self, nbytes: int) -> None:
        if self._target is None or self.left == 0:
            return  # past a body its route gave up on: the connection is closing
        self._filled += nbytes
        self.left -= nbytes
        if self._filled == len(self._target) or self.left == 0:
            self._http.flow.pause_reading()
            waiter, filled = self._waiter, self._filled
            self._target, self._waiter = None, None
            if waiter is not None and not waiter.done():
                waiter.set_result(filled)

    def _fail(self) -> None:
        waiter, self._waiter, self._target = self._waiter, None, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(ClientDisconnect())

    def eof_received(self) -> bool | None:
        self._fail()  # the client stopped sending before the body's end
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail()
        self._http.connection_lost(exc)

    def pause_writing(self) -> None:
        self._http.pause_writing()

    def resume_writing(self) -> None:
        self._http.resume_writing()
