"""The documentation states the role table exactly as the code holds it."""

from __future__ import annotations

from pathlib import Path

from cairn.server.domain.roles import role_table_markdown

ROOT = Path(__file__).resolve().parent.parent


def test_roles_doc_matches_the_role_table() -> None:
    doc = (ROOT / "docs" / "roles.md").read_text(encoding="utf-8")
    assert role_table_markdown() in doc, "regenerate docs/roles.md from ROLE_TABLE"


def test_every_api_route_is_documented(tmp_path: Path) -> None:
    from cairn.server.app import create_app
    from cairn.server.settings import Settings

    doc = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    app = create_app(Settings(data_dir=tmp_path, database_url="sqlite://", auto_migrate=True))
    missing = []
    for route in app.routes:
        path = getattr(route, "path", "")
        if not path.startswith("/api/v1/"):
            continue
        relative = path.removeprefix("/api/v1")
        for method in sorted(getattr(route, "methods", set()) - {"HEAD"}):
            if f"| {method} | `{relative}" not in doc:
                missing.append(f"{method} {relative}")
    assert not missing, f"routes missing from docs/api.md: {missing}"
