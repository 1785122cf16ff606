"""16 clients linking into one collection and moving one alias, on SQLite and PostgreSQL."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests import servers
from tests.reliability.client import Blob, admin_key, client_for, log, login, upload

CLIENTS = 16
COLLECTION = "/orgs/default/registries/Models/collections/concurrent"


def _versions(client: httpx.Client, count: int) -> list[str]:
    """Log `count` distinct versions of one artifact; return their references."""
    rng = random.Random(3)
    refs = []
    for _ in range(count):
        blob = Blob(rng.randbytes(64))
        assert upload(client, blob) == 201
        response = log(client, "admin/race", "model", [blob])
        assert response.status_code == 201, response.text
        refs.append(response.json()["ref"])
    return refs


Job = tuple[str, str, dict[str, str]]


def _each(base: str, jobs: list[Job]) -> list[httpx.Response]:
    """Run one request per job, each from its own client and connection, all at once."""
    key = admin_key(base)

    def run(job: Job) -> httpx.Response:
        method, path, body = job
        with client_for(base, key) as client:
            return client.request(method, path, json=body)

    with ThreadPoolExecutor(CLIENTS) as pool:
        return list(pool.map(run, jobs))


def test_concurrent_links_get_unique_gapless_numbers(server: servers.Server) -> None:
    with login(server.base) as client:
        refs = _versions(client, CLIENTS)
    jobs = [("POST", f"{COLLECTION}/versions", {"source": ref}) for ref in refs]
    responses = _each(server.base, jobs)
    assert [r.status_code for r in responses] == [201] * CLIENTS, [r.text for r in responses]
    numbers = sorted(r.json()["version_index"] for r in responses)
    assert numbers == list(range(CLIENTS))
    with login(server.base) as client:
        listed = client.get(f"{COLLECTION}/versions", params={"per_page": 100}).json()["items"]
    assert sorted(v["version_index"] for v in listed) == list(range(CLIENTS))
    assert {v["source"]["ref"] for v in listed} == set(refs)


def test_concurrent_links_of_one_version_link_it_once(server: servers.Server) -> None:
    with login(server.base) as client:
        (ref,) = _versions(client, 1)
    responses = _each(server.base, [("POST", f"{COLLECTION}/versions", {"source": ref})] * CLIENTS)
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * (CLIENTS - 1) + [201], [r.text for r in responses]
    assert {r.json()["version_index"] for r in responses} == {0}


def test_concurrent_moves_of_one_alias_leave_exactly_one_holder(server: servers.Server) -> None:
    with login(server.base) as client:
        refs = _versions(client, CLIENTS)
        for ref in refs:
            assert client.post(f"{COLLECTION}/versions", json={"source": ref}).status_code == 201
    for round_ in range(5):
        jobs = [
            ("PUT", f"{COLLECTION}/aliases/production", {"version": f"v{i}"})
            for i in range(CLIENTS)
        ]
        responses = _each(server.base, jobs)
        assert [r.status_code for r in responses] == [200] * CLIENTS, [r.text for r in responses]
        with login(server.base) as client:
            listed = client.get(f"{COLLECTION}/versions", params={"per_page": 100}).json()
            holders = [v["version"] for v in listed["items"] if "production" in v["aliases"]]
            collection = client.get(COLLECTION).json()
        assert len(holders) == 1, f"round {round_}: holders {holders}"
        assert collection["aliases"]["production"] == holders[0]
