"""Authentication at the edge: the one place a credential becomes a Principal."""

from __future__ import annotations

import hashlib
import logging
import time
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.exc import SQLAlchemyError

from cairn.server.domain.errors import AuthenticationError
from cairn.server.domain.principal import Principal
from cairn.server.http.deps import AppState, State
from cairn.server.services import generation, keys

log = logging.getLogger("cairn.server")
MAX_CREDENTIAL = 512


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
