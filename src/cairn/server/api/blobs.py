"""Blob upload: which digests to send, and streaming files' bytes in (one, or a blob stream)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from cairn import _md5
from cairn.server.api import schemas
from cairn.server.blobs.base import Chunk
from cairn.server.domain import blobstream
from cairn.server.domain.errors import ValidationError
from cairn.server.domain.principal import Principal
from cairn.server.http.deps import AppState, Db, State
from cairn.server.http.identity import Caller
from cairn.server.http.rawbody import body_reader, unzeroed_buffer
from cairn.server.services import blob_md5, direct_uploads, sent_blobs, uploads

router = APIRouter()
FEED_BYTES = 4 << 20
# A blob stream is received into buffers of this size, each kept until its files are stored.
STREAM_PIECE = 1 << 20
UPLOAD_THREADS = 32
# The complete files of a blob stream are stored (verified, made durable) in groups, one
# thread job each, while the next ones arrive: up to md5 LANES files (their md5s are taken
# side by side) and GROUP_BYTES, with at most BATCH_FINISHING_BYTES of complete files held
# in memory and FINISHING_GROUPS groups being stored. Stored files are recorded in
# transactions of up to RECORD_BATCH.
GROUP_BYTES = 8 << 20
BATCH_FINISHING_BYTES = 8 << 20
FINISHING_GROUPS = 4
RECORD_BATCH = 256
BLOB_STREAM_BODY = {
    "requestBody": {
        "required": True,
        "content": {blobstream.MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}},
    }
}


@router.post("/blobs/missing", response_model=schemas.MissingOut)
def missing(body: schemas.MissingIn, caller: Caller, db: Db) -> schemas.MissingOut:
    """The digests this caller must upload before committing a version that names them."""
    wanted = [(b.sha256, b.size) for b in body.blobs]
    return schemas.MissingOut(missing=uploads.missing(db, caller, wanted))


@router.post("/blobs/sizes", response_model=schemas.SizesOut)
def sizes(body: schemas.SizesIn, caller: Caller, db: Db) -> schemas.SizesOut:
    """Which of these sizes a blob this caller sent has: a file of any other size is
    certainly missing, so it can be sent in a blob stream while it is hashed."""
    return schemas.SizesOut(sent=sent_blobs.sent_sizes(db, caller, body.sizes))


@router.post("/blobs/ends", response_model=schemas.EndsOut)
def ends(body: schemas.EndsIn, caller: Caller, db: Db) -> schemas.EndsOut:
    """Which of these files (size and ends, ``cairn._ends``) a blob this caller sent may be:
    a file of a size it sent but of other ends is certainly missing too."""
    wanted = [(f.size, f.ends) for f in body.files]
    found = sent_blobs.sent_ends(db, caller, wanted)
    return schemas.EndsOut(sent=[schemas.SizeEndsOut(size=s, ends=e) for s, e in found])


def group_full(files: int, nbytes: int) -> bool:
    """Whether a group of complete files of a blob stream is to be stored now: it holds as
    many files as md5 has lanes, or GROUP_BYTES."""
    return files >= _md5.LANES or nbytes >= GROUP_BYTES


def _blob_out(sha256: str, size: int, md5: str | None, created: bool) -> dict[str, Any]:
    """A stored blob as the API answers it (schemas.BlobOut)."""
    return {"sha256": sha256, "size": size, "md5": md5, "created": created}


def _complete(
    state: AppState, caller: Principal, sink: uploads.BlobSink, rest: Sequence[Chunk]
) -> tuple[str | None, bool]:
    """Feed the last bytes, verify them and move them into place, then record who sent them;
    the md5 (None: the recorder hands the blob to blob_md5) and whether the blob is new."""
    if rest:
        sink.feed(rest)
    md5 = sink.finish()
    return md5, state.recorder.record(caller, sink.sha256, sink.expected_size, md5, sink.ends)


@router.put(
    "/blobs/{sha256}",
    status_code=201,
    response_model=schemas.BlobOut,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        }
    },
)
async def upload(sha256: str, request: Request, caller: Caller, state: State) -> JSONResponse:
    """Stream one file's bytes, hashed on the way; kept only when digest and size match.

    Bytes are handed to a thread FEED_BYTES at a time; the next batch is received while the
    previous one is hashed and written, so at most two batches per upload are in memory.
    The sink is used by one thread job at a time: a job is always waited for, even when the
    request is cancelled, before the next one (or the clean-up) starts.
    """
    size = int(request.headers["content-length"])  # the edge guard requires and checks it
    sink = uploads.BlobSink(
        state.blobs,
        sha256,
        size,
        state.settings.max_blob_bytes,
        md5_later=blob_md5.takes_later(state.blobs, size),
    )
    loop = asyncio.get_running_loop()
    job: asyncio.Future[Any] | None = None
    if size > FEED_BYTES // 4:  # the file is started while its first bytes arrive
        job = loop.run_in_executor(_upload_threads(), sink.open)
    try:
        async for batch, last in _batches(request, size):
            if job is not None:
                await asyncio.shield(job)
            if last:
                job = loop.run_in_executor(_upload_threads(), _complete, state, caller, sink, batch)
            else:
                job = loop.run_in_executor(_upload_threads(), sink.feed, batch)
        assert job is not None, "the last batch always comes"
        md5, created = await asyncio.shield(job)
    except BaseException:
        with anyio.CancelScope(shield=True):
            if job is not None:
                await _settled(job)
            await _settled(loop.run_in_executor(_upload_threads(), sink.abort))
        raise
    return JSONResponse(_blob_out(sink.sha256, size, md5, created), status_code=201)


async def _batches(request: Request, size: int) -> AsyncIterator[tuple[list[Chunk], bool]]:
    """The body of a single-file upload in batches of up to FEED_BYTES, each with whether it
    is the last; the caller is done with a batch (its thread job awaited) before it asks for
    the next but one, whose bytes may reuse the same buffer."""
    reader = body_reader(request.scope)
    if reader is None:
        batch: list[Chunk] = []
        batched = 0
        async for chunk in request.stream():
            batch.append(chunk)
            batched += len(chunk)
            if batched >= FEED_BYTES:
                yield batch, False
                batch, batched = [], 0
        yield batch, True
        return
    buffers = [bytearray(min(size, FEED_BYTES)) for _ in range(2 if size > FEED_BYTES else 1)]
    received = turn = 0
    while received < size:
        view = memoryview(buffers[turn % len(buffers)])[: size - received]
        n = await reader.fill(view)
        if n == 0:
            break  # the body ended early: the sink reports the size
        received += n
        turn += 1
        yield [view[:n]], received == size
    if received < size or size == 0:
        yield [], True


@router.post("/blobs/uploads", status_code=201, response_model=schemas.DirectUploadOut)
def start_direct_upload(
    body: schemas.DirectUploadIn, caller: Caller, state: State
) -> schemas.DirectUploadOut:
    """A presigned URL to PUT one file's bytes straight into the bucket, then complete the
    upload; 404 where the server does not offer it (send the bytes to it instead)."""
    started = direct_uploads.start(state.blobs, caller, body.size, state.settings.max_blob_bytes)
    return schemas.DirectUploadOut(
        upload=started.upload,
        url=started.url,
        method="PUT",
        headers={"Content-Length": str(body.size)},
        expires_in=state.settings.s3_presign_seconds,
    )


@router.post("/blobs/uploads/{upload}/complete", status_code=201, response_model=schemas.BlobOut)
def complete_direct_upload(
    upload: str, body: schemas.BlobRef, caller: Caller, state: State
) -> JSONResponse:
    """Verify the bytes a direct upload put in the bucket (read back, size and sha256) and
    copy them into place as that blob; refused bytes are dropped and must be sent again."""
    sha256, md5, ends = direct_uploads.finish(
        state.blobs, caller, upload, body.sha256, body.size, state.settings.max_blob_bytes
    )
    created = state.recorder.record(caller, sha256, body.size, md5, ends)
    return JSONResponse(_blob_out(sha256, body.size, md5, created), status_code=201)


@router.post(
    "/blobs/batch",
    status_code=201,
    response_model=schemas.BlobBatchOut,
    openapi_extra=BLOB_STREAM_BODY,
)
async def upload_batch(request: Request, caller: Caller, state: State) -> JSONResponse:
    """Store many files sent in one blob stream (docs/api.md), each verified like a single one.

    A file is kept and recorded as soon as it is complete and verified, while the next ones
    arrive; a failure stops the request, and the files already kept stay (/blobs/missing
    tells which are left).
    """
    receiver = _StreamReceiver(state, caller)
    try:
        async for piece in _pieces(request):
            await receiver.take(piece)
        stored = await receiver.end()
    except BaseException:
        with anyio.CancelScope(shield=True):
            await receiver.abandon()
        raise
    return JSONResponse({"blobs": stored}, status_code=201)


async def _pieces(request: Request) -> AsyncIterator[memoryview]:
    """A blob stream's body in pieces the receiver may keep: each received into a buffer of
    its own (STREAM_PIECE), or as the server's HTTP parser handed it over. A buffer's memory
    is not cleared first (unzeroed_buffer): only the received slice of it is handed on, and
    nothing may reach past it (``piece.obj`` would)."""
    reader = body_reader(request.scope)
    if reader is None:
        async for chunk in request.stream():
            yield memoryview(chunk)
        return
    left = reader.length
    while left:
        view = unzeroed_buffer(min(STREAM_PIECE, left))
        n = await reader.fill(view)
        if n == 0:
            return  # the body ended early: the receiver reports a record cut short
        left -= n
        yield view[:n]


# What uploads.store_all gives back: the md5 of each file stored, and why it stopped early.
_Stored = tuple[list[str | None], Exception | None]


class _StreamReceiver:
    """Splits a blob stream into files: each is fed to its own BlobSink, one thread job at a
    time; once complete (and its digest known: in its header, or in the trailer after its
    bytes) it joins a group of files that are finished together (uploads.store_all) and
    recorded on the upload threads while the following ones arrive."""

    def __init__(self, state: AppState, caller: Principal) -> None:
        self._state = state
        self._caller = caller
        self._loop = asyncio.get_running_loop()
        self._header = bytearray()
        self._trailer = bytearray()
        self._files = 0
        self._sink: uploads.BlobSink | None = None
        self._left = 0
        self._batch: list[memoryview] = []
        self._batched = 0
        self._feeding: asyncio.Future[Any] | None = None
        self._group: list[tuple[uploads.BlobSink, list[memoryview]]] = []
        self._group_bytes = 0
        self._finishing: list[tuple[asyncio.Future[_Stored], list[uploads.BlobSink], int]] = []
        self._held = 0
        self._unrecorded: list[uploads.Received] = []
        self._stored: list[dict[str, Any]] = []

    async def take(self, data: memoryview) -> None:
        """Consume the next piece of the body."""
        while data:
            if self._sink is None:
                data = await self._read_header(data)
                continue
            n = min(len(data), self._left)
            if n:
                self._batch.append(data[:n])
                self._batched += n
                self._left -= n
                data = data[n:]
            if self._left == 0:
                sink = self._sink
                if not sink.declared:
                    data = self._read_trailer(sink, data)
                    if not sink.declared:
                        continue
                await self._finish_file()
            elif self._batched >= FEED_BYTES:
                await self._feed()

    async def _read_header(self, data: memoryview) -> memoryview:
        end = bytes(data[: blobstream.MAX_HEADER]).find(b"\n")
        if end < 0:
            self._header += data
            if len(self._header) >= blobstream.MAX_HEADER:
                blobstream.parse_header(bytes(self._header))  # raises: no line feed in time
            return data[len(data) :]
        self._header += data[: end + 1]
        sha256, size = blobstream.parse_header(bytes(self._header))
        self._header.clear()
        self._files += 1
        if self._files > blobstream.MAX_FILES:
            raise ValidationError(
                f"a blob stream holds at most {blobstream.MAX_FILES} files; send the rest "
                "in another"
            )
        # a file too large to share its group gets hashlib's md5: one input goes no faster
        md5 = _md5.new() if size <= GROUP_BYTES else None
        self._sink = uploads.BlobSink(
            self._state.blobs,
            sha256,
            size,
            self._state.settings.max_blob_bytes,
            md5,
            md5_later=blob_md5.takes_later(self._state.blobs, size),
        )
        self._left = size
        if size == 0 and self._sink.declared:
            await self._finish_file()
        return data[end + 1 :]

    def _read_trailer(self, sink: uploads.BlobSink, data: memoryview) -> memoryview:
        """Collect the sha256 line after a `- <size>` record's bytes; declare it once whole."""
        take = blobstream.TRAILER - len(self._trailer)
        self._trailer += data[:take]
        if len(self._trailer) == blobstream.TRAILER:
            sink.declare(blobstream.parse_trailer(bytes(self._trailer)))
            self._trailer.clear()
        return data[take:]

    async def _feed(self) -> None:
        assert self._sink is not None
        if self._feeding is not None:
            await asyncio.shield(self._feeding)
        self._feeding = self._loop.run_in_executor(_upload_threads(), self._sink.feed, self._batch)
        self._batch, self._batched = [], 0

    async def _finish_file(self) -> None:
        sink, rest, held = self._sink, self._batch, self._batched
        assert sink is not None
        if self._feeding is not None:
            await asyncio.shield(self._feeding)
            self._feeding = None
        self._sink, self._batch, self._batched = None, [], 0
        self._group.append((sink, rest))
        self._group_bytes += held
        self._held += held
        if group_full(len(self._group), self._group_bytes):
            self._store_group()
        while self._held > BATCH_FINISHING_BYTES or len(self._finishing) > FINISHING_GROUPS:
            if not self._finishing:
                self._store_group()
            await self._collect_oldest()

    def _store_group(self) -> None:
        files, held = self._group, self._group_bytes
        self._group, self._group_bytes = [], 0
        job = self._loop.run_in_executor(_upload_threads(), uploads.store_all, files)
        self._finishing.append((job, [sink for sink, _ in files], held))

    async def _collect_oldest(self) -> None:
        job, sinks, held = self._finishing[0]
        stored, error = await asyncio.shield(job)
        self._finishing.pop(0)
        self._held -= held
        self._keep(sinks, stored)
        if error is not None:
            raise error
        if len(self._unrecorded) >= RECORD_BATCH:
            await self._record()

    def _keep(self, sinks: Sequence[uploads.BlobSink], stored: Sequence[str | None]) -> None:
        """Note the files of a group that were stored (the first ``len(stored)``), to record."""
        self._unrecorded += [
            uploads.Received(self._caller, sink.sha256, sink.expected_size, md5, sink.ends)
            for sink, md5 in zip(sinks, stored, strict=False)
        ]

    async def _record(self) -> None:
        """Record the files stored so far (they count as sent by the caller from now on)."""
        received, self._unrecorded = self._unrecorded, []
        job = self._loop.run_in_executor(
            _upload_threads(), self._state.recorder.record_all, received
        )
        created = await asyncio.shield(job)
        self._stored += [
            _blob_out(r.sha256, r.size, r.md5, new)
            for r, new in zip(received, created, strict=True)
        ]

    async def end(self) -> list[dict[str, Any]]:
        """The files stored, in stream order, once the body ended exactly after a file."""
        if self._sink is not None or self._header:
            raise ValidationError("the blob stream ended inside a record; send it again")
        if self._group:
            self._store_group()
        while self._finishing:
            await self._collect_oldest()
        await self._record()
        return self._stored

    async def abandon(self) -> None:
        """After a failure: wait for every thread job, discard the file in progress, and
        record the files that were stored (so that they need not be sent again)."""
        if self._group:
            self._store_group()  # complete files: kept, as they would have been
        for job, sinks, _ in self._finishing:
            await _settled(job)
            if not job.cancelled() and job.exception() is None:
                self._keep(sinks, job.result()[0])
        self._finishing.clear()
        if self._feeding is not None:
            await _settled(self._feeding)
        if self._sink is not None:
            await _settled(self._loop.run_in_executor(_upload_threads(), self._sink.abort))
        with contextlib.suppress(Exception):
            await self._record()


async def _settled(job: asyncio.Future[Any]) -> None:
    """Wait until a thread job has ended, whatever its outcome (already reported, or moot)."""
    await asyncio.wait([job])
    if not job.cancelled():
        job.exception()


@functools.cache
def _upload_threads() -> ThreadPoolExecutor:
    """Threads that hash, write and record uploads: their own, so a burst of uploads neither
    waits behind nor holds up the thread pool of the other routes."""
    return ThreadPoolExecutor(UPLOAD_THREADS, thread_name_prefix="cairn-upload")
