"""Streaming a blocking chunk iterator with the next chunk read while the current one is sent."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncGenerator, Iterator
from typing import TypeVar

T = TypeVar("T")


def _next(chunks: Iterator[T]) -> T | None:
    return next(chunks, None)


def _close(chunks: Iterator[object]) -> None:
    close = getattr(chunks, "close", None)
    if close is not None:
        with contextlib.suppress(Exception):
            close()


async def read_ahead(chunks: Iterator[T]) -> AsyncGenerator[T]:
    """Yield ``chunks``, reading each next one in a worker thread while the caller sends the
    last: storage reads overlap the network. At most two chunks are held at once."""
    loop = asyncio.get_running_loop()
    pending = loop.run_in_executor(None, _next, chunks)
    try:
        # shielded: a cancelled consumer must not mark a read done while its thread still runs
        while (chunk := await asyncio.shield(pending)) is not None:
            pending = loop.run_in_executor(None, _next, chunks)
            yield chunk
    finally:
        # a generator cannot be closed while a thread runs it: close it once that read ends
        pending.add_done_callback(functools.partial(_finish, chunks))


def _finish(chunks: Iterator[object], read: asyncio.Future[object]) -> None:
    """Close ``chunks`` after its last read; an error of a read nobody awaits is dropped."""
    if not read.cancelled():
        read.exception()
    _close(chunks)
