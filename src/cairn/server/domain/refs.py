"""The reference grammar (DESIGN §1): `a/b/c[:v]` and `registry/collection[:v]`."""

from __future__ import annotations

import re
from dataclasses import dataclass

from cairn.server.domain.errors import ValidationError
from cairn.server.domain.names import strip_registry_prefix

LATEST = "latest"
_VERSION = re.compile(r"v(\d{1,9})")


@dataclass(frozen=True)
class Selector:
    """Which version: an index (`vN`) or an alias (`latest` when none was given)."""

    index: int | None = None
    alias: str | None = None

    def __str__(self) -> str:
        return f"v{self.index}" if self.index is not None else str(self.alias)


@dataclass(frozen=True)
class Ref:
    """A parsed reference: two or three path parts and a version selector."""

    parts: tuple[str, ...]
    selector: Selector

    @property
    def is_short(self) -> bool:
        """`registry/collection` in the caller's default organization."""
        return len(self.parts) == 2


def parse_selector(raw: str | None) -> Selector:
    """`vN` is a version, anything else an alias; empty or None means `latest`."""
    if not raw:
        return Selector(alias=LATEST)
    match = _VERSION.fullmatch(raw)
    return Selector(index=int(match.group(1))) if match else Selector(alias=raw)


def parse_ref(raw: str) -> Ref:
    """Split a reference into its parts; the registry part may carry `wandb-registry-`."""
    if not raw or len(raw) > 1024 or "\0" in raw:
        raise ValidationError("a reference must be 1-1024 characters")
    path, sep, version = raw.rpartition(":") if ":" in raw.rsplit("/", 1)[-1] else (raw, "", "")
    parts = tuple(path.split("/"))
    if len(parts) not in (2, 3) or not all(parts) or (sep and not version) or ":" in parts[-1]:
        raise ValidationError(
            f"cannot read reference {raw[:100]!r}: use <entity>/<project>/<artifact>[:version], "
            "<org>/<registry>/<collection>[:version] or <registry>/<collection>[:version]"
        )
    if len(parts) == 2:
        parts = (strip_registry_prefix(parts[0]), parts[1])
    else:
        parts = (parts[0], strip_registry_prefix(parts[1]), parts[2])
    return Ref(parts, parse_selector(version or None))
