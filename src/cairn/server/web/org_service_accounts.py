"""Service accounts of an organization and their API keys: create, mint (shown once), revoke."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from cairn.server.db.models import User
from cairn.server.domain.principal import Principal
from cairn.server.domain.roles import OrgRole
from cairn.server.http.deps import Db
from cairn.server.http.identity import SessionCaller
from cairn.server.services import accounts, keys, orgs
from cairn.server.web.forms import After, Problem, Short, attempt, see_other
from cairn.server.web.org_admin import ORG, ORG_ROLES, PER_PAGE, create_member, org_page, org_url

router = APIRouter(include_in_schema=False)
ACCOUNTS = ORG + "/service-accounts"
ACCOUNT = ACCOUNTS + "/{username}"
KeyId = Annotated[int, Path(ge=1, le=2**53)]


def service_accounts_page(
    request: Request,
    db: Session,
    caller: Principal,
    member: orgs.OrgAccess,
    *,
    after: str | None = None,
    problem: Problem | None = None,
    typed: dict[str, str] | None = None,
) -> HTMLResponse:
    """One page of service accounts; names link to their keys for those who manage them."""
    rows, next_after = orgs.member_page(
        db, member.org, service=True, after=after, per_page=PER_PAGE
    )
    is_admin = member.role == OrgRole.ADMIN
    ids = [u.id for u, _ in rows]
    return org_page(
        request,
        db,
        caller,
        member,
        "org_service_accounts.html",
        tab="service-accounts",
        problem=problem,
        rows=rows,
        manageable=accounts.administered_users(db, caller, ids) if is_admin else set(),
        may_activate=accounts.may_set_active(db, caller, ids) if is_admin else set(),
        roles=ORG_ROLES,
        after=after,
        next_after=next_after,
        typed=typed or {"username": "", "role": OrgRole.MEMBER.value},
    )


def account_page(
    request: Request,
    db: Session,
    caller: Principal,
    member: orgs.OrgAccess,
    owner: User,
    *,
    problem: Problem | None = None,
    status: int | None = None,
    new_key: str | None = None,
) -> HTMLResponse:
    """One service account with its live keys (only for those who may manage them)."""
    return org_page(
        request,
        db,
        caller,
        member,
        "org_service_account.html",
        tab="service-accounts",
        problem=problem,
        status=status,
        account=owner,
        keys=keys.list_for(db, owner),
        new_key=new_key,
    )


@router.get(ACCOUNTS, response_class=HTMLResponse)
def show_all(
    request: Request, org: str, caller: SessionCaller, db: Db, after: After = None
) -> HTMLResponse:
    """The organization's service accounts, readable by every member."""
    member = orgs.access(db, caller, org)
    return service_accounts_page(request, db, caller, member, after=after)


@router.post(ACCOUNTS, response_class=HTMLResponse)
def create(
    request: Request,
    org: str,
    caller: SessionCaller,
    db: Db,
    username: Short = "",
    role: Short = OrgRole.MEMBER.value,
) -> Response:
    """A new service account in the organization (organization admins); no password, keys only."""
    member = orgs.access(db, caller, org)
    made: list[User] = []
    problem = attempt(
        db,
        "create",
        lambda: made.append(create_member(db, caller, org, username, role, is_service=True)),
    )
    if problem is not None:
        typed = {"username": username, "role": role}
        return service_accounts_page(request, db, caller, member, problem=problem, typed=typed)
    return see_other(org_url(member.org.name, "service-accounts", made[0].username))


@router.get(ACCOUNT, response_class=HTMLResponse)
def show(request: Request, org: str, username: str, caller: SessionCaller, db: Db) -> Response:
    """A service account's keys: 404 unless the caller administers all its organizations."""
    member = orgs.access(db, caller, org)
    owner = keys.service_account(db, caller, member.org, username)
    return account_page(request, db, caller, member, owner)


@router.post(ACCOUNT + "/keys", response_class=HTMLResponse)
def mint(
    request: Request, org: str, username: str, caller: SessionCaller, db: Db, name: Short = ""
) -> Response:
    """A new key for the service account, shown in this answer only."""
    member = orgs.access(db, caller, org)
    owner = keys.service_account(db, caller, member.org, username)
    minted: list[str] = []
    problem = attempt(
        db,
        "keys",
        lambda: minted.append(
            keys.create(db, caller, owner, name.strip(), org_id=member.org.id)[1]
        ),
    )
    return account_page(
        request,
        db,
        caller,
        member,
        owner,
        problem=problem,
        status=None if problem else 201,
        new_key=minted[0] if minted else None,
    )


@router.post(ACCOUNT + "/keys/{key_id}/revoke")
def revoke(
    request: Request, org: str, username: str, key_id: KeyId, caller: SessionCaller, db: Db
) -> Response:
    """Revoke one of the service account's keys."""
    member = orgs.access(db, caller, org)
    owner = keys.service_account(db, caller, member.org, username)
    problem = attempt(
        db, "keys", lambda: keys.revoke_service_key(db, caller, member.org, owner, key_id)
    )
    if problem is not None:
        return account_page(request, db, caller, member, owner, problem=problem)
    return see_other(org_url(member.org.name, "service-accounts", owner.username))
