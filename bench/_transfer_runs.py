"""One repetition of a scenario: reference copies, then SDK and raw transfers through a server."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import httpx

import cairn
from bench import _proc
from bench._transfer_cold import Cold
from bench._transfer_data import MIB, Scenario, sha256_of, stamp
from bench._transfer_refs import (
    cp_copy,
    dd_copy,
    dd_in_process,
    digest_alone,
    durable_write_alone,
    hash_files,
    loopback_alone,
    md5_alone,
    on_all_cores,
    read_alone,
    upload_musts,
)
from bench._transfer_timing import Sample, timed
from cairn._prefetch import Prefetcher
from cairn.client._transfer import READ_AHEAD_FROM

RAW_WORKERS = 8  # the SDK's TRANSFER_WORKERS: raw runs use the same parallelism
PROJECT = "admin/bench"
T = TypeVar("T")


# -- raw httpx -------------------------------------------------------------------------------


def _file_chunks(path: Path, size: int) -> Iterator[bytes]:
    """The file's bytes a MiB at a time; for a file the SDK would ask the disk ahead of its
    reads (READ_AHEAD_FROM bytes or more), asked ahead the same way."""
    with path.open("rb", buffering=0) as handle:
        prefetch = Prefetcher(handle.fileno(), size) if size >= READ_AHEAD_FROM else None
        position = 0
        while True:
            if prefetch is not None:
                prefetch.ahead_of(position)
            chunk = handle.read(MIB)
            if not chunk:
                return
            position += len(chunk)
            yield chunk


def raw_put(client: httpx.Client, blobs: Sequence[tuple[Path, str, int]]) -> None:
    """PUT /blobs/{sha256} for every file, streamed from disk, on RAW_WORKERS connections."""

    def one(blob: tuple[Path, str, int]) -> None:
        path, sha, size = blob
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        response = client.put(f"/blobs/{sha}", content=_file_chunks(path, size), headers=headers)
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
