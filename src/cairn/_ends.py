"""A file's ends: the digest of its first and last 4 KiB, which tells most files of one size apart.

Two files whose ends differ cannot have the same content. The SDK computes the ends of a file
on disk (``file_ends``), the server those of the bytes it receives (``Ends``), and a file
whose size and ends no blob its sender sent has is certainly new to the server: the SDK can
send it while it hashes it, instead of hashing it first. Retrained weights of one model have
one size but new bytes at the end, so this is the common case of a push, not a rare one.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

ENDS_BYTES = 4096


class Ends:
    """The ends of bytes fed front to back: their first ENDS_BYTES, then the last ENDS_BYTES
    of those that follow (fewer when there are fewer)."""

    def __init__(self) -> None:
        self._head = bytearray()
        self._tail = bytearray()

    def update(self, data: bytes | bytearray | memoryview) -> None:
        """Take the next bytes."""
        view = memoryview(data).cast("B")
        if len(self._head) < ENDS_BYTES:
            taken = ENDS_BYTES - len(self._head)
            self._head += view[:taken]
            view = view[taken:]
        if len(view) >= ENDS_BYTES:
            self._tail[:] = view[-ENDS_BYTES:]
        elif view:
            self._tail += view
            del self._tail[:-ENDS_BYTES]

    def hexdigest(self) -> str:
        """The hex sha256 of the head and the tail, as ``file_ends`` gives it."""
        return hashlib.sha256(self._head + self._tail).hexdigest()


def file_ends(path: Path) -> str:
    """The ends of a file on disk (two small reads, whatever its size)."""
    ends = Ends()
    with path.open("rb", buffering=0) as handle:
        ends.update(handle.read(ENDS_BYTES))
        size = os.fstat(handle.fileno()).st_size
        if size > ENDS_BYTES:
            handle.seek(max(ENDS_BYTES, size - ENDS_BYTES))
            ends.update(handle.read(ENDS_BYTES))
    return ends.hexdigest()
