"""Writing a file with FileWriter chunk by chunk and reading it back, for the FileWriter tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cairn._filewriter import FileWriter

MIB = 1 << 20


def write_and_read(path: Path, data: bytes, chunk: int, **options: Any) -> bytes:
    out = FileWriter(path, **options)
    try:
        for start in range(0, len(data), chunk):
            out.write(data[start : start + chunk])
        out.finish()
    finally:
        out.close()
    return path.read_bytes()
