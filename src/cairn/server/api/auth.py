"""Sign-in for API clients, the caller's own profile, and the health check."""

from __future__ import annotations

from fastapi import APIRouter, Request

from cairn.server.api import convert, schemas
from cairn.server.http.deps import Db, State
from cairn.server.http.identity import Caller
from cairn.server.services import accounts, keys, orgs

router = APIRouter()


@router.get("/health", response_model=dict[str, str])
def health() -> dict[str, str]:
    """Liveness check; public."""
    return {"status": "ok"}


@router.post("/auth/login", status_code=201, response_model=schemas.LoginOut)
def login(body: schemas.LoginIn, request: Request, db: Db, state: State) -> schemas.LoginOut:
    """Check a username (or email) and password and issue a new API key."""
    client = request.client.host if request.client else "unknown"
    user, actor = accounts.login(db, state.login_limiter, body.username, body.password, client)
    key, full = keys.create(db, actor, user, body.key_name)
    return schemas.LoginOut(key=full, key_id=key.id, username=user.username)


@router.get("/viewer", response_model=schemas.ViewerOut)
def viewer(caller: Caller, db: Db, state: State) -> schemas.ViewerOut:
    """The signed-in user and their organizations."""
    user = accounts.get_user(db, caller.username)
    memberships = orgs.list_for(db, caller)
    names = [m.org.name for m in memberships]
    default = state.settings.default_org
    return schemas.ViewerOut(
        **convert.user(user).model_dump(),
        organizations=[schemas.OrgRoleOut(name=m.org.name, role=m.role.value) for m in memberships],
        default_organization=default if default in names else (names[0] if names else None),
    )
