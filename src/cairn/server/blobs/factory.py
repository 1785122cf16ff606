"""Choosing the blob store from settings: local directory by default, S3 for `s3://` URLs."""

from __future__ import annotations

from urllib.parse import urlparse

from cairn.server.blobs.base import BlobStore
from cairn.server.blobs.local import LocalBlobStore
from cairn.server.settings import Settings


def open_store(settings: Settings) -> BlobStore:
    """The blob store the settings describe."""
    url = urlparse(settings.blob_url or "")
    for flag, on in (
        ("CAIRN_S3_PRESIGNED_DOWNLOADS", settings.s3_presigned_downloads),
        ("CAIRN_S3_PRESIGNED_UPLOADS", settings.s3_presigned_uploads),
    ):
        if on and url.scheme != "s3":
            raise ValueError(
                f"{flag} needs blobs in S3 (CAIRN_BLOB_URL=s3://bucket/prefix): the "
                "server's own disk has no URL clients could reach"
            )
    if not settings.blob_url:
        return LocalBlobStore(settings.data_dir.resolve() / "blobs")
    if url.scheme == "s3":
        from cairn.server.blobs.s3 import S3BlobStore

        return S3BlobStore.from_settings(settings, bucket=url.netloc, prefix=url.path.strip("/"))
    if url.scheme == "file":
        from pathlib import Path

        return LocalBlobStore(Path(url.path))
    raise ValueError(f"unsupported CAIRN_BLOB_URL scheme {url.scheme!r}; use s3:// or file://")
