"""Transfer speed through a real `cairn server` vs dd and cp; server peak RSS; re-push bytes."""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import mmap
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

import cairn
from bench import _proc
from cairn import _md5
from cairn.client._transfer import HASH_WORKERS, hash_file
from cairn.server.api.blobs import group_full
from cairn.server.services.blob_md5 import MD5_LATER_FROM

MB = 1_000_000
MIB = 1 << 20
GIB = 1 << 30
CHUNK = 4 * MIB
# O_DIRECT writes need lengths in whole blocks of the disk: 4 KiB covers 512 B and 4 KiB ones.
DIRECT_ALIGN = 4096
RAW_WORKERS = 8  # the SDK's TRANSFER_WORKERS: raw runs use the same parallelism
PROJECT = "admin/bench"
TARGET_UPLOAD = 0.8
TARGET_DOWNLOAD = 0.5
TARGET_REPUSH_BYTES = MIB
T = TypeVar("T")


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


# -- page cache ------------------------------------------------------------------------------


def drop_caches() -> bool:
    """`sync; echo 3 > /proc/sys/vm/drop_caches`; whether the kernel accepted it."""
    os.sync()
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    except OSError:
        return False
    return True


def touch_memory(nbytes: int) -> None:
    """Fault in ``nbytes`` of anonymous memory, then free it.

    On a VM whose balloon reports free pages to the host, a page the guest has not touched
    for a while costs a fault in the host (~13 us per 4 KiB) the next time it is used, charged
    as CPU time to whichever step takes it. Dropping the page cache hands the next step
    such pages, in amounts that vary from step to step; touching memory first gives every
    step, references included, memory the host has just provided.
    """
    available = (_proc.meminfo_kib("MemAvailable") or 0) * 1024
    nbytes = min(nbytes, available // 2)  # never push the machine into swapping
    if nbytes <= 0:
        return
    populate = getattr(mmap, "MAP_POPULATE", 0)
    region = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | populate)
    if not populate:
        for offset in range(0, nbytes, mmap.PAGESIZE):
            region[offset] = 1
    region.close()


@dataclass
class Cold:
    """Drops the page cache before every timed transfer, when allowed, then touches
    ``touch_bytes`` of memory (``touch_memory``); the same for all."""

    enabled: bool
    touch_bytes: int = 0
    worked: bool | None = None

    def __call__(self) -> None:
        if not self.enabled:
            os.sync()
        else:
            ok = drop_caches()
            self.worked = ok if self.worked is None else (self.worked and ok)
        touch_memory(self.touch_bytes)


# -- data ------------------------------------------------------------------------------------


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


# -- timing ----------------------------------------------------------------------------------


@dataclass
class Sample:
    """One timed transfer: wall seconds, bytes, CPU of the server and of this process."""

    seconds: float
    nbytes: int
    server_cpu_s: float = 0.0
    client_cpu_s: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def mb_s(self) -> float:
        return self.nbytes / MB / self.seconds

    def as_dict(self) -> dict[str, Any]:
        return {
            "seconds": round(self.seconds, 3),
            "bytes": self.nbytes,
            "mb_s": round(self.mb_s, 1),
            "server_cpu_s": round(self.server_cpu_s, 2),
            "client_cpu_s": round(self.client_cpu_s, 2),
            **self.extra,
        }


def timed(
    action: Callable[[], object], nbytes: int, server: _proc.CairnServer | None = None
) -> Sample:
    """Run `action` once; its wall time and the CPU it cost on both sides."""
    pids = server.pids() if server else []
    server_before = _proc.cpu_seconds(pids)
    client_before = time.process_time()
    start = time.perf_counter()
    action()
    seconds = time.perf_counter() - start
    return Sample(
        seconds,
        nbytes,
        server_cpu_s=_proc.cpu_seconds(pids) - server_before,
        client_cpu_s=time.process_time() - client_before,
    )


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


# -- raw httpx -------------------------------------------------------------------------------


def _file_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb", buffering=0) as handle:
        while chunk := handle.read(MIB):
            yield chunk


def raw_put(client: httpx.Client, blobs: Sequence[tuple[Path, str, int]]) -> None:
    """PUT /blobs/{sha256} for every file, streamed from disk, on RAW_WORKERS connections."""

    def one(blob: tuple[Path, str, int]) -> None:
        path, sha, size = blob
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        response = client.put(f"/blobs/{sha}", content=_file_chunks(path), headers=headers)
        _proc.expect(response, 201)

    _run_all(one, blobs)


def raw_get(client: httpx.Client, urls: Sequence[tuple[str, Path]]) -> None:
    """GET every file URL and stream it to its target file (no hashing)."""

    def one(item: tuple[str, Path]) -> None:
        url, target = item
        with client.stream("GET", url) as response, target.open("wb", buffering=0) as out:
            _proc.expect(response, 200)
            for chunk in response.iter_raw(MIB):
                out.write(chunk)

    _run_all(one, urls)


def _run_all(task: Callable[[T], None], items: Sequence[T]) -> None:
    if len(items) == 1:
        task(items[0])
        return
    with ThreadPoolExecutor(RAW_WORKERS) as pool:
        for _ in pool.map(task, items):
            pass


# -- re-push: bytes on the wire ------------------------------------------------------------


class _CountingStream(httpx.SyncByteStream):
    def __init__(self, inner: Any, add: Callable[[int], None]) -> None:
        self.inner = inner
        self.add = add

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.inner:
            self.add(len(chunk))
            yield chunk

    def close(self) -> None:
        close = getattr(self.inner, "close", None)
        if close is not None:
            close()


class CountingTransport(httpx.BaseTransport):
    """Counts HTTP/1.1 bytes as sent and received: request/status lines, headers and bodies."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.sent = 0
        self.received = 0
        self.requests: list[str] = []

    def _add_sent(self, n: int) -> None:
        self.sent += n

    def _add_received(self, n: int) -> None:
        self.received += n

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        target = request.url.raw_path.decode()
        head = f"{request.method} {target} HTTP/1.1\r\n".encode()
        head += b"".join(k + b": " + v + b"\r\n" for k, v in request.headers.raw) + b"\r\n"
        self.sent += len(head)
        self.requests.append(f"{request.method} {request.url.path}")
        request.stream = _CountingStream(request.stream, self._add_sent)
        response = self.inner.handle_request(request)
        status = f"HTTP/1.1 {response.status_code} {response.reason_phrase}\r\n".encode()
        status += b"".join(k + b": " + v + b"\r\n" for k, v in response.headers.raw) + b"\r\n"
        self.received += len(status)
        response.stream = _CountingStream(response.stream, self._add_received)
        return response

    def close(self) -> None:
        self.inner.close()


# -- one repetition --------------------------------------------------------------------------


def md5_recorded_after(api: cairn.Api, ref: str, limit_s: float = 120.0) -> float:
    """Seconds from now until every file of the version ``ref`` has its md5 (the server
    takes those of large files after the upload's answer: services/blob_md5.py); polled
    every 20 ms. The next steps then start on a server with nothing left to do."""
    start = time.perf_counter()
    while any(entry.md5 is None for entry in api.artifact(ref).files):
        if time.perf_counter() - start > limit_s:
            raise RuntimeError(f"{ref}: md5s not recorded after {limit_s:.0f} s")
        time.sleep(0.02)
    return time.perf_counter() - start


def artifact_of(scenario: Scenario, name: str) -> cairn.Artifact:
    art = cairn.Artifact(name, type="model")
    if len(scenario.files) == 1:
        art.add_file(scenario.files[0])
    else:
        art.add_dir(scenario.root)
    return art


def timed_push(
    api: cairn.Api, scenario: Scenario, name: str, server: _proc.CairnServer
) -> tuple[Sample, cairn.Version]:
    """The SDK's ``log_artifact`` of the scenario's files as ``name``, timed; the version."""
    versions: list[cairn.Version] = []
    sample = timed(
        lambda: versions.append(
            api.log_artifact(artifact_of(scenario, name), PROJECT, progress=False)
        ),
        scenario.total,
        server,
    )
    return sample, versions[0]


def _check_download(target: Path, scenario: Scenario) -> None:
    found = [p for p in target.rglob("*") if p.is_file()]
    if len(found) != len(scenario.files) or any(p.stat().st_size != scenario.size for p in found):
        raise RuntimeError(f"download into {target} is incomplete: {len(found)} files")


def one_repetition(
    scenario: Scenario, rep: int, work: Path, cold: Cold, only: str = "all"
) -> dict[str, Any]:
    """Reference copies, then SDK and raw transfers through a fresh server; its peak RSS.

    `only` is "all", "upload" (dd, hash, uploads, re-push) or "download" (cp, downloads).
    """
    out: dict[str, Any] = {}
    scratch = work / f"scratch-{scenario.key}-{rep}"
    scratch.mkdir()
    try:
        stamp(scenario.files, f"dd-{scenario.key}-{rep}")
        if only == "download":
            pass
        elif len(scenario.files) == 1:
            cold()
            out["dd"] = timed(lambda: dd_copy(scenario.files, scratch / "dd"), scenario.total)
        else:
            cold()
            out["dd"] = timed(lambda: dd_in_process(scenario.files, scratch / "dd"), scenario.total)
            cold()
            out["dd_processes"] = timed(
                lambda: dd_copy(scenario.files, scratch / "dd-proc"), scenario.total
            )
        if only != "upload":
            cold()
            out["cp"] = timed(lambda: cp_copy(scenario, scratch / "cp"), scenario.total)
        for name in ("dd", "dd-proc", "cp"):
            shutil.rmtree(scratch / name, ignore_errors=True)

        with _proc.cairn_server(scratch / "server") as server:
            out.update(_through_server(scenario, rep, scratch, server, cold, only))
            out["memory"] = server.memory()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return out


def _through_server(
    scenario: Scenario,
    rep: int,
    scratch: Path,
    server: _proc.CairnServer,
    cold: Cold,
    only: str,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    key = _proc.admin_key(server.base_url)
    name = f"{scenario.key.replace('_', '-')}-{rep}"
    with cairn.Api(base_url=server.base_url, api_key=key, organization="default") as api:
        # SDK upload: hash, ask what is missing, send it, commit the version
        stamp(scenario.files, f"sdk-{scenario.key}-{rep}")
        if only != "download":
            cold()
            out["sdk_hash"] = timed(lambda: hash_files(scenario.files), scenario.total)
            cold()
        out["sha256_alone"] = digest_alone(scenario.files, "sha256", scenario.total)
        if only != "download":
            out["md5_alone"] = md5_alone(scenario.files, scenario.total)
            out["upload_digests"] = on_all_cores(
                out, upload_musts(scenario.size, digests_only=True)
            )
            cold()
            out["read_alone"] = read_alone(scenario.files, scenario.total)
            cold()
            out["loopback_alone"] = loopback_alone(scenario.total)
            cold()
            out["write_alone"] = durable_write_alone(
                [scenario.size] * len(scenario.files), scratch / "floor-write"
            )
            out["upload_floor"] = on_all_cores(out, upload_musts(scenario.size))
        cold()
        out["sdk_upload"], version = timed_push(api, scenario, name, server)
        if only == "download":
            del out["sdk_upload"]  # logged only to have something to download
        else:
            out["md5_after_s"] = md5_recorded_after(api, version.ref)

        # re-push of identical content: every byte the SDK sends and receives
        counter = CountingTransport()
        with (
            httpx.Client(transport=counter, timeout=600, trust_env=False) as client,
            cairn.Api(
                base_url=server.base_url, api_key=key, organization="default", client=client
            ) as counted,
        ):
            repush, again = timed_push(counted, scenario, name, server)
        repush.extra = {
            "bytes_sent": counter.sent,
            "bytes_received": counter.received,
            "wire_bytes": counter.sent + counter.received,
            "requests": counter.requests,
            "same_version": again.ref == version.ref,
            "ref": again.ref,
        }
        if only != "download":
            out["repush"] = repush

        # SDK download: resolve, then verified parallel download, no cache
        target = scratch / "sdk-download"
        if only != "upload":
            cold()
            out["sdk_download"] = timed(
                lambda: api.artifact(version.ref).download(target, cache=False, progress=False),
                scenario.total,
                server,
            )
            _check_download(target, scenario)
            shutil.rmtree(target)

        # SDK upload of the next checkpoint: new content of the sizes just sent (retrained
        # weights keep their size), told apart by its ends (cairn._ends)
        if only != "download":
            stamp(scenario.files, f"sdk-next-{scenario.key}-{rep}")
            cold()
            out["sdk_upload_next"], following = timed_push(api, scenario, name, server)
            md5_recorded_after(api, following.ref)  # the raw upload starts on an idle server

    with _proc.api_client(server.base_url, key, timeout=600) as client:
        # raw PUT of new content (the server has not seen it), digests computed beforehand
        stamp(scenario.files, f"raw-{scenario.key}-{rep}")
        blobs = [(p, sha256_of(p), scenario.size) for p in scenario.files]
        if only != "download":
            cold()
            out["raw_upload"] = timed(lambda: raw_put(client, blobs), scenario.total, server)
        if only == "upload":
            return out

        # raw GET of the version the SDK logged, streamed to files
        target = scratch / "raw-download"
        target.mkdir()
        files = _proc.expect(
            client.get(f"/projects/{PROJECT}/artifacts/{name}/versions/{version.version}"),
            200,
        ).json()["files"]
        base = f"/projects/{PROJECT}/artifacts/{name}/versions/{version.version}/files/"
        urls = [(base + f["sha256"], target / f"f{i}") for i, f in enumerate(files)]
        cold()
        out["raw_download"] = timed(lambda: raw_get(client, urls), scenario.total, server)
        _check_download(target, scenario)
        shutil.rmtree(target)
    return out


# -- report ----------------------------------------------------------------------------------

KINDS = (
    ("dd", "dd bs=4M conv=fsync (durable write)"),
    ("dd_processes", "dd per file, one process each"),
    ("cp", "cp (read + page-cache write)"),
    ("sdk_hash", "SDK hashing pass alone (read + sha256)"),
    ("sha256_alone", "sha256 alone, bytes in memory (as parallel)"),
    ("md5_alone", "md5 alone, in memory (as the server: groups side by side)"),
    ("upload_digests", "2 sha256 (+ md5 if inline), CPU on all cores"),
    ("read_alone", "source read, mapped (no copy)"),
    ("loopback_alone", "bytes over TCP on 127.0.0.1 (no HTTP)"),
    ("write_alone", "O_DIRECT write + fsync per file"),
    ("upload_floor", "all of an upload's musts, CPU on all cores"),
    ("sdk_upload", "SDK log_artifact (hash+missing+PUT+commit)"),
    ("sdk_upload_next", "SDK log_artifact, same sizes, new bytes"),
    ("raw_upload", f"raw httpx PUT ({RAW_WORKERS} threads when many files)"),
    ("sdk_download", "SDK artifact().download(cache=False)"),
    ("raw_download", f"raw httpx GET ({RAW_WORKERS} threads when many files)"),
)


RATIOS = (
    ("sdk_upload", "dd"),
    ("sdk_upload_next", "dd"),
    ("raw_upload", "dd"),
    ("sdk_download", "cp"),
    ("raw_download", "cp"),
    ("md5_alone", "dd"),
    ("upload_digests", "dd"),
    ("upload_floor", "dd"),
    ("sha256_alone", "cp"),
)
# The fastest each transfer could possibly be, whatever else it costs: an upload of files the
# server takes the md5 of on the way in (those under MD5_LATER_FROM) cannot end before it
# has computed the md5 of every byte (DESIGN §5), a download before the SDK has checked the
# sha256 of every byte. Where that digest alone, over bytes already in
# memory and with every core, is below the target, no implementation of these rules meets
# it on this machine. Client and server share the machine's cores, so an upload also cannot
# end before the CPU time of its digests (SDK sha256, server sha256, and md5 where inline) has been
# spent on them, nor before that of everything it must do (upload_floor: the digests, the
# read, the move over TCP, the durable write, each done the cheapest way: UPLOAD_MUSTS).
CEILINGS = (
    ("md5_alone_over_dd", "upload <= md5 alone / dd", TARGET_UPLOAD),
    ("upload_digests_over_dd", "upload <= its digests' CPU on all cores / dd", TARGET_UPLOAD),
    ("upload_floor_over_dd", "upload <= all its musts' CPU on all cores / dd", TARGET_UPLOAD),
    ("sha256_alone_over_cp", "download <= sha256 alone / cp", TARGET_DOWNLOAD),
)
TARGETS = (
    ("sdk_upload_over_dd", "SDK upload / dd", TARGET_UPLOAD),
    ("sdk_upload_next_over_dd", "SDK upload, same sizes / dd", TARGET_UPLOAD),
    ("raw_upload_over_dd", "raw upload / dd", TARGET_UPLOAD),
    ("sdk_download_over_cp", "SDK download / cp", TARGET_DOWNLOAD),
    ("raw_download_over_cp", "raw download / cp", TARGET_DOWNLOAD),
)


def summarize(scenario: Scenario, reps: list[dict[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {"label": scenario.label, "files": len(scenario.files)}
    result["bytes"] = scenario.total
    medians: dict[str, float] = {}
    for kind, label in KINDS:
        samples: list[Sample] = [r[kind] for r in reps if kind in r]
        if not samples:
            continue
        medians[kind] = _proc.median([s.mb_s for s in samples])
        result[kind] = {
            "what": label,
            "median_mb_s": round(medians[kind], 1),
            "median_seconds": round(_proc.median([s.seconds for s in samples]), 3),
            "median_cpu_s": round(_proc.median([s.client_cpu_s for s in samples]), 3),
            "runs": [s.as_dict() for s in samples],
        }
    result["ratios"] = {
        f"{kind}_over_{ref}": round(medians[kind] / medians[ref], 3)
        for kind, ref in RATIOS
        if kind in medians and ref in medians
    }
    repush: list[Sample] = [r["repush"] for r in reps if "repush" in r]
    if repush:
        result["repush"] = {
            "median_wire_bytes": int(_proc.median([s.extra["wire_bytes"] for s in repush])),
            "median_seconds": round(_proc.median([s.seconds for s in repush]), 3),
            "runs": [s.as_dict() for s in repush],
        }
    delays = [r["md5_after_s"] for r in reps if "md5_after_s" in r]
    if delays:
        result["md5_after_push"] = {
            "median_seconds": round(_proc.median(delays), 3),
            "runs": [round(d, 3) for d in delays],
        }
    if md5_later(scenario.size):  # the md5 then bounds nothing: it is taken afterwards
        result["ratios"].pop("md5_alone_over_dd", None)
    result["md5_later"] = md5_later(scenario.size)
    memories: list[_proc.Memory] = [r["memory"] for r in reps]
    result["server_memory"] = {
        "peak_hwm_mib": max(m.hwm_mib for m in memories),
        "median_hwm_mib": _proc.median([m.hwm_mib for m in memories]),
        "runs": [m.as_dict() for m in memories],
    }
    return result


def _verdict(ok: bool) -> str:
    return "OK" if ok else "MISSED"


def _ratio_rows(
    scenarios: dict[str, dict[str, Any]],
    title: str,
    rows: Sequence[tuple[str, str, float]],
    words: tuple[str, str],
) -> None:
    """A table of ratios, each marked with ``words[0]`` where it meets its target."""
    keys = list(scenarios)
    print(f"{title:46}" + "".join(f"{scenarios[k]['label']:>34}" for k in keys))
    for key, label, target in rows:
        cells = []
        for k in keys:
            value = scenarios[k]["ratios"].get(key)
            if value is None:
                cells.append(f"{'-':>34}")
                continue
            cells.append(f"{value:.2f} {words[0] if value >= target else words[1]}".rjust(34))
        print(f"{f'{label} (>= {target})':46}" + "".join(cells))


def _floor_rows(scenarios: dict[str, dict[str, Any]]) -> None:
    """The CPU seconds of each thing an upload must do, timed alone (medians)."""
    keys = [k for k in scenarios if "upload_floor" in scenarios[k]]
    if not keys:
        return
    print()
    print(
        f"{'An upload must, CPU seconds (median)':46}"
        + "".join(f"{scenarios[k]['label']:>34}" for k in keys)
    )
    for kind, times, label in UPLOAD_MUSTS:
        cells = "".join(
            f"{scenarios[k][kind]['median_cpu_s'] * times:>34.2f}"
            if kind != "md5_alone" or not scenarios[k]["md5_later"]
            else f"{scenarios[k][kind]['median_cpu_s']:.2f} after the upload".rjust(34)
            for k in keys
        )
        print(f"{label:46}{cells}")
    cores = os.cpu_count() or 1
    print(
        f"{f'all of them / {cores} cores: the least wall time':46}"
        + "".join(f"{scenarios[k]['upload_floor']['median_seconds']:>32.2f} s" for k in keys)
    )


def print_report(summary: dict[str, Any]) -> None:
    scenarios: dict[str, dict[str, Any]] = summary["scenarios"]
    keys = list(scenarios)
    print()
    print("Throughput, MB/s (10^6 bytes/s), median of", summary["repeats"], "runs [all runs]")
    head = f"{'':46}" + "".join(f"{scenarios[k]['label']:>34}" for k in keys)
    print(head)
    for kind, label in KINDS:
        cells = []
        for k in keys:
            entry = scenarios[k].get(kind)
            if entry is None:
                cells.append(f"{'-':>34}")
                continue
            runs = ", ".join(f"{r['mb_s']:.0f}" for r in entry["runs"])
            cells.append(f"{entry['median_mb_s']:>14.1f} [{runs}]".rjust(34))
        print(f"{label:46}" + "".join(cells))
    print()
    _ratio_rows(scenarios, "Ratio (target)", TARGETS, ("OK", "MISSED"))
    print()
    _ratio_rows(
        scenarios,
        "Ceiling from what the work costs (target)",
        CEILINGS,
        ("not ruled out", "RULED OUT"),
    )
    _floor_rows(scenarios)
    print()
    print(f"{'Server (1 worker)':46}" + "".join(f"{scenarios[k]['label']:>34}" for k in keys))
    print(
        f"{'peak RSS, VmHWM of server tree, MiB (max)':46}"
        + "".join(f"{scenarios[k]['server_memory']['peak_hwm_mib']:>34.1f}" for k in keys)
    )
    if all("md5_after_push" in scenarios[k] for k in keys):
        print(
            f"{'md5 recorded after the push ended, s (median)':46}"
            + "".join(f"{scenarios[k]['md5_after_push']['median_seconds']:>34.2f}" for k in keys)
        )
    if all("repush" in scenarios[k] for k in keys):
        print(
            f"{'re-push identical content: wire bytes':46}"
            + "".join(
                f"{scenarios[k]['repush']['median_wire_bytes']:>26,} "
                f"{_verdict(scenarios[k]['repush']['median_wire_bytes'] < TARGET_REPUSH_BYTES):>7}"
                for k in keys
            )
        )
        print(
            f"{'re-push identical content: seconds':46}"
            + "".join(f"{scenarios[k]['repush']['median_seconds']:>34.2f}" for k in keys)
        )
    big = scenarios[keys[0]]["server_memory"]["peak_hwm_mib"]
    many = scenarios[keys[-1]]["server_memory"]["peak_hwm_mib"]
    print(
        f"\npeak RSS {keys[0]} / {keys[-1]}: {big / many:.2f} "
        f"(must not grow with file size: {_verdict(big <= many * 1.15)})"
    )
    print(
        f"page cache dropped before every timed transfer: {summary['drop_caches']}, then "
        f"{summary['touched_before_each_step_gib']} GiB of memory touched; "
        f"load average start {summary['load_start']} end {summary['load_end']}"
    )


SHORT_NAMES = (
    ("dd", "dd"),
    ("cp", "cp"),
    ("sdk_upload", "SDK up"),
    ("sdk_upload_next", "SDK up next"),
    ("raw_upload", "raw up"),
    ("sdk_download", "SDK down"),
    ("raw_download", "raw down"),
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-gib", type=float, default=1.0, help="size of the one big file")
    parser.add_argument("--files", type=int, default=1000, help="number of small files")
    parser.add_argument("--file-mib", type=float, default=1.0, help="size of each small file")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=Path("/work"), help="temp data here")
    parser.add_argument("--no-drop-caches", action="store_true", help="keep the page cache")
    parser.add_argument(
        "--touch-gib",
        type=float,
        default=4.0,
        help="memory touched (faulted in, then freed) before every timed transfer, at most "
        "half of MemAvailable; 0: none",
    )
    parser.add_argument(
        "--only",
        choices=("all", "upload", "download"),
        default="all",
        help="time only uploads (dd, hashing, uploads, re-push) or only downloads (cp, downloads)",
    )
    parser.add_argument(
        "--scenario",
        choices=("both", "one_big_file", "many_files"),
        default="both",
        help="run one scenario only",
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="JSON (bench/results/transfers.json)"
    )
    args = parser.parse_args(argv)
    _proc.install_sigterm()

    data_bytes = int(args.size_gib * GIB) + int(args.files * args.file_mib * MIB)
    need = 2 * data_bytes + 2 * max(int(args.size_gib * GIB), int(args.files * args.file_mib * MIB))
    free = shutil.disk_usage(args.workdir).free
    if free < need * 1.2:
        print(f"need ~{need / GIB:.1f} GiB free under {args.workdir}, have {free / GIB:.1f}")
        return 2
    started = time.monotonic()
    load_start = _proc.loadavg()
    cold = Cold(enabled=not args.no_drop_caches, touch_bytes=int(args.touch_gib * GIB))
    work = Path(tempfile.mkdtemp(prefix="cairn-bench-transfers-", dir=args.workdir))
    print(f"work dir {work} ({free / GIB:.0f} GiB free, ~{need / GIB:.1f} GiB needed)")
    try:
        scenarios = make_scenarios(work, args.size_gib, args.files, args.file_mib)
        print(f"generated {data_bytes / GIB:.2f} GiB of random data")
        results: dict[str, Any] = {}
        for scenario in scenarios:
            if args.scenario not in ("both", scenario.key):
                continue
            reps = []
            for rep in range(args.repeats):
                t0 = time.monotonic()
                reps.append(one_repetition(scenario, rep, work, cold, args.only))
                r = reps[-1]
                took = time.monotonic() - t0
                rates = ", ".join(
                    f"{short} {r[kind].mb_s:.0f}" for kind, short in SHORT_NAMES if kind in r
                )
                repushed = ""
                if "repush" in r:
                    repushed = f" re-push {r['repush'].extra['wire_bytes']:,} B;"
                print(
                    f"{scenario.label}, run {rep + 1}/{args.repeats} ({took:.0f} s): {rates} MB/s;"
                    f"{repushed} server peak RSS {r['memory'].hwm_mib:.0f} MiB",
                    flush=True,
                )
            results[scenario.key] = summarize(scenario, reps)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    summary: dict[str, Any] = {
        "benchmark": "transfers",
        "machine": _proc.machine(),
        "disk": {"workdir": str(args.workdir), "free_gib_at_start": round(free / GIB, 1)},
        "repeats": args.repeats,
        "only": args.only,
        "drop_caches": cold.worked if cold.enabled else "disabled (--no-drop-caches)",
        "touched_before_each_step_gib": args.touch_gib,
        "server": "cairn server --workers 1, SQLite + local blob store, data dir on the workdir",
        "targets": {
            "upload_over_dd": TARGET_UPLOAD,
            "download_over_cp": TARGET_DOWNLOAD,
            "repush_wire_bytes_below": TARGET_REPUSH_BYTES,
        },
        "scenarios": results,
        "load_start": load_start,
        "load_end": _proc.loadavg(),
        "wall_seconds": round(time.monotonic() - started, 1),
    }
    print_report(summary)
    path = _proc.write_json("transfers", summary, args.out)
    print(f"\nwrote {path} in {summary['wall_seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
