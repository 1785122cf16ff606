"""Jinja2 environment and the one function that renders a page with its security headers."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from cairn.server.domain.principal import Principal
from cairn.server.web import markdown

HERE = Path(__file__).parent
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
PAGE_HEADERS = {"Content-Security-Policy": CSP, "Cache-Control": "no-store"}


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else ""


def _size(value: int | None) -> str:
    size = float(value or 0)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return ""  # pragma: no cover


def _seg(value: str) -> str:
    """One URL path segment."""
    return quote(value, safe="")


env = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"], default=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
env.filters.update(when=_when, size=_size, seg=_seg, markdown=markdown.render)


def page(request: Request, template: str, *, status: int = 200, **context: Any) -> HTMLResponse:
    """Render `template`; the page carries the CSP and the session's CSRF token for forms."""
    viewer: Principal | None = getattr(request.state, "viewer", None)
    body = env.get_template(template).render(
        request=request,
        viewer=viewer,
        csrf_token=getattr(request.state, "csrf_token", ""),
        path=request.url.path,
        **context,
    )
    return HTMLResponse(body, status_code=status, headers=PAGE_HEADERS)
