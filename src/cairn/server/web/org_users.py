"""The organization's users: list and search; admins create, change roles, (de)activate, remove."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from cairn.server.db.models import User
from cairn.server.domain.principal import Principal
from cairn.server.domain.roles import OrgRole
from cairn.server.http.deps import Db
from cairn.server.http.identity import SessionCaller
from cairn.server.services import accounts, credentials, orgs
from cairn.server.web.forms import After, Problem, Short, attempt, see_other
from cairn.server.web.org_admin import ORG, ORG_ROLES, PER_PAGE, create_member, org_page, org_url
from cairn.server.web.org_service_accounts import service_accounts_page

router = APIRouter(include_in_schema=False)
USERS = ORG + "/users"
USER = USERS + "/{username}"
Secret = Annotated[str, Form(max_length=4096)]


def users_page(
    request: Request,
    db: Session,
    caller: Principal,
    member: orgs.OrgAccess,
    *,
    q: str = "",
    after: str | None = None,
    problem: Problem | None = None,
    status: int | None = None,
    typed: dict[str, str] | None = None,
    created: tuple[str, str | None] | None = None,
) -> HTMLResponse:
    """One page of people; the admin controls appear only for organization admins."""
    rows, next_after = orgs.member_page(
        db, member.org, service=False, query=q, after=after, per_page=PER_PAGE
    )
    is_admin = member.role == OrgRole.ADMIN
    return org_page(
        request,
        db,
        caller,
        member,
        "org_users.html",
        tab="users",
        problem=problem,
        status=status,
        rows=rows,
        may_activate=accounts.may_set_active(db, caller, [u.id for u, _ in rows])
        if is_admin
        else set(),
        roles=ORG_ROLES,
        q=q,
        after=after,
        next_after=next_after,
        typed=typed or {"username": "", "email": "", "role": OrgRole.MEMBER.value},
        created=created,
    )


def member_page_of(
    request: Request,
    db: Session,
    caller: Principal,
    member: orgs.OrgAccess,
    username: str,
    problem: Problem,
) -> HTMLResponse:
    """The list a user's row is on (people or service accounts), showing a refusal."""
    user = accounts.find_user(db, username)
    if user is not None and user.is_service:
        return service_accounts_page(request, db, caller, member, problem=problem)
    return users_page(request, db, caller, member, problem=problem)


def list_url(org: str, user: User | None) -> str:
    """Where a change to `user` returns to."""
    return org_url(org, "service-accounts" if user and user.is_service else "users")


@router.get(USERS, response_class=HTMLResponse)
def show(
    request: Request,
    org: str,
    caller: SessionCaller,
    db: Db,
    q: Annotated[str, Query(max_length=128)] = "",
    after: After = None,
) -> HTMLResponse:
    """The organization's people, readable by every member (as the API's member list)."""
    member = orgs.access(db, caller, org)
    return users_page(request, db, caller, member, q=q, after=after)


@router.post(USERS, response_class=HTMLResponse)
def create(
    request: Request,
    org: str,
    caller: SessionCaller,
    db: Db,
    username: Short = "",
    email: Short = "",
    role: Short = OrgRole.MEMBER.value,
    password: Secret = "",
) -> HTMLResponse:
    """Create a user in the organization; without a typed password, one is made and shown once."""
    member = orgs.access(db, caller, org)
    made: list[tuple[str, str | None]] = []

    def run() -> None:
        initial = password or credentials.random_password()
        user = create_member(
            db, caller, org, username, role, email=email.strip() or None, password=initial
        )
        made.append((user.username, None if password else initial))

    problem = attempt(db, "create", run)
    if problem is not None:
        typed = {"username": username, "email": email, "role": role}
        return users_page(request, db, caller, member, problem=problem, typed=typed)
    return users_page(request, db, caller, member, status=201, created=made[0])


def _member_change(
    request: Request,
    db: Session,
    caller: Principal,
    member: orgs.OrgAccess,
    username: str,
    run: Callable[[], User | None],
) -> Response:
    """Change one member: back to their list, or that list with the refusal."""
    changed: list[User | None] = []
    problem = attempt(db, "members", lambda: changed.append(run()))
    if problem is not None:
        return member_page_of(request, db, caller, member, username, problem)
    return see_other(list_url(member.org.name, changed[0]))


@router.post(USER + "/role")
def change_role(
    request: Request, org: str, username: str, caller: SessionCaller, db: Db, role: Short
) -> Response:
    """Give a member (person or service account) another organization role."""
    member = orgs.access(db, caller, org)

    def run() -> User:
        admin = orgs.admin_access(db, caller, org)
        return orgs.set_role(db, caller, admin.org, username, orgs.parse_role(role))

    return _member_change(request, db, caller, member, username, run)


def _set_active(
    request: Request, db: Session, caller: Principal, org: str, username: str, active: bool
) -> Response:
    member = orgs.access(db, caller, org)

    def run() -> User:
        orgs.member_row(db, member.org, username)  # only this organization's members, here
        return accounts.set_active(db, caller, username, active, org_id=member.org.id)

    return _member_change(request, db, caller, member, username, run)


@router.post(USER + "/deactivate")
def deactivate(
    request: Request, org: str, username: str, caller: SessionCaller, db: Db
) -> Response:
    """Deactivate a member: no sign-in, no API key works (admins of all their organizations)."""
    return _set_active(request, db, caller, org, username, False)


@router.post(USER + "/reactivate")
def reactivate(
    request: Request, org: str, username: str, caller: SessionCaller, db: Db
) -> Response:
    """Let a deactivated member in again."""
    return _set_active(request, db, caller, org, username, True)


@router.post(USER + "/remove")
def remove(request: Request, org: str, username: str, caller: SessionCaller, db: Db) -> Response:
    """Remove a member from the organization (their grants inside it go too)."""
    member = orgs.access(db, caller, org)
    gone = accounts.find_user(db, username)

    def run() -> User | None:
        admin = orgs.admin_access(db, caller, org)
        orgs.remove_member(db, caller, admin.org, username)
        return gone

    return _member_change(request, db, caller, member, username, run)
