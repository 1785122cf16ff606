"""Before every timed transfer step: the page cache dropped and fresh memory faulted in."""

from __future__ import annotations

import mmap
import os
from dataclasses import dataclass
from pathlib import Path

from bench import _proc


def drop_caches() -> bool:
    """`sync; echo 3 > /proc/sys/vm/drop_caches`; whether the kernel accepted it."""
    os.sync()
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    except OSError:
        return False
    return True


def touch_memory(nbytes: int) -> None:
    """Fault in ``nbytes`` of anonymous memory, then free it.

    On a VM whose balloon reports free pages to the host, a page the guest has not touched
    for a while costs a fault in the host (~13 us per 4 KiB) the next time it is used, charged
    as CPU time to whichever step takes it. Dropping the page cache hands the next step
    such pages, in amounts that vary from step to step; touching memory first gives every
    step, references included, memory the host has just provided.
    """
    available = (_proc.meminfo_kib("MemAvailable") or 0) * 1024
    nbytes = min(nbytes, available // 2)  # never push the machine into swapping
    if nbytes <= 0:
        return
    populate = getattr(mmap, "MAP_POPULATE", 0)
    region = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | populate)
    if not populate:
        for offset in range(0, nbytes, mmap.PAGESIZE):
            region[offset] = 1
    region.close()


@dataclass
class Cold:
    """Drops the page cache before every timed transfer, when allowed, then touches
    ``touch_bytes`` of memory (``touch_memory``); the same for all."""

    enabled: bool
    touch_bytes: int = 0
    worked: bool | None = None

    def __call__(self) -> None:
        if not self.enabled:
            os.sync()
        else:
            ok = drop_caches()
            self.worked = ok if self.worked is None else (self.worked and ok)
        touch_memory(self.touch_bytes)
