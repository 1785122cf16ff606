"""Requests on the wire: headers, URL encoding, injected clients, bodies and parameters."""

from __future__ import annotations

import json

import httpx
import pytest

import cairn
from tests.client.conftest import mock_client

REGISTRY = {
    "id": 1,
    "name": "Fine Tuned ü",
    "full_name": "default/Fine Tuned ü",
    "organization": "default",
    "description": None,
    "visibility": "restricted",
    "allow_all_artifact_types": False,
    "artifact_types": ["model"],
    "protected_aliases": [],
    "owner_team": None,
    "is_core": False,
    "created_at": "2024-05-01T12:00:00Z",
    "updated_at": "2024-05-01T12:00:00+00:00",
    "role": "admin",
}


class Recorder:
    """A MockTransport handler that records requests and answers with a fixed JSON body."""

    def __init__(self, body: object = None, status: int = 200) -> None:
        self.requests: list[httpx.Request] = []
        self.body = body
        self.status = status

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.body is None:
            return httpx.Response(204)
        return httpx.Response(self.status, json=self.body)


def test_injected_client_gets_the_api_key_on_every_request() -> None:
    recorder = Recorder([])
    client = mock_client(recorder)
    cairn.Api(api_key="secret", organization="o", client=client).organizations()
    cairn.Api(organization="o", client=client).organizations()
    first, second = recorder.requests
    assert first.headers["Authorization"] == "Bearer secret"
    assert "Authorization" not in second.headers
    assert str(first.url) == "http://cairn.test/api/v1/orgs"
    assert first.headers["Accept"] == "application/json"


def test_injected_client_is_not_closed() -> None:
    client = mock_client(Recorder([]))
    with cairn.Api(api_key="k", client=client) as api:
        api.organizations()
    assert not client.is_closed
    api_owning = cairn.Api(api_key="k")
    api_owning.close()
    assert api_owning._session._client.is_closed


def test_path_segments_are_percent_encoded() -> None:
    recorder = Recorder(REGISTRY)
    api = cairn.Api(api_key="k", organization="my org", client=mock_client(recorder))
    registry = api.registry("wandb-registry-Fine Tuned ü")
    assert registry.name == "Fine Tuned ü"
    raw_path = recorder.requests[0].url.raw_path.decode()
    assert raw_path == "/api/v1/orgs/my%20org/registries/wandb-registry-Fine%20Tuned%20%C3%BC"
    api.registry("a/b?c#d")
    assert recorder.requests[1].url.raw_path.decode().endswith("/registries/a%2Fb%3Fc%23d")


def test_base_url_path_prefix_is_kept() -> None:
    recorder = Recorder([])
    client = httpx.Client(transport=httpx.MockTransport(recorder))
    cairn.Api(base_url="https://h.example/cairn/", api_key="k", client=client).organizations()
    assert str(recorder.requests[0].url) == "https://h.example/cairn/api/v1/orgs"


def test_timestamps_are_aware_datetimes() -> None:
    api = cairn.Api(api_key="k", organization="o", client=mock_client(Recorder(REGISTRY)))
    registry = api.registry("x")
    assert registry.created_at is not None
    assert registry.created_at.utcoffset() is not None
    assert registry.created_at == registry.updated_at


def test_login_sends_no_authorization_and_adopts_the_new_key() -> None:
    recorder = Recorder({"key": "cairn_new", "key_id": 7, "username": "alice"})
    api = cairn.Api(api_key="old", client=mock_client(recorder))
    key = api.login("alice", "pw", key_name="laptop")
    assert key.key == "cairn_new"
    assert key.id == 7
    assert "Authorization" not in recorder.requests[0].headers
    body = json.loads(recorder.requests[0].content)
    assert body == {"username": "alice", "password": "pw", "key_name": "laptop"}
    assert api.api_key == "cairn_new"


def test_default_organization_is_asked_once() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if request.url.path == "/api/v1/viewer":
            return httpx.Response(200, json={"username": "a", "default_organization": "acme"})
        return httpx.Response(200, json=[])

    api = cairn.Api(api_key="k", client=mock_client(handler))
    api.teams()
    api.org_members()
    assert calls == [
        "/api/v1/viewer",
        "/api/v1/orgs/acme/teams",
        "/api/v1/orgs/acme/members",
    ]


def test_no_default_organization_is_a_clear_error() -> None:
    client = mock_client(lambda request: httpx.Response(200, json={"username": "a"}))
    with pytest.raises(cairn.ConfigurationError, match="CAIRN_ORG"):
        cairn.Api(api_key="k", client=client).teams()


def test_optional_fields_are_omitted_from_request_bodies() -> None:
    recorder = Recorder({"username": "bot", "email": None, "role": "member", "is_service": True})
    api = cairn.Api(api_key="k", organization="o", client=mock_client(recorder))
    user = api.create_user("bot", service=True)
    assert user.is_service
    assert json.loads(recorder.requests[0].content) == {"username": "bot", "service": True}


def test_api_keys_for_a_service_account_use_the_user_query() -> None:
    recorder = Recorder([])
    api = cairn.Api(api_key="k", client=mock_client(recorder))
    api.api_keys()
    api.api_keys(user="ci-bot")
    assert recorder.requests[0].url.query == b""
    assert recorder.requests[1].url.params["user"] == "ci-bot"


def test_a_long_server_task_gets_its_own_read_timeout() -> None:
    seen: list[dict[str, float | None]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.extensions["timeout"])
        return httpx.Response(200, json={})

    client = httpx.Client(
        transport=httpx.MockTransport(answer), base_url="http://cairn.test", timeout=7.0
    )
    with client, cairn.Api(client=client, api_key="k", organization="o") as api:
        session = api._session
        session.request("GET", "/api/v1/x")
        session.request("POST", "/api/v1/y", json={}, read_timeout=250.0)
    assert seen[0] == {"connect": 7.0, "read": 7.0, "write": 7.0, "pool": 7.0}
    assert seen[1] == {"connect": 7.0, "read": 250.0, "write": 7.0, "pool": 7.0}
