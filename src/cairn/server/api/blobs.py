"""Blob upload: which digests to send, and streaming one file's bytes in, verified."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from cairn.server.api import schemas
from cairn.server.domain.principal import Principal
from cairn.server.http.deps import AppState, Db, State
from cairn.server.http.identity import Caller
from cairn.server.services import uploads

router = APIRouter()
FEED_BYTES = 1 << 20


@router.post("/blobs/missing", response_model=schemas.MissingOut)
def missing(body: schemas.MissingIn, caller: Caller, db: Db) -> schemas.MissingOut:
    """The digests this caller must upload before committing a version that names them."""
    wanted = [(b.sha256, b.size) for b in body.blobs]
    return schemas.MissingOut(missing=uploads.missing(db, caller, wanted))


def _record(state: AppState, caller: Principal, sha256: str, size: int, md5: str) -> bool:
    with state.writers() as s, s.begin():
        return uploads.record(s, caller, sha256, size, md5)


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
    """Stream one file's bytes, hashed on the way; kept only when digest and size match."""
    size = int(request.headers["content-length"])  # the edge guard requires and checks it
    sink = await run_in_threadpool(
        uploads.BlobSink, state.blobs, sha256, size, state.settings.max_blob_bytes
    )
    try:
        pending = bytearray()
        async for chunk in request.stream():
            pending += chunk
            if len(pending) >= FEED_BYTES:
                await run_in_threadpool(sink.feed, bytes(pending))
                pending.clear()
        if pending:
            await run_in_threadpool(sink.feed, bytes(pending))
        md5 = await run_in_threadpool(sink.finish)
    except BaseException:
        await run_in_threadpool(sink.abort)
        raise
    created = await run_in_threadpool(_record, state, caller, sink.sha256, size, md5)
    out = schemas.BlobOut(sha256=sink.sha256, size=size, md5=md5, created=created)
    return JSONResponse(out.model_dump(), status_code=201)
