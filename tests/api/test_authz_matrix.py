"""Authorization matrix generated from the role table: registry route, caller, visibility."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from cairn.server.api.routing import ACTION_KEY, API_PREFIX
from cairn.server.domain import blobstream
from cairn.server.domain.refs import Selector
from cairn.server.domain.roles import (
    ROLE_TABLE,
    Action,
    OrgRole,
    RegistryRole,
    TeamRole,
    Visibility,
)
from cairn.server.services import artifacts, links, registry_settings
from cairn.server.services.registry_members import MemberSpec
from tests.api import cast
from tests.api.cast import Diff, Endpoint, JsonBody

ORG = "default"
OWNERS = "owners"
BYSTANDER = "bystander"  # a restricted_viewer member whose role the member routes change
NEWCOMER = "newcomer"  # an org member the POST adds
NEW_DESCRIPTION = "changed by the matrix"
WEAKEST_FIRST = list(RegistryRole)  # DESIGN §2: "effective role = the highest of all"
# Logged artifact versions every case's registry links (a team project all org members read).
ENTITY, PROJECT, ARTIFACT = "ml", "models", "clf"
PAYLOADS = (b"weights of v0", b"weights of v1", b"weights of v2")
PROTECTED = "production"
ORDINARY = "staging"
R = cast.REGISTRY_PATH
C = R + "/collections/{collection}"


@dataclass(frozen=True)
class CallerKind:
    """Who calls, described by the sources of a role DESIGN §2 lists."""

    name: str
    credential: str = "key"  # "key", "none" (anonymous) or "bad" (a key never issued)
    org_role: OrgRole | None = OrgRole.MEMBER  # role in the registry's organization
    direct: RegistryRole | None = None  # explicit user membership of the registry
    via_team: RegistryRole | None = None  # role of a team (the caller is a plain member of it)
    owning_team: TeamRole | None = None  # role in the team that owns the registry
    other_org: bool = False  # a member of another organization


CALLERS: tuple[CallerKind, ...] = (
    CallerKind("anonymous", credential="none", org_role=None),
    CallerKind("bad_key", credential="bad", org_role=None),
    CallerKind("org_viewer", org_role=OrgRole.VIEWER),
    CallerKind("org_member"),
    *(CallerKind(f"direct_{r.value}", direct=r) for r in RegistryRole),
    *(CallerKind(f"team_{r.value}", via_team=r) for r in RegistryRole),
    CallerKind("owning_team_admin", owning_team=TeamRole.ADMIN),
    CallerKind("owning_team_member", owning_team=TeamRole.MEMBER),
    CallerKind("org_admin", org_role=OrgRole.ADMIN),
    CallerKind("other_org", org_role=None, other_org=True),
)


def effective_role(caller: CallerKind, visibility: Visibility) -> RegistryRole | None:
    """The highest role of every source that applies (DESIGN §2), None when there is none."""
    if caller.credential != "key" or caller.org_role is None:
        return None
    sources: list[RegistryRole] = [r for r in (caller.direct, caller.via_team) if r is not None]
    if caller.org_role == OrgRole.ADMIN or caller.owning_team == TeamRole.ADMIN:
        sources.append(RegistryRole.ADMIN)
    if visibility == Visibility.ORGANIZATION:
        sources.append(RegistryRole.VIEWER)
    return max(sources, key=WEAKEST_FIRST.index) if sources else None


# --- what each registry route is asked to do, and what an allowed call must change ---


@dataclass(frozen=True)
class Context:
    """What an answer check may need: the caller's role and the rows before the call."""

    role: RegistryRole
    before: cast.Rows


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


# --- the cast: every caller kind as a real user, once per module and backend ---


@dataclass
class MatrixWorld:
    """A database with every caller and the logged versions in it; cases add registries."""

    world: cast.World
    keys: dict[str, str | None]
    shared: dict[tuple[str, Visibility], tuple[str, int]] = field(default_factory=dict)

    def registry_for(self, case: Case, mutates: bool) -> tuple[str, int]:
        """(name, id) of the registry a case works on.

        A call that may change the registry gets a fresh one. Calls that must change nothing
        (reads, refusals) share one registry per caller and visibility: any change they make
        is a failure of their own case.
        """
        if mutates:
            name = f"Target {case.number:04d}"
            return name, new_target(self, name, case.visibility, case.probe.needs)
        key = (case.caller.name, case.visibility)
        if key not in self.shared:
            name = f"Shared {case.caller.name} {case.visibility.value}"
            self.shared[key] = name, new_target(self, name, case.visibility)
        return self.shared[key]


def _team_of(caller: CallerKind) -> str:
    return f"{caller.name}-team"


def build_callers(world: cast.World) -> MatrixWorld:
    """Org `other`, a user per caller kind, the teams their roles come through, artifacts."""
    made = cast.send(
        world.client, "POST", f"{API_PREFIX}/orgs", world.admin_key, json={"name": "other"}
    )
    assert made.status_code == 201, made.text
    found: dict[str, str | None] = {}
    with world.state.writers() as s, s.begin():
        for caller in CALLERS:
            if caller.credential == "none":
                found[caller.name] = None
            elif caller.credential == "bad":
                found[caller.name] = cast.UNKNOWN_KEY
            elif caller.other_org:
                _, found[caller.name] = cast.new_user(s, caller.name, org="other")
            else:
                assert caller.org_role is not None
                _, found[caller.name] = cast.new_user(s, caller.name, role=caller.org_role)
            if caller.via_team is not None:
                cast.new_team(s, _team_of(caller), {caller.name: TeamRole.MEMBER})
        cast.new_user(s, BYSTANDER)
        cast.new_user(s, NEWCOMER)
        owners = {c.name: c.owning_team for c in CALLERS if c.owning_team is not None}
        cast.new_team(s, OWNERS, owners)
        cast.new_team(s, ENTITY, {})
    for payload in PAYLOADS:
        cast.log_artifact(world.client, world.admin_key, ENTITY, PROJECT, ARTIFACT, payload)
    return MatrixWorld(world, found)


def new_target(
    world: MatrixWorld,
    name: str,
    visibility: Visibility,
    collections: frozenset[str] = frozenset({"plain", "guarded"}),
) -> int:
    """The registry one case works on; returns its id.

    Owned by `owners`, every role source a member, `production` protected, and the asked
    of two collections: plain (v0 `staging`, v1) and guarded (v0 `production`).
    """
    specs = [MemberSpec(BYSTANDER, "user", RegistryRole.RESTRICTED_VIEWER.value)]
    for caller in CALLERS:
        if caller.direct is not None:
            specs.append(MemberSpec(caller.name, "user", caller.direct.value))
        if caller.via_team is not None:
            specs.append(MemberSpec(_team_of(caller), "team", caller.via_team.value))
    with world.world.state.writers() as s, s.begin():
        cast.new_registry(s, name, visibility.value, owner_team=OWNERS, members=specs)
        actor = cast.admin_principal(s)
        changes = registry_settings.Changes(protected_aliases=[PROTECTED])
        registry_settings.update(s, actor, ORG, name, changes)
        for collection, index, aliases in (
            ("plain", 0, [ORDINARY]),
            ("plain", 1, []),
            ("guarded", 0, [PROTECTED]),
        ):
            if collection not in collections:
                continue
            source = artifacts.get(s, actor, ENTITY, PROJECT, ARTIFACT, Selector(index=index))
            links.link(s, actor, ORG, name, collection, source, aliases)
    return cast.registry_id(world.world.state, ORG, name)


@pytest.fixture(scope="module")
def worlds(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[str], MatrixWorld]]:
    """backend -> the module's world on it, built on first use."""
    built: dict[str, MatrixWorld] = {}
    with ExitStack() as stack:

        def get(backend: str) -> MatrixWorld:
            if backend not in built:
                folder = tmp_path_factory.mktemp(f"matrix-{backend}")
                world = stack.enter_context(cast.open_world(backend, folder, request))
                built[backend] = build_callers(world)
            return built[backend]

        yield get


# --- the parameters: generated from the routes, the probes and the role table ---


@dataclass(frozen=True)
class Case:
    """One cell of the matrix."""

    route: Endpoint
    probe: Probe
    caller: CallerKind
    visibility: Visibility
    number: int

    @property
    def id(self) -> str:
        p = self.probe
        return f"{p.method}-{p.label}-{self.caller.name}-{self.visibility.value}"

    @property
    def action(self) -> Action:
        action = self.probe.action or self.route.action
        assert action is not None
        return action


def expected_status(case: Case) -> int:
    """401 without valid credentials, 404 without a role, 403 when the table denies, else 2xx."""
    if case.caller.credential != "key":
        return 401
    role = effective_role(case.caller, case.visibility)
    if role is None:
        return 404
    if role in ROLE_TABLE[case.action]:
        return case.route.status_code
    if case.action == Action.DOWNLOAD:
        return 404  # docs/api.md: restricted viewers see manifests but get 404 on file bytes
    return 403


ROUTES = {e.key: e for e in cast.registry_endpoints(cast.static_app())}
CASES = [
    Case(ROUTES[p.key], p, c, v, i)
    for i, (p, c, v) in enumerate(
        (p, c, v) for p in PROBES if p.key in ROUTES for c in CALLERS for v in Visibility
    )
]
# One probe per action also runs on PostgreSQL (both_backends); the rest on SQLite only.
POSTGRES_PROBES = {
    next(c.probe.label + c.probe.method for c in CASES if c.action == action) for action in Action
}
SQLITE_ONLY = [
    pytest.param(c, id=c.id) for c in CASES if c.probe.label + c.probe.method not in POSTGRES_PROBES
]
BOTH = [
    pytest.param(c, id=c.id) for c in CASES if c.probe.label + c.probe.method in POSTGRES_PROBES
]


def run_case(case: Case, world: MatrixWorld) -> None:
    """Make the call as the caller; check status, answer and the stored rows after."""
    state, client = world.world.state, world.world.client
    want = expected_status(case)
    mutates = want < 400 and case.route.method != "GET" and not case.probe.reads
    registry, rid = world.registry_for(case, mutates=mutates)
    absent = "Absent" + registry[len("Absent") :]  # never created; as long as `registry`
    values = {"org": ORG, **case.probe.values}
    path = cast.fill(case.route.path, registry=registry, **values)
    key = world.keys[case.caller.name]
    before = cast.registry_rows(state, rid)

    resp = cast.send(client, case.route.method, path, key, json=case.probe.body)
    change = cast.diff(before, cast.registry_rows(state, rid))

    assert resp.status_code == want, f"{case.id}: wanted {want}, got {resp.status_code} {resp.text}"
    if want >= 400:
        assert change.counts() == {}, f"{case.id}: a refused call changed {change.counts()}"
        code = cast.error_code(resp)
        assert code == {401: "authentication_error", 403: "permission_denied"}.get(
            want, "not_found"
        )
    role = effective_role(case.caller, case.visibility)
    if want == 404 and role is None:  # hidden: answers like a registry that never existed
        twin_path = cast.fill(case.route.path, registry=absent, **values)
        twin = cast.send(client, case.route.method, twin_path, key, json=case.probe.body)
        assert twin.status_code == 404
        assert twin.text.replace(absent, registry) == resp.text, "hidden != absent"
        assert cast.comparable_headers(twin) == cast.comparable_headers(resp)
    elif want == 404:  # bytes a restricted viewer may not fetch: like a file that is not there
        other = "f" * 64
        body = case.probe.body
        if body is not None and "sha256" in body:  # a batch: the first digest asked is named
            asked = body["sha256"][0]
            twin = cast.send(client, case.route.method, path, key, json={"sha256": [other]})
        else:
            asked = values["sha256"]
            twin_path = cast.fill(case.route.path, registry=registry, **{**values, "sha256": other})
            twin = cast.send(client, case.route.method, twin_path, key)
        assert twin.status_code == 404
        assert twin.text.replace(other, asked) == resp.text, "file hidden != absent"
    if want < 400:
        assert role is not None
        ctx = Context(role, before)
        case.probe.effect(change, ctx)
        case.probe.answer(resp, ctx)


@pytest.mark.parametrize("case", SQLITE_ONLY)
def test_registry_route(case: Case, worlds: Callable[[str], MatrixWorld]) -> None:
    run_case(case, worlds("sqlite"))


@pytest.mark.both_backends
@pytest.mark.parametrize("case", BOTH)
def test_registry_route_on_both_backends(
    case: Case, backend: str, worlds: Callable[[str], MatrixWorld]
) -> None:
    run_case(case, worlds(backend))


# --- PATCH carries many settings: whatever the body, the declared action is what counts ---

PATCH_BODIES: dict[str, JsonBody] = {
    "empty": {},
    "name": {"name": "Renamed by a non-admin"},
    "description": {"description": NEW_DESCRIPTION},
    "description-null": {"description": None},
    "visibility": {"visibility": "organization"},
    "artifact_types": {"artifact_types": ["model"]},
    "allow_all_artifact_types": {"allow_all_artifact_types": True},
    "protected_aliases": {"protected_aliases": []},
    "owner_team": {"owner_team": ENTITY},
    "owner_team-null": {"owner_team": None},
}
PATCH_CALLERS = [c for c in CALLERS if c.name in ("direct_restricted_viewer", "direct_member")]


@pytest.mark.parametrize("caller", PATCH_CALLERS, ids=lambda c: c.name)
@pytest.mark.parametrize("label", PATCH_BODIES)
def test_registry_patch_needs_its_declared_action_whatever_the_body(
    label: str, caller: CallerKind, worlds: Callable[[str], MatrixWorld]
) -> None:
    world = worlds("sqlite")
    route = ROUTES[("PATCH", R)]
    name = f"Patch {label} {caller.name}"
    rid = new_target(world, name, Visibility.RESTRICTED, frozenset())
    before = cast.registry_rows(world.world.state, rid)
    path = cast.fill(route.path, org=ORG, registry=name)
    key = world.keys[caller.name]
    resp = cast.send(world.world.client, "PATCH", path, key, json=PATCH_BODIES[label])
    role = effective_role(caller, Visibility.RESTRICTED)
    assert route.action is not None
    assert role is not None
    assert role not in ROLE_TABLE[route.action]
    assert resp.status_code == 403, f"{caller.name} PATCH {label}: {resp.status_code} {resp.text}"
    assert cast.error_code(resp) == "permission_denied"
    assert cast.diff(before, cast.registry_rows(world.world.state, rid)).counts() == {}


# --- the matrix covers what the application serves ---


def test_every_registry_route_names_its_action_and_has_a_probe(app: FastAPI) -> None:
    found = cast.registry_endpoints(app)
    unmarked = [f"{e.method} {e.path}" for e in found if e.action is None]
    assert not unmarked, f"registry routes without {ACTION_KEY}: {unmarked}"
    probed = {p.key for p in PROBES}
    unprobed = [f"{e.method} {e.path}" for e in found if e.key not in probed]
    assert not unprobed, f"registry routes the matrix does not exercise: {unprobed}"
    stale = sorted(probed - {e.key for e in found})
    assert not stale, f"probes for routes that no longer exist: {stale}"
    assert {(e.key, e.action) for e in found} == {(k, e.action) for k, e in ROUTES.items()}


def test_matrix_is_complete_and_exercises_every_outcome() -> None:
    assert len(CASES) == len(PROBES) * len(CALLERS) * len(Visibility)
    assert len({c.id for c in CASES}) == len(CASES), "test ids must be unique"
    assert {c.action for c in CASES} == set(Action), "every action of the table is exercised"
    outcomes = {expected_status(c) for c in CASES}
    assert {401, 403, 404} <= outcomes
    assert {200, 201, 204} <= outcomes
    for action in Action:
        allowed = {
            effective_role(c.caller, c.visibility)
            for c in CASES
            if c.action == action and expected_status(c) < 400
        }
        assert allowed == set(ROLE_TABLE[action]), action
