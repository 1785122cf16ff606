"""Authorization matrix generated from the role table: registry route, caller, visibility."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field

import pytest

from cairn.server.api.routing import API_PREFIX
from cairn.server.domain.refs import Selector
from cairn.server.domain.roles import ROLE_TABLE, RegistryRole, TeamRole, Visibility
from cairn.server.services import artifacts, links, registry_settings
from cairn.server.services.registry_members import MemberSpec
from tests.api import cast, registry_state
from tests.api.authz_callers import (
    ARTIFACT,
    BYSTANDER,
    CALLERS,
    ENTITY,
    NEWCOMER,
    ORDINARY,
    ORG,
    OWNERS,
    PAYLOADS,
    PROJECT,
    PROTECTED,
    CallerKind,
    effective_role,
)
from tests.api.authz_cases import BOTH, ROUTES, SQLITE_ONLY, Case, expected_status
from tests.api.authz_probes import NEW_DESCRIPTION, Context, R
from tests.api.cast import JsonBody
from tests.api.module_world import World, open_world

# --- the cast: every caller kind as a real user, once per module and backend ---


@dataclass
class MatrixWorld:
    """A database with every caller and the logged versions in it; cases add registries."""

    world: World
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


def build_callers(world: World) -> MatrixWorld:
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
    return registry_state.registry_id(world.world.state, ORG, name)


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
                world = stack.enter_context(open_world(backend, folder, request))
                built[backend] = build_callers(world)
            return built[backend]

        yield get


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
    before = registry_state.registry_rows(state, rid)

    resp = cast.send(client, case.route.method, path, key, json=case.probe.body)
    change = registry_state.diff(before, registry_state.registry_rows(state, rid))

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
    before = registry_state.registry_rows(world.world.state, rid)
    path = cast.fill(route.path, org=ORG, registry=name)
    key = world.keys[caller.name]
    resp = cast.send(world.world.client, "PATCH", path, key, json=PATCH_BODIES[label])
    role = effective_role(caller, Visibility.RESTRICTED)
    assert route.action is not None
    assert role is not None
    assert role not in ROLE_TABLE[route.action]
    assert resp.status_code == 403, f"{caller.name} PATCH {label}: {resp.status_code} {resp.text}"
    assert cast.error_code(resp) == "permission_denied"
    assert (
        registry_state.diff(before, registry_state.registry_rows(world.world.state, rid)).counts()
        == {}
    )
