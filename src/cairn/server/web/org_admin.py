"""What the organization pages share: their URLs, the tabs and organization switcher, "/org"."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.orm import Session

from cairn.server.db.models import User
from cairn.server.domain.principal import Principal
from cairn.server.domain.roles import OrgRole
from cairn.server.http.deps import Db, State
from cairn.server.http.identity import SessionCaller
from cairn.server.services import accounts, orgs
from cairn.server.web.forms import Problem, see_other
from cairn.server.web.home import current_org
from cairn.server.web.templating import page

router = APIRouter(include_in_schema=False)
ORG = "/org/{org}"
PER_PAGE = 50
ORG_ROLES = [r.value for r in OrgRole]


def org_url(org: str, *rest: str) -> str:
    """An organization page: "/org/<org>/<rest…>", each part one quoted path segment."""
    return "/".join(["", "org", *(quote(p, safe="") for p in (org, *rest))])


def org_page(
    request: Request,
    db: Session,
    caller: Principal,
    member: orgs.OrgAccess,
    template: str,
    *,
    tab: str,
    problem: Problem | None = None,
    status: int | None = None,
    **context: Any,
) -> HTMLResponse:
    """Render one organization page with the tabs its viewer may use."""
    name = member.org.name
    return page(
        request,
        template,
        status=status or (problem.status if problem else 200),
        org=name,
        my_role=member.role.value,
        is_admin=member.role == OrgRole.ADMIN,
        tab=tab,
        orgs=[m.org.name for m in orgs.list_for(db, caller)],
        problem=problem,
        base=org_url(name),
        **context,
    )


def create_member(
    db: Session,
    caller: Principal,
    org: str,
    username: str,
    role: str,
    *,
    email: str | None = None,
    password: str | None = None,
    is_service: bool = False,
) -> User:
    """A new person or service account in the organization, with a role (organization admins)."""
    admin = orgs.admin_access(db, caller, org)
    org_role = orgs.parse_role(role)
    user = accounts.create_user(
        db,
        caller,
        username.strip(),
        email=email,
        password=password,
        is_service=is_service,
        org_id=admin.org.id,
    )
    orgs.add_member(db, caller, admin.org, user, org_role)
    return user


@router.get("/org")
def default_org(caller: SessionCaller, db: Db, state: State) -> RedirectResponse:
    """The users page of the caller's organization (the configured default first)."""
    member = current_org(db, caller, None, state.settings.default_org)
    return see_other(org_url(member.org.name, "users"))


@router.get(ORG, response_class=HTMLResponse)
def org_home(org: str, caller: SessionCaller, db: Db) -> RedirectResponse:
    """An organization's pages start with its users."""
    member = orgs.access(db, caller, org)
    return see_other(org_url(member.org.name, "users"))
