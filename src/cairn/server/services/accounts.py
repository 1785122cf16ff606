"""Users: creation, look-up, activation, password sign-in."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.orm import Session

from cairn.server.db.models import Entity, OrgMember, User
from cairn.server.domain import names
from cairn.server.domain.errors import (
    AuthenticationError,
    ConflictError,
    NotFoundError,
    RateLimitedError,
    ValidationError,
)
from cairn.server.domain.principal import Principal
from cairn.server.domain.ratelimit import FailureLimiter
from cairn.server.domain.roles import OrgRole
from cairn.server.services import audit, credentials, entities

BAD_LOGIN = "invalid username or password"


def create_user(
    s: Session,
    actor: Principal | None,
    username: str,
    *,
    email: str | None = None,
    password: str | None = None,
    is_service: bool = False,
    is_superuser: bool = False,
    org_id: int | None = None,
) -> User:
    """Create a user (or a service account: no password, keys only).

    `org_id` is the organization whose page asked for it: its audit log shows the creation.
    """
    if is_service and password is not None:
        raise ValidationError("service accounts have no password; they use API keys")
    address = names.email(email) if email else None
    if address and s.scalar(select(User.id).where(User.email == address)) is not None:
        raise ConflictError(f"a user with email {address!r} already exists")
    pw_hash = credentials.hash_password(names.password(password)) if password else None
    entity = entities.claim(s, username, "user")
    user = User(
        entity_id=entity.id,
        username=username,
        email=address,
        password_hash=pw_hash,
        is_service=is_service,
        is_superuser=is_superuser,
        active=True,
    )
    s.add(user)
    s.flush()
    audit.record(
        s,
        actor,
        "user.create",
        target_type="user",
        target_id=user.id,
        target_name=username,
        org_id=org_id,
        after={"email": address, "service": is_service},
    )
    return user


def find_user(s: Session, ref: str) -> User | None:
    """A user by username or, when `ref` holds an '@', by email; case-insensitive."""
    if "@" in ref:
        return s.scalar(select(User).where(User.email == ref.lower()))
    return s.scalar(
        select(User).join(Entity, Entity.id == User.entity_id).where(Entity.name_key == ref.lower())
    )


def get_user(s: Session, ref: str) -> User:
    """Like find_user, but a missing user is a NotFoundError."""
    user = find_user(s, ref)
    if user is None:
        raise NotFoundError(f"user {ref!r} not found")
    return user


def as_principal(user: User, auth_method: str, key_id: int | None = None) -> Principal:
    """The principal for a user who just proved who they are."""
    return Principal(
        user_id=user.id,
        username=user.username,
        is_superuser=user.is_superuser,
        is_service=user.is_service,
        auth_method=auth_method,
        key_id=key_id,
    )


def login(
    s: Session, limiter: FailureLimiter, ref: str, password: str, client: str
) -> tuple[User, Principal]:
    """Check a password sign-in; failures are counted per account and per client address."""
    user = find_user(s, ref)
    # The account is counted by its id, so its username and email share one lock.
    account = f"user:{user.id}" if user else f"name:{ref.lower()}"
    keys = (account, f"ip:{client}")
    if any(limiter.blocked(k) for k in keys):
        raise RateLimitedError("too many failed sign-in attempts; try again in a few minutes")
    if len(password.encode()) > names.MAX_PASSWORD:
        user = None
    ok = credentials.verify_password(user.password_hash if user else None, password)
    if not ok or user is None or not user.active or user.is_service:
        for k in keys:
            limiter.fail(k)
        raise AuthenticationError(BAD_LOGIN)
    limiter.reset(keys[0])
    actor = as_principal(user, "password")
    audit.record(
        s, actor, "auth.login", target_type="user", target_id=user.id, target_name=user.username
    )
    return user, actor


def set_active(
    s: Session, actor: Principal, username: str, active: bool, *, org_id: int | None = None
) -> User:
    """(De)activate a user: superusers, or an admin of every organization the user is in.

    `org_id` is the organization whose page asked for it: its audit log shows the change.
    """
    user = get_user(s, username)
    if not actor.is_superuser and not administers_every_org_of(s, actor, user):
        raise NotFoundError(f"user {username!r} not found")
    if user.id == actor.user_id and not active:
        raise ConflictError("you cannot deactivate your own account")
    before = user.active
    user.active = active
    audit.record(
        s,
        actor,
        "user.activate" if active else "user.deactivate",
        target_type="user",
        target_id=user.id,
        target_name=user.username,
        org_id=org_id,
        before={"active": before},
        after={"active": active},
    )
    return user


def administers_every_org_of(s: Session, actor: Principal, user: User) -> bool:
    """Whether the actor is an admin of every organization `user` belongs to (and it has some).

    What a user can reach is the union of their organizations, so acting on their account
    (deactivating it, minting a key for a service account) needs authority over all of them.
    """
    rows = s.execute(
        select(OrgMember.org_id, OrgMember.user_id, OrgMember.role).where(
            OrgMember.org_id.in_(select(OrgMember.org_id).where(OrgMember.user_id == user.id))
        )
    ).all()
    theirs = {r.org_id for r in rows if r.user_id == user.id}
    administered = {
        r.org_id for r in rows if r.user_id == actor.user_id and r.role == OrgRole.ADMIN.value
    }
    return bool(theirs) and theirs <= administered


def administered_users(s: Session, actor: Principal, user_ids: Collection[int]) -> set[int]:
    """Which of `user_ids` the actor administers every organization of (one query per page).

    The rule of administers_every_org_of, for a page of rows that shows a control per user.
    """
    if not user_ids:
        return set()
    rows = s.execute(
        select(OrgMember.org_id, OrgMember.user_id, OrgMember.role).where(
            OrgMember.user_id.in_([*user_ids, actor.user_id])
        )
    ).all()
    administered = {
        r.org_id for r in rows if r.user_id == actor.user_id and r.role == OrgRole.ADMIN.value
    }
    theirs: dict[int, set[int]] = {}
    for r in rows:
        if r.user_id in user_ids:
            theirs.setdefault(r.user_id, set()).add(r.org_id)
    return {user_id for user_id, orgs in theirs.items() if orgs <= administered}


def may_set_active(s: Session, actor: Principal, user_ids: Collection[int]) -> set[int]:
    """Which of `user_ids` set_active would let the actor (de)activate."""
    if actor.is_superuser:
        return set(user_ids)
    return administered_users(s, actor, user_ids)
