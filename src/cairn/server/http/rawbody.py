"""Request bodies received from the socket straight into the route's own buffers.

uvicorn hands a body to the application through its HTTP parser: every piece becomes a new
bytes object, is appended to a bytearray, and is copied again into the bytes that
``receive()`` returns, before the route copies it once more. For file uploads those passes
over the bytes cost more than hashing them. ``BodyProtocol`` is uvicorn's httptools protocol
plus one ASGI extension, ``scope["extensions"]["cairn.body"]``: a ``BodyReader`` for a
request with a Content-Length, whose ``fill()`` has the event loop receive the rest of the
body into the buffer it is given (``asyncio.BufferedProtocol``), never past the body's end.

Every byte of the body is counted, so the connection always goes back to a fresh parser
exactly where the next request begins: after the route's last ``fill()``, or, for a body
the route stopped reading, after its response, once the rest has been received and dropped
(as uvicorn drains a body its app did not read). While the route is between two ``fill()``
calls the connection does not read at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import functools
from collections.abc import Callable
from typing import Any

import httptools
from starlette.requests import ClientDisconnect
from starlette.types import Scope
from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from cairn.server.http.zerocopy import offer_zero_copy

EXTENSION = "cairn.body"
# Where the rest of a body its route stopped reading goes, once the response is sent.
_SCRAP_BYTES = 64 << 10


def unzeroed_buffer(size: int) -> memoryview:
    """A writable buffer of ``size`` bytes for ``BodyReader.fill()``, its memory not cleared
    first: ``bytearray(size)`` writes every byte once before the socket writes it again
    (~0.17 CPU-s per GiB received on a 2-core VM). Whatever the memory held before must never
    be read: only the bytes ``fill()`` reports as received."""
    make = _bytearray_from_c()
    return memoryview(make(None, size) if make is not None else bytearray(size))


@functools.cache
def _bytearray_from_c() -> Callable[[None, int], bytearray] | None:
    """CPython's ``PyByteArray_FromStringAndSize``, which leaves the bytes as they are when
    given no source; None on another Python."""
    # A function object of its own: setting types on ctypes.pythonapi's cached one would
    # change them for every other user of it in the process.
    prototype = ctypes.PYFUNCTYPE(ctypes.py_object, ctypes.c_void_p, ctypes.c_ssize_t)
    try:
        make = prototype(("PyByteArray_FromStringAndSize", ctypes.pythonapi))
    except (AttributeError, ValueError):
        return None
    return make


def body_reader(scope: Scope) -> BodyReader | None:
    """The request's reader, where the server offers one (uvicorn with BodyProtocol, a body
    of declared length); otherwise the body is read through ``receive()`` as usual."""
    reader = scope.get("extensions", {}).get(EXTENSION)
    return reader if isinstance(reader, BodyReader) else None


class BodyProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol offering each request with a Content-Length a reader,
    and every request zero-copy sends (``zerocopy.offer_zero_copy``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.parsed_body = 0  # body bytes of the current request the parser has taken

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.flow = HeldFlow(transport)

    def on_message_begin(self) -> None:
        self.parsed_body = 0
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is None or cycle.scope is not self.scope:  # an upgrade: no request cycle
            return
        if self.parser.should_upgrade():
            # llhttp leaves the body of an upgrade it was not asked to make to the next
            # parse: never read another request on this connection.
            cycle.keep_alive = False
            return
        offer_zero_copy(cycle, self.scope)
        length = _declared_length(self.headers)
        if length is not None:
            extensions: dict[str, Any] = self.scope.setdefault("extensions", {})
            extensions[EXTENSION] = BodyReader(self, cycle, length)

    def on_body(self, body: bytes) -> None:
        self.parsed_body += len(body)
        super().on_body(body)

    def restart_parser(self) -> None:
        """A new parser for the next request, after a body it did not see."""
        self.parser = httptools.HttpRequestParser(self)
        with contextlib.suppress(AttributeError):  # httptools < 0.6.3 has none
            self.parser.set_dangerous_leniencies(lenient_data_after_close=True)


class HeldFlow(FlowControl):
    """uvicorn's flow control, which a body's receiver can hold: while the route is between
    two ``fill()`` calls nothing else (``receive()``, say) makes the connection read."""

    def __init__(self, transport: asyncio.Transport) -> None:
        super().__init__(transport)
        self.receiver: _Receiver | None = None

    def resume_reading(self) -> None:
        if self.receiver is None or self.receiver.may_read():
            super().resume_reading()


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
    the caller's buffer. Once ``fill()`` has been called the body is the reader's alone:
    ``receive()`` (``Request.is_disconnected()``, say) finds none of its bytes.
    """

    def __init__(self, http: BodyProtocol, cycle: RequestResponseCycle, length: int) -> None:
        self._http = http
        self._cycle = cycle
        self.length = length
        self._parsed: bytearray | None = None  # what the parser took, once fill() began
        self._receiver: _Receiver | None = None

    async def fill(self, buf: memoryview) -> int:
        """Receive into ``buf`` until it is full or the body ends: the bytes written, 0 once
        the body has ended. Raises ClientDisconnect when the client goes away first."""
        if self._cycle.response_complete:
            raise RuntimeError("the response is sent: its request's body is no longer read")
        buf = buf.cast("B")  # counted in bytes, whatever the caller's item size
        if self._parsed is None:
            # From the first fill on, the body is this reader's alone: what the parser took
            # moves here (a receive() in between finds none), and the parser stops.
            self._parsed, self._cycle.body = self._cycle.body, bytearray()
            if self._cycle.more_body:
                self._receiver = self._start()
        got = self._take_parsed(buf)
        if got == len(buf) or self._receiver is None:  # full, or the parser saw it all
            return got
        receiver = self._receiver
        if receiver.spoiled:
            raise RuntimeError("body bytes were received outside fill(): the body is lost")
        if receiver.left == 0:
            return got
        waiter = receiver.want(buf[got:])
        try:
            got += await waiter
        except BaseException:
            receiver.drop()
            raise
        return got

    def _take_parsed(self, buf: memoryview) -> int:
        """Move bytes the parser took (and the route has not had) into ``buf``."""
        if self._cycle.disconnected:
            raise ClientDisconnect()
        pending = self._parsed
        assert pending is not None
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
        receiver = _Receiver(http, cycle, self.length - http.parsed_body)
        http.flow.pause_reading()
        assert isinstance(http.flow, HeldFlow)
        http.flow.receiver = receiver
        http.transport.set_protocol(receiver)
        return receiver


class _Receiver(asyncio.BufferedProtocol):
    """The connection's protocol from a body's first unparsed byte to its last, counting
    every byte: into the route's buffer while it asks, into scrap once its response is sent
    (the rest of a body the route stopped reading), then back to the HTTP protocol and a new
    parser. Anything else the transport reports goes on to the HTTP protocol."""

    def __init__(self, http: BodyProtocol, cycle: RequestResponseCycle, left: int) -> None:
        self._http = http
        self._cycle = cycle
        self.left = left  # body bytes still in the socket
        self.spoiled = False  # body bytes went to scrap while the route still read the body
        self._target: memoryview | None = None
        self._filled = 0
        self._waiter: asyncio.Future[int] | None = None
        self._scrap: bytearray | None = None

    def may_read(self) -> bool:
        """Whether bytes of the body have somewhere to go: the route's buffer, or scrap
        after the response (never while the route is between two fills, nor past the end)."""
        return self.left > 0 and (self._target is not None or self._cycle.response_complete)

    def want(self, buf: memoryview) -> asyncio.Future[int]:
        """Receive into ``buf`` (until full, or the body's end); the future gives the count."""
        self._target, self._filled = buf, 0
        self._waiter = self._http.loop.create_future()
        if self._cycle.disconnected:
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
        if self._target is None:
            if self._scrap is None:
                self._scrap = bytearray(_SCRAP_BYTES)
            return memoryview(self._scrap)[: min(_SCRAP_BYTES, self.left)]
        return self._target[self._filled : min(len(self._target), self._filled + self.left)]

    def buffer_updated(self, nbytes: int) -> None:
        self.left -= nbytes
        assert self.left >= 0, "received past the body's end"
        if self._target is None:
            if not self._cycle.response_complete:
                self.spoiled = True
            # Still receiving, so not idle: _hand_back arms the keep-alive timer again.
            self._http._unset_keepalive_if_required()
        else:
            self._filled += nbytes
            if self._filled == len(self._target) or self.left == 0:
                waiter, filled = self._waiter, self._filled
                self._target, self._waiter = None, None
                self._http.flow.pause_reading()
                if waiter is not None and not waiter.done():
                    waiter.set_result(filled)
        if self.left == 0:
            self._http.flow.pause_reading()
            self._http.loop.call_soon(self._hand_back)

    def _hand_back(self) -> None:
        """The body has ended: the connection's next bytes go to a new parser."""
        http, cycle = self._http, self._cycle
        assert isinstance(http.flow, HeldFlow)
        http.flow.receiver = None
        cycle.more_body = False
        cycle.message_event.set()
        if http.transport.is_closing():
            return
        http.restart_parser()
        http.transport.set_protocol(http)
        http.flow.resume_reading()
        if cycle.response_complete:  # idle from now on, as uvicorn is after a response
            http._unset_keepalive_if_required()  # one armed by the response, if any
            http.timeout_keep_alive_task = http.loop.call_later(
                http.timeout_keep_alive, http.timeout_keep_alive_handler
            )

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
