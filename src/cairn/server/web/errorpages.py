"""Errors on web pages: sign-in redirects for 401, an HTML page for everything else."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from cairn.server.web.templating import page

JSON_PATHS = ("/api/", "/openapi.json", "/docs")
TITLES = {
    400: "Bad request",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed",
    409: "Conflict",
    413: "Too large",
    422: "Invalid input",
    429: "Too many attempts",
    503: "Unavailable",
    507: "Storage full",
}


def login_url(request: Request) -> str:
    """The sign-in page, returning to this page afterwards when it was a GET."""
    if request.method != "GET":
        return "/login"
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"/login?next={quote(target, safe='')}"


def error_page(request: Request, status: int, message: str) -> Response | None:
    """The web UI's answer to an error, or None for API and docs routes (JSON there)."""
    if request.url.path.startswith(JSON_PATHS):
        return None
    if status == 401:
        target = login_url(request)
        if request.headers.get("hx-request"):
            return Response(status_code=401, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)
    shown = message if status < 500 else "Something went wrong on the server; try again."
    return page(
        request,
        "error.html",
        status=status,
        code=status,
        title=TITLES.get(status, "Error"),
        message=shown,
    )
