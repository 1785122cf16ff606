"""Shared helpers for the API suites: paths, requests as a caller, and casts built directly."""

from __future__ import annotations

import hashlib
import re
from typing import Any
from urllib.parse import quote

import httpx
from sqlalchemy.orm import Session

from cairn.server.api.routing import API_PREFIX
from cairn.server.db.models import Organization, Team, User
from cairn.server.domain.principal import Principal
from cairn.server.domain.roles import OrgRole, TeamRole
from cairn.server.services import accounts, keys, orgs, registries, registry_members, teams
from cairn.server.services.registry_members import MemberSpec

REGISTRY_PATH = f"{API_PREFIX}/orgs/{{org}}/registries/{{registry}}"
ORG_PATH = f"{API_PREFIX}/orgs/{{org}}"
# A well-formed key (right prefix, 12 hex digits, secret) that the server never issued,
# and a token that is not shaped like a key at all.
UNKNOWN_KEY = "cairn_0123456789ab_" + "x" * 43
GARBAGE_KEY = "not-a-cairn-key"
LEAK_MARKERS = ("Traceback", "sqlalchemy", "psycopg", "SELECT ", "site-packages", '.py"')

JsonBody = dict[str, Any]
OCTET_STREAM = "application/octet-stream"


def fill(template: str, **values: str) -> str:
    """A concrete path: every `{param}` of `template` replaced by its URL-quoted value."""

    def one(match: re.Match[str]) -> str:
        name = match.group(1).split(":")[0]
        if name not in values:
            raise KeyError(f"no value for path parameter {name!r} in {template}")
        return quote(values[name], safe="")

    return re.sub(r"\{([^}]+)\}", one, template)


def path_params(template: str) -> list[str]:
    """The names of the path parameters of `template`."""
    return [m.split(":")[0] for m in re.findall(r"\{([^}]+)\}", template)]


def send(
    client: httpx.Client,
    method: str,
    path: str,
    key: str | None,
    json: JsonBody | None = None,
    params: dict[str, str] | None = None,
    content: bytes | None = None,
    content_type: str = OCTET_STREAM,
) -> httpx.Response:
    """One request with `Authorization: Bearer key` (None: anonymous); never a 5xx or a leak.

    `content` is sent as `content_type` (file bytes unless told), `json` as JSON.
    """
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    if content is not None:
        headers["Content-Type"] = content_type
    resp = client.request(method, path, headers=headers, json=json, params=params, content=content)
    assert resp.status_code < 500, f"{method} {path}: {resp.status_code} {resp.text[:500]}"
    for marker in LEAK_MARKERS:
        assert marker not in resp.text, f"{method} {path} leaks {marker!r}: {resp.text[:500]}"
    return resp


def error_code(resp: httpx.Response) -> str:
    """The `code` of a standard error body (fails when the body is not that shape)."""
    body = resp.json()
    assert isinstance(body, dict), resp.text
    assert set(body) == {"error"}, resp.text
    assert isinstance(body["error"], dict)
    assert isinstance(body["error"].get("message"), str)
    code = body["error"].get("code")
    assert isinstance(code, str), resp.text
    return code


def comparable_headers(resp: httpx.Response) -> dict[str, str]:
    """Response headers that must match between two equivalent answers (date excluded)."""
    return {k.lower(): v for k, v in resp.headers.items() if k.lower() != "date"}


# --- building casts directly through the services (fast: no passwords, one transaction) ---


def admin_principal(s: Session) -> Principal:
    """The bootstrap superuser `admin` as a principal."""
    return accounts.as_principal(accounts.get_user(s, "admin"), "key")


def new_user(
    s: Session,
    username: str,
    *,
    org: str | None = "default",
    role: OrgRole = OrgRole.MEMBER,
    service: bool = False,
) -> tuple[User, str]:
    """A user (member of `org` with `role` unless org is None) and an API key of theirs."""
    user = accounts.create_user(s, None, username, is_service=service)
    if org is not None:
        found = orgs.find_org(s, org)
        assert found is not None, org
        orgs.add_member(s, None, found, user, role)
    _, full = keys.create(s, None, user, "tests")
    return user, full


def add_to_org(s: Session, user: User, org: str, role: OrgRole = OrgRole.MEMBER) -> None:
    """Make an existing user a member of another organization."""
    found: Organization | None = orgs.find_org(s, org)
    assert found is not None, org
    orgs.add_member(s, None, found, user, role)


def new_team(s: Session, name: str, members: dict[str, TeamRole], *, org: str = "default") -> Team:
    """A team created by `admin` (so its admin too), with `members` holding their team roles."""
    actor = admin_principal(s)
    access = orgs.access(s, actor, org)
    team = teams.create(s, actor, access, name, None)
    for username, role in members.items():
        teams.add_member(s, actor, access, team, username, role)
    return team


def new_registry(
    s: Session,
    name: str,
    visibility: str,
    *,
    org: str = "default",
    owner_team: str | None = None,
    members: list[MemberSpec] | None = None,
) -> None:
    """A registry created by `admin` (its first explicit admin), with `members` added."""
    actor = admin_principal(s)
    registries.create(
        s,
        actor,
        orgs.access(s, actor, org),
        name=name,
        visibility=visibility,
        owner_team=owner_team,
    )
    if members:
        registry_members.add(s, actor, org, name, members)


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def log_artifact(
    client: httpx.Client,
    key: str,
    entity: str,
    project: str,
    name: str,
    payload: bytes,
    type_: str = "model",
) -> JsonBody:
    """Upload one file and log a version holding it; returns the Version."""
    digest = sha256_of(payload)
    put = send(client, "PUT", f"{API_PREFIX}/blobs/{digest}", key, content=payload)
    assert put.status_code == 201, put.text
    body = {
        "name": name,
        "type": type_,
        "files": [{"path": "model.bin", "sha256": digest, "size": len(payload)}],
    }
    path = fill(
        f"{API_PREFIX}/projects/{{entity}}/{{project}}/artifacts", entity=entity, project=project
    )
    logged = send(client, "POST", path, key, json=body)
    assert logged.status_code in (200, 201), logged.text
    version: JsonBody = logged.json()
    return version
