"""Everything the web UI adds to the app: its page routers, static files and error pages."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.staticfiles import StaticFiles

from cairn.server.web import (
    audit_log,
    auth,
    collections,
    home,
    keys,
    members,
    org_admin,
    org_service_accounts,
    org_teams,
    org_users,
    registry,
    settings,
    versions,
)
from cairn.server.web.errorpages import error_page
from cairn.server.web.templating import HERE

STATIC_PATH = "/static"
router = APIRouter(include_in_schema=False)
# Fixed paths before the patterns that could swallow them ("/registry/new").
for module in (auth, home, keys, settings, members, collections, versions, registry):
    router.include_router(module.router)
for module in (org_admin, org_users, org_teams, org_service_accounts, audit_log):
    router.include_router(module.router)

__all__ = ["STATIC_PATH", "error_page", "router", "static_files"]


def static_files() -> StaticFiles:
    """The vendored htmx, the stylesheet and the small script, served from the package."""
    return StaticFiles(directory=HERE / "static")
