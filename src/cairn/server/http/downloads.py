"""Streaming a blob as a download: attachment, ETag, and single byte ranges for resuming."""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import quote

from fastapi.responses import Response, StreamingResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from cairn.server.blobs.base import READ_CHUNK, BlobStore
from cairn.server.domain.errors import NotFoundError
from cairn.server.http.deps import AppState
from cairn.server.http.readahead import read_ahead
from cairn.server.services.artifacts import FileView

_RANGE = re.compile(r"bytes=(\d{1,19})-(\d{0,19})")


def _attachment(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    ascii_name = re.sub(r"[^A-Za-z0-9._-]", "_", name) or "file"
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


def _missing(file: FileView) -> NotFoundError:
    return NotFoundError(f"the bytes of {file.path!r} are missing from storage")


def _whole(store: BlobStore, file: FileView, start: int, end: int) -> bytes:
    """Bytes [start, end) read at once (called from the route's worker thread)."""
    try:
        body = b"".join(store.read(file.sha256, start, end))
    except FileNotFoundError:
        raise _missing(file) from None
    if len(body) != end - start:
        raise NotFoundError(f"the bytes of {file.path!r} are damaged in storage")
    return body


def file_response(store: BlobStore, file: FileView, range_header: str | None) -> Response:
    """The bytes of `file`, whole (200) or from a `Range: bytes=N-[M]` (206; 416 if outside).

    Call it from a worker thread: a body of at most READ_CHUNK (what a stream holds in memory
    anyway) is read right here and sent in one piece, sparing the stream's per-chunk thread
    hops and disconnect watcher, which dominate the cost of small files.
    """
    headers = {
        "Content-Disposition": _attachment(file.path),
        "ETag": f'"{file.sha256}"',
        "Accept-Ranges": "bytes",
        "X-Cairn-Sha256": file.sha256,
        "Cache-Control": "private, max-age=0",
    }
    start, end = 0, file.size
    status = 200
    match = _RANGE.fullmatch(range_header.strip()) if range_header else None
    if match:
        start = int(match.group(1))
        last = int(match.group(2)) if match.group(2) else file.size - 1
        if start >= file.size or last < start:
            headers["Content-Range"] = f"bytes */{file.size}"
            return Response(status_code=416, headers=headers)
        end = min(last + 1, file.size)
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{file.size}"
    if end - start <= READ_CHUNK:
        return Response(
            _whole(store, file, start, end),
            status_code=status,
            media_type="application/octet-stream",
            headers=headers,
        )
    if not store.exists(file.sha256):
        raise _missing(file)
    headers["Content-Length"] = str(end - start)
    return StreamingResponse(
        read_ahead(store.read(file.sha256, start, end)),
        status_code=status,
        media_type="application/octet-stream",
        headers=headers,
    )


async def serve(
    state: AppState, range_header: str | None, find: Callable[[Session], FileView]
) -> Response:
    """Look the file up in a read transaction and answer with its bytes, in one worker thread.

    Download routes use this instead of the per-request transaction dependency: that one
    costs two more thread hops, which for small files weigh more than the lookup itself.
    The transaction ends before any byte is read.
    """

    def answer() -> Response:
        with state.readers() as s:
            file = find(s)
        return file_response(state.blobs, file, range_header)

    return await run_in_threadpool(answer)
