"""What every error body must be: the code for its status, and nothing leaked from inside."""

from __future__ import annotations

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
