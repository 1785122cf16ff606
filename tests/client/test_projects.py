"""Projects from the SDK and CLI, and the push's up-front check that the caller may log there."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

import cairn
from cairn.client.cli._context import CliState
from tests.client.artifacts_support import record, write
from tests.client.cli_support import Run, invoker
from tests.conftest import MakeUser

TEAM = "nlp-team"
DENIED = f"only members of '{TEAM}' can log to {TEAM}/explicit"


@pytest.fixture
def bob(api: cairn.Api, make_user: MakeUser, app_client: httpx.Client) -> Iterator[cairn.Api]:
    """bob, an organization member outside nlp-team (which alice belongs to, with its project
    `explicit`; alice also has a project of her own, `private`)."""
    alice_key = make_user("alice")
    bob_key = make_user("bob")
    api.create_team(TEAM).add_member("alice")
    with cairn.Api(client=app_client, api_key=alice_key) as alice:
        alice.create_project(f"{TEAM}/explicit")
        alice.create_project("alice/private")
    with cairn.Api(client=app_client, api_key=bob_key) as client:
        yield client


@pytest.fixture
def artifact(tmp_path: Path) -> cairn.Artifact:
    art = cairn.Artifact("x", type="model")
    art.add_file(write(tmp_path / "bobfile.bin", b"b" * (2 << 20)))
    return art


def _blob_requests(requests: list[httpx.Request]) -> list[str]:
    return [f"{r.method} {r.url.path}" for r in requests if "/blobs" in r.url.path]


def test_a_push_the_caller_may_not_log_stops_before_any_file_goes(
    bob: cairn.Api, artifact: cairn.Artifact, app_client: httpx.Client
) -> None:
    requests = record(app_client)
    with pytest.raises(cairn.PermissionDeniedError) as denied:
        bob.log_artifact(artifact, f"{TEAM}/explicit")
    assert str(denied.value) == DENIED
    assert _blob_requests(requests) == []
    assert [f"{r.method} {r.url.path}" for r in requests] == [
        f"PUT /api/v1/projects/{TEAM}/explicit"
    ]
    requests.clear()
    with pytest.raises(cairn.PermissionDeniedError, match="can create projects there"):
        bob.log_artifact(artifact, f"{TEAM}/brand-new")
    assert _blob_requests(requests) == []


def test_another_users_project_fails_like_a_missing_one_without_uploads(
    bob: cairn.Api, artifact: cairn.Artifact, app_client: httpx.Client
) -> None:
    requests = record(app_client)
    with pytest.raises(cairn.NotFoundError) as hidden:
        bob.log_artifact(artifact, "alice/private")
    with pytest.raises(cairn.NotFoundError) as missing:
        bob.log_artifact(artifact, "alice/never-made")
    assert str(hidden.value) == str(missing.value)
    assert _blob_requests(requests) == []


def test_a_member_pushes_into_a_project_created_by_the_check(
    api: cairn.Api, artifact: cairn.Artifact, app_client: httpx.Client
) -> None:
    api.create_team("ml")
    requests = record(app_client)
    version = api.log_artifact(artifact, "ml/fresh")
    assert version.new
    assert f"{requests[0].method} {requests[0].url.path}" == "PUT /api/v1/projects/ml/fresh"
    assert api.project("ml/fresh").path == "ml/fresh"


def test_a_server_without_the_check_still_takes_the_push(
    api: cairn.Api, artifact: cairn.Artifact, app_client: httpx.Client
) -> None:
    real = app_client._transport

    class Older(httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            if request.method == "PUT" and "/projects/" in request.url.path:
                body = {"error": {"code": "method_not_allowed", "message": "Method Not Allowed"}}
                return httpx.Response(405, json=body)
            return real.handle_request(request)

    app_client._transport = Older()
    try:
        version = api.log_artifact(artifact, "admin/older")
    finally:
        app_client._transport = real
    assert version.ref.startswith("admin/older/x:")


def test_create_show_and_list_projects(api: cairn.Api) -> None:
    made = api.create_project("admin/sentiment", description="Sentiment models")
    assert (made.entity, made.name, made.description) == ("admin", "sentiment", "Sentiment models")
    assert made.created_at is not None
    assert api.project("admin/sentiment") == made
    assert [p.name for p in api.projects("admin")] == ["sentiment"]
    with pytest.raises(cairn.ConflictError, match="already exists"):
        api.create_project("admin/Sentiment")
    with pytest.raises(cairn.NotFoundError):
        api.project("admin/none")
    with pytest.raises(cairn.ValidationError, match="<entity>/<project>"):
        api.create_project("no-slash")


@pytest.fixture
def run(cli_state: Callable[[], CliState]) -> Run:
    """Invoke ``cairn ARGS`` with the API key given first."""
    return lambda key, *args, **kw: invoker(cli_state, "--api-key", key)(*args, **kw)


def test_cli_project_create_show_and_list(run: Run, admin_key: str) -> None:
    made = json.loads(
        run(admin_key, "--json", "project", "create", "admin/cli", "--description", "D").stdout
    )
    assert (made["entity"], made["name"], made["description"]) == ("admin", "cli", "D")
    shown = json.loads(run(admin_key, "--json", "project", "show", "admin/cli").stdout)
    assert shown == made
    listed = json.loads(run(admin_key, "--json", "project", "list", "admin").stdout)
    assert [p["name"] for p in listed] == ["cli"]
    assert "cli" in run(admin_key, "project", "show", "admin/cli").stdout
    again = run(admin_key, "project", "create", "admin/cli", code=1)
    assert again.stderr.strip() == "Error: project admin/cli already exists"


def test_cli_push_refused_up_front_with_one_line(
    bob: cairn.Api, run: Run, tmp_path: Path, app_client: httpx.Client
) -> None:
    path = write(tmp_path / "bobfile.bin", b"b" * (2 << 20))
    requests = record(app_client)
    key = bob.api_key
    assert key is not None
    args = ["--project", f"{TEAM}/explicit", "--name", "x", "--type", "model"]
    result = run(key, "artifact", "push", str(path), *args, code=1)
    assert result.stderr.strip() == f"Error: {DENIED}"
    assert _blob_requests(requests) == []


@pytest.mark.parametrize("metadata", [[1, 2], "x", 3, [("a", 1)]])
def test_metadata_that_is_not_an_object_is_refused_at_construction(metadata: object) -> None:
    with pytest.raises(cairn.ValidationError, match=r"metadata must be a JSON object \(a dict\)"):
        cairn.Artifact("a", type="model", metadata=metadata)  # type: ignore[arg-type]


def test_metadata_objects_are_kept() -> None:
    assert cairn.Artifact("a", type="model", metadata={"f1": 0.9}).metadata == {"f1": 0.9}
    assert cairn.Artifact("a", type="model").metadata == {}
