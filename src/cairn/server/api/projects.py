"""Projects and the artifacts logged into them."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from cairn.server.api import convert, schemas
from cairn.server.api.routing import FILE_RESPONSES
from cairn.server.domain.refs import parse_selector
from cairn.server.http.deps import Db, State
from cairn.server.http.downloads import BLOBS_RESPONSES, serve, serve_batch
from cairn.server.http.identity import Caller
from cairn.server.services import artifacts, downloads, projects

router = APIRouter()
PROJECT = "/projects/{entity}/{project}"
VERSION = PROJECT + "/artifacts/{name}/versions/{version}"


def _project(p: projects.ProjectAccess) -> schemas.ProjectOut:
    pr = p.project
    return schemas.ProjectOut(
        id=pr.id,
        entity=p.entity_name,
        name=pr.name,
        description=pr.description,
        created_at=pr.created_at,
    )


@router.get("/projects/{entity}", response_model=list[schemas.ProjectOut])
def list_projects(entity: str, caller: Caller, db: Db) -> list[schemas.ProjectOut]:
    """Projects of a team or user the caller can read."""
    owner = projects.owner(db, caller, entity)
    return [
        _project(projects.ProjectAccess(p, owner.entity.name, owner.can_write))
        for p in projects.list_for(db, caller, entity)
    ]


@router.post("/projects/{entity}", status_code=201, response_model=schemas.ProjectOut)
def create_project(
    entity: str, body: schemas.ProjectIn, caller: Caller, db: Db
) -> schemas.ProjectOut:
    """Create a project (team members, or the user themselves)."""
    return _project(projects.create(db, caller, entity, body.name, body.description))


@router.get(PROJECT, response_model=schemas.ProjectOut)
def get_project(entity: str, project: str, caller: Caller, db: Db) -> schemas.ProjectOut:
    """One project."""
    return _project(projects.get(db, caller, entity, project))


@router.put(
    PROJECT,
    status_code=201,
    response_model=schemas.ProjectOut,
    responses={200: {"model": schemas.ProjectOut, "description": "The project existed already"}},
)
def ensure_project(entity: str, project: str, caller: Caller, db: Db) -> JSONResponse:
    """The project the caller may log into, created if missing; 403 when they may not."""
    found = projects.writable(db, caller, entity, project)
    out = _project(found)
    return JSONResponse(out.model_dump(mode="json"), status_code=201 if found.created else 200)


@router.get(PROJECT + "/artifacts", response_model=list[schemas.ArtifactSummaryOut])
def list_artifacts(
    entity: str, project: str, caller: Caller, db: Db
) -> list[schemas.ArtifactSummaryOut]:
    """Artifact names in a project, with their type and number of versions."""
    return [
        schemas.ArtifactSummaryOut(name=a.name, type=a.type, versions=a.next_index)
        for a in artifacts.list_artifacts(db, caller, entity, project)
    ]


@router.post(
    PROJECT + "/artifacts",
    status_code=201,
    response_model=schemas.VersionOut,
    responses={
        200: {"model": schemas.VersionOut, "description": "Identical content: the existing version"}
    },
)
def log_artifact(
    entity: str, project: str, body: schemas.LogIn, caller: Caller, db: Db
) -> JSONResponse:
    """Commit a version whose blobs were uploaded; identical content returns the existing one."""
    spec = artifacts.LogSpec(
        name=body.name,
        type=body.type,
        files=[(f.path, f.sha256, f.size) for f in body.files],
        description=body.description,
        metadata=body.metadata,
        aliases=body.aliases,
        client_id=body.client_id,
    )
    view, created = artifacts.log(db, caller, entity, project, spec)
    out = convert.version(view)
    return JSONResponse(out.model_dump(mode="json"), status_code=201 if created else 200)


@router.get(PROJECT + "/artifacts/{name}/versions", response_model=list[schemas.VersionOut])
def list_versions(
    entity: str, project: str, name: str, caller: Caller, db: Db
) -> list[schemas.VersionOut]:
    """Versions of an artifact, newest first."""
    return [convert.version(v) for v in artifacts.list_versions(db, caller, entity, project, name)]


@router.get(VERSION, response_model=schemas.VersionOut)
def get_version(
    entity: str, project: str, name: str, version: str, caller: Caller, db: Db
) -> schemas.VersionOut:
    """One version with its files."""
    selector = parse_selector(version)
    return convert.version(artifacts.get(db, caller, entity, project, name, selector))


@router.get(VERSION + "/files/{sha256}", response_class=Response, responses=FILE_RESPONSES)
async def download(
    entity: str,
    project: str,
    name: str,
    version: str,
    sha256: str,
    request: Request,
    caller: Caller,
    state: State,
) -> Response:
    """The bytes of one file of the version (Range requests resume)."""
    selector = parse_selector(version)
    return await serve(
        state,
        request.headers.get("range"),
        lambda db: downloads.logged_file(db, caller, entity, project, name, selector, sha256),
    )


@router.post(VERSION + "/files/batch", response_class=Response, responses=BLOBS_RESPONSES)
async def download_batch(
    entity: str,
    project: str,
    name: str,
    version: str,
    body: schemas.FilesBatchIn,
    caller: Caller,
    state: State,
) -> Response:
    """The bytes of many files of the version as one blob stream (each distinct digest once,
    in request order); 404 before any byte if one is not a file of the version."""
    selector = parse_selector(version)
    return await serve_batch(
        state,
        lambda db: downloads.logged_files(db, caller, entity, project, name, selector, body.sha256),
    )
