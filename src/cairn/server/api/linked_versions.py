"""Linked versions of a collection: list, link, read, unlink, download; aliases; search."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from cairn.server.api import convert, schemas
from cairn.server.api.routing import FILE_RESPONSES, guarded_by
from cairn.server.domain.errors import ValidationError
from cairn.server.domain.refs import parse_ref, parse_selector
from cairn.server.domain.roles import Action
from cairn.server.http.deps import Db, State
from cairn.server.http.downloads import BLOBS_RESPONSES, serve, serve_batch
from cairn.server.http.identity import Caller
from cairn.server.services import artifacts, collection_aliases, downloads, linked, links

router = APIRouter()
REGISTRY = "/orgs/{org}/registries/{registry}"
VERSIONS = REGISTRY + "/collections/{collection}/versions"
VERSION = VERSIONS + "/{version}"
ALIAS = REGISTRY + "/collections/{collection}/aliases/{alias}"
Filter = Annotated[str | None, Query(max_length=16_384)]
PerPage = Annotated[int, Query(ge=1, le=1000)]
Cursor = Annotated[str | None, Query(max_length=2048)]


def _page(views: list[linked.LinkedView], next_cursor: str | None) -> schemas.LinkedPage:
    return schemas.LinkedPage(items=[convert.linked(v) for v in views], next_cursor=next_cursor)


@router.get(VERSIONS, response_model=schemas.LinkedPage, openapi_extra=guarded_by(Action.VIEW))
def list_versions(
    org: str,
    registry: str,
    collection: str,
    caller: Caller,
    db: Db,
    filter: Filter = None,
    per_page: PerPage = 100,
    cursor: Cursor = None,
) -> schemas.LinkedPage:
    """The collection's linked versions, newest link first."""
    return _page(
        *linked.search(
            db,
            caller,
            org,
            registry_name=registry,
            collection_name=collection,
            filter_json=filter,
            per_page=per_page,
            cursor=cursor,
        )
    )


@router.post(
    VERSIONS,
    status_code=201,
    response_model=schemas.LinkedVersionOut,
    responses={200: {"model": schemas.LinkedVersionOut, "description": "Linked there already"}},
    openapi_extra=guarded_by(Action.WRITE),
)
def link(
    org: str, registry: str, collection: str, body: schemas.LinkIn, caller: Caller, db: Db
) -> JSONResponse:
    """Link a logged version (creating the collection on first link); idempotent."""
    ref = parse_ref(body.source)
    if ref.is_short:
        raise ValidationError("source must be <entity>/<project>/<artifact>[:version]")
    entity, project, name = ref.parts
    source = artifacts.get(db, caller, entity, project, name, ref.selector)
    view, created = links.link(db, caller, org, registry, collection, source, body.aliases)
    out = convert.linked(view)
    return JSONResponse(out.model_dump(mode="json"), status_code=201 if created else 200)


@router.get(VERSION, response_model=schemas.LinkedVersionOut, openapi_extra=guarded_by(Action.VIEW))
def get_version(
    org: str, registry: str, collection: str, version: str, caller: Caller, db: Db
) -> schemas.LinkedVersionOut:
    """One linked version with its files."""
    view = linked.get(db, caller, org, registry, collection, parse_selector(version))
    return convert.linked(view)


@router.delete(VERSION, status_code=204, openapi_extra=guarded_by(Action.WRITE))
def unlink(
    org: str, registry: str, collection: str, version: str, caller: Caller, db: Db
) -> Response:
    """Unlink a version; its number is never reused."""
    links.unlink(db, caller, org, registry, collection, parse_selector(version))
    return Response(status_code=204)


@router.get(
    VERSION + "/files/{sha256}",
    response_class=Response,
    responses=FILE_RESPONSES,
    openapi_extra=guarded_by(Action.DOWNLOAD),
)
async def download(
    org: str,
    registry: str,
    collection: str,
    version: str,
    sha256: str,
    request: Request,
    caller: Caller,
    state: State,
) -> Response:
    """The bytes of one file (viewers and above; Range requests resume)."""
    selector = parse_selector(version)
    return await serve(
        state,
        request.headers.get("range"),
        lambda db: downloads.linked_file(db, caller, org, registry, collection, selector, sha256),
    )


@router.post(
    VERSION + "/files/batch",
    response_class=Response,
    responses=BLOBS_RESPONSES,
    openapi_extra=guarded_by(Action.DOWNLOAD),
)
async def download_batch(
    org: str,
    registry: str,
    collection: str,
    version: str,
    body: schemas.FilesBatchIn,
    caller: Caller,
    state: State,
) -> Response:
    """The bytes of many files as one blob stream (viewers and above; each distinct digest
    once, in request order); 404 before any byte if one is not a file of the version."""
    selector = parse_selector(version)
    return await serve_batch(
        state,
        lambda db: downloads.linked_files(
            db, caller, org, registry, collection, selector, body.sha256
        ),
    )


@router.put(ALIAS, response_model=schemas.LinkedVersionOut, openapi_extra=guarded_by(Action.WRITE))
def set_alias(
    org: str,
    registry: str,
    collection: str,
    alias: str,
    body: schemas.AliasIn,
    caller: Caller,
    db: Db,
) -> schemas.LinkedVersionOut:
    """Add an alias to a version, or move it there (protected aliases: admins)."""
    view = collection_aliases.set_alias(
        db, caller, org, registry, collection, alias, parse_selector(body.version)
    )
    return convert.linked(view)


@router.delete(ALIAS, status_code=204, openapi_extra=guarded_by(Action.WRITE))
def remove_alias(
    org: str, registry: str, collection: str, alias: str, caller: Caller, db: Db
) -> Response:
    """Remove an alias (protected aliases: admins)."""
    collection_aliases.remove_alias(db, caller, org, registry, collection, alias)
    return Response(status_code=204)


@router.get(
    REGISTRY + "/versions",
    response_model=schemas.LinkedPage,
    openapi_extra=guarded_by(Action.VIEW),
)
def registry_versions(
    org: str,
    registry: str,
    caller: Caller,
    db: Db,
    filter: Filter = None,
    per_page: PerPage = 100,
    cursor: Cursor = None,
) -> schemas.LinkedPage:
    """Linked versions across one registry, newest link first."""
    return _page(
        *linked.search(
            db,
            caller,
            org,
            registry_name=registry,
            filter_json=filter,
            per_page=per_page,
            cursor=cursor,
        )
    )


@router.get("/orgs/{org}/versions", response_model=schemas.LinkedPage)
def org_versions(
    org: str,
    caller: Caller,
    db: Db,
    filter: Filter = None,
    per_page: PerPage = 100,
    cursor: Cursor = None,
) -> schemas.LinkedPage:
    """Linked versions across every registry the caller can see."""
    return _page(
        *linked.search(db, caller, org, filter_json=filter, per_page=per_page, cursor=cursor)
    )
