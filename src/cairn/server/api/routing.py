"""Route classification for the census: which routes are public, and which action guards each."""

from __future__ import annotations

from typing import Any

from cairn.server.api.schemas import ErrorBody
from cairn.server.domain.roles import Action

API_PREFIX = "/api/v1"
ACTION_KEY = "x-cairn-action"

# Every route not listed here must depend on http.identity.principal (API) or
# http.identity.session_principal (web pages); the census test checks.
PUBLIC_ROUTES: frozenset[tuple[str, str]] = frozenset(
    {
        ("GET", f"{API_PREFIX}/health"),
        ("POST", f"{API_PREFIX}/auth/login"),
        ("GET", "/openapi.json"),
        ("GET", "/docs"),
        ("GET", "/docs/oauth2-redirect"),
        ("GET", "/"),  # redirects to /registry
        ("GET", "/login"),
        ("POST", "/login"),
        ("GET", "/static"),  # vendored htmx, stylesheet, script
    }
)


def guarded_by(action: Action) -> dict[str, Any]:
    """Route metadata naming the role-table action the service enforces on a registry."""
    return {ACTION_KEY: action.value}


ERROR_STATUSES = {
    400: "Malformed request (a bad header, a NUL byte, an unusable value)",
    401: "No credentials, or an unknown, revoked or malformed API key",
    403: "The caller can see the resource but lacks the role for this action",
    404: "Not found, or hidden from the caller (the same answer)",
    409: "Conflicts with the current state (a duplicate name, a protected alias, a type)",
    411: "A blob upload without Content-Length",
    413: "The body is larger than allowed",
    415: "The body is not JSON (or, for blobs, not application/octet-stream)",
    422: "The body or a parameter is invalid",
    429: "Too many failed sign-ins; try again later",
    503: "The database or the blob storage is unavailable; try again",
    507: "The server's storage is full",
}
# Documented on every API route: each answers these with the standard error body.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in ERROR_STATUSES.items()
}
# The body of a file download: the bytes, as an attachment (206 for a single range).
FILE_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {
        "description": description,
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
    for status, description in ((200, "The file's bytes"), (206, "The requested range"))
}
FILE_RESPONSES[307] = {
    "description": (
        "With presigned downloads on (CAIRN_S3_PRESIGNED_DOWNLOADS): a short-lived URL of the "
        "bytes in the bucket; send the same request there, without the Authorization header"
    ),
    "headers": {"Location": {"schema": {"type": "string", "format": "uri"}}},
}
