"""Unlinking keeps its audit trail: the version, its source and the aliases it dropped."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import pytest

from cairn.server.domain.refs import Selector
from cairn.server.http.deps import AppState
from cairn.server.services import collection_aliases, history, links
from tests.api import cast
from tests.conftest import call

pytestmark = pytest.mark.both_backends

COLLECTION = "/orgs/default/registries/Models/collections/clf"


def _link(client: httpx.Client, key: str, source: str, *aliases: str) -> None:
    body = {"source": source, "aliases": list(aliases)}
    linked = call(client, "POST", f"{COLLECTION}/versions", key, json=body)
    assert linked.status_code == 201, linked.text


def _delete(client: httpx.Client, key: str, path: str) -> None:
    gone = call(client, "DELETE", path, key)
    assert gone.status_code == 204, gone.text


def _events(client: httpx.Client, key: str, path: str) -> list[dict[str, Any]]:
    answer = call(client, "GET", path, key, params={"per_page": 1000})
    assert answer.status_code == 200, answer.text
    events: list[dict[str, Any]] = answer.json()
    return events


def _shape(event: dict[str, Any]) -> tuple[Any, ...]:
    return (event["action"], event["target_name"], event["before"], event["after"])


def _world(client: httpx.Client, key: str) -> tuple[str, str]:
    """Models/clf with v0 (no aliases) and v1 holding `production` and `staging`."""
    first = cast.log_artifact(client, key, "admin", "nlp", "bert", b"first weights")["ref"]
    second = cast.log_artifact(client, key, "admin", "nlp", "bert", b"second weights")["ref"]
    _link(client, key, first)
    _link(client, key, second, "staging", "production")
    return first, second


def test_unlink_records_version_source_and_dropped_aliases(
    app_client: httpx.Client, admin_key: str
) -> None:
    _, second = _world(app_client, admin_key)
    _delete(app_client, admin_key, f"{COLLECTION}/versions/production")

    newest = _events(app_client, admin_key, f"{COLLECTION}/history")[:3]
    assert [_shape(e) for e in newest] == [
        (
            "version.unlink",
            "Models/clf:v1",
            {"version": "v1", "source": second, "aliases": ["production", "staging"]},
            None,
        ),
        ("alias.remove", "Models/clf:staging", {"alias": "staging", "version": "v1"}, None),
        ("alias.remove", "Models/clf:production", {"alias": "production", "version": "v1"}, None),
    ]
    assert {e["actor"] for e in newest} == {"admin"}
    registry_events = _events(app_client, admin_key, "/orgs/default/registries/Models/history")
    assert [_shape(e) for e in registry_events[:3]] == [_shape(e) for e in newest]
    audit = _events(app_client, admin_key, "/orgs/default/audit")
    assert [_shape(e) for e in audit[:3]] == [_shape(e) for e in newest], "the org log agrees"


def test_unlinking_a_version_without_aliases_removes_none(
    app_client: httpx.Client, admin_key: str
) -> None:
    first, _ = _world(app_client, admin_key)
    _delete(app_client, admin_key, f"{COLLECTION}/versions/v0")
    events = _events(app_client, admin_key, f"{COLLECTION}/history")
    assert _shape(events[0]) == (
        "version.unlink",
        "Models/clf:v0",
        {"version": "v0", "source": first, "aliases": []},
        None,
    ), "`latest` is not a stored alias, and v0 was not the newest anyway"
    assert events[1]["action"] == "alias.add", "no alias.remove written for v0"
    assert (
        "production"
        in call(app_client, "GET", f"{COLLECTION}/versions/v1", admin_key).json()["aliases"]
    )


def test_an_explicit_alias_removal_keeps_its_shape(
    app_client: httpx.Client, admin_key: str
) -> None:
    _world(app_client, admin_key)
    _delete(app_client, admin_key, f"{COLLECTION}/aliases/staging")
    latest = _events(app_client, admin_key, f"{COLLECTION}/history")[0]
    assert _shape(latest) == (
        "alias.remove",
        "Models/clf:staging",
        {"alias": "staging", "version": "v1"},
        None,
    )


def test_audit_log_target_of_a_collection_covers_its_versions_and_aliases(
    state: AppState, app_client: httpx.Client, admin_key: str
) -> None:
    _world(app_client, admin_key)
    _delete(app_client, admin_key, f"{COLLECTION}/versions/v1")
    with state.readers() as s:
        admin = cast.admin_principal(s)
        found = history.audit_log(s, admin, "default", target="models/CLF", action="version.")
        assert [f"{e.action} {e.target_name}" for e in found] == [
            "version.unlink Models/clf:v1",
            "version.link Models/clf:v1",
            "version.link Models/clf:v0",
        ]
        removed = history.audit_log(s, admin, "default", target="Models/clf:production")
        assert [e.action for e in removed] == ["alias.remove", "alias.add"]
        assert history.audit_log(s, admin, "default", target="Models/cl") == [], "whole names"


def test_an_alias_set_while_an_unlink_waits_is_recorded_as_dropped(
    state: AppState, app_client: httpx.Client, admin_key: str
) -> None:
    """An alias committed onto the version while the unlink waits for the collection's lock
    is read after it: recorded as removed with the version, not dropped silently."""
    _world(app_client, admin_key)
    unlinked = threading.Event()

    def unlink() -> None:
        with state.writers() as s, s.begin():
            links.unlink(s, cast.admin_principal(s), "default", "Models", "clf", Selector(index=0))
        unlinked.set()

    with state.writers() as s, s.begin():
        actor = cast.admin_principal(s)
        collection_aliases.set_alias(
            s, actor, "default", "Models", "clf", "champion", Selector(index=0)
        )
        waiting = threading.Thread(target=unlink)
        waiting.start()
        assert not unlinked.wait(0.5), "the unlink waits for the alias to commit"
    waiting.join(30)
    assert unlinked.is_set()
    events = _events(app_client, admin_key, f"{COLLECTION}/history")
    assert _shape(events[0])[2] == {
        "version": "v0",
        "source": events[0]["before"]["source"],
        "aliases": ["champion"],
    }
    assert _shape(events[1]) == (
        "alias.remove",
        "Models/clf:champion",
        {"alias": "champion", "version": "v0"},
        None,
    )


def test_deleting_a_collection_records_its_versions_and_aliases(
    app_client: httpx.Client, admin_key: str
) -> None:
    _world(app_client, admin_key)
    _delete(app_client, admin_key, COLLECTION)
    events = _events(app_client, admin_key, "/orgs/default/registries/Models/history")
    assert _shape(events[0]) == (
        "collection.delete",
        "Models/clf",
        {
            "name": "clf",
            "type": "model",
            "versions": 2,
            "aliases": {"production": "v1", "staging": "v1"},
        },
        None,
    )


def test_the_rest_audit_log_filters_by_target_and_registry(
    app_client: httpx.Client, admin_key: str
) -> None:
    _world(app_client, admin_key)
    made = call(app_client, "POST", "/orgs/default/registries", admin_key, json={"name": "Other"})
    assert made.status_code == 201, made.text

    def names(**params: str) -> set[str]:
        answer = call(app_client, "GET", "/orgs/default/audit", admin_key, params=params)
        assert answer.status_code == 200, answer.text
        return {e["target_name"] for e in answer.json()}

    assert names(target="models/CLF") == {
        "Models/clf",
        "Models/clf:v0",
        "Models/clf:v1",
        "Models/clf:staging",
        "Models/clf:production",
    }
    assert names(target="Models/cl") == set(), "whole names only"
    assert "Other" not in names(registry="Models")
    assert "Other" in names()
    hidden = call(app_client, "GET", "/orgs/default/audit", admin_key, params={"registry": "Nope"})
    assert hidden.status_code == 404, hidden.text


def test_unlinking_a_version_that_is_not_there_is_404_and_records_nothing(
    app_client: httpx.Client, admin_key: str
) -> None:
    _world(app_client, admin_key)
    before = _events(app_client, admin_key, f"{COLLECTION}/history")
    for missing in ("v7", "candidate"):
        gone = call(app_client, "DELETE", f"{COLLECTION}/versions/{missing}", admin_key)
        assert gone.status_code == 404, gone.text
        assert f"Models/clf:{missing} not found" in gone.text
    assert _events(app_client, admin_key, f"{COLLECTION}/history") == before
    still = call(app_client, "GET", f"{COLLECTION}/versions/production", admin_key)
    assert (still.status_code, still.json()["version"]) == (200, "v1")
