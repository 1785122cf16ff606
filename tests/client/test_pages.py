"""``Api.registries()``: pages are fetched lazily, by cursor, only as iteration proceeds."""

from __future__ import annotations

import json

import httpx

import cairn
from tests.client.conftest import mock_client
from tests.client.test_session import REGISTRY

PAGES = {
    None: (["a", "b"], "c2"),
    "c2": (["c", "d"], "c3"),
    "c3": (["e"], None),
}


class PagedServer:
    """Serves three pages of registries and records the query of each request."""

    def __init__(self) -> None:
        self.queries: list[dict[str, str]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        params = dict(request.url.params)
        self.queries.append(params)
        names, next_cursor = PAGES[params.get("cursor")]
        items = [{**REGISTRY, "name": name, "full_name": f"default/{name}"} for name in names]
        return httpx.Response(200, json={"items": items, "next_cursor": next_cursor})


def _api(server: PagedServer) -> cairn.Api:
    return cairn.Api(api_key="k", organization="default", client=mock_client(server))


def test_nothing_is_fetched_until_iteration() -> None:
    server = PagedServer()
    registries = _api(server).registries(per_page=2)
    assert server.queries == []
    iterator = iter(registries)
    assert next(iterator).name == "a"
    assert next(iterator).name == "b"
    assert len(server.queries) == 1
    assert next(iterator).name == "c"
    assert len(server.queries) == 2
    assert [r.name for r in iterator] == ["d", "e"]
    assert len(server.queries) == 3


def test_cursor_filter_order_and_page_size_are_sent() -> None:
    server = PagedServer()
    wanted = {"name": {"$regex": "^F"}}
    found = list(_api(server).registries(filter=wanted, order="-created_at", per_page=2))
    assert [r.full_name for r in found] == [f"default/{n}" for n in "abcde"]
    assert [q.get("cursor") for q in server.queries] == [None, "c2", "c3"]
    for query in server.queries:
        assert json.loads(query["filter"]) == wanted
        assert query["order"] == "-created_at"
        assert query["per_page"] == "2"


def test_each_iteration_starts_over_and_first_fetches_one_page() -> None:
    server = PagedServer()
    registries = _api(server).registries()
    first = registries.first()
    assert first is not None
    assert first.name == "a"
    assert len(server.queries) == 1
    assert len(list(registries)) == 5
    assert len(server.queries) == 4
    assert "filter" not in server.queries[0]
    assert "order" not in server.queries[0]
