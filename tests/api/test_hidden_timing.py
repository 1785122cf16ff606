"""Hidden is absent in time too: a real server takes as long to refuse what exists as what does not.

Against a `cairn server` process, a non-member's requests for a hidden restricted registry (and
its collection, version and references) and for one that never existed are sent interleaved,
in random order within each pair, after a warm-up; the median latencies must be within 10%
(SECURITY.md). Sign-in with a wrong password for a known user and for an unknown one must
answer alike and take as long (the server runs a dummy argon2 for unknown users). A comparison
that misses is measured again, up to three times, to absorb a noisy shared machine.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from cairn.server.api.routing import API_PREFIX
from tests import servers
from tests.api import cast
from tests.reliability.client import PASSWORD, admin_key

ORG = "default"
HIDDEN, ABSENT = "Secret", "Absent"  # same length, so the answers differ in those letters only
COLLECTION, ALIAS = "c", "staging"
ENTITY, PROJECT, ARTIFACT = "ml", "models", "clf"
USER_PASSWORD = "mallory-password-1"
KNOWN, UNKNOWN = "victim", "nobody"  # same length
TOLERANCE = 0.10
ATTEMPTS = 3
PAIRS, WARMUP = 300, 20
LOGIN_PAIRS, LOGIN_WARMUP = 40, 3  # each sign-in costs an argon2 verification (~19 MiB)
ENV = {
    "CAIRN_ADMIN_PASSWORD": PASSWORD,
    # Every sign-in here fails on purpose; the limiter would otherwise answer 429 early.
    "CAIRN_LOGIN_MAX_FAILURES": "1000000",
}

Send = Callable[[], httpx.Response]


@dataclass
class Seeded:
    """A running server with a hidden registry, and a keep-alive client of a non-member."""

    server: servers.Server
    outsider: httpx.Client
    anonymous: httpx.Client


def registry_path(name: str, tail: str = "") -> str:
    return cast.fill(cast.REGISTRY_PATH, org=ORG, registry=name) + tail


def seed(base: str) -> httpx.Client:
    """Registry `Secret` (restricted) with collection `c`, v0 and `staging`; users; a key."""
    with httpx.Client(base_url=base, timeout=60) as client:
        admin = admin_key(base)
        teams = cast.fill(f"{cast.ORG_PATH}/teams", org=ORG)
        assert cast.send(client, "POST", teams, admin, json={"name": ENTITY}).status_code == 201
        artifacts = cast.fill(
            f"{API_PREFIX}/projects/{{entity}}/{{project}}/artifacts",
            entity=ENTITY,
            project=PROJECT,
        )
        version = {"name": ARTIFACT, "type": "model", "files": []}
        assert cast.send(client, "POST", artifacts, admin, json=version).status_code == 201
        body = {"name": HIDDEN, "visibility": "restricted", "description": "top secret"}
        registries = cast.fill(f"{cast.ORG_PATH}/registries", org=ORG)
        assert cast.send(client, "POST", registries, admin, json=body).status_code == 201
        link = {"source": f"{ENTITY}/{PROJECT}/{ARTIFACT}:v0", "aliases": [ALIAS]}
        path = registry_path(HIDDEN, f"/collections/{COLLECTION}/versions")
        linked = cast.send(client, "POST", path, admin, json=link)
        assert linked.status_code == 201, linked.text
        users = cast.fill(f"{cast.ORG_PATH}/users", org=ORG)
        for name in ("mallory", KNOWN):
            made = cast.send(
                client, "POST", users, admin, json={"username": name, "password": USER_PASSWORD}
            )
            assert made.status_code == 201, made.text
        signed_in = client.post(
            f"{API_PREFIX}/auth/login", json={"username": "mallory", "password": USER_PASSWORD}
        )
        assert signed_in.status_code == 201, signed_in.text
        key: str = signed_in.json()["key"]
    return httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=60)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    data: Path = tmp_path_factory.mktemp("hidden-timing") / "data"
    with servers.running(data, ENV) as server:
        outsider = seed(server.base)
        with outsider, httpx.Client(base_url=server.base, timeout=60) as anonymous:
            yield Seeded(server, outsider, anonymous)


@dataclass
class Comparison:
    """Median latencies (seconds) of two kinds of request measured side by side."""

    hidden: float
    absent: float

    @property
    def gap(self) -> float:
        """The relative difference of the medians, against the faster one."""
        return abs(self.hidden - self.absent) / min(self.hidden, self.absent)

    def __str__(self) -> str:
        return (
            f"hidden {self.hidden * 1e3:.3f} ms, absent {self.absent * 1e3:.3f} ms, "
            f"gap {self.gap:.1%}"
        )


def timed(send: Send) -> tuple[float, httpx.Response]:
    start = time.perf_counter()
    response = send()
    return time.perf_counter() - start, response


def measure(hidden: Send, absent: Send, pairs: int, warmup: int, rng: random.Random) -> Comparison:
    """Medians of `pairs` interleaved requests of each kind (random order within a pair)."""
    for _ in range(warmup):
        hidden()
        absent()
    times: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(pairs):
        order = [True, False]
        rng.shuffle(order)
        for is_hidden in order:
            took, response = timed(hidden if is_hidden else absent)
            assert response.status_code < 500, response.text
            times[is_hidden].append(took)
    return Comparison(statistics.median(times[True]), statistics.median(times[False]))


def assert_close_medians(
    hidden: Send, absent: Send, pairs: int = PAIRS, warmup: int = WARMUP
) -> str:
    """Passes as soon as one of ATTEMPTS measurements has its medians within TOLERANCE.

    Returns the measurements taken, for the report.
    """
    rng = random.Random(7)
    tries: list[Comparison] = []
    for _ in range(ATTEMPTS):
        tries.append(measure(hidden, absent, pairs, warmup, rng))
        if tries[-1].gap <= TOLERANCE:
            return "; ".join(str(t) for t in tries)
    raise AssertionError(
        f"timing medians differ by more than {TOLERANCE:.0%} in every attempt: "
        + "; ".join(str(t) for t in tries)
    )


def assert_same_answer(hidden: httpx.Response, absent: httpx.Response) -> None:
    assert hidden.status_code == absent.status_code == 404, (hidden.text, absent.text)
    assert hidden.text == absent.text.replace(ABSENT, HIDDEN)


# Requests for the hidden registry and the same requests for a registry that never existed.
PATHS = {
    "registry": "",
    "collection": f"/collections/{COLLECTION}",
    "version": f"/collections/{COLLECTION}/versions/v0",
    "alias": f"/collections/{COLLECTION}/versions/{ALIAS}",
}


@pytest.mark.parametrize("what", list(PATHS))
def test_a_hidden_registry_path_takes_as_long_as_an_absent_one(
    what: str, seeded: Seeded, record_property: Callable[[str, object], None]
) -> None:
    client = seeded.outsider

    def hidden() -> httpx.Response:
        return client.get(registry_path(HIDDEN, PATHS[what]))

    def absent() -> httpx.Response:
        return client.get(registry_path(ABSENT, PATHS[what]))

    assert_same_answer(hidden(), absent())
    record_property("timing", assert_close_medians(hidden, absent))


@pytest.mark.parametrize(
    "ref", [f"{{registry}}/{COLLECTION}:v0", f"{ORG}/{{registry}}/{COLLECTION}:{ALIAS}"]
)
def test_resolving_a_hidden_reference_takes_as_long_as_an_absent_one(
    ref: str, seeded: Seeded, record_property: Callable[[str, object], None]
) -> None:
    client = seeded.outsider

    def resolve(registry: str) -> Send:
        params = {"ref": ref.format(registry=registry), "org": ORG}
        return lambda: client.get(f"{API_PREFIX}/resolve", params=params)

    hidden, absent = resolve(HIDDEN), resolve(ABSENT)
    assert_same_answer(hidden(), absent())
    record_property("timing", assert_close_medians(hidden, absent))


def test_a_wrong_password_for_a_known_user_answers_like_an_unknown_user(
    seeded: Seeded, record_property: Callable[[str, object], None]
) -> None:
    client = seeded.anonymous

    def sign_in(username: str) -> Send:
        body = {"username": username, "password": "not-the-password"}
        return lambda: client.post(f"{API_PREFIX}/auth/login", json=body)

    known, unknown = sign_in(KNOWN), sign_in(UNKNOWN)
    first_known, first_unknown = known(), unknown()
    assert first_known.status_code == first_unknown.status_code == 401, first_known.text
    assert first_known.content == first_unknown.content
    assert cast.comparable_headers(first_known) == cast.comparable_headers(first_unknown)
    record_property("timing", assert_close_medians(known, unknown, LOGIN_PAIRS, LOGIN_WARMUP))
    # The limiter was set out of reach: every attempt was a real check, not a quick 429.
    assert known().status_code == 401


def test_the_comparison_notices_a_real_difference() -> None:
    """The method can fail: one kind of answer twice as slow as the other misses every time."""

    def answer_after(seconds: float) -> Send:
        def send() -> httpx.Response:
            time.sleep(seconds)
            return httpx.Response(404)

        return send

    with pytest.raises(AssertionError, match="differ by more than 10%"):
        assert_close_medians(answer_after(0.004), answer_after(0.002), pairs=20, warmup=1)
