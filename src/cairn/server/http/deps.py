"""Request-scoped dependencies: the app's state, one database transaction per request."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from cairn.server.blobs.base import BlobStore
from cairn.server.domain.principal import Principal
from cairn.server.domain.ratelimit import FailureLimiter
from cairn.server.http.caches import GenerationCache
from cairn.server.services import blob_md5, generation, uploads
from cairn.server.settings import Settings

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass
class AppState:
    """What every request may need, built once by create_app()."""

    settings: Settings
    engine: Engine
    readers: sessionmaker[Session]
    writers: sessionmaker[Session]
    login_limiter: FailureLimiter
    blobs: BlobStore
    principals: GenerationCache[Principal] = field(default_factory=lambda: GenerationCache(10_000))
    answers: GenerationCache[bytes] = field(default_factory=lambda: GenerationCache(10_000))
    key_touched: dict[int, float] = field(default_factory=dict)
    live: generation.Live = field(init=False)
    recorder: uploads.Recorder = field(init=False)
    md5s: blob_md5.LaterMd5s = field(init=False)

    def __post_init__(self) -> None:
        self.live = generation.Live(self.engine)
        self.md5s = blob_md5.LaterMd5s(self.blobs, self.readers, self.writers)
        self.recorder = uploads.Recorder(self.writers, self.md5s.add)


async def app_state(request: Request) -> AppState:
    """The application's state (async: served on the event loop, without a thread)."""
    state: AppState = request.app.state.cairn
    return state


State = Annotated[AppState, Depends(app_state)]


def transaction(request: Request, state: State) -> Iterator[Session]:
    """One transaction per request, committed before the response is sent."""
    maker = state.readers if request.method in SAFE_METHODS else state.writers
    with maker() as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


Db = Annotated[Session, Depends(transaction, scope="function")]
