"""Who is calling: the one shape both API keys and web sessions turn into."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Principal:
    """An authenticated, active user, and how they proved it."""

    user_id: int
    username: str
    is_superuser: bool
    is_service: bool
    auth_method: str  # "key" or "session"
    key_id: int | None = None
