"""The Cairn server: FastAPI application, services, storage (the `[server]` extra)."""
