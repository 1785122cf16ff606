"""Sign in (username or email + password), sign out, and the root redirect."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from cairn.server.domain.errors import AuthenticationError, RateLimitedError
from cairn.server.http.deps import Db, State
from cairn.server.http.identity import SESSION_COOKIE, SessionCaller, check_same_origin
from cairn.server.services import accounts, web_sessions
from cairn.server.web.forms import HOME, safe_next, see_other
from cairn.server.web.templating import page

router = APIRouter(include_in_schema=False)
Field = Annotated[str, Form(max_length=4096)]


@router.get("/")
def root() -> RedirectResponse:
    """The registry home."""
    return see_other(HOME)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str | None = None) -> HTMLResponse:
    """The sign-in form."""
    return page(request, "login.html", next=safe_next(next), username="", error=None)


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    db: Db,
    state: State,
    username: Field,
    password: Field,
    next: Annotated[str, Form(max_length=2048)] = HOME,
) -> Response:
    """Check the password (rate-limited); open a fresh session and go to `next`."""
    check_same_origin(request)
    client = request.client.host if request.client else "unknown"
    target = safe_next(next)
    try:
        user, _ = accounts.login(db, state.login_limiter, username, password, client)
    except (AuthenticationError, RateLimitedError) as exc:
        status = 429 if isinstance(exc, RateLimitedError) else 401
        return page(
            request, "login.html", status=status, next=target, username=username, error=exc.message
        )
    token = web_sessions.open_session(db, user, request.cookies.get(SESSION_COOKIE))
    response = see_other(target)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(web_sessions.LIFETIME.total_seconds()),
        path="/",
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="lax",
    )
    return response


@router.post("/logout")
def logout(request: Request, caller: SessionCaller, db: Db) -> RedirectResponse:
    """End this browser's session."""
    web_sessions.close(db, request.cookies.get(SESSION_COOKIE, ""), caller)
    response = see_other("/login")
    response.delete_cookie(
        SESSION_COOKIE, path="/", secure=request.url.scheme == "https", httponly=True
    )
    return response
