"""Uploads to a real `cairn server` received into the route's buffers (http/rawbody.py): the
bytes are stored intact, and the connection serves its next request from where the body ended."""

from __future__ import annotations

import hashlib
import os
import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner
from uvicorn.importer import import_from_string

from cairn.server import cli, supervisor
from cairn.server.http.rawbody import BodyProtocol
from tests import servers
from tests.reliability.client import PASSWORD, admin_key, read_response

ENV = {"CAIRN_ADMIN_PASSWORD": PASSWORD}
OCTETS = "application/octet-stream"


def _request(method: str, path: str, host: str, key: str, length: int, ctype: str = "") -> bytes:
    typed = f"Content-Type: {ctype}\r\n" if ctype else ""
    return (
        f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {key}\r\n"
        f"{typed}Content-Length: {length}\r\n\r\n"
    ).encode()


def _send_in_pieces(sock: socket.socket, data: bytes, pieces: int = 8) -> None:
    step = -(-len(data) // pieces)
    for start in range(0, len(data), step):
        sock.sendall(data[start : start + step])
        time.sleep(0.01)


def test_uploads_on_one_connection_are_stored_intact_and_a_refused_one_does_not_end_it(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    good, bad = os.urandom((9 << 20) + 321), os.urandom(5 << 20)
    good_sha = hashlib.sha256(good).hexdigest()
    with servers.running(data_dir, ENV) as server:
        key = admin_key(server.base)
        address = urlsplit(server.base)
        host = f"{address.hostname}:{address.port}"
        with socket.create_connection((address.hostname, address.port), timeout=30) as sock:
            pending = bytearray()
            wrong = hashlib.sha256(b"other bytes").hexdigest()
            sock.sendall(_request("PUT", f"/api/v1/blobs/{wrong}", host, key, len(bad), OCTETS))
            _send_in_pieces(sock, bad)
            status, body = read_response(sock, pending)
            assert status == 422, body
            put = _request("PUT", f"/api/v1/blobs/{good_sha}", host, key, len(good), OCTETS)
            sock.sendall(put)
            _send_in_pieces(sock, good)
            status, body = read_response(sock, pending)
            assert status == 201, body
            sock.sendall(_request("GET", "/api/v1/health", host, key, 0))
            assert read_response(sock, pending)[0] == 200
    stored = data_dir / "blobs" / good_sha[:2] / good_sha[2:4] / good_sha
    assert stored.read_bytes() == good
    assert not (data_dir / "blobs" / wrong[:2] / wrong[2:4] / wrong).exists()


def test_the_server_runs_the_body_protocol_in_one_process_and_in_workers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert import_from_string(supervisor.WORKER_HTTP) is BodyProtocol
    seen: dict[str, object] = {}
    monkeypatch.setattr("uvicorn.run", lambda app, **options: seen.update(options))
    result = CliRunner().invoke(cli.server, ["--data-dir", str(tmp_path), "--port", "1"])
    assert result.exit_code == 0, result.output
    assert seen["http"] is BodyProtocol
