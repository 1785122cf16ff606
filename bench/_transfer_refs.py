"""What this machine does without Cairn: dd, cp, and each must of an upload timed alone."""

from __future__ import annotations

import fcntl
import hashlib
import mmap
import os
import shutil
import socket
import subprocess
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench import _proc
from bench._transfer_data import CHUNK, MIB, Scenario
from bench._transfer_timing import Sample, timed
from cairn import _md5
from cairn.client._transfer import HASH_WORKERS, hash_file
from cairn.server.api.blobs import group_full
from cairn.server.services.blob_md5 import MD5_LATER_FROM

# O_DIRECT writes need lengths in whole blocks of the disk: 4 KiB covers 512 B and 4 KiB ones.
DIRECT_ALIGN = 4096


# -- digests alone ---------------------------------------------------------------------------


def hash_files(paths: Sequence[Path]) -> list[tuple[str, int]]:
    """The SDK's hashing pass alone: ``hash_file`` of every path with its parallelism."""
    with ThreadPoolExecutor(HASH_WORKERS) as pool:
        return list(pool.map(hash_file, paths))


def digest_alone(paths: Sequence[Path], algorithm: str, nbytes: int) -> Sample:
    """The time ``algorithm`` alone takes over the bytes of ``paths``, read into memory first
    (not timed): files on HASH_WORKERS threads, one file's bytes on one thread (a digest
    cannot be split), a MiB per update as the transfers feed it."""
    contents = [path.read_bytes() for path in paths]

    def one(data: bytes) -> str:
        digest = hashlib.new(algorithm, usedforsecurity=algorithm != "md5")
        with memoryview(data) as view:
            for start in range(0, len(view), MIB):
                digest.update(view[start : start + MIB])
        return digest.hexdigest()

    with ThreadPoolExecutor(HASH_WORKERS) as pool:
        return timed(lambda: list(pool.map(one, contents)), nbytes)


def md5_alone(paths: Sequence[Path], nbytes: int) -> Sample:
    """md5 alone as the server takes it (``digest_alone`` otherwise): the files of a blob
    stream's group (uploads.store_all; ``group_full`` says where one ends) side by side with
    ``cairn._md5.update_many``, groups on HASH_WORKERS threads; a larger file on its own."""
    contents = [path.read_bytes() for path in paths]
    groups: list[list[bytes]] = [[]]
    for data in contents:
        groups[-1].append(data)
        if group_full(len(groups[-1]), sum(map(len, groups[-1]))):
            groups.append([])
    groups = [group for group in groups if group]
    if len(groups) == len(contents):  # no file shares a group: as digest_alone
        return digest_alone(paths, "md5", nbytes)

    def group(files: list[bytes]) -> list[str]:
        states = [_md5.new() for _ in files]
        _md5.update_many([(md5, [data]) for md5, data in zip(states, files, strict=True)])
        return [md5.hexdigest() for md5 in states]

    with ThreadPoolExecutor(HASH_WORKERS) as pool:
        return timed(lambda: list(pool.map(group, groups)), nbytes)


# -- the least an upload must do -------------------------------------------------------------
# Besides its three digests, an upload through the server must bring the source bytes into
# the client's memory, move them over TCP into the server's, and write them durably. Each is
# timed alone below, done the cheapest way a program can do it, and counted in CPU time.


def read_alone(paths: Sequence[Path], nbytes: int) -> Sample:
    """Bringing every source byte into memory as cheaply as a program can: each file mapped
    and every page touched once (the disk's DMA and a page fault; no copy into a buffer)."""

    def touch_all() -> None:
        for path in paths:
            with path.open("rb") as handle:
                if os.fstat(handle.fileno()).st_size == 0:
                    continue
                with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
                    mapped.madvise(mmap.MADV_SEQUENTIAL)
                    for offset in range(0, len(mapped), mmap.PAGESIZE):
                        mapped[offset]

    return timed(touch_all, nbytes)


def loopback_alone(nbytes: int) -> Sample:
    """``nbytes`` over one TCP connection on 127.0.0.1, sent from one reused buffer and
    received into another (no HTTP, no files): the CPU time of both ends."""
    with socket.create_server((_proc.HOST, 0)) as listener:
        sender = socket.create_connection(listener.getsockname()[:2])
        receiver, _ = listener.accept()

    def receive() -> None:
        buffer, left = bytearray(MIB), nbytes
        while left:
            got = receiver.recv_into(buffer, min(MIB, left))
            if not got:
                raise RuntimeError("loopback connection closed early")
            left -= got

    def send_all() -> None:
        thread = threading.Thread(target=receive)
        thread.start()
        with memoryview(bytearray(MIB)) as block:
            left = nbytes
            while left:
                sender.sendall(block[: min(MIB, left)])
                left -= min(MIB, left)
        thread.join()

    with sender, receiver:
        return timed(send_all, nbytes)


def durable_write_alone(sizes: Sequence[int], target: Path) -> Sample:
    """Files of these sizes written durably as cheaply as a program can: from one page-aligned
    buffer with O_DIRECT (no copy into the page cache; buffered where the file system refuses
    it), then fsync, one new file each."""
    target.mkdir()
    block = mmap.mmap(-1, CHUNK)  # anonymous maps are page-aligned, as O_DIRECT needs
    direct = getattr(os, "O_DIRECT", 0)

    def write_all() -> None:
        nonlocal direct
        for i, size in enumerate(sizes):
            path = target / f"w{i}"
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | direct)
            except OSError:
                direct = 0  # e.g. tmpfs: no direct I/O
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
            try:
                with memoryview(block) as view:
                    left = size
                    while left:
                        piece = min(CHUNK, left)
                        if direct and piece % DIRECT_ALIGN:  # the tail: through the cache
                            flags = fcntl.fcntl(fd, fcntl.F_GETFL)
                            fcntl.fcntl(fd, fcntl.F_SETFL, flags & ~direct)
                        left -= os.write(fd, view[:piece])
                os.fsync(fd)
            finally:
                os.close(fd)

    try:
        return timed(write_all, sum(sizes))
    finally:
        block.close()
        shutil.rmtree(target, ignore_errors=True)


# What an upload must do: (sample, times it must be done, what it is). The first two are
# its digests: the SDK's sha256 (the end-to-end check) and the server's sha256 (verify) and
# md5 (DESIGN §5), the md5 only where it is taken on the way in (upload_musts()).
UPLOAD_MUSTS = (
    ("sha256_alone", 2, "sha256 (SDK, then server)"),
    ("md5_alone", 1, "md5 (server, DESIGN §5)"),
    ("read_alone", 1, "read the source, mapped"),
    ("loopback_alone", 1, "move over TCP on 127.0.0.1"),
    ("write_alone", 1, "durable write, O_DIRECT + fsync"),
)


def md5_later(file_size: int) -> bool:
    """Whether the server takes the md5 of files of this size after answering the upload
    (services/blob_md5.py: large files on local disk, as the benchmark's server keeps them)."""
    return file_size >= MD5_LATER_FROM


def upload_musts(file_size: int, *, digests_only: bool = False) -> list[tuple[str, int, str]]:
    """UPLOAD_MUSTS for files of this size: without the md5 where it is taken later."""
    musts = UPLOAD_MUSTS[:2] if digests_only else UPLOAD_MUSTS
    return [m for m in musts if not (m[0] == "md5_alone" and md5_later(file_size))]


def on_all_cores(parts: dict[str, Sample], musts: Sequence[tuple[str, int, str]]) -> Sample:
    """The fastest an upload of these bytes could be on this machine's cores with nothing to
    do but ``musts``, at the CPU time each took alone, spread perfectly over every core
    (client and server share them): a bound, not an estimate."""
    cpu = sum(parts[name].client_cpu_s * times for name, times, _ in musts)
    nbytes = parts[musts[0][0]].nbytes
    return Sample(cpu / (os.cpu_count() or 1), nbytes, client_cpu_s=cpu)


# -- reference copies ----------------------------------------------------------------------


def dd_copy(sources: Sequence[Path], target: Path) -> None:
    """`dd if=src of=dst bs=4M conv=fsync` for every source (one process per file)."""
    target.mkdir()
    for src in sources:
        subprocess.run(
            ["dd", f"if={src}", f"of={target / src.name}", "bs=4M", "conv=fsync", "status=none"],
            check=True,
        )


def dd_in_process(sources: Sequence[Path], target: Path) -> None:
    """What dd bs=4M conv=fsync does, per file, without starting a process per file."""
    target.mkdir()
    for src in sources:
        with src.open("rb", buffering=0) as inp, (target / src.name).open("xb", 0) as out:
            while block := inp.read(CHUNK):
                out.write(block)
            os.fsync(out.fileno())


def cp_copy(scenario: Scenario, target: Path) -> None:
    """A plain `cp` of the file, or `cp -r` of the folder of files."""
    if len(scenario.files) == 1:
        target.mkdir()
        subprocess.run(["cp", str(scenario.files[0]), str(target)], check=True)
    else:
        subprocess.run(["cp", "-r", str(scenario.root), str(target)], check=True)
