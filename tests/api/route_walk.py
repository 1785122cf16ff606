"""Route discovery for the API suites: every endpoint served, and a valid request for each."""

from __future__ import annotations

import atexit
import functools
import hashlib
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import iter_route_contexts
from starlette.routing import BaseRoute, Host, Mount, Router

from cairn.server.api.routing import ACTION_KEY, API_PREFIX
from cairn.server.app import build_state, create_app
from cairn.server.domain import blobstream
from cairn.server.domain.roles import Action
from cairn.server.http.identity import principal, session_principal
from cairn.server.settings import Settings
from tests.api.cast import ORG_PATH, REGISTRY_PATH, JsonBody

# A valid body for every route that takes one, so a refusal cannot come from validation.
SAMPLE_BODIES: dict[tuple[str, str], JsonBody] = {
    ("POST", f"{API_PREFIX}/auth/login"): {"username": "admin", "password": "wrong-password"},
    ("POST", f"{API_PREFIX}/orgs"): {"name": "sample-org"},
    ("POST", f"{ORG_PATH}/members"): {"user": "admin", "role": "admin"},
    ("PATCH", f"{ORG_PATH}/members/{{username}}"): {"role": "viewer"},
    ("POST", f"{ORG_PATH}/users"): {"username": "sample-user"},
    ("PATCH", f"{API_PREFIX}/users/{{username}}"): {"active": False},
    ("POST", f"{ORG_PATH}/teams"): {"name": "sample-team"},
    ("POST", f"{ORG_PATH}/teams/{{team}}/members"): {"user": "admin", "role": "admin"},
    ("PATCH", f"{ORG_PATH}/teams/{{team}}/members/{{username}}"): {"role": "admin"},
    ("POST", f"{API_PREFIX}/keys"): {"name": "sample"},
    ("POST", f"{ORG_PATH}/registries"): {"name": "Sample", "visibility": "restricted"},
    ("PATCH", REGISTRY_PATH): {"description": "sample"},
    ("POST", f"{REGISTRY_PATH}/members"): {"members": [{"member": "admin", "role": "admin"}]},
    ("PATCH", f"{REGISTRY_PATH}/members/{{kind}}/{{name}}"): {"role": "admin"},
    ("POST", f"{API_PREFIX}/blobs/missing"): {"blobs": [{"sha256": "0" * 64, "size": 1}]},
    ("POST", f"{API_PREFIX}/blobs/sizes"): {"sizes": [1]},
    ("POST", f"{API_PREFIX}/blobs/ends"): {"files": [{"size": 1, "ends": "0" * 64}]},
    ("POST", f"{API_PREFIX}/blobs/uploads"): {"size": 1},
    ("POST", f"{API_PREFIX}/blobs/uploads/{{upload}}/complete"): {"sha256": "0" * 64, "size": 1},
    ("POST", f"{API_PREFIX}/projects/{{entity}}"): {"name": "sample-project"},
    ("POST", f"{API_PREFIX}/projects/{{entity}}/{{project}}/artifacts"): {
        "name": "sample",
        "type": "model",
        "files": [],
    },
    ("POST", f"{REGISTRY_PATH}/collections"): {"name": "sample", "type": "model"},
    ("PATCH", f"{REGISTRY_PATH}/collections/{{collection}}"): {"description": "sample"},
    ("POST", f"{REGISTRY_PATH}/collections/{{collection}}/versions"): {
        "source": "ml/models/clf:v0"
    },
    ("PUT", f"{REGISTRY_PATH}/collections/{{collection}}/aliases/{{alias}}"): {"version": "v0"},
    (
        "POST",
        f"{API_PREFIX}/projects/{{entity}}/{{project}}/artifacts/{{name}}/versions/{{version}}"
        "/files/batch",
    ): {"sha256": ["0" * 64]},
    ("POST", f"{REGISTRY_PATH}/collections/{{collection}}/versions/{{version}}/files/batch"): {
        "sha256": ["0" * 64]
    },
}
SAMPLE_BYTES = b"sample file bytes"
# A blob stream (docs/api.md) of one record: SAMPLE_BYTES.
SAMPLE_STREAM = (
    blobstream.header(hashlib.sha256(SAMPLE_BYTES).hexdigest(), len(SAMPLE_BYTES)) + SAMPLE_BYTES
)


@dataclass(frozen=True)
class Endpoint:
    """One (method, path) the application answers, as the census and the matrix see it."""

    method: str
    path: str
    kind: str  # "api" (a FastAPI route), "route" (a plain Starlette route) or "mount"
    action: Action | None = None
    status_code: int = 200
    dependant: Dependant | None = field(default=None, compare=False, repr=False)

    # the media type of a body that is not JSON: file bytes (application/octet-stream) or
    # a blob stream (application/vnd.cairn.blobs)
    raw_media: str | None = None

    @property
    def raw_body(self) -> bool:
        return self.raw_media is not None

    @property
    def takes_body(self) -> bool:
        return self.dependant is not None and bool(self.dependant.body_params)

    @property
    def key(self) -> tuple[str, str]:
        return self.method, self.path


def _walk(routes: list[BaseRoute], prefix: str = "") -> Iterator[Endpoint]:
    """Every endpoint under `routes`, through included routers, mounts and hosts."""
    for ctx in iter_route_contexts(routes):
        original = ctx.original_route
        path = (ctx.path or "") if prefix == "" else prefix + (ctx.path or "")
        dependant = getattr(ctx, "dependant", None)
        if isinstance(original, Mount | Host):
            inner = getattr(original, "app", None)
            if isinstance(inner, Router | FastAPI):
                yield from _walk(list(inner.routes), path.rstrip("/"))
            else:
                yield Endpoint("GET", path, "mount")
            continue
        methods = getattr(ctx, "methods", None) or {"GET"}
        extra = getattr(ctx, "openapi_extra", None) or {}
        raw_action = extra.get(ACTION_KEY)
        media = extra.get("requestBody", {}).get("content", {})
        raw_media = next((m for m in media if m != "application/json"), None)
        for method in sorted(methods):
            yield Endpoint(
                method=method,
                path=path,
                kind="api" if isinstance(dependant, Dependant) else "route",
                action=Action(raw_action) if raw_action is not None else None,
                status_code=getattr(ctx, "status_code", None) or 200,
                dependant=dependant if isinstance(dependant, Dependant) else None,
                raw_media=raw_media,
            )


def sample_body(endpoint: Endpoint) -> JsonBody | None:
    """A valid body for `endpoint` (None when it takes none); fails for an unknown body route."""
    if not endpoint.takes_body:
        return None
    assert endpoint.key in SAMPLE_BODIES, f"add a sample body for {endpoint.method} {endpoint.path}"
    return SAMPLE_BODIES[endpoint.key]


def sample_request(endpoint: Endpoint) -> dict[str, Any]:
    """Keyword arguments for send(): a valid JSON body, file bytes, a blob stream, or nothing."""
    if endpoint.raw_media == blobstream.MEDIA_TYPE:
        return {"content": SAMPLE_STREAM, "content_type": blobstream.MEDIA_TYPE}
    if endpoint.raw_media is not None:
        return {"content": SAMPLE_BYTES, "content_type": endpoint.raw_media}
    body = sample_body(endpoint)
    return {} if body is None else {"json": body}


def endpoints(app: FastAPI) -> list[Endpoint]:
    """Every endpoint of `app`. HEAD, which Starlette adds beside GET, counts as that GET."""
    found = [e for e in _walk(list(app.routes)) if e.method != "HEAD"]
    return sorted(set(found), key=lambda e: (e.path, e.method))


@functools.cache
def static_app() -> FastAPI:
    """The application built on no real database, for collecting test parameters."""
    folder = Path(tempfile.mkdtemp(prefix="cairn-static-app-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    settings = Settings(
        data_dir=folder, database_url="sqlite://", auto_migrate=False, admin_password=None
    )
    return create_app(settings, state=build_state(settings))


def registry_endpoints(app: FastAPI) -> list[Endpoint]:
    """The endpoints on one registry or below it (each must name its role-table action)."""
    return [e for e in endpoints(app) if e.path.startswith(REGISTRY_PATH)]


def depends_on_principal(dependant: Dependant | None) -> bool:
    """Whether http.identity.principal (API key) or session_principal (web) guards the route."""
    return depends_on(dependant, principal) or depends_on_session(dependant)


def depends_on_session(dependant: Dependant | None) -> bool:
    """Whether http.identity.session_principal (a web page's sign-in) is in the tree."""
    return depends_on(dependant, session_principal)


def depends_on(dependant: Dependant | None, call: object) -> bool:
    """Whether `call` is anywhere in the dependency tree."""
    if dependant is None:
        return False
    if dependant.call is call:
        return True
    return any(depends_on(d, call) for d in dependant.dependencies)
