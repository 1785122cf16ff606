"""A minimal raw-HTTP client for reliability tests (no SDK, so failures point at the server)."""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Iterator
from dataclasses import dataclass

import httpx

PASSWORD = "reliability-admin-pw"


@dataclass
class Blob:
    """File bytes with their digest."""

    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def read_response(sock: socket.socket, pending: bytearray) -> tuple[int, bytes]:
    """One response's status and body read off a raw socket; bytes past it stay in
    ``pending``."""
    while b"\r\n\r\n" not in pending:
        data = sock.recv(65536)
        assert data, "the connection closed before a response"
        pending += data
    end = pending.index(b"\r\n\r\n") + 4
    lines = bytes(pending[:end]).decode().lower().split("\r\n")
    length = int(next(line.split(":")[1] for line in lines if line.startswith("content-length")))
    while len(pending) < end + length:
        pending += sock.recv(65536)
    body = bytes(pending[end : end + length])
    status = int(lines[0].split()[1])
    del pending[: end + length]
    return status, body


def admin_key(base: str) -> str:
    """A new API key of the first admin (one password check)."""
    key: str = httpx.post(
        f"{base}/api/v1/auth/login",
        json={"username": "admin", "password": PASSWORD},
        timeout=30,
    ).json()["key"]
    return key


def client_for(base: str, key: str) -> httpx.Client:
    """A keep-alive API client using `key`."""
    return httpx.Client(
        base_url=f"{base}/api/v1", headers={"Authorization": f"Bearer {key}"}, timeout=60
    )


def login(base: str) -> httpx.Client:
    """A keep-alive client signed in as the first admin."""
    return client_for(base, admin_key(base))


def upload(client: httpx.Client, blob: Blob, body: bytes | Iterator[bytes] | None = None) -> int:
    """PUT one blob (optionally with a custom body stream); returns the status."""
    response = client.put(
        f"/blobs/{blob.sha256}",
        content=blob.data if body is None else body,
        headers={
            "Content-Type": "application/octet-stream",
            "Content-Length": str(len(blob.data)),
        },
    )
    return response.status_code


def missing(client: httpx.Client, blobs: list[Blob]) -> set[str]:
    """Digests the server asks this client to send."""
    body = {"blobs": [{"sha256": b.sha256, "size": len(b.data)} for b in blobs]}
    found: list[str] = client.post("/blobs/missing", json=body).json()["missing"]
    return set(found)


def log(client: httpx.Client, project: str, name: str, blobs: list[Blob]) -> httpx.Response:
    """Commit a version naming the blobs as f0, f1, …"""
    files = [
        {"path": f"f{i}", "sha256": b.sha256, "size": len(b.data)} for i, b in enumerate(blobs)
    ]
    return client.post(
        f"/projects/{project}/artifacts", json={"name": name, "type": "model", "files": files}
    )
