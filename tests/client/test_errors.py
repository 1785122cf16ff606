"""Error mapping: every server code to its class, unknown answers, network failures."""

from __future__ import annotations

import httpx
import pytest

import cairn
from cairn.client._errors import error_from_response
from tests.client.conftest import error, mock_client

CASES = [
    (400, "bad_request", cairn.BadRequestError),
    (401, "authentication_error", cairn.AuthenticationError),
    (403, "permission_denied", cairn.PermissionDeniedError),
    (404, "not_found", cairn.NotFoundError),
    (409, "conflict", cairn.ConflictError),
    (413, "payload_too_large", cairn.PayloadTooLargeError),
    (415, "unsupported_media_type", cairn.BadRequestError),
    (422, "validation_error", cairn.ValidationError),
    (429, "rate_limited", cairn.RateLimitedError),
    (503, "unavailable", cairn.ServiceUnavailableError),
    (507, "insufficient_storage", cairn.InsufficientStorageError),
]


@pytest.mark.parametrize(("status", "code", "cls"), CASES)
def test_each_code_raises_its_class_with_the_server_message(
    status: int, code: str, cls: type[cairn.CairnError]
) -> None:
    message = f"something {code}"
    client = mock_client(lambda request: error(status, code, message))
    api = cairn.Api(api_key="k", organization="default", client=client)
    with pytest.raises(cls) as caught:
        api.registry("Models")
    assert type(caught.value) is cls
    assert isinstance(caught.value, cairn.CairnError)
    assert str(caught.value) == message == caught.value.message
    assert caught.value.status == status
    assert caught.value.code == code


@pytest.mark.parametrize(
    "cls",
    [cairn.NotFoundError, cairn.ConflictError, cairn.ValidationError, cairn.BadRequestError],
)
def test_wandb_style_value_errors(cls: type[cairn.CairnError]) -> None:
    assert issubclass(cls, ValueError)


def test_artifact_type_removal_error_is_a_validation_error() -> None:
    assert issubclass(cairn.ArtifactTypeRemovalError, cairn.ValidationError)


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(500, json={"error": {"code": "internal", "message": "boom"}}),
        httpx.Response(502, text="<html>Bad Gateway</html>"),
        httpx.Response(418, text=""),
    ],
)
def test_unknown_and_5xx_answers_are_server_errors(response: httpx.Response) -> None:
    api = cairn.Api(api_key="k", organization="o", client=mock_client(lambda request: response))
    with pytest.raises(cairn.ServerError) as caught:
        api.organizations()
    assert caught.value.status == response.status_code
    assert str(response.status_code) in str(caught.value) or str(caught.value) == "boom"


def test_status_decides_when_the_body_is_not_a_cairn_error() -> None:
    response = httpx.Response(404, text="nothing here")
    found = error_from_response(response)
    assert isinstance(found, cairn.NotFoundError)
    assert found.message == "server answered 404 nothing here"


def test_network_failure_names_the_base_url() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client = httpx.Client(transport=httpx.MockTransport(refuse))
    api = cairn.Api(base_url="http://cairn.example:9999", api_key="k", client=client)
    with pytest.raises(cairn.NetworkError) as caught:
        api.organizations()
    assert isinstance(caught.value, ConnectionError)
    assert "http://cairn.example:9999" in str(caught.value)
    assert "connection refused" in str(caught.value)


def test_401_without_a_key_tells_how_to_log_in() -> None:
    client = mock_client(lambda request: error(401, "authentication_error", "not signed in"))
    with pytest.raises(cairn.AuthenticationError, match=r"^not signed in \(.*cairn login"):
        cairn.Api(client=client).organizations()
    with pytest.raises(cairn.AuthenticationError, match=r"^not signed in$"):
        cairn.Api(api_key="bad", client=client).organizations()
