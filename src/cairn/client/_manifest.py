"""Manifest rules, client side: file names, digests, names and metadata checked before sending."""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cairn._partial import is_partial_dir, partial_dir_refusal
from cairn.client._errors import ValidationError
from cairn.client._records import from_json

MAX_FILES = 100_000
MAX_PATH = 1024
MAX_METADATA_KEYS = 100
MAX_ALIASES = 32
_SHA256 = re.compile(r"[0-9a-f]{64}")
_DRIVE = re.compile(r"[A-Za-z]:")
_TOKEN = re.compile(r"[A-Za-z0-9_.-]{1,128}")
_VERSION_SHAPED = re.compile(r"v\d+")
_BAD_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})


@dataclass(frozen=True)
class FileEntry:
    """One file of an artifact version: its name inside the artifact, digest and size."""

    path: str
    sha256: str
    size: int
    md5: str | None = None


def files_from_json(items: Iterable[Mapping[str, Any]] | None) -> list[FileEntry]:
    """The ``files`` of a version as entries (none when the answer listed none)."""
    return [from_json(FileEntry, item) for item in items or ()]


def check_file_name(raw: str) -> str:
    """A manifest file name: relative POSIX, no ``.``/``..``/empty parts, no drive, NFC."""
    if not isinstance(raw, str) or not raw or len(raw) > MAX_PATH:
        raise ValidationError(f"file names must be 1-{MAX_PATH} characters")
    shown = raw[:80].encode("unicode_escape").decode()
    if any(c == "\\" or unicodedata.category(c) in _BAD_CATEGORIES for c in raw):
        raise ValidationError(f"file name {shown!r} contains a backslash or control character")
    if raw.startswith("/") or _DRIVE.match(raw):
        raise ValidationError(f"file name {shown!r} must be relative")
    if any(part in ("", ".", "..") for part in raw.split("/")):
        raise ValidationError(f"file name {shown!r} has an empty, '.' or '..' part")
    if raw != unicodedata.normalize("NFC", raw):
        raise ValidationError(f"file name {shown!r} must be NFC-normalised Unicode")
    if is_partial_dir(raw.split("/")[0]):
        raise ValidationError(partial_dir_refusal(shown))
    return raw


def check_manifest(names: Iterable[str]) -> None:
    """Every name valid, unique ignoring case, never also a folder, at most 100,000 of them."""
    seen: set[str] = set()
    for name in names:
        check_file_name(name)
        if name.casefold() in seen:
            raise ValidationError(f"file name {name!r} appears twice (names ignore case)")
        seen.add(name.casefold())
        if len(seen) > MAX_FILES:
            raise ValidationError(f"an artifact version holds at most {MAX_FILES} files")
    folders = {
        "/".join(parts[:i]) for parts in (n.split("/") for n in seen) for i in range(1, len(parts))
    }
    clash = sorted(seen & folders)
    if clash:
        raise ValidationError(f"file name {clash[0]!r} is also used as a folder")


def check_sha256(raw: Any) -> str:
    """A lower-case hex sha256 digest."""
    if not isinstance(raw, str) or not _SHA256.fullmatch(raw):
        raise ValidationError(f"{str(raw)[:80]!r} is not a sha256 digest (64 lower-case hex)")
    return raw


def check_token(raw: str, what: str) -> str:
    """An artifact, type, project or collection name: 1-128 letters, digits, ``_ . -``."""
    if not isinstance(raw, str) or not _TOKEN.fullmatch(raw):
        raise ValidationError(f"{what} {str(raw)[:64]!r} must be 1-128 letters, digits, '_ . -'")
    return raw


def check_alias(raw: str) -> str:
    """An alias name: a token that is neither ``latest`` nor shaped like ``vN``."""
    check_token(raw, "alias")
    if _VERSION_SHAPED.fullmatch(raw):
        raise ValidationError(f"alias {raw!r} looks like a version number; choose another name")
    if raw == "latest":
        raise ValidationError("alias 'latest' is reserved and managed by Cairn")
    return raw


def check_aliases(raw: Iterable[str] | None) -> list[str]:
    """Alias names, deduplicated in order, at most 32."""
    aliases = list(dict.fromkeys(check_alias(a) for a in raw or ()))
    if len(aliases) > MAX_ALIASES:
        raise ValidationError(f"at most {MAX_ALIASES} aliases at once")
    return aliases


def check_metadata(raw: Mapping[str, Any] | None) -> dict[str, Any]:
    """A JSON-serialisable object of at most 100 keys."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ValidationError("metadata must be a mapping (a JSON object)")
    if len(raw) > MAX_METADATA_KEYS:
        raise ValidationError(f"metadata holds at most {MAX_METADATA_KEYS} keys")
    try:
        return dict(json.loads(json.dumps(dict(raw), allow_nan=False)))
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"metadata must be JSON-serialisable: {exc}") from exc
