"""The authorization matrix's cells: every probed registry route, caller and visibility."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from cairn.server.domain.roles import ROLE_TABLE, Action, Visibility
from tests.api import route_walk
from tests.api.authz_callers import CALLERS, CallerKind, effective_role
from tests.api.authz_probes import PROBES, Probe
from tests.api.route_walk import Endpoint


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


ROUTES = {e.key: e for e in route_walk.registry_endpoints(route_walk.static_app())}
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
