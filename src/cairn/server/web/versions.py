"""A linked version's page (metadata, files, source, usage) and its file downloads."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from cairn.server.domain.refs import parse_selector
from cairn.server.domain.roles import Action, RegistryRole, allows
from cairn.server.http.deps import Db, State
from cairn.server.http.downloads import file_response
from cairn.server.http.identity import SessionCaller
from cairn.server.services import downloads, linked
from cairn.server.web import usage
from cairn.server.web.forms import collection_url, registry_url
from cairn.server.web.templating import page

router = APIRouter(include_in_schema=False)
VERSION = "/registry/{org}/{registry}/collections/{collection}/versions/{version}"


@router.get(VERSION, response_class=HTMLResponse)
def show(
    request: Request,
    org: str,
    registry: str,
    collection: str,
    version: str,
    caller: SessionCaller,
    db: Db,
) -> HTMLResponse:
    """One linked version; download links only for roles that may download."""
    view = linked.get(db, caller, org, registry, collection, parse_selector(version))
    return page(
        request,
        "version.html",
        view=view,
        metadata=json.dumps(view.source.version.metadata_ or {}, indent=2, sort_keys=True),
        can_download=allows(RegistryRole(view.role), Action.DOWNLOAD),
        base=collection_url(view.org_name, view.registry.name, view.collection.name),
        files_base=version_url(view) + "/files",
        registry_base=registry_url(view.org_name, view.registry.name),
        usage=usage.for_version(view.ref),
        elsewhere=[
            (other.ref, version_url(other)) for other in linked.linked_elsewhere(db, caller, view)
        ],
    )


def version_url(view: linked.LinkedView) -> str:
    """The page of a linked version."""
    base = collection_url(view.org_name, view.registry.name, view.collection.name)
    return f"{base}/versions/v{view.linked.version_index}"


@router.get(VERSION + "/files/{sha256}")
def download(
    request: Request,
    org: str,
    registry: str,
    collection: str,
    version: str,
    sha256: str,
    caller: SessionCaller,
    db: Db,
    state: State,
) -> Response:
    """The bytes of one file, as an attachment (viewers and above)."""
    file = downloads.linked_file(
        db, caller, org, registry, collection, parse_selector(version), sha256
    )
    return file_response(state.blobs, file, request.headers.get("range"))
