"""ASGI fast path for `GET /api/v1/resolve`: a remembered answer, served without routing."""

from __future__ import annotations

from starlette.datastructures import Headers, QueryParams
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from cairn.server.domain.errors import AuthenticationError
from cairn.server.http import identity
from cairn.server.http.caches import resolution_key
from cairn.server.http.deps import AppState


class CachedResolutions:
    """Answers a resolution from the caches the route fills, under the same rules as the route.

    Only a hit is served here: a key already checked under the current generation (read after
    the request arrived) whose use needs no stamp, and an answer remembered for that caller,
    reference and generation. Everything else (no key, a malformed one, a miss, a due usage
    stamp, a database that cannot be read) goes on to the route, which decides as always.
    """

    def __init__(self, app: ASGIApp, state: AppState, path: str) -> None:
        self.app = app
        self.state = state
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and scope["path"] == self.path:
            body = await self._remembered(scope)
            if body is not None:
                await self.answer(body)(scope, receive, send)
                return
        await self.app(scope, receive, send)

    @staticmethod
    def answer(body: bytes) -> Response:
        """The response the route sends for an answer (the route uses it too)."""
        return Response(body, media_type="application/json")

    async def _remembered(self, scope: Scope) -> bytes | None:
        try:
            key = identity.bearer_token(Headers(scope=scope).get("authorization"))
        except AuthenticationError:
            return None
        if key is None:
            return None
        now = await self.state.live.now()
        if now is None:
            return None
        # Read after this request arrived: on a miss, `identity.principal` uses it too.
        scope.setdefault("state", {})[identity.GENERATION] = now
        caller = identity.remembered(self.state, key, now)
        if caller is None:
            return None
        params = QueryParams(scope["query_string"])
        found = resolution_key(caller.user_id, params.get("ref"), params.get("org"))
        return self.state.answers.get(found, now)
