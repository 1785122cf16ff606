"""md5 of many files side by side: native (cairn._md5x) where it was built, else hashlib."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Protocol

try:
    from cairn import _md5x
except ImportError:  # installed without a C compiler: hashlib, one file at a time
    _md5x = None  # type: ignore[assignment]

Bytes = bytes | bytearray | memoryview
NATIVE = _md5x is not None
# How many files update_many() hashes at once: more per call gain nothing.
LANES: int = _md5x.LANES if _md5x is not None else 1


class Md5(Protocol):
    """An md5 in progress."""

    def update(self, data: Bytes, /) -> None: ...

    def hexdigest(self) -> str: ...


def new() -> Md5:
    """An md5 that update_many() can advance together with others made here: hashlib's
    where the native engine has a single lane (no AVX2), as one input goes no faster."""
    if _md5x is None or LANES == 1:
        return hashlib.md5(usedforsecurity=False)
    return _md5x.Md5()


def update_many(pairs: Sequence[tuple[Md5, Sequence[Bytes]]]) -> None:
    """Hash each pair's buffers, in order, into its md5 (each md5 at most once): those made
    by new() up to LANES side by side with the native engine, without the GIL; hashlib's one
    after the other."""
    native = [p for p in pairs if _md5x is not None and isinstance(p[0], _md5x.Md5)]
    if native:
        _md5x.update_many(native)  # type: ignore[arg-type]
    for md5, buffers in pairs:
        if _md5x is None or not isinstance(md5, _md5x.Md5):
            for data in buffers:
                md5.update(data)
