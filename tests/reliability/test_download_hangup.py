"""Clients hanging up in the middle of large downloads leave no blob open on a real server."""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx

from tests import servers
from tests.reliability.client import PASSWORD, Blob, log, login, upload

# more than loopback socket buffers absorb (tcp_rmem up to 32 MiB), so the server is mid-file
LARGE_SIZE = 64 << 20
HANGUPS = 12


def _tree(pid: int) -> list[int]:
    """``pid`` and every process below it."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo += children.get(current, [])
    return found


def _open_blobs(pid: int, sha256: str) -> list[str]:
    """Open files of the server's processes named after the blob ``sha256``."""
    held = []
    for process in _tree(pid):
        try:
            fds = list(Path(f"/proc/{process}/fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.endswith(sha256):
                held.append(target)
    return held


def _hang_up(client: httpx.Client, url: str) -> None:
    """Read the first chunk of ``url`` on a new connection, then close it."""
    with (
        httpx.Client(base_url=client.base_url, headers=client.headers) as quitter,
        quitter.stream("GET", url) as response,
    ):
        assert response.status_code == 200
        next(response.iter_raw(1 << 20))


def test_hangups_mid_stream_close_the_blob_and_the_server_keeps_serving(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    large = Blob(os.urandom(LARGE_SIZE))
    with (
        servers.running(data_dir, {"CAIRN_ADMIN_PASSWORD": PASSWORD}) as server,
        login(server.base) as client,
    ):
        assert upload(client, large) == 201
        assert log(client, "admin/p", "big", [large]).status_code == 201
        url = f"/projects/admin/p/artifacts/big/versions/v0/files/{large.sha256}"
        with client.stream("GET", url) as reading:  # the probe sees a blob being sent
            body = reading.iter_raw(1 << 20)
            next(body)
            assert _open_blobs(server.process.pid, large.sha256) != []
        for _ in range(HANGUPS):
            _hang_up(client, url)
        deadline = time.monotonic() + 10
        while (
            held := _open_blobs(server.process.pid, large.sha256)
        ) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert held == [], f"blob files still open after hang-ups: {held}"
        whole = client.get(url)
        assert whole.status_code == 200
        assert whole.content == large.data
