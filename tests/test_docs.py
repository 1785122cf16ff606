"""The documentation states the role table exactly as the code holds it."""

from __future__ import annotations

from pathlib import Path

from cairn.server.domain.roles import role_table_markdown

ROOT = Path(__file__).resolve().parent.parent


def test_roles_doc_matches_the_role_table() -> None:
    doc = (ROOT / "docs" / "roles.md").read_text(encoding="utf-8")
    assert role_table_markdown() in doc, "regenerate docs/roles.md from ROLE_TABLE"


def test_every_api_route_is_documented() -> None:
    from tests.api import route_walk

    doc = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    api_routes = [
        e for e in route_walk.endpoints(route_walk.static_app()) if e.path.startswith("/api/v1/")
    ]
    assert len(api_routes) > 50, "the route walk found too few routes to mean anything"
    missing = [
        f"{e.method} {e.path}"
        for e in api_routes
        if f"| {e.method} | `{e.path.removeprefix('/api/v1')}`" not in doc
        and f"| {e.method} | `{e.path.removeprefix('/api/v1')}?" not in doc
    ]
    assert not missing, f"routes missing from docs/api.md: {missing}"
