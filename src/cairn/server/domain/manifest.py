"""Manifest entries: file names that are data, never paths, checked before anything is stored."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass

from cairn._partial import is_partial_dir, partial_dir_refusal
from cairn.server.domain.errors import ValidationError

MAX_FILES = 100_000
MAX_PATH = 1024
_SHA256 = re.compile(r"[0-9a-f]{64}")
_DRIVE = re.compile(r"[A-Za-z]:")


@dataclass(frozen=True)
class Entry:
    """One file of an artifact version: its name inside the artifact, digest and size."""

    path: str
    sha256: str
    size: int


def sha256_digest(raw: str) -> str:
    """Validate a lower-case hex sha256."""
    if not isinstance(raw, str) or not _SHA256.fullmatch(raw):
        raise ValidationError("a sha256 digest must be 64 lower-case hex characters")
    return raw


def file_path(raw: str) -> str:
    """Validate a manifest file name: a relative POSIX path with no way out of its folder."""
    if not raw or len(raw) > MAX_PATH:
        raise ValidationError(f"file names must be 1-{MAX_PATH} characters")
    shown = raw[:80].encode("unicode_escape").decode()
    if any(c == "\\" or unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in raw):
        raise ValidationError(f"file name {shown!r} contains a backslash or control character")
    if raw.startswith("/") or _DRIVE.match(raw):
        raise ValidationError(f"file name {shown!r} must be relative")
    segments = raw.split("/")
    if any(seg in ("", ".", "..") for seg in segments):
        raise ValidationError(f"file name {shown!r} has an empty, '.' or '..' part")
    if raw != unicodedata.normalize("NFC", raw):
        raise ValidationError(f"file name {shown!r} must be NFC-normalised Unicode")
    if is_partial_dir(segments[0]):
        raise ValidationError(partial_dir_refusal(shown))
    return raw


def entries(raw: list[tuple[str, str, int]]) -> list[Entry]:
    """Validate a whole manifest: names, digests, sizes, no duplicates, bounded count."""
    if len(raw) > MAX_FILES:
        raise ValidationError(f"an artifact version holds at most {MAX_FILES} files")
    seen: set[str] = set()
    checked: list[Entry] = []
    for path, digest, size in raw:
        name = file_path(path)
        if name.casefold() in seen:
            raise ValidationError(f"file name {name!r} appears twice (names ignore case)")
        if size < 0:
            raise ValidationError(f"file {name!r} has a negative size")
        seen.add(name.casefold())
        checked.append(Entry(name, sha256_digest(digest), size))
    folders = {
        "/".join(e.path.split("/")[:i]).casefold()
        for e in checked
        for i in range(1, e.path.count("/") + 1)
    }
    clash = next((e.path for e in checked if e.path.casefold() in folders), None)
    if clash is not None:
        raise ValidationError(f"file name {clash!r} is also used as a folder")
    return sorted(checked, key=lambda e: e.path)


def content_digest(manifest: list[Entry]) -> str:
    """The digest of a version's content: its sorted (name, sha256, size) entries."""
    h = hashlib.sha256()
    for e in manifest:
        h.update(f"{e.path}\0{e.sha256}\0{e.size}\n".encode())
    return h.hexdigest()
