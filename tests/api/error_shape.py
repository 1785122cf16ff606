"""What every error body must be: the code for its status, and nothing leaked from inside."""

from __future__ import annotations

import httpx

ERROR_CODES = {
    400: "bad_request",
    401: "authentication_error",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    411: "length_required",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
}
# What a body must never show (unless the request itself carried it): tracebacks, SQL,
# driver and module names, server paths.
LEAKS = (
    "Traceback",
    'File "',
    '.py"',
    "site-packages",
    "sqlalchemy",
    "sqlite3",
    "psycopg",
    "pydantic_core",
    "errors.pydantic.dev",
    "SELECT ",
    "INSERT ",
    " FROM ",
    " WHERE ",
    "/work/",
    "/tmp/",
    "/home/",
    "cairn/server",
)


def check_error(resp: httpx.Response) -> str:
    """Assert that `resp` is a clean error answer and return its message."""
    assert 400 <= resp.status_code < 500, f"{resp.status_code}: {resp.text[:300]}"
    assert resp.headers["content-type"].startswith("application/json")
    body = resp.json()
    assert isinstance(body, dict)
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message"}, body
    assert body["error"]["code"] == ERROR_CODES[resp.status_code], body
    message = body["error"]["message"]
    assert isinstance(message, str)
    assert message.strip()
    for leak in LEAKS:
        assert leak not in resp.text, f"{leak!r} in {resp.text[:300]}"
    return message
