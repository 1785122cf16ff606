"""The transfers benchmark's source data: random files, stamped anew, grouped in scenarios."""

from __future__ import annotations

import hashlib
import os
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

MIB = 1 << 20
GIB = 1 << 30
CHUNK = 4 * MIB


def write_random(path: Path, size: int, rng: random.Random) -> None:
    """`size` pseudo-random bytes (incompressible, distinct per file)."""
    with path.open("wb") as out:
        left = size
        while left:
            n = min(CHUNK, left)
            out.write(rng.randbytes(n))
            left -= n


def stamp(paths: Sequence[Path], tag: str) -> None:
    """Overwrite each file's first 32 bytes so its content (and sha256) is new to the server."""
    for i, path in enumerate(paths):
        head = f"{tag}:{i}:".encode().ljust(32, b"#")[:32]
        fd = os.open(path, os.O_WRONLY)
        try:
            os.pwrite(fd, head, 0)
        finally:
            os.close(fd)


def sha256_of(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


@dataclass(frozen=True)
class Scenario:
    """A set of source files transferred as one artifact."""

    key: str
    label: str
    root: Path
    files: list[Path]
    size: int  # bytes of each file

    @property
    def total(self) -> int:
        return self.size * len(self.files)


def make_scenarios(work: Path, size_gib: float, count: int, file_mib: float) -> list[Scenario]:
    rng = random.Random(20240601)
    big_root = work / "src-big"
    big_root.mkdir()
    big = big_root / "model.bin"
    big_size = int(size_gib * GIB)
    write_random(big, big_size, rng)
    many_root = work / "src-many"
    many_root.mkdir()
    small = int(file_mib * MIB)
    files = []
    for i in range(count):
        path = many_root / f"shard-{i:05d}.bin"
        write_random(path, small, rng)
        files.append(path)
    return [
        Scenario("one_big_file", f"1 file of {size_gib:g} GiB", big_root, [big], big_size),
        Scenario("many_files", f"{count} files of {file_mib:g} MiB", many_root, files, small),
    ]
