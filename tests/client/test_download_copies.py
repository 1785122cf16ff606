"""Every downloaded file is a copy of its own: never linked to the cache or to another download."""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest

import cairn
from cairn.client import _cache, _download, _download_plan
from cairn.client._cache import BlobCache, copy_file
from cairn.client._transfer import hash_file
from tests import servers
from tests.client.artifacts_support import MIB, file_gets, record, sha256, tree, write
from tests.reliability.client import PASSWORD, admin_key

BIG = os.urandom(_download_plan.BATCH_FILE_BYTES + 12_345)  # fetched alone
SHARED = os.urandom(1000)  # saved under two names: copied from one to the other
SMALL = os.urandom(70_000)
FILES = {"big.bin": BIG, "a.bin": SHARED, "copy/a.bin": SHARED, "small.bin": SMALL}


@pytest.fixture(autouse=True)
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Downloads cache blobs under the test's folder, never in the home folder."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("CAIRN_CACHE_DIR", str(folder))
    return folder


def _log(api: cairn.Api, tmp_path: Path) -> Any:
    art = cairn.Artifact("m", type="model")
    for name, data in FILES.items():
        art.add_file(write(tmp_path / "src" / name, data), name=name)
    return api.log_artifact(art, "admin/copies", progress=False)


@pytest.fixture
def version(api: cairn.Api, tmp_path: Path) -> Any:
    """A logged version holding FILES."""
    return _log(api, tmp_path)


def inodes(*roots: Path) -> list[tuple[int, int]]:
    """The (device, inode) of every file under ``roots`` and of every cache entry."""
    found = [p for root in roots for p in root.rglob("*") if p.is_file()]
    return [(p.stat().st_dev, p.stat().st_ino) for p in found]


def cached(data: bytes) -> Path:
    return BlobCache().path(sha256(data))


def assert_cache_intact() -> None:
    for data in FILES.values():
        assert hash_file(cached(data)) == (sha256(data), len(data))


def test_no_file_shares_an_inode_with_another_or_the_cache(
    version: Any, tmp_path: Path, cache_dir: Path
) -> None:
    fetched = version.download(tmp_path / "dlA", progress=False)
    from_cache = version.download(tmp_path / "dlB", progress=False)
    uncached = version.download(tmp_path / "dlC", cache=False, progress=False)
    assert tree(fetched) == tree(from_cache) == tree(uncached) == FILES
    assert_cache_intact()
    every = inodes(fetched, from_cache, uncached, cache_dir)
    assert len(every) == 3 * len(FILES) + len(set(map(sha256, FILES.values())))
    assert len(set(every)) == len(every), "two files share an inode"
    assert all(p.stat().st_nlink == 1 for p in tmp_path.glob("dl*/**/*") if p.is_file())
    assert (fetched / "a.bin").stat().st_ino != (fetched / "copy/a.bin").stat().st_ino
    assert (fetched / "big.bin").stat().st_ino != cached(BIG).stat().st_ino
    assert (from_cache / "small.bin").stat().st_ino != cached(SMALL).stat().st_ino


def test_editing_a_download_leaves_the_others_and_the_cache_intact(
    version: Any, tmp_path: Path
) -> None:
    first = version.download(tmp_path / "dlA", progress=False)
    second = version.download(tmp_path / "dlB", progress=False)
    with (first / "big.bin").open("r+b") as handle:  # in place, as `dd conv=notrunc` does
        handle.write(b"EDITED")
    with (first / "a.bin").open("r+b") as handle:
        handle.write(b"EDITED")
    os.truncate(first / "small.bin", 1000)
    assert (first / "big.bin").read_bytes()[:6] == b"EDITED"
    assert (first / "copy/a.bin").read_bytes() == SHARED
    assert tree(second) == FILES
    assert_cache_intact()


@pytest.mark.parametrize("damage", ["truncated", "same size, other bytes", "empty"])
def test_a_damaged_cache_entry_is_replaced_by_the_next_download(
    version: Any, tmp_path: Path, app_client: httpx.Client, damage: str
) -> None:
    version.download(tmp_path / "dlA", progress=False)
    entry = cached(BIG)
    if damage == "truncated":
        os.truncate(entry, 1000)
    elif damage == "empty":
        os.truncate(entry, 0)
    else:
        entry.write_bytes(b"x" * len(BIG))
    requests = record(app_client)
    assert tree(version.download(tmp_path / "dlB", progress=False)) == FILES
    assert len(file_gets(requests)) == 1, "only the damaged blob is fetched again"
    assert_cache_intact()
    assert entry.stat().st_ino != (tmp_path / "dlB" / "big.bin").stat().st_ino
    requests.clear()
    assert tree(version.download(tmp_path / "dlC", progress=False)) == FILES
    assert file_gets(requests) == [], "the repaired entry serves the next download"


@pytest.mark.parametrize("change", ["the entry", "the copy"])
def test_a_cache_entry_changed_while_copied_is_not_installed(
    version: Any,
    tmp_path: Path,
    app_client: httpx.Client,
    monkeypatch: pytest.MonkeyPatch,
    cache_dir: Path,
    change: str,
) -> None:
    version.download(tmp_path / "dlA", progress=False)

    def changing(source: Path, target: Path) -> None:  # after the size check
        if source.is_relative_to(cache_dir) and change == "the entry":
            with source.open("r+b") as handle:
                handle.write(b"!")
        copy_file(source, target)
        if source.is_relative_to(cache_dir) and change == "the copy":
            with target.open("r+b") as handle:
                handle.write(b"!")

    monkeypatch.setattr(_cache, "copy_file", changing)
    requests = record(app_client)
    assert tree(version.download(tmp_path / "dlB", progress=False)) == FILES
    assert len(file_gets(requests)) == 2, "every blob fetched again, alone or in a batch"
    assert_cache_intact()


def test_a_file_hard_linked_to_the_cache_is_replaced_by_a_copy(
    version: Any, tmp_path: Path, app_client: httpx.Client
) -> None:
    root = version.download(tmp_path / "dlA", progress=False)
    (root / "big.bin").unlink()
    os.link(cached(BIG), root / "big.bin")  # as earlier versions of Cairn left downloads
    requests = record(app_client)
    version.download(root, progress=False)
    assert file_gets(requests) == []
    assert (root / "big.bin").stat().st_nlink == 1
    assert (root / "big.bin").stat().st_ino != cached(BIG).stat().st_ino
    (root / "big.bin").write_bytes(b"edited")
    assert_cache_intact()


def test_over_tcp_downloads_are_copies_and_repair_the_cache(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path, cache_dir: Path
) -> None:
    """The same against a real ``cairn server``, where large files come off the socket."""
    with (
        servers.running(
            tmp_path_factory.mktemp("server"), {"CAIRN_ADMIN_PASSWORD": PASSWORD}
        ) as server,
        cairn.Api(base_url=server.base, api_key=admin_key(server.base)) as api,
    ):
        version = api.artifact(_log(api, tmp_path).ref)
        first = version.download(tmp_path / "dlA", progress=False)
        second = version.download(tmp_path / "dlB", progress=False)
        third = version.download(tmp_path / "dlC", cache=False, progress=False)
        every = inodes(first, second, third, cache_dir)
        assert len(set(every)) == len(every) == 3 * len(FILES) + len(FILES) - 1
        with (first / "big.bin").open("r+b") as handle:
            handle.write(b"EDITED")
        assert tree(second) == tree(third) == FILES
        assert_cache_intact()
        os.truncate(cached(BIG), 1000)
        assert tree(version.download(tmp_path / "dlD", progress=False)) == FILES
        assert_cache_intact()


# -- copy_file ------------------------------------------------------------------------------


def test_copy_file_makes_an_independent_copy(tmp_path: Path) -> None:
    source = write(tmp_path / "a", os.urandom(3 * MIB + 7))
    copy_file(source, tmp_path / "b")
    assert (tmp_path / "b").read_bytes() == source.read_bytes()
    assert (tmp_path / "b").stat().st_ino != source.stat().st_ino
    (tmp_path / "b").write_bytes(b"edited")
    assert source.stat().st_size == 3 * MIB + 7


def test_copy_file_copies_an_empty_file(tmp_path: Path) -> None:
    copy_file(write(tmp_path / "a", b""), tmp_path / "b")
    assert (tmp_path / "b").read_bytes() == b""


@pytest.mark.parametrize("refusal", [errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP])
def test_copy_file_falls_back_when_the_kernel_refuses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, refusal: int
) -> None:
    def refuse(*_: Any) -> int:
        raise OSError(refusal, os.strerror(refusal))

    monkeypatch.setattr(os, "copy_file_range", refuse, raising=False)
    source = write(tmp_path / "a", os.urandom(MIB + 1))
    copy_file(source, tmp_path / "b")
    assert (tmp_path / "b").read_bytes() == source.read_bytes()


def test_copy_file_falls_back_when_the_kernel_copies_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "copy_file_range", lambda *_: 0, raising=False)
    source = write(tmp_path / "a", os.urandom(MIB + 1))
    copy_file(source, tmp_path / "b")
    assert (tmp_path / "b").read_bytes() == source.read_bytes()


def test_copy_file_without_copy_file_range(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(os, "copy_file_range", raising=False)
    source = write(tmp_path / "a", os.urandom(MIB + 1))
    copy_file(source, tmp_path / "b")
    assert (tmp_path / "b").read_bytes() == source.read_bytes()


def test_copy_file_reports_a_full_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(*_: Any) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "copy_file_range", full, raising=False)
    monkeypatch.setattr(shutil, "copyfile", lambda *_: pytest.fail("fell back"))
    with pytest.raises(OSError, match="No space"):
        copy_file(write(tmp_path / "a", b"bytes"), tmp_path / "b")


def test_a_download_stopped_while_copied_into_the_cache_is_kept_for_the_next_run(
    version: Any, tmp_path: Path, app_client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = BlobCache.add

    def interrupted(cache: BlobCache, digest: str, source: Path) -> None:
        if digest == sha256(BIG):
            raise KeyboardInterrupt
        real(cache, digest, source)

    monkeypatch.setattr(BlobCache, "add", interrupted)
    with pytest.raises(KeyboardInterrupt):
        version.download(tmp_path / "dlA", progress=False)
    assert (tmp_path / "dlA" / _download.PARTIAL_DIR / sha256(BIG)).stat().st_size == len(BIG)
    monkeypatch.undo()
    requests = record(app_client)
    assert tree(version.download(tmp_path / "dlA", progress=False)) == FILES
    assert not any(r.method == "GET" for r in file_gets(requests)), "the big file is not fetched"
