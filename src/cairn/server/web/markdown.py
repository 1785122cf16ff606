"""Markdown to safe HTML: raw HTML is escaped, and only http(s), mailto and relative links live."""

from __future__ import annotations

from markdown_it import MarkdownIt
from markupsafe import Markup

SAFE_SCHEMES = ("http://", "https://", "mailto:", "/", "#")
_MD = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
_MD.validateLink = lambda url: url.strip().lower().startswith(SAFE_SCHEMES)  # type: ignore[method-assign]


def render(text: str | None) -> Markup:
    """`text` as HTML; every user character is escaped or parsed, never passed through."""
    if not text:
        return Markup("")
    return Markup(_MD.render(text))  # noqa: S704 - markdown-it escapes all text; html is off
