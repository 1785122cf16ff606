"""Blob-stream bytes as a server writes them: a header line per record, then its bytes."""

from __future__ import annotations

from tests.client.artifacts_support import sha256


def record_bytes(sha: str, data: bytes) -> bytes:
    return f"{sha} {len(data)}\n".encode() + data


def stream_of(*blobs: bytes) -> bytes:
    return b"".join(record_bytes(sha256(b), b) for b in blobs)
