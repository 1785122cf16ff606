"""The JSON API under /api/v1: thin routers that parse, call one service, serialize."""
