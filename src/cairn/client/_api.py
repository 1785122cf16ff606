"""``Api``, the SDK's entry point: resolves its settings, owns the connection, and closes it."""

from __future__ import annotations

from types import TracebackType
from typing import Self

import httpx

from cairn.client._accounts import AccountsApi
from cairn.client._artifacts import ArtifactsApi
from cairn.client._collections import CollectionsApi
from cairn.client._config import resolve_settings
from cairn.client._projects import ProjectsApi
from cairn.client._registries import RegistriesApi
from cairn.client._session import DEFAULT_TIMEOUT, Session
from cairn.client._teams import TeamsApi


class Api(ArtifactsApi, ProjectsApi, CollectionsApi, RegistriesApi, TeamsApi, AccountsApi):
    """A client for one Cairn server, shaped like ``wandb.Api``.

    Each setting comes from its argument, else ``CAIRN_BASE_URL`` / ``CAIRN_API_KEY`` /
    ``CAIRN_ORG``, else the credentials file written by ``cairn login``; the base URL
    defaults to ``http://127.0.0.1:8080`` and the organization to the caller's default.
    Pass ``client`` to use an existing ``httpx.Client`` (it is not closed by ``close()``,
    and ``timeout`` applies only to the client ``Api`` creates itself).

    >>> with cairn.Api() as api:
    ...     registry = api.create_registry(name="Fine_Tuned_Models", visibility="restricted")
    """

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        organization: str | None = None,
        *,
        client: httpx.Client | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
    ) -> None:
        settings = resolve_settings(base_url, api_key, organization)
        self._session = Session(settings, client=client, timeout=timeout)

    @property
    def base_url(self) -> str:
        """The server's base URL, e.g. ``http://127.0.0.1:8080``."""
        return self._session.base_url

    @property
    def api_key(self) -> str | None:
        """The API key sent as ``Authorization: Bearer``, if any."""
        return self._session.api_key

    @property
    def default_organization(self) -> str:
        """The organization used when a method gets none (asks the server once if needed)."""
        return self._session.organization()

    def close(self) -> None:
        """Release the HTTP connection pool (an injected client is left open)."""
        self._session.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Api {self.base_url}>"
