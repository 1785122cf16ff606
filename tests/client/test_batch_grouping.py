"""How the SDK groups blobs to download: large files alone, small ones in bounded batches."""

from __future__ import annotations

import hashlib

from cairn.client import _download_plan
from cairn.client._download_plan import BATCH_DIGESTS, BATCH_FILE_BYTES, Blob, batches
from tests.client.artifacts_support import MIB


def blob(size: int, tag: int = 0) -> Blob:
    return Blob(hashlib.sha256(b"%d-%d" % (size, tag)).hexdigest(), size)


def test_large_files_alone_largest_first_small_ones_grouped_in_order() -> None:
    small = [blob(MIB, i) for i in range(100)]
    large = [blob(BATCH_FILE_BYTES + 1), blob(3 * BATCH_FILE_BYTES)]
    alone, groups = batches([large[0], *small[:50], large[1], *small[50:]])
    assert alone == [large[1], large[0]]
    assert [b for g in groups for b in g] == small
    assert len(groups) >= 8, "every transfer worker gets a batch"
    assert all(sum(b.size for b in g) <= _download_plan.BATCH_BYTES for g in groups)


def test_a_batch_holds_at_most_the_servers_digest_limit() -> None:
    tiny = [blob(10, i) for i in range(2 * BATCH_DIGESTS + 5)]
    _, groups = batches(tiny)
    assert [len(g) for g in groups] == [BATCH_DIGESTS, BATCH_DIGESTS, 5]


def test_a_batch_is_at_most_batch_bytes() -> None:
    many = [blob(BATCH_FILE_BYTES, i) for i in range(64)]
    _, groups = batches(many)
    assert all(sum(b.size for b in g) <= _download_plan.BATCH_BYTES for g in groups)
    assert sum(len(g) for g in groups) == 64
