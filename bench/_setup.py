"""Fresh benchmark databases: migrated, provisioned, populated in bulk, with API keys."""

from __future__ import annotations

import random
import secrets
import time
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy import func, select

from bench import _dataset as ds
from bench import _pg
from cairn.server.app import build_state, prepare
from cairn.server.db.base import utcnow
from cairn.server.db.models import Registry, User
from cairn.server.http.deps import AppState
from cairn.server.services import keys
from cairn.server.settings import Settings

ORG = "default"


@dataclass(frozen=True)
class Shape:
    """How big the synthetic organization is."""

    users: int
    teams: int
    seed: int


@dataclass
class Bench:
    """A populated database, the app state built on it, and the callers' API keys."""

    url: str
    data_dir: Path
    state: AppState
    people: ds.People
    keys: dict[str, str]
    populate_seconds: float


def postgres_admin(backend: str) -> AbstractContextManager[str | None]:
    """A PostgreSQL superuser URL for the postgres backend; nothing for SQLite."""
    return _pg.admin_url() if backend == "postgres" else nullcontext(None)


@contextmanager
def database(admin_url: str | None, folder: Path) -> Iterator[str]:
    """A new, empty database: a scratch PostgreSQL database, or a SQLite file in `folder`."""
    if admin_url is None:
        yield f"sqlite:///{folder / f'cairn-{uuid.uuid4().hex[:8]}.db'}"
        return
    with _pg.scratch_database(admin_url) as url:
        yield url


def _settings(url: str, data_dir: Path) -> Settings:
    return Settings(
        database_url=url,
        data_dir=data_dir,
        admin_password=SecretStr(secrets.token_urlsafe(16)),
        allowed_hosts=["127.0.0.1"],
        auto_migrate=True,
    )


def settle(state: AppState) -> None:
    """Bring a freshly bulk-loaded database to a steady state before it is measured.

    PostgreSQL: VACUUM ANALYZE, as autovacuum would soon do (planner statistics, visibility
    map). SQLite: checkpoint the WAL into the database file, as its auto-checkpoint would;
    no ANALYZE, because Cairn never runs it there.
    """
    if state.engine.dialect.name == "postgresql":
        with state.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    else:
        with state.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def _populate(state: AppState, shape: Shape, registries: int) -> ds.People:
    rng = random.Random(shape.seed)
    now = utcnow()
    with state.engine.begin() as conn:
        people = ds.provisioned(conn, state.settings.default_org)
        ds.insert_users(conn, people, ds.org_roles(rng, shape.users), now)
        ds.insert_teams(conn, rng, people, shape.teams, now)
        pool = ds.pools(people, hide_from_member=False)
        specs = ds.plan_registries(rng, pool, registries, 1, now, mixed=True)
        ds.grant_direct(rng, specs, people.ids[ds.LONER], max(5, registries // 400))
        ds.insert_registries(conn, people, specs)
    settle(state)
    return people


def add_hidden(bench: Bench, count: int, seed: int) -> None:
    """Add `count` restricted registries that bench-member (and the viewer, loner) cannot see."""
    rng = random.Random(seed + 1)
    pool = ds.pools(bench.people, hide_from_member=True)
    with bench.state.engine.begin() as conn:
        start = int(conn.scalar(select(func.count()).select_from(Registry)) or 0) + 1
        specs = ds.plan_registries(rng, pool, count, start, utcnow(), mixed=False)
        ds.insert_registries(conn, bench.people, specs)
    settle(bench.state)


def make_keys(state: AppState, people: ds.People, usernames: list[str]) -> dict[str, str]:
    """One API key per user, created through the keys service."""
    found: dict[str, str] = {}
    with state.writers() as s, s.begin():
        for name in usernames:
            user = s.get(User, people.ids[name])
            if user is None:
                raise RuntimeError(f"user {name} vanished")
            found[name] = keys.create(s, None, user, "bench")[1]
    return found


def build(url: str, data_dir: Path, shape: Shape, registries: int) -> Bench:
    """Migrate and provision `url`, then populate it with `registries` registries."""
    state = build_state(_settings(url, data_dir))
    start = time.perf_counter()
    prepare(state)
    people = _populate(state, shape, registries)
    callers = [ds.MEMBER, ds.VIEWER, ds.LONER, ds.ADMIN, *ds.WRITERS]
    api_keys = make_keys(state, people, callers)
    return Bench(url, data_dir, state, people, api_keys, time.perf_counter() - start)
