"""The SDK's exception tree: one class per server error code, mapped from HTTP responses."""

from __future__ import annotations

from typing import Any

import httpx


class CairnError(Exception):
    """Root of every error the SDK raises; ``str(error)`` is the server's message."""

    code: str = "error"

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return self.message


class BadRequestError(CairnError, ValueError):
    """400 ``bad_request`` (and 415 ``unsupported_media_type``): the request was malformed."""

    code = "bad_request"


class AuthenticationError(CairnError):
    """401 ``authentication_error``: missing, unknown, revoked or disabled credentials."""

    code = "authentication_error"


class PermissionDeniedError(CairnError):
    """403 ``permission_denied``: the caller can see the resource but lacks the role."""

    code = "permission_denied"


class NotFoundError(CairnError, ValueError):
    """404 ``not_found``: the resource does not exist or is hidden from the caller."""

    code = "not_found"


class ConflictError(CairnError, ValueError):
    """409 ``conflict``: the change clashes with existing state (duplicate, last admin, ...)."""

    code = "conflict"


class PayloadTooLargeError(CairnError):
    """413 ``payload_too_large``: the body or a list in it exceeds a server cap."""

    code = "payload_too_large"


class ValidationError(CairnError, ValueError):
    """422 ``validation_error``, or a value the SDK refuses before sending it."""

    code = "validation_error"


class ArtifactTypeRemovalError(ValidationError):
    """An attempt to remove an artifact type that a registry has already saved."""


class RateLimitedError(CairnError):
    """429 ``rate_limited``: too many requests; try again later."""

    code = "rate_limited"


class ServiceUnavailableError(CairnError):
    """503 ``unavailable``: the server is temporarily unable to answer."""

    code = "unavailable"


class InsufficientStorageError(CairnError):
    """507 ``insufficient_storage``: the server's storage is full; nothing was kept."""

    code = "insufficient_storage"


class ServerError(CairnError):
    """A 5xx or otherwise unrecognised response."""

    code = "server_error"


class NetworkError(CairnError, ConnectionError):
    """The server could not be reached (refused, DNS, TLS, timeout)."""

    code = "network_error"


class ConfigurationError(CairnError):
    """The SDK is missing or has an unusable setting (base URL, organization, credentials)."""

    code = "configuration_error"


_BY_CODE: dict[str, type[CairnError]] = {
    cls.code: cls
    for cls in (
        BadRequestError,
        AuthenticationError,
        PermissionDeniedError,
        NotFoundError,
        ConflictError,
        PayloadTooLargeError,
        ValidationError,
        RateLimitedError,
        ServiceUnavailableError,
        InsufficientStorageError,
    )
}
_BY_CODE["unsupported_media_type"] = BadRequestError

_BY_STATUS: dict[int, type[CairnError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: PayloadTooLargeError,
    415: BadRequestError,
    422: ValidationError,
    429: RateLimitedError,
    503: ServiceUnavailableError,
    507: InsufficientStorageError,
}


def _error_body(response: httpx.Response) -> tuple[str | None, str | None]:
    """The ``(code, message)`` of a ``{"error": {...}}`` body, or ``(None, None)``."""
    try:
        body: Any = response.json()
    except ValueError:
        return None, None
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None, None
    code, message = error.get("code"), error.get("message")
    return (
        code if isinstance(code, str) else None,
        message if isinstance(message, str) else None,
    )


def error_from_response(response: httpx.Response) -> CairnError:
    """The exception for a non-2xx response: by error code, then by status, else ServerError."""
    status = response.status_code
    code, message = _error_body(response)
    cls = _BY_CODE.get(code or "") or _BY_STATUS.get(status, ServerError)
    if message is None:
        text = response.text.strip().splitlines()
        detail = text[0][:200] if text else response.reason_phrase
        message = f"server answered {status} {detail}".strip()
    return cls(message, status=status, code=code)
