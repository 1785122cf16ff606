"""Streaming blobs as downloads: one as an attachment with single ranges for resuming, or many
as one blob stream."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any
from urllib.parse import quote

from fastapi.responses import RedirectResponse, Response, StreamingResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from cairn.server.blobs.base import READ_CHUNK, BlobStore
from cairn.server.domain import blobstream
from cairn.server.domain.errors import NotFoundError
from cairn.server.http.deps import AppState
from cairn.server.http.readahead import read_ahead
from cairn.server.http.zerocopy import FilePartsResponse, FileRange
from cairn.server.services.artifacts import FileView

_RANGE = re.compile(r"bytes=(\d{1,19})-(\d{0,19})")
# Small files of a blob stream are read this many bytes per worker-thread hop: a hop costs
# about as much as reading a small file, so one per file would halve the throughput.
GROUP_BYTES = 2 << 20
# One file's body is streamed in pieces of this size: a piece costs a worker-thread hop and a
# pass of the event loop, and 4 MiB ones sent 1 GiB with ~15% less server CPU than 1 MiB ones
# on a 2-core VM (~10% faster downloads). The price is memory per download in progress: the
# piece read ahead plus what the transport still holds of the last one for a slow reader,
# up to ~8 MiB instead of ~2 MiB.
STREAM_PIECE = 4 << 20
# The 200 body of a batch download, for the OpenAPI document.
BLOBS_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": (
            "A blob stream: per distinct requested digest, in request order, a "
            "'<sha256> <size>' line then exactly that many bytes"
        ),
        "content": {blobstream.MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}},
    }
}


def _attachment(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    ascii_name = re.sub(r"[^A-Za-z0-9._-]", "_", name) or "file"
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


def _missing(file: FileView) -> NotFoundError:
    return NotFoundError(f"the bytes of {file.path!r} are missing from storage")


def _damaged(file: FileView) -> NotFoundError:
    return NotFoundError(f"the bytes of {file.path!r} are damaged in storage")


def _whole(store: BlobStore, file: FileView, start: int, end: int) -> bytes:
    """Bytes [start, end) read at once (called from the route's worker thread)."""
    try:
        body = b"".join(store.read(file.sha256, start, end))
    except FileNotFoundError:
        raise _missing(file) from None
    if len(body) != end - start:
        raise _damaged(file)
    return body


def file_response(store: BlobStore, file: FileView, range_header: str | None) -> Response:
    """The bytes of `file`, whole (200) or from a `Range: bytes=N-[M]` (206; 416 if outside).

    Call it from a worker thread: a body of at most READ_CHUNK (what a stream holds in memory
    anyway) is read right here and sent in one piece, sparing the stream's per-chunk thread
    hops and disconnect watcher, which dominate the cost of small files.
    Where the store hands out presigned URLs, the answer is a 307 to one instead: the client
    sends the same request, Range included, to the bucket (without its Cairn credentials).
    """
    disposition = _attachment(file.path)
    direct = store.download_url(file.sha256, disposition)
    if direct is not None:
        return RedirectResponse(
            direct,
            status_code=307,
            headers={"Cache-Control": "no-store", "X-Cairn-Sha256": file.sha256},
        )
    headers = {
        "Content-Disposition": disposition,
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

    def streamed() -> AsyncIterator[bytes]:
        return read_ahead(store.read(file.sha256, start, end, piece=STREAM_PIECE))

    local = store.local_path(file.sha256)
    if local is not None:
        return FilePartsResponse(
            [FileRange(local, start, end)],
            streamed,
            status_code=status,
            media_type="application/octet-stream",
            headers=headers,
        )
    return StreamingResponse(
        streamed(), status_code=status, media_type="application/octet-stream", headers=headers
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


class BlobVanishedError(Exception):
    """A blob's bytes went missing or changed size after its stream began: the body is cut
    short (the connection closes) so that the client sees an incomplete answer."""


def _checked(store: BlobStore, files: list[FileView]) -> list[FileView]:
    """``files`` once every one's bytes are in storage at the recorded size (404 otherwise)."""
    for file, stored in zip(files, store.sizes([f.sha256 for f in files]), strict=True):
        if stored is None:
            raise _missing(file)
        if stored != file.size:
            raise _damaged(file)
    return files


def _blob(store: BlobStore, file: FileView) -> Iterator[bytes]:
    """A file's bytes in READ_CHUNK pieces, exactly ``file.size`` of them or an error."""
    sent = 0
    try:
        for chunk in store.read(file.sha256, 0, file.size):
            sent += len(chunk)
            if sent > file.size:
                break
            yield chunk
    except FileNotFoundError:
        raise BlobVanishedError(f"the bytes of {file.path!r} vanished while sent") from None
    if sent != file.size:
        raise BlobVanishedError(f"the bytes of {file.path!r} changed size while sent")


def records(store: BlobStore, files: list[FileView]) -> Iterator[list[bytes]]:
    """The blob stream of ``files`` as groups of pieces, each group one worker-thread hop:
    headers and small files up to GROUP_BYTES, larger files a READ_CHUNK at a time."""
    group: list[bytes] = []
    grouped = 0
    for file in files:
        group.append(blobstream.header(file.sha256, file.size))
        if file.size > READ_CHUNK:
            yield group
            group, grouped = [], 0
            yield from ([chunk] for chunk in _blob(store, file))
            continue
        group.extend(_blob(store, file))
        grouped += file.size
        if grouped >= GROUP_BYTES:
            yield group
            group, grouped = [], 0
    if group:
        yield group


async def _pieces(groups: AsyncIterator[list[bytes]]) -> AsyncIterator[bytes]:
    """Each piece of each group, as it is (joining them would copy every byte once more)."""
    async for group in groups:
        for piece in group:
            yield piece


async def serve_batch(state: AppState, find: Callable[[Session], list[FileView]]) -> Response:
    """Look the files up in one read transaction (closed before any byte is read), check that
    storage holds each, then stream them as one blob stream, reading the next piece while
    this one is sent. Any refusal comes before the first byte."""

    def prepare() -> list[FileView]:
        with state.readers() as s:
            files = find(s)
        return _checked(state.blobs, files)

    files = await run_in_threadpool(prepare)
    length = sum(len(blobstream.header(f.sha256, f.size)) + f.size for f in files)
    headers = {"Content-Length": str(length), "Cache-Control": "private, max-age=0"}

    def streamed() -> AsyncIterator[bytes]:
        return _pieces(read_ahead(records(state.blobs, files)))

    paths = [state.blobs.local_path(f.sha256) for f in files]
    if all(path is not None for path in paths):
        parts: list[bytes | FileRange] = []
        for file, path in zip(files, paths, strict=True):
            assert path is not None
            parts += [blobstream.header(file.sha256, file.size), FileRange(path, 0, file.size)]
        return FilePartsResponse(parts, streamed, media_type=blobstream.MEDIA_TYPE, headers=headers)
    return StreamingResponse(streamed(), media_type=blobstream.MEDIA_TYPE, headers=headers)
