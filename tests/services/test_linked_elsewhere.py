"""A version page lists where else its source is linked, but never in a registry hidden from
the caller."""

from __future__ import annotations

import httpx
import pytest

from cairn.server.domain.refs import Selector
from cairn.server.http.deps import AppState
from cairn.server.services import accounts, linked
from tests.api.cast import log_artifact, new_registry
from tests.conftest import MakeUser, call

pytestmark = pytest.mark.both_backends


def _link(client: httpx.Client, key: str, registry: str, collection: str, source: str) -> None:
    path = f"/orgs/default/registries/{registry}/collections/{collection}/versions"
    linked_now = call(client, "POST", path, key, json={"source": source})
    assert linked_now.status_code == 201, linked_now.text


def test_other_links_show_only_where_the_caller_can_see(
    state: AppState, app_client: httpx.Client, admin_key: str, make_user: MakeUser
) -> None:
    make_user("viewer")
    with state.writers() as s, s.begin():
        new_registry(s, "Vision", "organization")
        new_registry(s, "Secret", "restricted")
    source = log_artifact(app_client, admin_key, "admin", "nlp", "bert", b"weights")["ref"]
    other = log_artifact(app_client, admin_key, "admin", "nlp", "gpt", b"other weights")["ref"]
    _link(app_client, admin_key, "Models", "bert", source)
    _link(app_client, admin_key, "Vision", "bert-copy", source)
    _link(app_client, admin_key, "Secret", "bert-hidden", source)
    _link(app_client, admin_key, "Vision", "unrelated", other)

    def elsewhere(username: str) -> list[str]:
        with state.readers() as s:
            caller = accounts.as_principal(accounts.get_user(s, username), "key")
            view = linked.get(s, caller, "default", "Models", "bert", Selector(index=0))
            return [v.ref for v in linked.linked_elsewhere(s, caller, view)]

    assert elsewhere("admin") == [
        "default/Secret/bert-hidden:v0",
        "default/Vision/bert-copy:v0",
    ]
    assert elsewhere("viewer") == ["default/Vision/bert-copy:v0"], "a hidden registry stays hidden"
