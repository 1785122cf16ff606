"""create_app(settings) → FastAPI: the only place that wires settings, database and routers."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import anyio
from fastapi import APIRouter, FastAPI

from cairn.server.api import (
    auth,
    blobs,
    collections,
    history,
    keys,
    linked_versions,
    orgs,
    projects,
    registries,
    registry_members,
    teams,
)
from cairn.server.api.routing import API_PREFIX, ERROR_RESPONSES
from cairn.server.blobs.factory import open_store
from cairn.server.db.engine import make_engine, make_sessionmakers
from cairn.server.domain.ratelimit import FailureLimiter
from cairn.server.http import errors
from cairn.server.http.cached_resolve import CachedResolutions
from cairn.server.http.deps import AppState
from cairn.server.http.middleware import EdgeGuard
from cairn.server.http.routes_ready import build_handlers
from cairn.server.services import generation, provisioning
from cairn.server.settings import Settings
from cairn.server.web import site

# At shutdown, how long to wait for an md5 in progress to stop (it stops between pieces).
MD5_STOP_SECONDS = 5.0

ROUTERS = (
    auth,
    orgs,
    teams,
    keys,
    registries,
    registry_members,
    blobs,
    projects,
    collections,
    linked_versions,
    history,
)


def build_state(settings: Settings) -> AppState:
    """Engine, sessions and limiter for one server process."""
    if settings.database_url is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    engine = make_engine(settings.resolved_database_url(), pool_size=settings.db_pool_size)
    readers, writers = make_sessionmakers(engine)
    generation.install(engine, writers)
    limiter = FailureLimiter(settings.login_max_failures, settings.login_window_seconds)
    return AppState(settings, engine, readers, writers, limiter, open_store(settings))


def prepare(state: AppState) -> str | None:
    """Migrate (when enabled) and provision on first start; returns a generated admin password."""
    settings = state.settings
    state.blobs.check()
    if settings.auto_migrate:
        # Imported here: workers never migrate, and Alembic would cost each of them ~10 MiB.
        from cairn.server.db import schema

        schema.upgrade(state.engine)
    password = settings.admin_password.get_secret_value() if settings.admin_password else None
    with state.writers() as s, s.begin():
        generation.ensure(s)
        return provisioning.first_start(s, settings.default_org, password)


def create_app(settings: Settings | None = None, *, state: AppState | None = None) -> FastAPI:
    """The Cairn application. Pass `state` when the database was prepared already."""
    settings = settings or Settings()
    if state is None:
        state = build_state(settings)
        prepare(state)
    app = FastAPI(
        title="Cairn",
        version="0.1.0",
        summary="Self-hosted registry for machine-learning artifacts",
        docs_url="/docs",
        redoc_url=None,
        lifespan=_closing(state),
    )
    app.state.cairn = state
    api = APIRouter(prefix=API_PREFIX, responses=ERROR_RESPONSES)
    for module in ROUTERS:
        api.include_router(module.router)
    app.include_router(api)
    app.include_router(site.router)
    app.mount(site.STATIC_PATH, site.static_files(), name="static")
    errors.install(app, page=site.error_page)
    app.add_middleware(CachedResolutions, state=state, path=API_PREFIX + "/resolve")
    app.add_middleware(EdgeGuard, settings=settings)  # added last: runs first
    return app


def _closing(state: AppState) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """Lifespan: hand over the blobs still without an md5 (blob_md5) at startup; at
    shutdown, stop taking md5s and close the process's own generation connection."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await anyio.to_thread.run_sync(state.md5s.sweep)
        yield
        await anyio.to_thread.run_sync(state.md5s.stop, MD5_STOP_SECONDS)
        await state.live.close()

    return lifespan


def serving_app(settings: Settings, state: AppState) -> FastAPI:
    """The application a server process serves: every route's handler built before the
    first request (routes_ready), so no request pays for building it; then everything built
    so far is set apart from the garbage collector (freeze_startup_objects)."""
    app = create_app(settings, state=state)
    build_handlers(app)
    freeze_startup_objects()
    return app


def freeze_startup_objects() -> None:
    """Move every object alive now (the application, its imports: ~230,000) to the
    collector's permanent generation, where no collection scans them again. A full
    collection otherwise walks them all with the GIL held: 0.25 s, seen in the middle of
    downloading 1,000 files on a 2-core VM."""
    gc.collect()
    gc.freeze()


def app_from_env() -> FastAPI:
    """Factory for `uvicorn --factory` workers: settings from the CAIRN_* environment."""
    settings = Settings()
    return serving_app(settings, build_state(settings))
