"""Browser sessions: opened by a password sign-in only, stored as a hash, closed at sign-out."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from cairn.server.db.base import utcnow
from cairn.server.db.models import User, WebSession
from cairn.server.domain.errors import AuthenticationError
from cairn.server.domain.principal import Principal
from cairn.server.services import accounts, audit

LIFETIME = timedelta(hours=12)
LAST_SEEN_RESOLUTION = timedelta(minutes=1)
MAX_TOKEN = 128
SIGNED_OUT = "sign-in required"


@dataclass(frozen=True)
class Opened:
    """A web session's principal, its CSRF secret, and whether last_seen_at is stale."""

    principal: Principal
    session_id: int
    csrf_secret: str
    stale: bool


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def open_session(s: Session, user: User, previous_token: str | None) -> str:
    """A new session for a user who just signed in with a password; returns its cookie token.

    Any session the browser held before is ended, so the id always changes at sign-in.
    """
    if previous_token:
        close(s, previous_token)
    s.execute(delete(WebSession).where(WebSession.expires_at < utcnow()))
    token = secrets.token_urlsafe(32)
    now = utcnow()
    s.add(
        WebSession(
            user_id=user.id,
            token_hash=_hash(token),
            csrf_secret=secrets.token_urlsafe(32),
            created_at=now,
            last_seen_at=now,
            expires_at=now + LIFETIME,
        )
    )
    s.flush()
    return token


def authenticate(s: Session, token: str) -> Opened:
    """The principal behind a session cookie; unknown, expired and disabled all read the same."""
    if not token or len(token) > MAX_TOKEN:
        raise AuthenticationError(SIGNED_OUT)
    row = s.execute(
        select(WebSession, User)
        .join(User, User.id == WebSession.user_id)
        .where(WebSession.token_hash == _hash(token))
    ).first()
    now = utcnow()
    if row is None or row[0].expires_at <= now or not row[1].active or row[1].is_service:
        raise AuthenticationError(SIGNED_OUT)
    session, user = row
    return Opened(
        accounts.as_principal(user, "session"),
        session.id,
        session.csrf_secret,
        now - session.last_seen_at > LAST_SEEN_RESOLUTION,
    )


def touch(s: Session, session_id: int) -> None:
    """Record that a session was used now."""
    s.execute(update(WebSession).where(WebSession.id == session_id).values(last_seen_at=utcnow()))


def close(s: Session, token: str, actor: Principal | None = None) -> None:
    """End the session holding `token` (sign-out); unknown tokens are ignored."""
    s.execute(delete(WebSession).where(WebSession.token_hash == _hash(token)))
    if actor is not None:
        audit.record(
            s,
            actor,
            "auth.logout",
            target_type="user",
            target_id=actor.user_id,
            target_name=actor.username,
        )
