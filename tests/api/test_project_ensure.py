"""PUT /projects/{entity}/{project}: may the caller log there (creating it where allowed)?"""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import func, select

from cairn.server.db.models import Project
from cairn.server.domain.roles import TeamRole
from cairn.server.http.deps import AppState
from tests.api import cast
from tests.conftest import MakeUser, call

TEAM = "nlp-team"


@pytest.fixture
def keys(state: AppState, make_user: MakeUser, app_client: httpx.Client) -> dict[str, str]:
    """alice in nlp-team (which has project `explicit`), bob only in the organization."""
    found = {name: make_user(name) for name in ("alice", "bob")}
    with state.writers() as s, s.begin():
        cast.new_team(s, TEAM, {"alice": TeamRole.MEMBER})
    made = call(app_client, "POST", f"/projects/{TEAM}", found["alice"], json={"name": "explicit"})
    assert made.status_code == 201, made.text
    mine = call(app_client, "POST", "/projects/alice", found["alice"], json={"name": "private"})
    assert mine.status_code == 201, mine.text
    return found


def _count(state: AppState) -> int:
    with state.readers() as s:
        return s.scalar(select(func.count()).select_from(Project)) or 0


def test_a_team_member_gets_the_project_created_once(
    app_client: httpx.Client, keys: dict[str, str], state: AppState
) -> None:
    first = call(app_client, "PUT", f"/projects/{TEAM}/fresh", keys["alice"])
    assert first.status_code == 201, first.text
    assert (first.json()["entity"], first.json()["name"]) == (TEAM, "fresh")
    again = call(app_client, "PUT", f"/projects/{TEAM}/FRESH", keys["alice"])
    assert again.status_code == 200, again.text
    assert again.json()["id"] == first.json()["id"]
    existing = call(app_client, "PUT", f"/projects/{TEAM}/explicit", keys["alice"])
    assert existing.status_code == 200
    assert _count(state) == 3


def test_a_non_member_is_told_they_cannot_log_to_an_existing_team_project(
    app_client: httpx.Client, keys: dict[str, str]
) -> None:
    answer = call(app_client, "PUT", f"/projects/{TEAM}/explicit", keys["bob"])
    assert answer.status_code == 403
    assert cast.error_code(answer) == "permission_denied"
    assert answer.json()["error"]["message"] == (
        f"only members of '{TEAM}' can log to {TEAM}/explicit"
    )
    commit = call(
        app_client,
        "POST",
        f"/projects/{TEAM}/explicit/artifacts",
        keys["bob"],
        json={"name": "x", "type": "model", "files": []},
    )
    assert commit.status_code == 403, "the commit checks again"
    assert commit.json()["error"]["message"] == answer.json()["error"]["message"]


def test_a_non_member_cannot_create_a_team_project(
    app_client: httpx.Client, keys: dict[str, str], state: AppState
) -> None:
    answer = call(app_client, "PUT", f"/projects/{TEAM}/new-one", keys["bob"])
    assert answer.status_code == 403
    assert (
        answer.json()["error"]["message"] == f"only members of '{TEAM}' can create projects there"
    )
    assert _count(state) == 2


def test_another_users_project_is_indistinguishable_from_a_missing_one(
    app_client: httpx.Client, keys: dict[str, str], state: AppState
) -> None:
    existing = call(app_client, "PUT", "/projects/alice/private", keys["bob"])
    missing = call(app_client, "PUT", "/projects/alice/never-made", keys["bob"])
    nobody = call(app_client, "PUT", "/projects/ghost/private", keys["bob"])
    assert existing.status_code == missing.status_code == nobody.status_code == 404
    assert existing.content == missing.content
    assert existing.content == nobody.content.replace(b"ghost", b"alice")
    assert {k: v for k, v in existing.headers.items() if k != "content-length"} == {
        k: v for k, v in nobody.headers.items() if k != "content-length"
    }
    assert _count(state) == 2, "nothing was created in alice's name"


def test_a_user_logs_to_their_own_projects_only(
    app_client: httpx.Client, keys: dict[str, str]
) -> None:
    assert call(app_client, "PUT", "/projects/bob/mine", keys["bob"]).status_code == 201
    assert call(app_client, "PUT", "/projects/alice/private", keys["alice"]).status_code == 200


def test_creating_an_existing_project_with_post_conflicts(
    app_client: httpx.Client, keys: dict[str, str]
) -> None:
    again = call(app_client, "POST", f"/projects/{TEAM}", keys["alice"], json={"name": "Explicit"})
    assert again.status_code == 409
    assert cast.error_code(again) == "conflict"


def test_bad_project_names_are_refused_before_anything_is_created(
    app_client: httpx.Client, keys: dict[str, str], state: AppState
) -> None:
    answer = call(app_client, "PUT", f"/projects/{TEAM}/{'x' * 129}", keys["alice"])
    assert answer.status_code == 422
    assert _count(state) == 2
