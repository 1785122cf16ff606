"""Schema fuzzing: Schemathesis sends generated and malformed requests as every kind of caller.

Each generated request goes out four times (anonymous, a member of another organization only,
an org member who is a member of the restricted registry, the superuser and org admin) against
a copy of a seeded database, so that paths sometimes name real objects. Every answer: no 5xx,
a documented content type and body, an error body in the standard shape, no leak; malformed
input (negative mode) gets a 4xx. Stateful runs follow the links Schemathesis infers between
operations (the spec declares none) and check that deleted objects stay 404.
CAIRN_FUZZ_EXAMPLES sets the examples per operation and mode (25 in PR CI, 200 nightly); the
request count is written to test-output/fuzz-requests.json.
"""

from __future__ import annotations

import itertools
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from hypothesis import given, settings
from hypothesis.stateful import run_state_machine_as_test
from schemathesis import GenerationMode, Response
from schemathesis.core import NOT_SET
from schemathesis.core.failures import FailureGroup
from schemathesis.python.asgi import shutdown_lifespans
from schemathesis.specs.openapi.checks import use_after_free

from cairn.server.api.routing import API_PREFIX
from cairn.server.app import build_state, create_app
from cairn.server.http.deps import AppState
from tests.api import cast, fuzzing, route_walk
from tests.api.fuzzing import HYPOTHESIS, OPERATIONS, SCHEMA, FuzzCase, Tally
from tests.api.module_world import open_world
from tests.conftest import server_settings

JSON = "application/json"
ORG, OTHER_ORG = "default", "acme"
REGISTRY, COLLECTION, ALIAS = "Secret", "c", "staging"
ENTITY, PROJECT, ARTIFACT = "ml", "models", "clf"
PAYLOAD = b"fuzz target weights"
SPARE = "spare"  # a user whose removal costs no caller its access
CALLERS = ("anonymous", "outsider", "member", "admin")  # the superuser acts last
# Path parameter values that name seeded objects.
REAL: dict[str, tuple[str, ...]] = {
    "org": (ORG,),
    "registry": (REGISTRY, "Models"),
    "collection": (COLLECTION,),
    "version": ("v0", ALIAS),
    "alias": (ALIAS,),
    "sha256": (cast.sha256_of(PAYLOAD),),
    "entity": (ENTITY,),
    "project": (PROJECT,),
    "name": (ARTIFACT, "member"),
    "username": ("member",),
    "team": (ENTITY,),
    "kind": ("user", "team"),
    "upload": ("0" * 32,),
}


@dataclass
class Target:
    """The application under test and a key per caller kind (None: anonymous)."""

    app: FastAPI
    keys: dict[str, str | None]


@pytest.fixture(scope="module")
def tally(request: pytest.FixtureRequest) -> Iterator[Tally]:
    """Counts every request; written to test-output/fuzz-requests.json and the terminal."""
    counts = Tally()
    yield counts
    summary = counts.summary()
    out = Path(str(request.config.rootpath)) / "test-output" / "fuzz-requests.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(summary, indent=1) + "\n")
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line(
                f"\nschema fuzz: {summary['total_requests']} requests "
                f"({fuzzing.EXAMPLES} examples per operation and mode); see {out}"
            )


@pytest.fixture(scope="module")
def seeded(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> tuple[Path, dict[str, str | None]]:
    """A data folder (database and blobs) with real objects to aim at, and the callers' keys."""
    folder = tmp_path_factory.mktemp("fuzz-seed")
    with open_world("sqlite", folder, request) as world:
        client, admin = world.client, world.admin_key
        with world.state.writers() as s, s.begin():
            _, member = cast.new_user(s, "member")
            cast.new_user(s, SPARE)
        made = cast.send(client, "POST", f"{API_PREFIX}/orgs", admin, json={"name": OTHER_ORG})
        assert made.status_code == 201, made.text
        with world.state.writers() as s, s.begin():
            _, outsider = cast.new_user(s, "outsider", org=OTHER_ORG)
        orgs_path = cast.fill(f"{cast.ORG_PATH}/teams", org=ORG)
        assert cast.send(client, "POST", orgs_path, admin, json={"name": ENTITY}).status_code == 201
        cast.log_artifact(client, admin, ENTITY, PROJECT, ARTIFACT, PAYLOAD)
        registries = cast.fill(f"{cast.ORG_PATH}/registries", org=ORG)
        body = {"name": REGISTRY, "visibility": "restricted", "description": "fuzz target"}
        assert cast.send(client, "POST", registries, admin, json=body).status_code == 201
        base = cast.fill(cast.REGISTRY_PATH, org=ORG, registry=REGISTRY)
        invite = {"members": [{"member": "member", "kind": "user", "role": "member"}]}
        assert cast.send(client, "POST", f"{base}/members", admin, json=invite).status_code == 201
        source = {"source": f"{ENTITY}/{PROJECT}/{ARTIFACT}:v0", "aliases": [ALIAS]}
        linked = cast.send(
            client, "POST", f"{base}/collections/{COLLECTION}/versions", admin, json=source
        )
        assert linked.status_code == 201, linked.text
        callers = {"anonymous": None, "outsider": outsider, "member": member, "admin": admin}
    return folder, callers


def open_target(seeded: tuple[Path, dict[str, str | None]], folder: Path) -> AppState:
    shutil.copytree(seeded[0], folder)
    return build_state(server_settings(folder, f"sqlite:///{folder / 'cairn.db'}"))


@pytest.fixture
def target(seeded: tuple[Path, dict[str, str | None]], tmp_path: Path) -> Iterator[Target]:
    """A fresh copy of the seeded data, so that one operation's deletions spare the next."""
    state = open_target(seeded, tmp_path / "data")
    try:
        yield Target(create_app(state.settings, state=state), dict(seeded[1]))
    finally:
        shutdown_lifespans()  # Schemathesis started the app's lifespan; this closes its connection
        state.engine.dispose()


def auth(key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"} if key is not None else {}


def verify(case: FuzzCase, response: Response, **stateful: Any) -> None:
    """Every check on one answer; raises with the reproduction on the first failure.

    `stateful` passes Schemathesis the scenario so far (recorder=...) and adds its
    use-after-free check: a deleted object must stay 404.
    """
    checks = fuzzing.checks_for(case, response)
    if stateful:
        checks.append(use_after_free)
    case.validate_response(response, checks=checks, **stateful)
    if response.status_code >= 400:
        problem = fuzzing.error_problem(response)
        assert problem is None, f"{case.method} {case.formatted_path}: {problem}"
    marker = fuzzing.leak(fuzzing.sent_text(case), response)
    assert marker is None, f"{case.method} {case.formatted_path} leaks {marker!r}: {response.text}"


FUZZ = fuzzing.fuzz_ids()


@pytest.mark.parametrize(
    ("label", "mode"), FUZZ, ids=[f"{mode.value} {label}" for label, mode in FUZZ]
)
def test_generated_requests_get_no_5xx_and_answers_match_the_spec(
    label: str, mode: GenerationMode, target: Target, tally: Tally, request: pytest.FixtureRequest
) -> None:
    operation = OPERATIONS[label]
    test_id = request.node.callspec.id

    @HYPOTHESIS
    @given(case=fuzzing.case_strategy(operation, mode, REAL))
    def fuzz(case: FuzzCase) -> None:
        for caller in CALLERS:
            response = case.call(app=target.app, headers=auth(target.keys[caller]))
            tally.record(test_id, case, response)
            verify(case, response)

    fuzz()
    assert tally.requests[test_id] >= len(CALLERS), "no request was sent"


# --- the spec documents what the API answers ---


# Sample requests that remove or disable something aim at a user no caller needs and a key id
# never issued; deletions go last.
SAMPLE_PATH = {name: values[0] for name, values in REAL.items()} | {
    "username": SPARE,
    "key_id": str(2**40),
}


def sample_case(label: str, body: cast.JsonBody | None = None) -> FuzzCase:
    """A well-formed request for `label` aimed at the seeded objects (or with `body`)."""
    operation = OPERATIONS[label]
    raw_media = next((b.media_type for b in operation.body if b.media_type != JSON), None)
    endpoint = route_walk.Endpoint(
        operation.method.upper(), operation.path, "api", raw_media=raw_media
    )
    raw = route_walk.sample_request(endpoint) if raw_media is not None and body is None else {}
    body = body if body is not None else route_walk.SAMPLE_BODIES.get(endpoint.key)
    return SCHEMA.make_case(
        operation=operation,
        path_parameters={p.name: SAMPLE_PATH[p.name] for p in operation.path_parameters},
        query={"ref": f"{REGISTRY}/{COLLECTION}:v0"} if label == "GET /api/v1/resolve" else None,
        body=raw.get("content", body if body is not None else NOT_SET),
        media_type=raw.get("content_type"),
    )


def test_the_spec_documents_every_status_and_error_body_the_api_answers(
    target: Target,
) -> None:
    problems = []
    for label, operation in sorted(OPERATIONS.items(), key=lambda o: o[1].method == "delete"):
        sent = [(caller, sample_case(label)) for caller in CALLERS]
        if any(body.media_type == "application/json" for body in operation.body):
            sent.append(("admin", sample_case(label, body={"unexpected": 1})))
        for caller, case in sent:
            response = case.call(app=target.app, headers=auth(target.keys[caller]))
            try:
                case.validate_response(response, checks=fuzzing.SPEC_CHECKS)
            except FailureGroup as group:
                titles = sorted({failure.title for failure in group.exceptions})
                problems.append(f"{response.status_code} {label} as {caller}: {titles}")
    assert not problems, f"{len(problems)} answers off the spec:\n" + "\n".join(problems)


def test_documented_error_bodies_are_the_standard_error_body(target: Target) -> None:
    case = SCHEMA.make_case(
        operation=OPERATIONS["POST /api/v1/orgs"], body={"name": "x", "owner": "admin"}
    )
    response = case.call(app=target.app, headers=auth(target.keys["admin"]))
    assert response.status_code == 422, response.text
    assert fuzzing.error_problem(response) is None
    wrong = [
        f"{status} {label}: {schema.get('title', schema)}"
        for label, operation in OPERATIONS.items()
        for status, schema in fuzzing.documented_error_schemas(operation).items()
        if "error" not in schema.get("required", [])
    ]
    assert not wrong, "error responses documented without the standard body:\n" + "\n".join(wrong)


# --- stateful: Schemathesis links operations by their parameters and response fields ---

# Scenarios share one database: these would let a caller revoke its own key, disable or remove
# itself (every later scenario then gets 401), or pay an argon2 hash per step.
SELF_HARM = (
    "DELETE /api/v1/keys/{key_id}",
    "PATCH /api/v1/users/{username}",
    "DELETE /api/v1/orgs/{org}/members/{username}",
    "POST /api/v1/auth/login",
)


@pytest.mark.parametrize("caller", ["admin", "member"])
def test_linked_request_sequences_get_no_5xx_and_deleted_objects_stay_gone(
    caller: str, seeded: tuple[Path, dict[str, str | None]], tmp_path: Path, tally: Tally
) -> None:
    machine = SCHEMA.exclude(name=list(SELF_HARM)).as_state_machine()
    assert machine.bundles, "Schemathesis inferred no links between operations"
    headers = auth(seeded[1][caller])
    test_id = f"stateful {caller}"
    scenarios = itertools.count()

    class Workflow(machine):  # type: ignore[misc,valid-type]
        """One scenario against its own fresh copy of the seeded data: Hypothesis replays a
        scenario's choices and requires the same answers, so no scenario may see another's."""

        def setup(self) -> None:
            self.state = open_target(seeded, tmp_path / f"scenario-{next(scenarios)}")
            self.app = create_app(self.state.settings, state=self.state)

        def teardown(self) -> None:
            shutdown_lifespans()
            self.state.engine.dispose()
            shutil.rmtree(self.state.settings.data_dir, ignore_errors=True)
            super().teardown()

        def get_call_kwargs(self, case: FuzzCase) -> dict[str, object]:
            return {"app": self.app, "headers": headers}

        def validate_response(
            self, response: Response, case: FuzzCase, additional_checks: object = (), **kw: object
        ) -> None:
            tally.record(test_id, case, response)
            verify(case, response, headers=headers, recorder=self.recorder)

    run_state_machine_as_test(
        Workflow,
        settings=settings(
            fuzzing.HYPOTHESIS, max_examples=max(5, fuzzing.EXAMPLES // 2), stateful_step_count=8
        ),
    )
    assert tally.requests[test_id] > 0


# --- the checks themselves: each bad answer is caught ---


def canned(status: int, body: bytes) -> Any:
    """An ASGI app that answers every request with `status` and a JSON `body`."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (500, b'{"error": {"code": "internal_error", "message": "internal server error"}}'),
        (404, b'{"detail": "Not Found"}'),
        (404, b'{"error": {"code": "conflict", "message": "wrong code"}}'),
        (404, b'{"error": {"code": "not_found", "message": "File \\"/work/x.py\\", line 1"}}'),
        (400, b'{"error": {"code": "bad_request", "message": "near \\"SELECT \\": syntax"}}'),
        (200, b'{"name": 1}'),
    ],
    ids=["5xx", "not the error shape", "wrong code", "path leak", "SQL leak", "body off spec"],
)
def test_the_checks_catch_each_kind_of_bad_answer(status: int, body: bytes) -> None:
    case = sample_case("GET /api/v1/orgs/{org}")
    response = case.call(app=canned(status, body))
    with pytest.raises((AssertionError, FailureGroup)):
        verify(case, response)
    shutdown_lifespans()


def test_the_checks_pass_a_standard_refusal() -> None:
    case = sample_case("GET /api/v1/orgs/{org}")
    body = b'{"error": {"code": "not_found", "message": "organization \'default\' not found"}}'
    response = case.call(app=canned(404, body))
    verify(case, response)
    assert response.status_code == 404
    shutdown_lifespans()
