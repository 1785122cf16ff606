"""The CLI's per-invocation state: global options and the ``Api`` built from them."""

from __future__ import annotations

from dataclasses import dataclass, field

import click
import httpx

from cairn.client._api import Api


@dataclass
class CliState:
    """Global options of one ``cairn`` invocation, stored as the click context's ``obj``.

    ``client`` is the hidden test hook: pass ``obj=CliState(client=...)`` to
    ``CliRunner.invoke`` and every ``Api`` the commands build uses that httpx client.
    """

    base_url: str | None = None
    api_key: str | None = None
    organization: str | None = None
    json_output: bool = False
    client: httpx.Client | None = None
    _opened: list[Api] = field(default_factory=list, init=False, repr=False)
    _default: Api | None = field(default=None, init=False, repr=False)

    def connect(self, base_url: str | None = None, api_key: str | None = None) -> Api:
        """A new ``Api`` from the global options, with ``base_url``/``api_key`` overriding them."""
        api = Api(
            base_url=base_url or self.base_url,
            api_key=api_key or self.api_key,
            organization=self.organization,
            client=self.client,
        )
        self._opened.append(api)
        return api

    @property
    def api(self) -> Api:
        """The invocation's ``Api`` from the global options, built on first use."""
        if self._default is None:
            self._default = self.connect()
        return self._default

    def close(self) -> None:
        """Close every ``Api`` this invocation opened."""
        for api in self._opened:
            api.close()
        self._opened.clear()
        self._default = None


pass_state = click.make_pass_decorator(CliState, ensure=True)
