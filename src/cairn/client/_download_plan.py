"""What a download will do, decided before anything is written: the manifest checked, its
files grouped by content, where each goes (never outside the folder), which come alone and
which many to a request."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cairn._partial import PARTIAL_DIR, is_partial_dir
from cairn.client._errors import ValidationError
from cairn.client._manifest import FileEntry, check_manifest, check_sha256
from cairn.client._transfer import TRANSFER_WORKERS, UnsafePathError

# Files up to BATCH_FILE_BYTES come many to a request: a request costs the server and this
# client several milliseconds, as much as moving a few MiB. Larger ones come alone,
# resumable and hashed off the receiving thread. A batch holds at most BATCH_DIGESTS files
# and about a TRANSFER_WORKERS-th of the small files' bytes, so every worker gets one,
# within [BATCH_MIN_BYTES, BATCH_BYTES].
BATCH_FILE_BYTES = 8 << 20
BATCH_DIGESTS = 1000
BATCH_BYTES = 32 << 20
BATCH_MIN_BYTES = 4 << 20
_WINDOWS_DEVICES = frozenset(
    {"CON", "PRN", "AUX", "NUL", *(f"{p}{i}" for p in ("COM", "LPT") for i in range(1, 10))}
)


@dataclass
class Blob:
    """One distinct content of a manifest and every file name it is saved under."""

    sha256: str
    size: int
    names: list[str] = field(default_factory=list)
    targets: list[Path] = field(default_factory=list)


def inside(base: Path, target: Path, name: str, resolved: dict[Path, Path] | None = None) -> Path:
    """``target`` when it (after resolving its folder's links) stays inside ``base``; each
    folder is resolved once for a given ``resolved`` memo."""
    folder = target.parent
    real = None if resolved is None else resolved.get(folder)
    if real is None:
        real = folder.resolve()
        if resolved is not None:
            resolved[folder] = real
    if not (real / target.name).is_relative_to(base):
        raise UnsafePathError(f"refusing to write {name!r}: it resolves outside {base}")
    return target


def destination(base: Path, name: str, resolved: dict[Path, Path] | None = None) -> Path:
    """Where manifest file ``name`` goes under ``base`` (resolved); refuses any way out.
    ``resolved`` memoizes folders resolved already (a manifest's files share a few)."""
    parts = name.split("/")
    if os.name == "nt" and (
        ":" in name
        or any(p.endswith((".", " ")) or p.split(".")[0].upper() in _WINDOWS_DEVICES for p in parts)
    ):
        raise UnsafePathError(f"refusing to write {name!r}: not a safe Windows file name")
    if is_partial_dir(parts[0]):
        raise UnsafePathError(f"refusing to write {name!r}: {PARTIAL_DIR} is Cairn's own folder")
    return inside(base, base.joinpath(*parts), name, resolved)


def plan(files: Sequence[FileEntry], base: Path) -> list[Blob]:
    """Check a whole manifest before anything is written; group its files by content."""
    try:
        check_manifest(f.path for f in files)
        for f in files:
            check_sha256(f.sha256)
            if not isinstance(f.size, int) or f.size < 0:
                raise ValidationError(f"file {f.path!r} has an invalid size")
    except ValidationError as exc:
        raise UnsafePathError(f"refusing to download: the manifest is unsafe: {exc}") from exc
    blobs: dict[str, Blob] = {}
    resolved: dict[Path, Path] = {}
    for f in files:
        blob = blobs.setdefault(f.sha256, Blob(f.sha256, f.size))
        if blob.size != f.size:
            raise UnsafePathError(f"refusing to download: {f.sha256} is listed with two sizes")
        blob.names.append(f.path)
        blob.targets.append(destination(base, f.path, resolved))
    return list(blobs.values())


def batches(blobs: Sequence[Blob]) -> tuple[list[Blob], list[list[Blob]]]:
    """The blobs fetched alone (largest first: they take longest) and those fetched in
    batches, grouped in manifest order."""
    alone = sorted((b for b in blobs if b.size > BATCH_FILE_BYTES), key=lambda b: -b.size)
    small = [b for b in blobs if b.size <= BATCH_FILE_BYTES]
    share = math.ceil(sum(b.size for b in small) / TRANSFER_WORKERS)
    limit = min(BATCH_BYTES, max(BATCH_MIN_BYTES, share))
    groups: list[list[Blob]] = []
    grouped = 0
    for blob in small:
        if not groups or len(groups[-1]) >= BATCH_DIGESTS or grouped + blob.size > limit:
            groups.append([])
            grouped = 0
        groups[-1].append(blob)
        grouped += blob.size
    return alone, groups
