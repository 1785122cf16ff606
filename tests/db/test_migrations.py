"""The migrations are the schema: on fresh SQLite and PostgreSQL they build exactly the models."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, event, inspect, text

import cairn.server.db.models  # noqa: F401  (registers every table on Base.metadata)
from cairn.server.db import schema
from cairn.server.db.base import Base
from cairn.server.db.engine import make_engine
from tests import pg

BACKENDS = ("sqlite", "postgres")
DDL = ("CREATE", "ALTER", "DROP", "INSERT", "UPDATE", "DELETE")


@pytest.fixture(scope="module")
def pg_admin() -> Iterator[str]:
    """A PostgreSQL superuser URL for making scratch databases."""
    with pg.admin_url() as url:
        yield url


def fresh_engine(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Engine]:
    """An engine on a new, empty database of `backend`."""
    if backend == "sqlite":
        tmp_path.mkdir(parents=True, exist_ok=True)
        engine = make_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
        yield engine
        engine.dispose()
        return
    admin: str = request.getfixturevalue("pg_admin")
    with pg.scratch_database(admin) as url:
        engine = make_engine(url, pool_size=2)
        yield engine
        engine.dispose()


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    yield from fresh_engine(request.param, tmp_path / "a", request)


@pytest.fixture
def reference(engine: Engine, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A second empty database on the same backend, built with create_all() from the models."""
    backend = "sqlite" if engine.dialect.name == "sqlite" else "postgres"
    for other in fresh_engine(backend, tmp_path / "b", request):
        Base.metadata.create_all(other)
        yield other


def differences(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs: list[Any] = compare_metadata(context, Base.metadata)
        return diffs


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head(engine: Engine) -> str | None:
    return ScriptDirectory.from_config(schema.alembic_config(engine)).get_current_head()


def tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())


def shape(engine: Engine) -> dict[str, Any]:
    """Everything the database says about its tables, in a comparable form."""
    insp = inspect(engine)
    out: dict[str, Any] = {}
    for name in sorted(insp.get_table_names()):
        if name == "alembic_version":
            continue
        out[name] = {
            # Sorted: a later migration appends columns where create_all() interleaves them.
            "columns": sorted(
                (c["name"], str(c["type"]), c["nullable"], c.get("autoincrement") is True)
                for c in insp.get_columns(name)
            ),
            "pk": insp.get_pk_constraint(name)["constrained_columns"],
            "fks": sorted(
                (
                    tuple(fk["constrained_columns"]),
                    fk["referred_table"],
                    tuple(fk["referred_columns"]),
                    (fk.get("options") or {}).get("ondelete"),
                )
                for fk in insp.get_foreign_keys(name)
            ),
            "unique": sorted(tuple(u["column_names"]) for u in insp.get_unique_constraints(name)),
            "indexes": sorted(
                (i["name"], tuple(str(c) for c in i["column_names"]), bool(i["unique"]))
                for i in insp.get_indexes(name)
            ),
            "checks": sorted(
                " ".join(str(c["sqltext"]).split()) for c in insp.get_check_constraints(name)
            ),
        }
    return out


def test_upgrade_builds_exactly_the_models_and_twice_is_a_no_op(engine: Engine) -> None:
    assert tables(engine) == set()
    schema.upgrade(engine)
    assert tables(engine) == set(Base.metadata.tables) | {"alembic_version"}
    assert current_revision(engine) == head(engine)
    assert differences(engine) == []
    before = shape(engine)
    changes: list[str] = []

    def record(*args: Any) -> None:
        statement = " ".join(str(args[2]).split()).upper()
        if statement.startswith(DDL):
            changes.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        schema.upgrade(engine)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert changes == []
    assert shape(engine) == before
    assert current_revision(engine) == head(engine)
    assert differences(engine) == []


def test_migrated_schema_equals_create_all(engine: Engine, reference: Engine) -> None:
    schema.upgrade(engine)
    migrated, modelled = shape(engine), shape(reference)
    assert set(migrated) == set(modelled)
    for table in modelled:
        assert migrated[table] == modelled[table], table


def test_downgrade_to_base_then_upgrade_step_by_step(engine: Engine) -> None:
    schema.upgrade(engine)
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO entities (kind, name, name_key) VALUES ('user', 'Bob', 'bob')")
        )
    config = schema.alembic_config(engine)
    command.downgrade(config, "base")
    assert tables(engine) <= {"alembic_version"}
    assert current_revision(engine) is None
    schema.upgrade(engine)
    assert current_revision(engine) == head(engine)
    assert differences(engine) == []
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM entities")).scalar_one() == 0
    # Each revision also goes down and up again on its own.
    command.downgrade(config, "base")
    revisions = list(ScriptDirectory.from_config(config).walk_revisions("base", "heads"))
    assert revisions, "there is at least one migration"
    for revision in reversed(revisions):
        schema.upgrade(engine, revision.revision)
        assert current_revision(engine) == revision.revision
        command.downgrade(config, "-1")
        assert current_revision(engine) == revision.down_revision
        schema.upgrade(engine, revision.revision)
    assert current_revision(engine) == head(engine)
    assert differences(engine) == []


def test_going_below_0004_waits_until_every_blob_has_its_md5(engine: Engine) -> None:
    schema.upgrade(engine)
    insert = text(
        "INSERT INTO blobs (sha256, size, md5, created_at) VALUES (:sha256, 1, NULL, :now)"
    )
    with engine.begin() as conn:
        conn.execute(insert, {"sha256": "a" * 64, "now": datetime.now(UTC)})
    config = schema.alembic_config(engine)
    with pytest.raises(RuntimeError, match="1 blob\\(s\\) wait for their md5"):
        command.downgrade(config, "0003")
    # PostgreSQL rolls the whole downgrade back; SQLite (no transactional DDL) keeps the steps
    # above 0004 that went down. Either way, 0004 itself did not.
    assert current_revision(engine) in {head(engine), "0004"}
    assert {c["name"]: c for c in inspect(engine).get_columns("blobs")}["md5"]["nullable"]
    with engine.begin() as conn:
        conn.execute(text("UPDATE blobs SET md5 = :md5"), {"md5": "b" * 32})
    command.downgrade(config, "0003")
    assert current_revision(engine) == "0003"
    assert not {c["name"]: c for c in inspect(engine).get_columns("blobs")}["md5"]["nullable"]
