"""A small seeded fuzz of the registry routes: whatever the input, a clean answer, never a 5xx."""

from __future__ import annotations

import json
import random
from typing import Any
from urllib.parse import quote

import httpx

from tests.api.bad_requests import cursor_of
from tests.api.error_shape import check_error
from tests.api.registry_calls import ORG, REGS
from tests.conftest import MakeUser, call

PIECES = [
    *"abcXYZ019 _-.",
    *"/\\#?%:",
    "\n",
    "\r",
    "\t",
    "\x00",
    "\x7f",
    "\u2028",
    "é",
    "e\u0301",
    "ß",
    "\u202e",
    "\ufeff",
    "🚀",
    "'",
    '"',
    "<",
    "&",
    "{",
    "}",
    "$",
    "*",
    "@",
    ";",
    "wandb-registry-",
    "Models",
    "admin",
    "bob",
    "..",
    "%2F",
]
REGEX_PIECES = [*"abcXYZ019 .*+^$|()?", "\\d", "\\w", "{2}"]
FIELDS = ["name", "description", "created_at", "updated_at", "id", "visibility", "", "$where"]
OPS = ["$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$regex", "$not", "$foo"]
ROLES = ["restricted_viewer", "viewer", "member", "admin", "owner", "", "ADMIN"]


def fuzz_text(rng: random.Random, longest: int = 12) -> str:
    size = rng.choice([0, 1, 2, 3, 5, 8, longest, 129, 300])
    return "".join(rng.choice(PIECES) for _ in range(size))


def fuzz_date(rng: random.Random) -> str:
    year = rng.randint(1950, 2100)
    zone = rng.choice(["", "Z", "+00:00", "+05:30", "-08:00"])
    month, day, hour = rng.randint(1, 12), rng.randint(1, 28), rng.randint(0, 23)
    return f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:00:00{zone}"


def fuzz_scalar(rng: random.Random) -> Any:
    kind = rng.randrange(8)
    if kind == 0:
        return rng.randint(-(2**40), 2**40)
    if kind == 1:
        return rng.random() * 1e6
    if kind == 2:
        return rng.choice([True, False, None])
    if kind == 3:
        return fuzz_date(rng)
    return fuzz_text(rng)


def fuzz_value(rng: random.Random, depth: int = 0) -> Any:
    if depth < 2 and rng.random() < 0.25:
        if rng.random() < 0.5:
            return [fuzz_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
        return {fuzz_text(rng, 5): fuzz_value(rng, depth + 1) for _ in range(rng.randint(0, 3))}
    return fuzz_scalar(rng)


def fuzz_condition(rng: random.Random, field: str, depth: int) -> Any:
    if rng.random() < 0.3:
        return fuzz_scalar(rng)
    cond: dict[str, Any] = {}
    for _ in range(rng.randint(1, 2)):
        op = rng.choice(OPS)
        if op == "$regex":
            cond[op] = "".join(rng.choice(REGEX_PIECES) for _ in range(rng.randint(0, 8)))
        elif op in ("$in", "$nin"):
            cond[op] = [fuzz_scalar(rng) for _ in range(rng.randint(0, 4))]
        elif op == "$not":
            cond[op] = fuzz_condition(rng, field, depth + 1) if depth < 3 else "x"
        else:
            cond[op] = fuzz_scalar(rng)
    return cond


def fuzz_filter(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if roll < 0.05:
        return fuzz_value(rng)
    doc: dict[str, Any] = {}
    for _ in range(rng.randint(1, 3)):
        key = rng.choice([*FIELDS, "$and", "$or", "$not"])
        if key in ("$and", "$or"):
            doc[key] = (
                [fuzz_filter(rng, depth + 1) for _ in range(rng.randint(0, 3))] if depth < 3 else []
            )
        elif key == "$not":
            doc[key] = fuzz_filter(rng, depth + 1) if depth < 3 else {}
        else:
            doc[key] = fuzz_condition(rng, key, depth)
    return doc


def fuzz_request(rng: random.Random) -> tuple[str, str, dict[str, Any]]:
    kind = rng.randrange(7)
    if kind == 0:
        body: dict[str, Any] = {"name": fuzz_text(rng)}
        for key in (
            "description",
            "visibility",
            "artifact_types",
            "owner_team",
            rng.choice(["role", "is_core", "x"]),
        ):
            if rng.random() < 0.4:
                body[key] = rng.choice(
                    [
                        fuzz_value(rng),
                        rng.choice(["restricted", "organization"]),
                        [fuzz_text(rng, 4)],
                    ]
                )
        return "POST", REGS, {"json": body}
    if kind == 1:
        params: dict[str, Any] = {}
        if rng.random() < 0.8:
            params["filter"] = (
                json.dumps(fuzz_filter(rng)) if rng.random() < 0.9 else fuzz_text(rng)
            )
        if rng.random() < 0.4:
            params["order"] = rng.choice(
                ["name", "-name", "created_at", "-updated_at", fuzz_text(rng, 4)]
            )
        if rng.random() < 0.3:
            params["per_page"] = rng.choice([1, 2, 1000, 0, -1, 10**6, fuzz_text(rng, 3)])
        if rng.random() < 0.3:
            params["cursor"] = rng.choice(
                [
                    fuzz_text(rng),
                    cursor_of([fuzz_text(rng, 4), rng.randint(-(2**31), 2**31)]),
                    cursor_of(fuzz_value(rng)),
                ]
            )
        return "GET", REGS, {"params": params}
    if kind == 2:
        specs = []
        for _ in range(rng.randint(0, 3)):
            spec: dict[str, Any] = {
                "member": rng.choice([fuzz_text(rng), "bob", "bob@example.com", "vision", "admin"])
            }
            if rng.random() < 0.5:
                spec["role"] = rng.choice([*ROLES, fuzz_value(rng)])
            if rng.random() < 0.3:
                spec["kind"] = rng.choice(["user", "team", fuzz_text(rng, 4)])
            specs.append(spec)
        members: Any = specs if rng.random() < 0.9 else fuzz_value(rng)
        return "POST", f"{REGS}/FuzzTarget/members", {"json": {"members": members}}
    if kind == 3:
        keys = [
            "description",
            "visibility",
            "artifact_types",
            "allow_all_artifact_types",
            "protected_aliases",
            "owner_team",
        ]
        patch = {k: fuzz_value(rng) for k in rng.sample(keys, rng.randint(1, 3))}
        if rng.random() < 0.1:
            patch["name"] = fuzz_text(rng)
        return "PATCH", f"{REGS}/FuzzTarget", {"json": patch}
    if kind == 4:
        kind_part = quote(rng.choice(["user", "team", fuzz_text(rng, 3)]), safe="")
        path = f"{REGS}/FuzzTarget/members/{kind_part}"
        who = quote(rng.choice(["bob", "vision", fuzz_text(rng, 6)]), safe="")
        return "PATCH", f"{path}/{who}", {"json": {"role": rng.choice([*ROLES, fuzz_value(rng)])}}
    if kind == 5:
        name = quote(fuzz_text(rng), safe="")
        return rng.choice(["GET", "DELETE"]), f"{REGS}/{name or 'x'}", {}
    body = {"name": fuzz_text(rng, 6), "description": fuzz_value(rng)}
    return "POST", f"{ORG}/teams", {"json": body}


def test_seeded_fuzz_never_fails_the_server(
    app_client: httpx.Client, admin_key: str, make_user: MakeUser
) -> None:
    make_user("bob", email="bob@example.com")
    assert (
        call(app_client, "POST", f"{ORG}/teams", admin_key, json={"name": "vision"}).status_code
        == 201
    )
    assert call(app_client, "POST", REGS, admin_key, json={"name": "FuzzTarget"}).status_code == 201
    rng = random.Random(1234)
    failures: list[str] = []
    statuses: dict[int, int] = {}
    for i in range(300):
        method, path, kw = fuzz_request(rng)
        resp = call(app_client, method, path, admin_key, **kw)
        statuses[resp.status_code] = statuses.get(resp.status_code, 0) + 1
        try:
            if resp.status_code >= 400:
                check_error(resp)
            else:
                assert resp.status_code < 300
        except AssertionError as exc:
            shown = json.dumps(kw, default=str, ensure_ascii=False)[:1000]
            failures.append(f"#{i} {method} {path[:80]} {shown}: {exc}")
    assert not failures, f"{len(failures)} bad answers:\n" + "\n".join(failures[:15])
    assert sum(n for s, n in statuses.items() if s < 300) >= 10, statuses
    assert sum(n for s, n in statuses.items() if s >= 400) >= 100, statuses
