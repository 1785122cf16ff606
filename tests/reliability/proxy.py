"""A TCP forwarder the fault tests put between a server and its database or object store."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from tests.servers import free_port


class Proxy:
    """Forwards 127.0.0.1:port to a TCP or Unix-socket target; can be cut and restored."""

    def __init__(self, target: tuple[str, int] | str) -> None:
        self.target = target
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._live: list[socket.socket] = []
        self._lock = threading.Lock()
        self._stalled = False

    def _connect_target(self) -> socket.socket:
        if isinstance(self.target, str):
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        else:
            upstream = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        upstream.connect(self.target)
        return upstream

    def start(self) -> None:
        """Listen (again) on the same port and forward every connection."""
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed by cut()
            if self._stalled:
                with self._lock:
                    self._live.append(client)  # held open, never answered
                continue
            try:
                upstream = self._connect_target()
            except OSError:
                client.close()
                continue
            with self._lock:
                self._live += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pump, args=(source, sink), daemon=True).start()

    def stall(self) -> None:
        """The peer hangs: open connections are reset, new ones are accepted but never answered."""
        self._reset_live()
        self._stalled = True

    def resume(self) -> None:
        """Forward again after stall()."""
        self._reset_live()
        self._stalled = False

    def _reset_live(self) -> None:
        with self._lock:
            live, self._live = self._live, []
        for sock in live:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def cut(self) -> None:
        """The peer goes away: new connections are refused and open ones are reset."""
        if self._listener is not None:
            with suppress(OSError):  # wakes the thread blocked in accept() (Linux)
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        self._reset_live()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    with suppress(OSError):
        while data := source.recv(1 << 16):
            sink.sendall(data)
    with suppress(OSError):
        sink.shutdown(socket.SHUT_WR)


@contextmanager
def forwarding(target: tuple[str, int] | str) -> Iterator[Proxy]:
    """A started proxy to `target`, cut when the block ends."""
    proxy = Proxy(target)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.cut()


@contextmanager
def silent_peer() -> Iterator[int]:
    """A port that accepts connections and never answers: a hung database or object store."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                held.append(listener.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield listener.getsockname()[1]
    finally:
        with suppress(OSError):
            listener.shutdown(socket.SHUT_RDWR)
        listener.close()
        for sock in held:
            sock.close()
