"""ASGI middleware: Host allow-list, JSON-only API bodies, body size caps, security headers."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cairn.server.domain import blobstream
from cairn.server.settings import Settings

BODY_METHODS = frozenset({b"POST", b"PUT", b"PATCH", b"DELETE"})
BLOB_PATH = "/api/v1/blobs/"
BLOB_STREAM_PATH = "/api/v1/blobs/batch"


async def _reject(send: Send, status: int, code: str, message: str) -> None:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class EdgeGuard:
    """Checks every HTTP request before routing: Host, content type and body size."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.any_host = "*" in settings.allowed_hosts
        self.hosts = {h.lower().strip("[]") for h in settings.allowed_hosts}
        self.max_json = settings.max_json_bytes
        self.max_blob = settings.max_blob_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.lower(): v for k, v in scope["headers"]}
        if not self.any_host and _host_name(headers.get(b"host", b"")) not in self.hosts:
            await _reject(send, 400, "bad_request", "this server does not answer to that host name")
            return
        path: str = scope["path"]
        raw_target = scope.get("raw_path", b"") + b"?" + scope.get("query_string", b"")
        if b"%00" in raw_target or "\0" in path:
            await _reject(send, 400, "bad_request", "NUL characters are not allowed in URLs")
            return
        raw_body = _raw_body_type(scope["method"], path)
        if raw_body is not None:
            problem = _blob_upload_problem(headers, self.max_blob, raw_body)
            if problem is not None:
                await _reject(send, *problem)
                return
        elif scope["method"].encode() in BODY_METHODS:  # JSON for the API, forms for the web UI
            length = headers.get(b"content-length")
            has_body = (length not in (None, b"0")) or b"transfer-encoding" in headers
            ctype = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
            if path.startswith("/api/") and has_body and ctype != b"application/json":
                await _reject(
                    send, 415, "unsupported_media_type", "send the body as application/json"
                )
                return
            if length is not None and (not length.isdigit() or int(length) > self.max_json):
                await _reject(send, 413, "payload_too_large", f"body over {self.max_json} bytes")
                return
            body = await _read_capped(receive, self.max_json)
            if body is None:
                await _reject(send, 413, "payload_too_large", f"body over {self.max_json} bytes")
                return
            receive = _replay(body, receive)
        await self.app(scope, receive, _with_headers(send))


def _raw_body_type(method: str, path: str) -> str | None:
    """The media type of a route whose body is file bytes, not JSON: one blob, or a stream."""
    if method == "PUT" and path.startswith(BLOB_PATH):
        return "application/octet-stream"
    if method == "POST" and path == BLOB_STREAM_PATH:
        return blobstream.MEDIA_TYPE
    return None


def _blob_upload_problem(
    headers: dict[bytes, bytes], limit: int, media_type: str
) -> tuple[int, str, str] | None:
    """Blob bodies are raw bytes (one file, application/octet-stream) or a blob stream (many)
    of a declared length (no chunked uploads), within the cap (a stream: plus the framing of
    one record, so that a file of the cap's size fits in one)."""
    ctype = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
    if ctype != media_type.encode():
        return 415, "unsupported_media_type", f"send file bytes as {media_type}"
    length = headers.get(b"content-length")
    if length is None or not length.isdigit():
        return 411, "length_required", "a Content-Length header is required"
    framing = blobstream.RECORD_FRAMING if media_type == blobstream.MEDIA_TYPE else 0
    if int(length) > limit + framing:
        return 413, "payload_too_large", f"files are limited to {limit} bytes"
    return None


def _host_name(raw: bytes) -> str:
    host = raw.decode("latin-1").lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


async def _read_capped(receive: Receive, limit: int) -> bytes | None:
    """The whole (small, JSON) body, or None once it grows past `limit`."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive() that hands the already-read body to the app, then listens as before."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
]


def _with_headers(send: Send) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = list(message.get("headers", [])) + SECURITY_HEADERS
        await send(message)

    return wrapped
