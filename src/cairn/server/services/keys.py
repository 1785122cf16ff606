"""API keys: create (shown once), list, revoke, and turn a presented key into a principal."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from cairn.server.db.base import utcnow
from cairn.server.db.models import ApiKey, Organization, OrgMember, User
from cairn.server.domain.errors import AuthenticationError, NotFoundError, ValidationError
from cairn.server.domain.principal import Principal
from cairn.server.services import accounts, audit, credentials

LAST_USED_RESOLUTION = timedelta(minutes=1)
BAD_KEY = "invalid or revoked API key"


def authenticate(s: Session, presented: str) -> tuple[Principal, bool]:
    """The principal behind an API key, and whether its last_used_at is stale.

    Revoked keys, unknown keys and inactive users are refused with the same error and
    about the same work (one indexed look-up and one constant-time comparison).
    """
    parts = credentials.split_api_key(presented)
    row = None
    if parts is not None:
        row = s.execute(
            select(ApiKey, User)
            .join(User, User.id == ApiKey.user_id)
            .where(ApiKey.prefix == parts[0], ApiKey.revoked_at.is_(None))
        ).first()
    stored = row[0].secret_hash if row else credentials.hash_secret("")
    matches = credentials.secret_matches(stored, parts[1] if parts else "\0")
    if row is None or not matches or not row[1].active:
        raise AuthenticationError(BAD_KEY)
    key, user = row
    stale = key.last_used_at is None or utcnow() - key.last_used_at > LAST_USED_RESOLUTION
    return accounts.as_principal(user, "key", key.id), stale


def touch(s: Session, key_id: int) -> None:
    """Record that a key was used now."""
    s.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=utcnow()))


def create(
    s: Session, actor: Principal | None, owner: User, name: str, *, org_id: int | None = None
) -> tuple[ApiKey, str]:
    """A new key for `owner`; returns the row and the full key, which is never stored.

    `org_id` is the organization whose page asked for it: its audit log shows the key.
    """
    if not name or len(name) > 128:
        raise ValidationError("key name must be 1-128 characters")
    full, prefix, secret_hash = credentials.new_api_key()
    key = ApiKey(
        user_id=owner.id,
        name=name,
        prefix=prefix,
        secret_hash=secret_hash,
        created_by_id=actor.user_id if actor else owner.id,
    )
    s.add(key)
    s.flush()
    audit.record(
        s,
        actor,
        "key.create",
        target_type="api_key",
        target_id=key.id,
        target_name=f"{owner.username}/{name}",
        org_id=org_id,
    )
    return key, full


def owner_for(s: Session, actor: Principal, username: str | None) -> User:
    """Whose keys the actor may manage: their own, or a service account in an org they admin."""
    if username is None or username.lower() == actor.username.lower():
        return accounts.get_user(s, actor.username)
    user = accounts.find_user(s, username)
    if user is None or not user.is_service or not accounts.administers_every_org_of(s, actor, user):
        raise NotFoundError(f"service account {username!r} not found")
    return user


def service_account(s: Session, actor: Principal, org: Organization, username: str) -> User:
    """A service account of `org` whose keys the actor may manage (see owner_for), else 404."""
    user = accounts.find_user(s, username)
    if (
        user is None
        or not user.is_service
        or s.get(OrgMember, (org.id, user.id)) is None
        or not accounts.administers_every_org_of(s, actor, user)
    ):
        raise NotFoundError(f"service account {username!r} not found")
    return user


def revoke_service_key(
    s: Session, actor: Principal, org: Organization, owner: User, key_id: int
) -> None:
    """Revoke a live key of the service account `owner` (from service_account), else 404."""
    held = s.scalar(
        select(ApiKey.id).where(
            ApiKey.id == key_id, ApiKey.user_id == owner.id, ApiKey.revoked_at.is_(None)
        )
    )
    if held is None:
        raise NotFoundError(f"API key {key_id} not found")
    revoke(s, actor, key_id, org_id=org.id)


def list_for(s: Session, owner: User) -> list[ApiKey]:
    """The live keys of `owner`, newest first."""
    return list(
        s.scalars(
            select(ApiKey)
            .where(ApiKey.user_id == owner.id, ApiKey.revoked_at.is_(None))
            .order_by(ApiKey.id.desc())
        )
    )


def revoke(s: Session, actor: Principal, key_id: int, *, org_id: int | None = None) -> None:
    """Revoke a key the actor owns, or one of a service account in an org they admin."""
    row = s.execute(
        select(ApiKey, User)
        .join(User, User.id == ApiKey.user_id)
        .where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
    ).first()
    allowed = row is not None and (
        row[1].id == actor.user_id
        or (row[1].is_service and accounts.administers_every_org_of(s, actor, row[1]))
    )
    if row is None or not allowed:
        raise NotFoundError(f"API key {key_id} not found")
    key, owner = row
    key.revoked_at = utcnow()
    audit.record(
        s,
        actor,
        "key.revoke",
        target_type="api_key",
        target_id=key.id,
        target_name=f"{owner.username}/{key.name}",
        org_id=org_id,
    )
