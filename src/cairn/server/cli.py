"""`cairn server`, `cairn db upgrade`, `cairn admin gc`: server commands for the `cairn` CLI."""

from __future__ import annotations

import os
import sqlite3
import sys
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import click
import uvicorn
from sqlalchemy import Engine, create_engine, make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from cairn.server import supervisor
from cairn.server.app import build_state, prepare, serving_app
from cairn.server.db import schema
from cairn.server.db.engine import make_engine
from cairn.server.http.deps import AppState
from cairn.server.http.rawbody import BodyProtocol
from cairn.server.services.gc import collect, initialized
from cairn.server.settings import Settings


def _settings(**overrides: object) -> Settings:
    given = {k: v for k, v in overrides.items() if v is not None}
    return Settings(**given)  # type: ignore[arg-type]


@click.command("server")
@click.option("--host", help="Address to listen on [env CAIRN_HOST; default 127.0.0.1].")
@click.option("--port", type=int, help="Port to listen on [env CAIRN_PORT; default 8080].")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the embedded database [env CAIRN_DATA_DIR; default ./cairn-data].",
)
@click.option("--workers", type=int, help="Server processes [env CAIRN_WORKERS; default 1].")
@click.option("--access-log/--no-access-log", default=False, help="Log every request.")
def server(
    host: str | None,
    port: int | None,
    data_dir: Path | None,
    workers: int | None,
    access_log: bool,
) -> None:
    """Run the Cairn server.

    With no configuration it keeps everything under one data directory (SQLite), creates
    the `default` organization with the `Models` and `Datasets` registries, and on the first
    start prints a one-time password for the `admin` user (or uses CAIRN_ADMIN_PASSWORD).

    \b
    Example:
      cairn server --port 8080 --data-dir ./cairn-data
    """
    settings = _settings(host=host, port=port, data_dir=data_dir, workers=workers)
    state = build_state(settings)
    password = prepare(state)
    where = settings.resolved_database_url().split("://", 1)[0]
    click.echo(f"Cairn: database {where}, data in {settings.data_dir.resolve()}")
    if password:
        click.echo(
            "Created the first user 'admin'. Its password, shown only this once:\n\n"
            f"    {password}\n\nSign in with: cairn login --base-url "
            f"http://{settings.host}:{settings.port} --username admin"
        )
    click.echo(f"Listening on http://{settings.host}:{settings.port}  (Ctrl+C to stop)")
    if settings.workers == 1:
        uvicorn.run(
            serving_app(settings, state),
            host=settings.host,
            port=settings.port,
            access_log=access_log,
            http=BodyProtocol,
            timeout_keep_alive=supervisor.KEEP_ALIVE_S,
        )
        return
    state.engine.dispose()
    os.environ.update(_env_for_workers(settings))
    sys.stdout.flush()
    sys.stderr.flush()
    # A lean supervisor replaces this process (same pid, signals and output), so the parent
    # of the workers does not keep the application's imports resident.
    lean = supervisor.command(settings.host, settings.port, settings.workers, access_log)
    os.execv(sys.executable, [sys.executable, *lean])  # noqa: S606 - our own interpreter


def _env_for_workers(settings: Settings) -> dict[str, str]:
    """CAIRN_* variables that make each worker build the same settings."""
    return {
        "CAIRN_DATA_DIR": str(settings.data_dir.resolve()),
        "CAIRN_DATABASE_URL": settings.resolved_database_url(),
        "CAIRN_AUTO_MIGRATE": "false",
    }


@click.group("db")
def db() -> None:
    """Manage the server's database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Target migration.")
def upgrade(revision: str) -> None:
    """Apply database migrations (reads CAIRN_DATABASE_URL / CAIRN_DATA_DIR).

    \b
    Example:
      CAIRN_DATABASE_URL=postgresql://cairn@db/cairn cairn db upgrade
    """
    state = build_state(Settings())
    try:
        schema.upgrade(state.engine, revision)
    finally:
        state.engine.dispose()
    click.echo(f"database at {revision}")


@click.group("admin")
def admin() -> None:
    """Server maintenance (run on the server, with its CAIRN_* configuration)."""


@admin.command("gc")
@click.option(
    "--grace-hours",
    type=click.FloatRange(min=0.0),
    default=24.0,
    show_default=True,
    help="Keep unreferenced blobs uploaded more recently than this (uploads in progress).",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="The server's data folder [env CAIRN_DATA_DIR; default ./cairn-data].",
)
@click.option("--dry-run", is_flag=True, help="Report what would be deleted, delete nothing.")
def gc(grace_hours: float, data_dir: Path | None, dry_run: bool) -> None:
    """Delete blobs that no artifact version references.

    A blob is kept while any committed version names it, and for --grace-hours after its
    last upload, so that a version being committed right now never loses a file.

    \b
    Example:
      cairn admin gc --data-dir ./cairn-data --grace-hours 24 --dry-run
    """
    state = _existing_state(_settings(data_dir=data_dir))
    try:
        report = collect(state.writers, state.blobs, timedelta(hours=grace_hours), dry_run=dry_run)
    except SQLAlchemyError as exc:
        raise click.ClickException(f"database error: {_one_line(exc)}") from exc
    finally:
        state.engine.dispose()
    verb = "would delete" if dry_run else "deleted"
    click.echo(
        f"{verb} {report.blobs} blob(s), {report.bytes} bytes; {report.orphans} orphaned "
        f"object(s); {report.staging} abandoned upload(s)"
    )


def _existing_state(settings: Settings) -> AppState:
    """The server's state, refusing (one line) a data folder or database never initialized.

    Nothing is created: not the data folder, a SQLite file or the blob store's folders.
    """
    if settings.database_url is None:
        missing = f"no Cairn data in {settings.data_dir.resolve()}"
        hint = "pass --data-dir or set CAIRN_DATA_DIR"
    else:
        missing, hint = "no Cairn tables in the database", "check CAIRN_DATABASE_URL"
    engine = _probe_engine(settings.resolved_database_url())
    if engine is None:
        raise click.ClickException(f"{missing}; {hint}")
    try:
        ready = initialized(engine)
    except SQLAlchemyError as exc:
        raise click.ClickException(f"cannot open the database: {_one_line(exc)}") from exc
    finally:
        engine.dispose()
    if not ready:
        raise click.ClickException(f"{missing}; {hint}")
    return build_state(settings)


def _probe_engine(url: str) -> Engine | None:
    """An engine that cannot create or change the database; None for a missing SQLite file."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return make_engine(url, pool_size=1)
    path = Path(parsed.database or "")
    if not parsed.database or not path.is_file():
        return None
    read_only = f"file:{quote(str(path.resolve()))}?mode=ro"
    return create_engine("sqlite://", creator=lambda: sqlite3.connect(read_only, uri=True))


def _one_line(exc: SQLAlchemyError) -> str:
    """The driver's message without SQLAlchemy's SQL and background link."""
    cause = exc.orig if isinstance(exc, DBAPIError) else exc
    return " ".join(str(cause).split("\n", 1)[0].split()) or type(exc).__name__
