"""The measured HTTP traffic: listing walks, first pages, registry reads and creates."""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

API = "/api/v1"


def client(base_url: str, key: str) -> httpx.Client:
    """A keep-alive client for one caller; never uses proxies from the environment."""
    return httpx.Client(
        base_url=f"{base_url}{API}",
        headers={"Authorization": f"Bearer {key}"},
        trust_env=False,
        timeout=120.0,
    )


def timed(
    c: httpx.Client,
    method: str,
    url: str,
    expect: int,
    *,
    params: dict[str, Any] | None = None,
    body: dict[str, Any] | None = None,
) -> tuple[float, httpx.Response]:
    """Seconds from sending the request to having read the whole response, and the response."""
    start = time.perf_counter()
    response = c.request(method, url, params=params, json=body)
    elapsed = time.perf_counter() - start
    if response.status_code != expect:
        raise RuntimeError(f"{method} {url} → {response.status_code}: {response.text[:300]}")
    return elapsed, response


def registries_url(org: str) -> str:
    return f"/orgs/{quote(org, safe='')}/registries"


@dataclass
class Walk:
    """One pass over every page of a listing."""

    latencies: list[float] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    cursors: list[str] = field(default_factory=list)
    seconds: float = 0.0


def walk(c: httpx.Client, org: str, per_page: int) -> Walk:
    """List every visible registry, following next_cursor to the end."""
    result = Walk()
    params: dict[str, Any] = {"per_page": per_page}
    start = time.perf_counter()
    while True:
        elapsed, response = timed(c, "GET", registries_url(org), 200, params=params)
        page = response.json()
        result.latencies.append(elapsed)
        result.names.extend(item["name"] for item in page["items"])
        if page["next_cursor"] is None:
            break
        result.cursors.append(page["next_cursor"])
        params = {"per_page": per_page, "cursor": page["next_cursor"]}
    result.seconds = time.perf_counter() - start
    return result


def first_pages(c: httpx.Client, org: str, per_page: int, samples: int) -> list[float]:
    """Latencies of `samples` requests for the first page of the listing."""
    params = {"per_page": per_page}
    return [timed(c, "GET", registries_url(org), 200, params=params)[0] for _ in range(samples)]


def reads(c: httpx.Client, org: str, names: Sequence[str], samples: int, seed: int) -> list[float]:
    """Latencies of GET registry for `samples` names drawn at random from `names`."""
    rng = random.Random(seed)
    base = registries_url(org)
    picks = [rng.choice(names) for _ in range(samples)]
    return [timed(c, "GET", f"{base}/{quote(n, safe='')}", 200)[0] for n in picks]


@dataclass(frozen=True)
class Creates:
    """A batch of registry creations: wall time and per-request latencies."""

    clients: int
    seconds: float
    latencies: list[float]

    @property
    def per_second(self) -> float:
        return len(self.latencies) / self.seconds


def create_body(name: str, index: int) -> dict[str, Any]:
    """A create request like the UI sends: alternating visibility, sometimes typed."""
    return {
        "name": name,
        "description": "created by the benchmark",
        "visibility": "restricted" if index % 2 else "organization",
        "artifact_types": ["model"] if index % 3 == 0 else None,
    }


def _create_all(c: httpx.Client, org: str, names: Sequence[str]) -> list[float]:
    url = registries_url(org)
    return [timed(c, "POST", url, 201, body=create_body(n, i))[0] for i, n in enumerate(names)]


def creates(clients: Sequence[httpx.Client], org: str, names: Sequence[str]) -> Creates:
    """Create every name, spread round-robin over `clients` running concurrently."""
    shares = [list(names[i :: len(clients)]) for i in range(len(clients))]
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(clients)) as pool:
        results = list(pool.map(_create_all, clients, [org] * len(clients), shares))
    seconds = time.perf_counter() - start
    return Creates(len(clients), seconds, [t for share in results for t in share])
