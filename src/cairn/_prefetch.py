"""Asking the disk for a file's next bytes ahead of the thread that reads or sends them.

The kernel's own read-ahead leaves a thread that reads a cold file front to back waiting on
the disk, and spending more CPU on it: on a 2-core VM, 1 GiB downloads went from 676-1,110 to
1,069-1,258 MB/s with the server asking ahead as it sends (the SDK spending ~1.0 instead of
~1.5 CPU-s), and the SDK's upload of a cold 1 GiB file from 423 to 637 MB/s (its CPU 2.59 ->
1.42 s; bench/README.md, session 23). 8 MiB steps beat 16 or 32 MiB ones; 8 or 16 MiB ahead
gained little, 64 MiB no more than 32. The bytes ahead sit in the page cache, which the
system may reclaim, not in the process's memory.
"""

from __future__ import annotations

import os

PREFETCH_BYTES = 32 << 20
PREFETCH_STEP = 8 << 20


class Prefetcher:
    """Keeps the disk reading an open file, never past ``end``, up to PREFETCH_BYTES past a
    position that only moves forward, PREFETCH_STEP at a time (``posix_fadvise`` WILLNEED:
    a hint; where the system cannot take it, the reads fetch the bytes as they go). Nothing
    before the first position is asked for."""

    def __init__(self, fd: int, end: int | None = None) -> None:
        self.fd = fd
        self.end = end
        self.asked_to = 0  # bytes up to here were asked of the disk (or read already)

    def ahead_of(self, position: int) -> None:
        """Ask for the bytes up to PREFETCH_BYTES past ``position`` not asked for yet."""
        advise = getattr(os, "posix_fadvise", None)
        self.asked_to = max(self.asked_to, position)
        while position + PREFETCH_BYTES >= self.asked_to + PREFETCH_STEP:
            length = PREFETCH_STEP
            if self.end is not None:
                length = min(length, self.end - self.asked_to)
            if length <= 0 or advise is None:
                return
            try:
                advise(self.fd, self.asked_to, length, os.POSIX_FADV_WILLNEED)
            except OSError:
                return
            self.asked_to += length
