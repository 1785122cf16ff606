"""Registry settings (the gear icon): visibility, name, owning team, description, types,
protected aliases, delete."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from cairn.server.domain.principal import Principal
from cairn.server.domain.roles import Action, RegistryRole, allows
from cairn.server.http.deps import Db
from cairn.server.http.identity import SessionCaller
from cairn.server.services import orgs, registries, registry_members, registry_settings, teams
from cairn.server.services.registry_settings import Changes
from cairn.server.web.forms import (
    HOME,
    FieldRules,
    Problem,
    Short,
    Text,
    attempt,
    registry_url,
    see_other,
    split_list,
    text,
)
from cairn.server.web.home import VISIBILITY_CHOICES
from cairn.server.web.templating import page

router = APIRouter(include_in_schema=False)
SETTINGS = "/registry/{org}/{registry}/settings"


def settings_page(
    request: Request,
    db: Session,
    caller: Principal,
    org: str,
    registry: str,
    problem: Problem | None = None,
) -> HTMLResponse:
    """The settings page; controls appear only for those whose role allows them."""
    view = registries.get(db, caller, org, registry)
    can_admin = allows(view.role, Action.ADMINISTER)
    team_names = (
        [t.name for t, _ in teams.list_for(db, orgs.access(db, caller, view.org_name))]
        if can_admin
        else []
    )
    return page(
        request,
        "settings.html",
        status=problem.status if problem else 200,
        view=view,
        members=registry_members.list_members(db, caller, view.org_name, view.registry.name),
        can_admin=can_admin,
        teams=team_names,
        can_protect=allows(view.role, Action.MANAGE_PROTECTED_ALIASES),
        roles=[r.value for r in RegistryRole],
        visibilities=VISIBILITY_CHOICES,
        problem=problem,
        base=registry_url(view.org_name, view.registry.name),
    )


def apply(
    request: Request,
    db: Session,
    caller: Principal,
    org: str,
    registry: str,
    section: str,
    changes: Changes,
    *,
    fields: FieldRules = (),
    values: dict[str, str] | None = None,
) -> Response:
    """Save one settings form through the service; the same page shows any refusal."""
    saved: list[registries.RegistryView] = []
    problem = attempt(
        db,
        section,
        lambda: saved.append(registry_settings.update(db, caller, org, registry, changes)),
        fields=fields,
        values=values,
    )
    if problem is not None:
        return settings_page(request, db, caller, org, registry, problem)
    view = saved[0]  # a rename moves the page
    return see_other(registry_url(view.org_name, view.registry.name, "settings") + f"#{section}")


@router.get(SETTINGS, response_class=HTMLResponse)
def show(request: Request, org: str, registry: str, caller: SessionCaller, db: Db) -> Response:
    """Settings, readable by everyone who can see the registry."""
    return settings_page(request, db, caller, org, registry)


@router.post(SETTINGS + "/visibility")
def set_visibility(
    request: Request, org: str, registry: str, caller: SessionCaller, db: Db, visibility: Short
) -> Response:
    """Change who can see the registry."""
    return apply(request, db, caller, org, registry, "visibility", Changes(visibility=visibility))


@router.post(SETTINGS + "/name")
def rename(
    request: Request, org: str, registry: str, caller: SessionCaller, db: Db, name: Short
) -> Response:
    """Rename the registry (core registries keep their name)."""
    return apply(
        request,
        db,
        caller,
        org,
        registry,
        "name",
        Changes(name=name.strip()),
        fields=(("name", r"registry name|registry named|core registry"),),
        values={"name": name},
    )


@router.post(SETTINGS + "/owner")
def set_owner_team(
    request: Request, org: str, registry: str, caller: SessionCaller, db: Db, team: Short = ""
) -> Response:
    """Give the registry an owning team (its admins administer the registry), or none."""
    changes = Changes(owner_team=team or None, clear_owner_team=not team)
    return apply(request, db, caller, org, registry, "owner", changes, fields=(("team", r"team"),))


@router.post(SETTINGS + "/description")
def set_description(
    request: Request, org: str, registry: str, caller: SessionCaller, db: Db, description: Text = ""
) -> Response:
    """Edit (or clear) the description."""
    description = text(description)
    changes = Changes(description=description or None, clear_description=not description)
    return apply(request, db, caller, org, registry, "description", changes)


@router.post(SETTINGS + "/types")
def add_types(
    request: Request,
    org: str,
    registry: str,
    caller: SessionCaller,
    db: Db,
    types: Short = "",
    mode: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    """Add accepted types (saved ones stay), and/or switch between all and specified types."""
    current = registries.get(db, caller, org, registry)
    added = split_list(types)
    changes = Changes(
        artifact_types=current.types + added if added else None,
        allow_all_artifact_types={"all": True, "specify": False}.get(mode),
    )
    return apply(request, db, caller, org, registry, "types", changes)


@router.post(SETTINGS + "/protected-aliases")
def set_protected_aliases(
    request: Request, org: str, registry: str, caller: SessionCaller, db: Db, aliases: Short = ""
) -> Response:
    """Define the protected aliases (the whole list)."""
    changes = Changes(protected_aliases=split_list(aliases))
    return apply(request, db, caller, org, registry, "protected", changes)


@router.post(SETTINGS + "/delete")
def delete(
    request: Request, org: str, registry: str, caller: SessionCaller, db: Db, confirm: Short = ""
) -> Response:
    """Delete the registry once its name has been typed."""
    view = registries.get(db, caller, org, registry)
    if confirm != view.registry.name:
        refused = Problem(
            "delete", "type the registry's name exactly to delete it", 422, "confirm", {}
        )
        return settings_page(request, db, caller, org, registry, refused)
    problem = attempt(
        db, "delete", lambda: registry_settings.delete(db, caller, org, view.registry.name)
    )
    if problem is not None:
        return settings_page(request, db, caller, org, registry, problem)
    return see_other(HOME)
