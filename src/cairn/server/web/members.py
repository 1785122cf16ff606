"""Registry members and roles on the settings page: add (with suggestions), change role, remove."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from cairn.server.domain.principal import Principal
from cairn.server.http.deps import Db
from cairn.server.http.identity import SessionCaller, check_same_origin
from cairn.server.services import registry_members
from cairn.server.services.registry_members import MemberSpec
from cairn.server.web.forms import Short, attempt, registry_url, see_other
from cairn.server.web.settings import SETTINGS, settings_page
from cairn.server.web.templating import page

router = APIRouter(include_in_schema=False)
MEMBERS = SETTINGS + "/members"
SUGGESTIONS = 10
# Which field of "Add member" a refusal is about, by the service's wording.
ADD_FIELDS = (("member", r"^no user or team|already a member|email"), ("role", r"registry role"))


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


@router.get(MEMBERS + "/suggestions", response_class=HTMLResponse)
def suggestions(
    request: Request,
    org: str,
    registry: str,
    caller: SessionCaller,
    db: Db,
    member: Annotated[str, Query(max_length=254)] = "",
) -> HTMLResponse:
    """<option>s for the Member field: org users and teams starting with what was typed.

    Registry admins only (others get 404/403, as for adding a member). A read with no side
    effects; still refused when another site asks (Fetch Metadata/Origin), so no page elsewhere
    can have a signed-in admin's browser fetch it.
    """
    check_same_origin(request)
    found = registry_members.suggest(db, caller, org, registry, member, SUGGESTIONS)
    return page(request, "_member_suggestions.html", suggestions=found)


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
    problem = attempt(
        db,
        "add-member",
        lambda: registry_members.add(db, caller, org, registry, [spec]),
        fields=ADD_FIELDS,
        values={"member": member, "role": role},
    )
    if problem is not None:
        return settings_page(request, db, caller, org, registry, problem)
    return see_other(registry_url(org, registry, "settings") + "#members")


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
