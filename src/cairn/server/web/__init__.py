"""The web UI: server-rendered HTML pages (Jinja2 + vendored htmx) over the same services."""
