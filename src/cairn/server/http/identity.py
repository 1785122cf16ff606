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
GENERATION = "generation"  # request.state: the catalogue generation read for this request


def bearer_key(request: Request) -> str | None:
    """The API key in `Authorization: Bearer <key>`, if any."""
    return bearer_token(request.headers.get("authorization"))


def bearer_token(header: str | None) -> str | None:
    """The key in an `Authorization` header value, None without one; 401 when malformed."""
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip() or len(value) > MAX_CREDENTIAL:
        raise AuthenticationError("malformed Authorization header; use 'Bearer <API key>'")
    return value.strip()


def key_digest(key: str) -> bytes:
    """What the key cache is indexed by: never the key itself."""
    return hashlib.sha256(key.encode()).digest()


async def principal(request: Request, state: State) -> Principal:
    """The authenticated caller; 401 for anonymous requests and bad or revoked keys.

    A key checked once is remembered for the current catalogue generation only: revoking it,
    or deactivating its user, moves the generation on and the next request checks again.
    A remembered key costs one generation read on the event loop and no thread.
    """
    key = bearer_key(request)
    if key is None:
        raise AuthenticationError("authentication required: send 'Authorization: Bearer <API key>'")
    digest = key_digest(key)
    now: int | None = getattr(request.state, GENERATION, None)  # read by the resolve fast path
    if now is None:
        now = await generation_now(state)
    found = state.principals.get(digest, now)
    if found is None:
        found = await run_in_threadpool(_check_key, state, key, digest, now)
    setattr(request.state, GENERATION, now)
    if found.key_id is not None and touch_due(state, found):
        state.key_touched[found.key_id] = time.monotonic()  # before the hop: one touch, not two
        await run_in_threadpool(_touch, state, found.key_id)
    return found


async def generation_now(state: AppState) -> int:
    """The catalogue generation, read after the request arrived."""
    now = await state.live.now()
    if now is None:  # its own connection failed: read it the ordinary way
        now = await run_in_threadpool(_read_generation, state)
    return now


def _read_generation(state: AppState) -> int:
    with state.readers() as s:
        return generation.current(s)


def _check_key(state: AppState, key: str, digest: bytes, now: int) -> Principal:
    with state.readers() as s:
        found, stale = keys.authenticate(s, key)
    state.principals.put(digest, now, found)
    if not stale and found.key_id is not None:
        state.key_touched.setdefault(found.key_id, time.monotonic())
    return found


def remembered(state: AppState, key: str, now: int) -> Principal | None:
    """The principal of a key checked under generation `now` whose use was recorded lately;
    None when the key must go through `principal` (not checked yet, or its use is due)."""
    found = state.principals.get(key_digest(key), now)
    return None if found is None or touch_due(state, found) else found


def touch_due(state: AppState, found: Principal) -> bool:
    """Whether this process should record the key's use now (at most once a minute)."""
    if found.key_id is None:
        return False
    last = state.key_touched.get(found.key_id, -1e9)
    return time.monotonic() - last >= keys.LAST_USED_RESOLUTION.seconds


def _touch(state: AppState, key_id: int) -> None:
    """Record a key's use (best effort)."""
    try:
        with state.writers() as s, s.begin():
            keys.touch(s, key_id)
    except SQLAlchemyError:  # a busy database must not fail the request
        log.warning("could not record last use of API key %s", key_id)


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
