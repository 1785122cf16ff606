"""Collections of a registry: list, create, read, change, delete."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from cairn.server.api import convert, schemas
from cairn.server.api.routing import guarded_by
from cairn.server.domain.roles import Action
from cairn.server.http.deps import Db
from cairn.server.http.identity import Caller
from cairn.server.services import collections

router = APIRouter()
ALL = "/orgs/{org}/registries/{registry}/collections"
ONE = ALL + "/{collection}"


@router.get(ALL, response_model=schemas.CollectionPage, openapi_extra=guarded_by(Action.VIEW))
def list_collections(
    org: str,
    registry: str,
    caller: Caller,
    db: Db,
    filter: Annotated[str | None, Query(max_length=16_384)] = None,
    per_page: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> schemas.CollectionPage:
    """One page of the registry's collections, by name."""
    page, next_cursor = collections.list_page(
        db, caller, org, registry, filter_json=filter, per_page=per_page, cursor=cursor
    )
    return schemas.CollectionPage(
        items=[convert.collection(c) for c in page], next_cursor=next_cursor
    )


@router.post(
    ALL,
    status_code=201,
    response_model=schemas.CollectionOut,
    openapi_extra=guarded_by(Action.WRITE),
)
def create_collection(
    org: str, registry: str, body: schemas.CollectionIn, caller: Caller, db: Db
) -> schemas.CollectionOut:
    """Create a collection of one artifact type (members)."""
    view, _ = collections.create(
        db,
        caller,
        org,
        registry,
        name=body.name,
        type_=body.type,
        description=body.description,
        tags=body.tags,
    )
    return convert.collection(view)


@router.get(ONE, response_model=schemas.CollectionOut, openapi_extra=guarded_by(Action.VIEW))
def get_collection(
    org: str, registry: str, collection: str, caller: Caller, db: Db
) -> schemas.CollectionOut:
    """One collection."""
    return convert.collection(collections.get(db, caller, org, registry, collection))


@router.patch(ONE, response_model=schemas.CollectionOut, openapi_extra=guarded_by(Action.WRITE))
def update_collection(
    org: str,
    registry: str,
    collection: str,
    body: schemas.CollectionPatchIn,
    caller: Caller,
    db: Db,
) -> schemas.CollectionOut:
    """Rename, describe or re-tag a collection (members)."""
    view = collections.update(
        db,
        caller,
        org,
        registry,
        collection,
        new_name=body.name,
        description=body.description,
        clear_description="description" in body.model_fields_set and body.description is None,
        tags=body.tags,
    )
    return convert.collection(view)


@router.delete(ONE, status_code=204, openapi_extra=guarded_by(Action.WRITE))
def delete_collection(org: str, registry: str, collection: str, caller: Caller, db: Db) -> Response:
    """Delete a collection (admins while a version holds a protected alias)."""
    collections.remove(db, caller, org, registry, collection)
    return Response(status_code=204)
