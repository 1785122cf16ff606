"""One connection to a Cairn server: the httpx client, the API key, URLs and error mapping."""

from __future__ import annotations

from importlib import metadata
from typing import Any, TypedDict, Unpack
from urllib.parse import quote

import httpx

from cairn.client._config import Settings
from cairn.client._errors import (
    AuthenticationError,
    ConfigurationError,
    NetworkError,
    ServerError,
    error_from_response,
)
from cairn.client._network import transport

API_PREFIX = "/api/v1"
DEFAULT_TIMEOUT = 30.0
_LOGIN_HINT = " (no API key is configured: run `cairn login` or set CAIRN_API_KEY)"


def _user_agent() -> str:
    """``cairn-sdk/<version>`` for the User-Agent header."""
    try:
        version = metadata.version("cairn-registry")
    except metadata.PackageNotFoundError:
        version = "0"
    return f"cairn-sdk/{version}"


def api_path(*segments: str | int) -> str:
    """``/api/v1/<seg>/<seg>...`` with every segment percent-encoded (``/`` included)."""
    return API_PREFIX + "".join("/" + quote(str(segment), safe="") for segment in segments)


class RequestOptions(TypedDict, total=False):
    """What ``Session.request`` takes besides method and path (see ``Session.exchange``)."""

    json: Any
    params: dict[str, Any] | None
    authenticate: bool
    read_timeout: float | None


class Session:
    """Sends authenticated JSON requests and turns error answers into ``CairnError``s.

    An injected ``client`` is used as is (its base URL wins when it has one) and is
    never closed here; the Authorization header is set on every request either way.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        client: httpx.Client | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
    ) -> None:
        self.base_url = settings.base_url
        self.api_key = settings.api_key
        self._organization = settings.organization
        self._owns_client = client is None
        self._client = client or httpx.Client(
            base_url=settings.base_url, timeout=timeout, transport=transport()
        )
        injected_origin = str(self._client.base_url).rstrip("/")
        self._origin = injected_origin if self._client.base_url.host else settings.base_url
        self._user_agent = _user_agent()

    def request(self, method: str, path: str, **options: Unpack[RequestOptions]) -> Any:
        """Send one request; the decoded JSON answer, or ``None`` for an empty one."""
        return self.exchange(method, path, **options)[1]

    def exchange(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        authenticate: bool = True,
        read_timeout: float | None = None,
    ) -> tuple[int, Any]:
        """Send one request; the answer's status code (a success) and its decoded JSON, or
        ``None`` for an empty one. ``read_timeout`` replaces the client's wait for the answer
        (the server works long)."""
        headers = {"Accept": "application/json", "User-Agent": self._user_agent}
        if authenticate and self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        extra: dict[str, Any] = {}
        if read_timeout is not None:
            current = self._client.timeout
            extra["timeout"] = httpx.Timeout(
                connect=current.connect, read=read_timeout, write=current.write, pool=current.pool
            )
        try:
            response = self._client.request(
                method, self._origin + path, json=json, params=params, headers=headers, **extra
            )
        except httpx.TransportError as exc:
            raise NetworkError(
                f"cannot reach the Cairn server at {self._origin}: {str(exc) or type(exc).__name__}"
            ) from exc
        if response.is_error:
            error = error_from_response(response)
            if isinstance(error, AuthenticationError) and authenticate and not self.api_key:
                error.message += _LOGIN_HINT
            raise error
        if not response.content:
            return response.status_code, None
        try:
            return response.status_code, response.json()
        except ValueError as exc:
            raise ServerError(
                f"server answered {response.status_code} with a body that is not JSON",
                status=response.status_code,
            ) from exc

    def organization(self, explicit: str | None = None) -> str:
        """``explicit``, else the configured organization, else the caller's default one."""
        organization = explicit or self._organization
        if organization is None:
            viewer = self.request("GET", api_path("viewer"))
            default = viewer.get("default_organization") if isinstance(viewer, dict) else None
            if not isinstance(default, str) or not default:
                raise ConfigurationError(
                    "no organization given and the caller has no default organization: "
                    "pass organization=..., --org, or set CAIRN_ORG"
                )
            self._organization = organization = default
        return organization

    def close(self) -> None:
        """Close the httpx client if this session created it."""
        if self._owns_client:
            self._client.close()
