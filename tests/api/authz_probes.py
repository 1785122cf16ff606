"""What the authorization matrix asks of each registry route, and what an allowed call changes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from cairn.server.domain import blobstream
from cairn.server.domain.roles import Action, RegistryRole
from tests.api import cast, registry_state
from tests.api.authz_callers import (
    ARTIFACT,
    BYSTANDER,
    ENTITY,
    NEWCOMER,
    ORDINARY,
    PAYLOADS,
    PROJECT,
    PROTECTED,
)
from tests.api.cast import JsonBody
from tests.api.registry_state import Diff

NEW_DESCRIPTION = "changed by the matrix"
R = cast.REGISTRY_PATH
C = R + "/collections/{collection}"


@dataclass(frozen=True)
class Context:
    """What an answer check may need: the caller's role and the rows before the call."""

    role: RegistryRole
    before: registry_state.Rows


Effect = Callable[[Diff, Context], None]
Answer = Callable[[httpx.Response, Context], None]


def no_change(d: Diff, _: Context) -> None:
    assert d.counts() == {}, f"a read changed stored rows: {d.counts()}"


def changes(
    *, added: dict[str, int] | None = None, removed: dict[str, int] | None = None, **changed: int
) -> Effect:
    """Exactly these row counts change (plus new audit events), nothing else."""

    def effect(d: Diff, _: Context) -> None:
        audit = d.counts().pop("audit_events", (0, 0, 0))
        assert audit[0] >= 1, "a change left no audit event"
        assert audit[1:] == (0, 0), "audit events are append-only"
        want: dict[str, tuple[int, int, int]] = {}
        for table in {*(added or {}), *(removed or {}), *changed}:
            want[table] = (
                (added or {}).get(table, 0),
                (removed or {}).get(table, 0),
                changed.get(table, 0),
            )
        got = {t: n for t, n in d.counts().items() if t != "audit_events"}
        assert got == want, f"changed rows {got}, expected {want}"

    return effect


def registry_gone(d: Diff, ctx: Context) -> None:
    for table, rows in ctx.before.items():
        if table != "audit_events":
            assert len(d.removed.get(table, [])) == len(rows), f"{table} rows left behind"
    assert not d.added.keys() - {"audit_events"}


ROLE = object()  # placeholder in json_is(): the caller's effective role


def json_is(**want: Any) -> Answer:
    def answer(resp: httpx.Response, ctx: Context) -> None:
        got = resp.json()
        for k, v in want.items():
            v = ctx.role.value if v is ROLE else v
            assert got[k] == v, f"{k}: {got[k]!r} != {v!r}"

    return answer


def empty(resp: httpx.Response, _: Context) -> None:
    assert resp.content == b""


def member_row(name: str, role: RegistryRole) -> JsonBody:
    return {"kind": "user", "name": name, "email": None, "role": role.value}


def lists_members(resp: httpx.Response, ctx: Context) -> None:
    got = resp.json()
    assert len(got) == len(ctx.before["registry_members"])
    assert member_row(BYSTANDER, RegistryRole.RESTRICTED_VIEWER) in got


def lists_collections(resp: httpx.Response, _: Context) -> None:
    assert [c["name"] for c in resp.json()["items"]] == ["guarded", "plain"]


def lists_versions(*versions: str) -> Answer:
    def answer(resp: httpx.Response, ctx: Context) -> None:
        items = resp.json()["items"]
        assert sorted((v["collection"], v["version"]) for v in items) == sorted(
            tuple(v.split(":")) for v in versions
        )
        assert {v["role"] for v in items} == {ctx.role.value}

    return answer


def history(*actions: str) -> Answer:
    def answer(resp: httpx.Response, _: Context) -> None:
        seen = {e["action"] for e in resp.json()}
        assert set(actions) <= seen, seen

    return answer


def file_bytes(resp: httpx.Response, _: Context) -> None:
    assert resp.content == PAYLOADS[0]


def blob_stream(resp: httpx.Response, _: Context) -> None:
    assert resp.headers["content-type"] == blobstream.MEDIA_TYPE
    digest = cast.sha256_of(PAYLOADS[0])
    assert resp.content == blobstream.header(digest, len(PAYLOADS[0])) + PAYLOADS[0]


def answer_list(want: list[JsonBody]) -> Answer:
    def answer(resp: httpx.Response, _: Context) -> None:
        assert resp.json() == want

    return answer


def linked_as(version: str, *aliases: str) -> Answer:
    def answer(resp: httpx.Response, ctx: Context) -> None:
        got = resp.json()
        assert got["version"] == version
        assert set(aliases) <= set(got["aliases"])
        assert got["role"] == ctx.role.value

    return answer


@dataclass(frozen=True)
class Probe:
    """One request on one registry route, and what it must do when the caller may make it."""

    method: str
    path: str
    label: str
    values: dict[str, str] = field(default_factory=dict)  # path values beside org, registry
    body: JsonBody | None = None
    action: Action | None = None  # the table's action when it is not the route's own
    effect: Effect = no_change
    answer: Answer = empty
    # The collections a fresh registry needs for this probe (shared registries have both).
    needs: frozenset[str] = frozenset({"plain", "guarded"})
    reads: bool = False  # a POST that only reads: it may share a registry like a GET

    @property
    def key(self) -> tuple[str, str]:
        return self.method, self.path


USER = {"kind": "user", "name": BYSTANDER}
PLAIN = {"collection": "plain"}
GUARDED = {"collection": "guarded"}
MANAGE = Action.MANAGE_PROTECTED_ALIASES
PROBES: tuple[Probe, ...] = (
    Probe("GET", R, "registry", answer=json_is(role=ROLE)),
    Probe(
        "PATCH",
        R,
        "registry",
        body={"description": NEW_DESCRIPTION},
        effect=changes(registries=1),
        answer=json_is(description=NEW_DESCRIPTION, role=ROLE),
        needs=frozenset(),
    ),
    Probe("DELETE", R, "registry", effect=registry_gone),
    Probe("GET", R + "/members", "members", answer=lists_members),
    Probe(
        "POST",
        R + "/members",
        "members",
        body={"members": [{"member": NEWCOMER, "kind": "user", "role": "viewer"}]},
        effect=changes(added={"registry_members": 1}),
        answer=answer_list([member_row(NEWCOMER, RegistryRole.VIEWER)]),
        needs=frozenset(),
    ),
    Probe(
        "PATCH",
        R + "/members/{kind}/{name}",
        "member",
        USER,
        body={"role": "viewer"},
        effect=changes(registry_members=1),
        answer=json_is(**member_row(BYSTANDER, RegistryRole.VIEWER)),
        needs=frozenset(),
    ),
    Probe(
        "DELETE",
        R + "/members/{kind}/{name}",
        "member",
        USER,
        effect=changes(removed={"registry_members": 1}),
        needs=frozenset(),
    ),
    Probe("GET", R + "/collections", "collections", answer=lists_collections),
    Probe(
        "POST",
        R + "/collections",
        "collections",
        body={"name": "fresh", "type": "model"},
        effect=changes(added={"collections": 1}, registries=1),
        answer=json_is(name="fresh", type="model", version_count=0),
        needs=frozenset({"plain"}),
    ),
    Probe(
        "GET",
        C,
        "collection",
        PLAIN,
        answer=json_is(name="plain", version_count=2, aliases={ORDINARY: "v0"}),
    ),
    Probe(
        "PATCH",
        C,
        "collection",
        PLAIN,
        body={"description": NEW_DESCRIPTION},
        effect=changes(collections=1, registries=1),
        answer=json_is(name="plain", description=NEW_DESCRIPTION),
        needs=frozenset({"plain"}),
    ),
    Probe(
        "DELETE",
        C,
        "collection",
        PLAIN,
        effect=changes(
            removed={"collections": 1, "linked_versions": 2, "collection_aliases": 1}, registries=1
        ),
        needs=frozenset({"plain"}),
    ),
    Probe(
        "DELETE",
        C,
        "collection-holding-protected",
        GUARDED,
        action=MANAGE,
        effect=changes(
            removed={"collections": 1, "linked_versions": 1, "collection_aliases": 1}, registries=1
        ),
        needs=frozenset({"guarded"}),
    ),
    Probe(
        "GET",
        C + "/versions",
        "collection-versions",
        PLAIN,
        answer=lists_versions("plain:v0", "plain:v1"),
    ),
    Probe(
        "POST",
        C + "/versions",
        "link",
        PLAIN,
        body={"source": f"{ENTITY}/{PROJECT}/{ARTIFACT}:v2"},
        effect=changes(added={"linked_versions": 1}, collections=1, registries=1),
        needs=frozenset({"plain"}),
        answer=linked_as("v2", "latest"),
    ),
    Probe(
        "POST",
        C + "/versions",
        "link-with-protected-alias",
        PLAIN,
        body={"source": f"{ENTITY}/{PROJECT}/{ARTIFACT}:v2", "aliases": [PROTECTED]},
        action=MANAGE,
        effect=changes(
            added={"linked_versions": 1, "collection_aliases": 1}, collections=1, registries=1
        ),
        needs=frozenset({"plain"}),
        answer=linked_as("v2", "latest", PROTECTED),
    ),
    Probe(
        "GET",
        C + "/versions/{version}",
        "version",
        {**PLAIN, "version": "v0"},
        answer=linked_as("v0", ORDINARY),
    ),
    Probe(
        "DELETE",
        C + "/versions/{version}",
        "unlink",
        {**PLAIN, "version": "v0"},
        effect=changes(
            removed={"linked_versions": 1, "collection_aliases": 1}, collections=1, registries=1
        ),
        needs=frozenset({"plain"}),
    ),
    Probe(
        "DELETE",
        C + "/versions/{version}",
        "unlink-protected-holder",
        {**GUARDED, "version": "v0"},
        action=MANAGE,
        effect=changes(
            removed={"linked_versions": 1, "collection_aliases": 1}, collections=1, registries=1
        ),
        needs=frozenset({"guarded"}),
    ),
    Probe(
        "GET",
        C + "/versions/{version}/files/{sha256}",
        "file",
        {**PLAIN, "version": "v0", "sha256": cast.sha256_of(PAYLOADS[0])},
        answer=file_bytes,
    ),
    Probe(
        "POST",
        C + "/versions/{version}/files/batch",
        "files-batch",
        {**PLAIN, "version": "v0"},
        body={"sha256": [cast.sha256_of(PAYLOADS[0])] * 2},
        answer=blob_stream,
        reads=True,
    ),
    Probe(
        "PUT",
        C + "/aliases/{alias}",
        "alias",
        {**PLAIN, "alias": "candidate"},
        body={"version": "v1"},
        effect=changes(added={"collection_aliases": 1}, collections=1, registries=1),
        needs=frozenset({"plain"}),
        answer=linked_as("v1", "candidate"),
    ),
    Probe(
        "PUT",
        C + "/aliases/{alias}",
        "protected-alias",
        {**PLAIN, "alias": PROTECTED},
        body={"version": "v1"},
        action=MANAGE,
        effect=changes(added={"collection_aliases": 1}, collections=1, registries=1),
        needs=frozenset({"plain"}),
        answer=linked_as("v1", PROTECTED),
    ),
    Probe(
        "DELETE",
        C + "/aliases/{alias}",
        "alias",
        {**PLAIN, "alias": ORDINARY},
        effect=changes(removed={"collection_aliases": 1}, collections=1, registries=1),
        needs=frozenset({"plain"}),
    ),
    Probe(
        "DELETE",
        C + "/aliases/{alias}",
        "protected-alias",
        {**GUARDED, "alias": PROTECTED},
        action=MANAGE,
        effect=changes(removed={"collection_aliases": 1}, collections=1, registries=1),
        needs=frozenset({"guarded"}),
    ),
    Probe(
        "GET",
        C + "/history",
        "collection-history",
        PLAIN,
        answer=history("version.link", "alias.add"),
    ),
    Probe(
        "GET", R + "/history", "registry-history", answer=history("registry.create", "version.link")
    ),
    Probe(
        "GET",
        R + "/versions",
        "registry-versions",
        answer=lists_versions("plain:v0", "plain:v1", "guarded:v0"),
    ),
)
