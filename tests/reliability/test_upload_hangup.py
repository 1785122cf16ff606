"""A client that hangs up in the middle of a blob upload leaves no temporary file behind."""

from __future__ import annotations

import hashlib
import os
import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

from cairn.server.blobs.local import STAGING
from tests import servers
from tests.reliability.client import PASSWORD, admin_key

ENV = {"CAIRN_ADMIN_PASSWORD": PASSWORD}
DECLARED = 64 << 20
SENT = 20 << 20
WAIT_SECONDS = 10.0


def _wait_for(condition: object, what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting until {what}")


def test_hanging_up_mid_upload_removes_the_temporary_file(tmp_path: Path) -> None:
    data = tmp_path / "data"
    staging = data / "blobs" / STAGING
    with servers.running(data, ENV) as server:
        key = admin_key(server.base)
        address = urlsplit(server.base)
        sha256 = hashlib.sha256(b"never finished").hexdigest()
        head = (
            f"PUT /api/v1/blobs/{sha256} HTTP/1.1\r\nHost: {address.hostname}\r\n"
            f"Authorization: Bearer {key}\r\nContent-Type: application/octet-stream\r\n"
            f"Content-Length: {DECLARED}\r\n\r\n"
        ).encode()
        with socket.create_connection((address.hostname, address.port)) as sock:
            sock.sendall(head)
            sock.sendall(os.urandom(SENT))
            _wait_for(lambda: any(staging.iterdir()), "the upload is being written")
        _wait_for(lambda: not any(staging.iterdir()), "the temporary file is removed")
        assert not list((data / "blobs").glob("*/*/*")), "nothing was stored"
