"""Authentication at the edge: the one place a credential becomes a Principal."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.exc import SQLAlchemyError

from cairn.server.domain.errors import AuthenticationError
from cairn.server.domain.principal import Principal
from cairn.server.http.deps import State
from cairn.server.services import keys

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
    """The authenticated caller; 401 for anonymous requests and bad or revoked keys."""
    key = bearer_key(request)
    if key is None:
        raise AuthenticationError("authentication required: send 'Authorization: Bearer <API key>'")
    with state.readers() as s:
        found, stale = keys.authenticate(s, key)
    if stale and found.key_id is not None:
        try:
            with state.writers() as s, s.begin():
                keys.touch(s, found.key_id)
        except SQLAlchemyError:  # best effort: a busy database must not fail the request
            log.warning("could not record last use of API key %s", found.key_id)
    return found


Caller = Annotated[Principal, Depends(principal)]
