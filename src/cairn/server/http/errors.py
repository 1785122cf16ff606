"""The one place where domain errors become HTTP statuses and error bodies."""

from __future__ import annotations

import errno
import logging
from collections.abc import Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from cairn.server.domain import errors

log = logging.getLogger("cairn.server")

STATUS: dict[type[errors.CairnError], int] = {
    errors.NotFoundError: 404,
    errors.PermissionDeniedError: 403,
    errors.ConflictError: 409,
    errors.ValidationError: 422,
    errors.AuthenticationError: 401,
    errors.RateLimitedError: 429,
}
CODES_BY_STATUS = {
    400: "bad_request",
    401: "authentication_error",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    503: "unavailable",
    507: "insufficient_storage",
}
# File-system errors that mean the storage itself failed, not the request or the code.
FULL_STORAGE = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
FAILED_STORAGE = {errno.EIO, errno.EROFS}
OBJECT_STORE_PACKAGES = {"botocore", "boto3", "s3transfer"}


def error_response(status: int, code: str, message: str) -> JSONResponse:
    """The error body every failure uses."""
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(
        {"error": {"code": code, "message": message}}, status_code=status, headers=headers
    )


# Renders an error as a page for requests it owns (the web UI), or returns None for JSON.
PageRenderer = Callable[[Request, int, str], Response | None]


def install(app: FastAPI, page: PageRenderer | None = None) -> None:
    """Register the handlers that turn every error into the standard body (or an error page)."""

    def respond(request: Request, status: int, code: str, message: str) -> Response:
        shown = page(request, status, message) if page is not None else None
        return shown if shown is not None else error_response(status, code, message)

    @app.exception_handler(errors.CairnError)
    async def _domain(request: Request, exc: errors.CairnError) -> Response:
        return respond(request, STATUS.get(type(exc), 400), exc.code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        return respond(request, 422, "validation_error", describe_validation(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        code = CODES_BY_STATUS.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        return respond(request, exc.status_code, code, message)

    @app.exception_handler(IntegrityError)
    async def _integrity(request: Request, exc: IntegrityError) -> Response:
        # A concurrent request won a uniqueness race the service had checked for.
        log.info("integrity error mapped to 409: %s", exc.orig)
        return respond(request, 409, "conflict", "conflicts with a concurrent change; try again")

    @app.exception_handler(DataError)
    async def _data(request: Request, exc: DataError) -> Response:
        # The database refused a value the checks let through (a regex its dialect rejects, a
        # number out of its range): the request is at fault, not the server.
        log.info("database refused a value: %s", exc.orig)
        return respond(request, 422, "validation_error", "a value is malformed or out of range")

    @app.exception_handler(OperationalError)
    @app.exception_handler(PoolTimeoutError)
    async def _unavailable(request: Request, exc: Exception) -> Response:
        log.warning("database unavailable: %s", exc)
        return respond(request, 503, "unavailable", "the database is unavailable; try again")

    @app.exception_handler(OSError)
    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        failure = storage_failure(exc)
        if failure is not None:
            log.warning("blob storage failed: %r", exc)
            return respond(request, *failure)
        log.exception("unhandled error", exc_info=exc)
        return respond(request, 500, "internal_error", "internal server error")


def storage_failure(exc: BaseException) -> tuple[int, str, str] | None:
    """507 for a full disk, 503 for a failing disk or object store; None for anything else.

    The object store's errors are recognised by package, so that botocore is only imported
    by servers that use S3.
    """
    if isinstance(exc, OSError) and exc.errno in FULL_STORAGE:
        return 507, "insufficient_storage", "the server's storage is full; try again later"
    if isinstance(exc, OSError) and exc.errno in FAILED_STORAGE:
        return 503, "unavailable", "the blob storage is unavailable; try again"
    if type(exc).__module__.partition(".")[0] in OBJECT_STORE_PACKAGES:
        return 503, "unavailable", "the blob storage is unavailable; try again"
    return None


def describe_validation(exc: RequestValidationError) -> str:
    """A short, human message for a request that failed schema validation (no input echoed)."""
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        msg = str(err.get("msg", "invalid"))
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts) or "invalid request"
