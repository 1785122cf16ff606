"""Naming rules for registries, entities, emails, types and aliases (DESIGN §2 "Names")."""

from __future__ import annotations

import re
import unicodedata

from cairn.server.domain.errors import ValidationError

MAX_NAME = 128
WANDB_REGISTRY_PREFIX = "wandb-registry-"
REGISTRY_FORBIDDEN = frozenset("/\\#?%:")
_LINE_BREAKS = frozenset("\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029")
_ENTITY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_TOKEN = re.compile(r"[A-Za-z0-9_.-]{1,128}")
_VERSION = re.compile(r"v\d+")
RESERVED_ALIASES = frozenset({"latest"})
MIN_PASSWORD = 8
MAX_PASSWORD = 1024


def strip_registry_prefix(name: str) -> str:
    """Accept W&B's project-style registry names (`wandb-registry-Models` → `Models`)."""
    return name[len(WANDB_REGISTRY_PREFIX) :] if name.startswith(WANDB_REGISTRY_PREFIX) else name


def registry_name(raw: str) -> str:
    """Validate and NFC-normalise a registry name; raise ValidationError naming the problem."""
    name = unicodedata.normalize("NFC", strip_registry_prefix(raw))
    if not name or not name.strip():
        raise ValidationError("registry name must not be empty")
    if len(name) > MAX_NAME:
        raise ValidationError(f"registry name must be at most {MAX_NAME} characters")
    bad = sorted({c for c in name if c in REGISTRY_FORBIDDEN})
    if bad:
        shown = " ".join(bad)
        raise ValidationError(f"registry name must not contain any of / \\ # ? % : (found {shown})")
    if any(c in _LINE_BREAKS or unicodedata.category(c) == "Cc" for c in name):
        raise ValidationError("registry name must not contain line breaks or control characters")
    if name != name.strip():
        raise ValidationError("registry name must not start or end with white space")
    return name


def name_key(name: str) -> str:
    """The key under which names are unique: NFC, then case-folded."""
    return unicodedata.normalize("NFC", name).casefold()


def entity_name(raw: str, what: str = "name") -> str:
    """Validate a user, team or organization name (one shared namespace)."""
    if not _ENTITY.fullmatch(raw):
        raise ValidationError(
            f"{what} must be 1-64 characters of letters, digits, '_', '.' or '-', "
            "starting with a letter or digit"
        )
    return raw


def email(raw: str) -> str:
    """Validate an email address and return it lower-cased."""
    if len(raw) > 254 or not _EMAIL.fullmatch(raw):
        raise ValidationError(f"not a valid email address: {raw[:64]!r}")
    return raw.lower()


def artifact_type(raw: str) -> str:
    """Validate an artifact type name (W&B rules: no '/' or ':', at most 128 characters)."""
    if not _TOKEN.fullmatch(raw):
        raise ValidationError(
            f"artifact type {raw[:64]!r} must be 1-128 letters, digits, '_', '.' or '-'"
        )
    return raw


def alias(raw: str) -> str:
    """Validate an alias name: a token, not shaped like a version, not reserved."""
    if not _TOKEN.fullmatch(raw):
        raise ValidationError(f"alias {raw[:64]!r} must be 1-128 letters, digits, '_', '.' or '-'")
    if _VERSION.fullmatch(raw):
        raise ValidationError(f"alias {raw!r} looks like a version number; choose another name")
    if raw in RESERVED_ALIASES:
        raise ValidationError(f"alias {raw!r} is reserved and managed by Cairn")
    return raw


def password(raw: str) -> str:
    """Check a password's length before it is hashed."""
    if len(raw) < MIN_PASSWORD:
        raise ValidationError(f"password must be at least {MIN_PASSWORD} characters")
    if len(raw.encode()) > MAX_PASSWORD:
        raise ValidationError(f"password must be at most {MAX_PASSWORD} bytes")
    return raw


def token_name(raw: str, what: str) -> str:
    """Validate an artifact, collection, project or tag name (W&B: letters, digits, - _ .)."""
    if not isinstance(raw, str) or not _TOKEN.fullmatch(raw):
        shown = str(raw)[:64]
        raise ValidationError(f"{what} {shown!r} must be 1-128 letters, digits, '_', '.' or '-'")
    return raw
