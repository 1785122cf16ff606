"""Blob upload: which digests to send, and streaming one file's bytes in, verified."""

from __future__ import annotations

import asyncio
import functools
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from cairn.server.api import schemas
from cairn.server.domain.principal import Principal
from cairn.server.http.deps import AppState, Db, State
from cairn.server.http.identity import Caller
from cairn.server.services import uploads

router = APIRouter()
FEED_BYTES = 4 << 20
UPLOAD_THREADS = 32


@router.post("/blobs/missing", response_model=schemas.MissingOut)
def missing(body: schemas.MissingIn, caller: Caller, db: Db) -> schemas.MissingOut:
    """The digests this caller must upload before committing a version that names them."""
    wanted = [(b.sha256, b.size) for b in body.blobs]
    return schemas.MissingOut(missing=uploads.missing(db, caller, wanted))


def _complete(
    state: AppState, caller: Principal, sink: uploads.BlobSink, rest: list[bytes]
) -> tuple[str, bool]:
    """Feed the last bytes, verify and move them into place, then record who sent them."""
    if rest:
        sink.feed(rest)
    md5 = sink.finish()
    return md5, state.recorder.record(caller, sink.sha256, sink.expected_size, md5)


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
    sink = uploads.BlobSink(state.blobs, sha256, size, state.settings.max_blob_bytes)
    loop = asyncio.get_running_loop()
    job: asyncio.Future[Any] | None = None
    if size > FEED_BYTES // 4:  # the file is started while its first bytes arrive
        job = loop.run_in_executor(_upload_threads(), sink.open)
    try:
        batch: list[bytes] = []
        batched = 0
        async for chunk in request.stream():
            batch.append(chunk)
            batched += len(chunk)
            if batched >= FEED_BYTES:
                if job is not None:
                    await asyncio.shield(job)
                job = loop.run_in_executor(_upload_threads(), sink.feed, batch)
                batch, batched = [], 0
        if job is not None:
            await asyncio.shield(job)
        job = loop.run_in_executor(_upload_threads(), _complete, state, caller, sink, batch)
        md5, created = await asyncio.shield(job)
    except BaseException:
        with anyio.CancelScope(shield=True):
            if job is not None:
                await _settled(job)
            await _settled(loop.run_in_executor(_upload_threads(), sink.abort))
        raise
    body = {"sha256": sink.sha256, "size": size, "md5": md5, "created": created}
    return JSONResponse(body, status_code=201)


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
