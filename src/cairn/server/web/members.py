"""Registry members and roles on the settings page: add, change role, remove."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from cairn.server.domain.principal import Principal
from cairn.server.http.deps import Db
from cairn.server.http.identity import SessionCaller
from cairn.server.services import registry_members
from cairn.server.services.registry_members import MemberSpec
from cairn.server.web.forms import Short, attempt, registry_url, see_other
from cairn.server.web.settings import SETTINGS, settings_page

router = APIRouter(include_in_schema=False)
MEMBERS = SETTINGS + "/members"


def _done(
    request: Request,
    db: Session,
    caller: Principal,
    org: str,
    registry: str,
    run: Callable[[], object],
) -> Response:
    problem = attempt(db, "members", run)
    if problem is not None:
        return settings_page(request, db, caller, org, registry, problem)
    return see_other(registry_url(org, registry, "settings") + "#members")


@router.post(MEMBERS)
def add_member(
    request: Request,
    org: str,
    registry: str,
    caller: SessionCaller,
    db: Db,
    member: Short,
    role: Short = "",
) -> Response:
    """Add a user (by email or username) or a team (by name) with a role."""
    spec = MemberSpec(member.strip(), None, role or None)
    return _done(
        request,
        db,
        caller,
        org,
        registry,
        lambda: registry_members.add(db, caller, org, registry, [spec]),
    )


@router.post(MEMBERS + "/{kind}/{name}/role")
def change_role(
    request: Request,
    org: str,
    registry: str,
    kind: str,
    name: str,
    caller: SessionCaller,
    db: Db,
    role: Short,
) -> Response:
    """Give a member another role."""
    return _done(
        request,
        db,
        caller,
        org,
        registry,
        lambda: registry_members.set_role(db, caller, org, registry, kind, name, role),
    )


@router.post(MEMBERS + "/{kind}/{name}/remove")
def remove_member(
    request: Request, org: str, registry: str, kind: str, name: str, caller: SessionCaller, db: Db
) -> Response:
    """Remove a member."""
    return _done(
        request,
        db,
        caller,
        org,
        registry,
        lambda: registry_members.remove(db, caller, org, registry, kind, name),
    )
