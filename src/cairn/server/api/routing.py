"""Route classification for the census: which routes are public, and which action guards each."""

from __future__ import annotations

from typing import Any

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
