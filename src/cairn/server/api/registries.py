"""Registries: list (filtered, paged), create, read, change settings, delete."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from cairn.server.api import convert, schemas
from cairn.server.api.routing import guarded_by
from cairn.server.domain.roles import Action
from cairn.server.http.deps import Db
from cairn.server.http.identity import Caller
from cairn.server.services import orgs, registries, registry_settings

router = APIRouter()
ONE = "/orgs/{org}/registries/{registry}"


@router.get("/orgs/{org}/registries", response_model=schemas.RegistryPage)
def list_registries(
    org: str,
    caller: Caller,
    db: Db,
    filter: Annotated[str | None, Query(max_length=16_384)] = None,
    order: Annotated[str | None, Query(max_length=32)] = None,
    per_page: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> schemas.RegistryPage:
    """One page of the registries the caller can see."""
    page, next_cursor = registries.list_visible(
        db, caller, org, filter_json=filter, order=order, per_page=per_page, cursor=cursor
    )
    return schemas.RegistryPage(items=[convert.registry(v) for v in page], next_cursor=next_cursor)


@router.post("/orgs/{org}/registries", status_code=201, response_model=schemas.RegistryOut)
def create_registry(
    org: str, body: schemas.RegistryIn, caller: Caller, db: Db
) -> schemas.RegistryOut:
    """Create a registry; the caller becomes its admin."""
    found = orgs.access(db, caller, org)
    view = registries.create(
        db,
        caller,
        found,
        name=body.name,
        visibility=body.visibility,
        description=body.description,
        artifact_types=body.artifact_types,
        owner_team=body.owner_team,
    )
    return convert.registry(view)


@router.get(ONE, response_model=schemas.RegistryOut, openapi_extra=guarded_by(Action.VIEW))
def get_registry(org: str, registry: str, caller: Caller, db: Db) -> schemas.RegistryOut:
    """One registry."""
    return convert.registry(registries.get(db, caller, org, registry))


@router.patch(ONE, response_model=schemas.RegistryOut, openapi_extra=guarded_by(Action.ADMINISTER))
def update_registry(
    org: str, registry: str, body: schemas.RegistryPatchIn, caller: Caller, db: Db
) -> schemas.RegistryOut:
    """Change settings; `artifact_types` is the full new list and may only grow."""
    sent = body.model_fields_set
    changes = registry_settings.Changes(
        name=body.name,
        description=body.description,
        clear_description="description" in sent and body.description is None,
        visibility=body.visibility,
        artifact_types=body.artifact_types,
        allow_all_artifact_types=body.allow_all_artifact_types,
        protected_aliases=body.protected_aliases,
        owner_team=body.owner_team,
        clear_owner_team="owner_team" in sent and body.owner_team is None,
    )
    return convert.registry(registry_settings.update(db, caller, org, registry, changes))


@router.delete(ONE, status_code=204, openapi_extra=guarded_by(Action.ADMINISTER))
def delete_registry(org: str, registry: str, caller: Caller, db: Db) -> Response:
    """Delete a registry (not a core one)."""
    registry_settings.delete(db, caller, org, registry)
    return Response(status_code=204)
