"""The authorization matrix covers every registry route served and every outcome of the table."""

from __future__ import annotations

from fastapi import FastAPI

from cairn.server.api.routing import ACTION_KEY
from cairn.server.domain.roles import ROLE_TABLE, Action, Visibility
from tests.api import route_walk
from tests.api.authz_callers import CALLERS, effective_role
from tests.api.authz_cases import CASES, ROUTES, expected_status
from tests.api.authz_probes import PROBES


def test_every_registry_route_names_its_action_and_has_a_probe(app: FastAPI) -> None:
    found = route_walk.registry_endpoints(app)
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
