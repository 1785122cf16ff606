"""The registry the hidden-is-absent tests hide, and the calls that build what they aim at."""

from __future__ import annotations

import httpx

from cairn.server.api.routing import API_PREFIX
from tests.api import cast
from tests.api.route_walk import Endpoint

ORG = "default"
SECRET = "Secret"
# The logged version the hidden registry links (readable by every org member), as the
# sample link body names it.
ENTITY, PROJECT, ARTIFACT = "ml", "models", "clf"
PAYLOAD = b"secret weights"
COLLECTION, ALIAS = "c", "staging"


def route_id(e: Endpoint) -> str:
    return f"{e.method} {e.path.removeprefix(API_PREFIX)}"


def registries_path(org: str = ORG) -> str:
    return cast.fill(f"{cast.ORG_PATH}/registries", org=org)


def create_registry(
    client: httpx.Client, key: str, name: str, org: str = ORG, visibility: str = "restricted"
) -> None:
    body = {"name": name, "visibility": visibility, "description": "top secret"}
    made = cast.send(client, "POST", registries_path(org), key, json=body)
    assert made.status_code == 201, made.text


def add_member(
    client: httpx.Client, key: str, registry: str, member: str, kind: str = "user", org: str = ORG
) -> None:
    path = cast.fill(f"{cast.REGISTRY_PATH}/members", org=org, registry=registry)
    body = {"members": [{"member": member, "kind": kind, "role": "viewer"}]}
    added = cast.send(client, "POST", path, key, json=body)
    assert added.status_code == 201, added.text


def create_team(client: httpx.Client, key: str, name: str, org: str = ORG) -> None:
    path = cast.fill(f"{cast.ORG_PATH}/teams", org=org)
    made = cast.send(client, "POST", path, key, json={"name": name})
    assert made.status_code == 201, made.text


def link(
    client: httpx.Client,
    key: str,
    registry: str,
    source: str,
    collection: str = COLLECTION,
    aliases: tuple[str, ...] = (),
    org: str = ORG,
) -> httpx.Response:
    path = cast.fill(
        f"{cast.REGISTRY_PATH}/collections/{{collection}}/versions",
        org=org,
        registry=registry,
        collection=collection,
    )
    return cast.send(client, "POST", path, key, json={"source": source, "aliases": list(aliases)})


def seed_source(client: httpx.Client, admin_key: str) -> None:
    """Team `ml` and its logged `models/clf:v0`, which every org member can read."""
    create_team(client, admin_key, ENTITY)
    cast.log_artifact(client, admin_key, ENTITY, PROJECT, ARTIFACT, PAYLOAD)


def create_secret(client: httpx.Client, admin_key: str) -> None:
    """The hidden registry: restricted, `bob` invited, collection `c` with v0 `staging`."""
    create_registry(client, admin_key, SECRET)
    add_member(client, admin_key, SECRET, "bob")
    made = link(client, admin_key, SECRET, f"{ENTITY}/{PROJECT}/{ARTIFACT}:v0", aliases=(ALIAS,))
    assert made.status_code == 201, made.text


def registry_route_values(registry: str) -> dict[str, str]:
    return {
        "org": ORG,
        "registry": registry,
        "kind": "user",
        "name": "bob",
        "collection": COLLECTION,
        "version": "v0",
        "alias": ALIAS,
        "sha256": cast.sha256_of(PAYLOAD),
    }


def same_answer(got: httpx.Response, want: httpx.Response) -> str | None:
    """None when the two answers are identical (but for the date), else what differs."""
    if got.status_code != want.status_code:
        return f"status {got.status_code} != {want.status_code}: {got.text}"
    if got.content != want.content:
        return f"body {got.text} != {want.text}"
    if cast.comparable_headers(got) != cast.comparable_headers(want):
        return f"headers {cast.comparable_headers(got)} != {cast.comparable_headers(want)}"
    return None
