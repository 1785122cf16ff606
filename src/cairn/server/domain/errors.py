"""Domain errors with stable codes; the HTTP layer maps each code to one status."""

from __future__ import annotations


class CairnError(Exception):
    """Base of every error a service raises; `code` is stable and client-visible."""

    code = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFoundError(CairnError):
    """The object does not exist, or the caller may not see it (the two are identical)."""

    code = "not_found"


class PermissionDeniedError(CairnError):
    """The caller can see the object but lacks the role for the action."""

    code = "permission_denied"


class ConflictError(CairnError):
    """The request contradicts the current state (duplicate, last admin, removal of a type)."""

    code = "conflict"


class ValidationError(CairnError):
    """A value is malformed or out of range."""

    code = "validation_error"


class AuthenticationError(CairnError):
    """No valid credentials were presented."""

    code = "authentication_error"


class RateLimitedError(CairnError):
    """Too many attempts; try again later."""

    code = "rate_limited"
