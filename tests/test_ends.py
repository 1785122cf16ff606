"""cairn._ends: the same ends from a file on disk and from its bytes fed in any pieces, and
ends that tell files apart by their first and last bytes only."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cairn._ends import ENDS_BYTES, Ends, file_ends

SIZES = [0, 1, ENDS_BYTES - 1, ENDS_BYTES, ENDS_BYTES + 1, 2 * ENDS_BYTES - 1, 2 * ENDS_BYTES]
SIZES += [2 * ENDS_BYTES + 1, 5 * ENDS_BYTES + 123]


def fed(data: bytes, step: int) -> str:
    ends = Ends()
    for start in range(0, len(data), step):
        ends.update(memoryview(data)[start : start + step])
    return ends.hexdigest()


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("step", [1, 7, 1000, ENDS_BYTES, ENDS_BYTES + 1, 1 << 20])
def test_bytes_fed_in_any_pieces_have_the_ends_of_the_file(
    tmp_path: Path, size: int, step: int
) -> None:
    data = os.urandom(size)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    assert fed(data, step) == file_ends(path)


def test_the_ends_are_the_first_and_last_bytes_only() -> None:
    data = bytearray(os.urandom(3 * ENDS_BYTES))
    before = fed(bytes(data), 1000)
    data[ENDS_BYTES + 10] ^= 1  # the middle: not part of the ends
    assert fed(bytes(data), 1000) == before
    for place in (0, ENDS_BYTES - 1, 2 * ENDS_BYTES, len(data) - 1):
        changed = bytearray(data)
        changed[place] ^= 1
        assert fed(bytes(changed), 1000) != before, place


def test_files_of_different_sizes_alike_at_both_ends_differ() -> None:
    """A short file is wholly its ends: appending a byte changes them."""
    assert fed(b"a" * 10, 3) != fed(b"a" * 11, 3)
