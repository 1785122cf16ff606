"""Authentication at the edge: the one place a credential (API key or web session) becomes a
Principal, and where state-changing browser requests are checked against CSRF."""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from cairn.server.domain.errors import AuthenticationError, PermissionDeniedError
from cairn.server.domain.principal import Principal
from cairn.server.http.deps import SAFE_METHODS, AppState, State
from cairn.server.services import generation, keys, web_sessions

log = logging.getLogger("cairn.server")
MAX_CREDENTIAL = 512
SESSION_COOKIE = "cairn_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
CROSS_SITE = "cross-site request refused"


def bearer_key(request: Request) -> str | None:
    """The API key in `Authorization: Bearer <key>`, if any."""
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip() or len(value) > MAX_CREDENTIAL:
        raise AuthenticationError("malformed Authorization header; use 'Bearer <API key>'")
    return value.strip()


def principal(request: Request, state: State) -> Principal:
    """The authenticated caller; 401 for anonymous requests and bad or revoked keys.

    A key checked once is remembered for the current catalogue generation only: revoking it,
    or deactivating its user, moves the generation on and the next request checks again.
    """
    key = bearer_key(request)
    if key is None:
        raise AuthenticationError("authentication required: send 'Authorization: Bearer <API key>'")
    digest = hashlib.sha256(key.encode()).digest()
    with state.readers() as s:
        now = generation.current(s)
        found = state.principals.get(digest, now)
        if found is None:
            found, stale = keys.authenticate(s, key)
            state.principals.put(digest, now, found)
            if not stale and found.key_id is not None:
                state.key_touched.setdefault(found.key_id, time.monotonic())
    request.state.generation = now
    _touch(state, found)
    return found


def _touch(state: AppState, found: Principal) -> None:
    """Record a key's use at most once a minute per process (best effort)."""
    if found.key_id is None:
        return
    clock = time.monotonic()
    if clock - state.key_touched.get(found.key_id, -1e9) < keys.LAST_USED_RESOLUTION.seconds:
        return
    state.key_touched[found.key_id] = clock
    try:
        with state.writers() as s, s.begin():
            keys.touch(s, found.key_id)
    except SQLAlchemyError:  # a busy database must not fail the request
        log.warning("could not record last use of API key %s", found.key_id)


Caller = Annotated[Principal, Depends(principal)]


async def session_principal(request: Request, state: State) -> Principal:
    """The signed-in browser user; 401 without a live session cookie.

    Only the session cookie counts here: an API key never opens a UI session. A request that
    changes state must also come from this site and carry the session's CSRF token (form
    field `csrf_token` or header `X-CSRF-Token`), else 403.
    """
    changes_state = request.method not in SAFE_METHODS
    if changes_state:  # first: a cross-site post is refused whether or not a cookie came along
        check_same_origin(request)
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise AuthenticationError(web_sessions.SIGNED_OUT)
    opened = await run_in_threadpool(_open_session, state, token)
    if changes_state:
        form = await request.form()
        presented = request.headers.get(CSRF_HEADER) or form.get(CSRF_FIELD)
        if not isinstance(presented, str) or not hmac.compare_digest(
            presented.encode(), opened.csrf_secret.encode()
        ):
            raise PermissionDeniedError("missing or invalid CSRF token; reload the page")
    request.state.csrf_token = opened.csrf_secret
    request.state.viewer = opened.principal
    return opened.principal


def _open_session(state: AppState, token: str) -> web_sessions.Opened:
    with state.readers() as s:
        opened = web_sessions.authenticate(s, token)
    if opened.stale:
        try:
            with state.writers() as s, s.begin():
                web_sessions.touch(s, opened.session_id)
        except SQLAlchemyError:  # a busy database must not fail the request
            log.warning("could not record last use of web session %s", opened.session_id)
    return opened


def check_same_origin(request: Request) -> None:
    """403 for a state-changing browser request that Fetch Metadata or Origin marks foreign."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        raise PermissionDeniedError(CROSS_SITE)
    origin = request.headers.get("origin")
    own = f"{request.url.scheme}://{request.headers.get('host', '')}"
    if origin is not None and origin != own:
        raise PermissionDeniedError(CROSS_SITE)


SessionCaller = Annotated[Principal, Depends(session_principal)]
