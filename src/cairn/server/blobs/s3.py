"""A blob store in an S3-compatible bucket: multipart upload to staging, server-side copy."""

from __future__ import annotations

import contextlib
import functools
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from botocore.handlers import add_expect_header

from cairn.server.blobs.base import READ_CHUNK, Chunk, InvalidDigestError, blob_key

if TYPE_CHECKING:
    from botocore.response import StreamingBody
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import (
        CompletedPartTypeDef,
        CopySourceTypeDef,
        GetObjectOutputTypeDef,
    )

    from cairn.server.settings import Settings

MiB = 1 << 20
GiB = 1 << 30
PART_SIZE = 8 * MiB
# S3 allows 10,000 parts; doubling the part size every 1,000 parts reaches ~8 TiB while a
# writer buffers 8 MiB for anything under ~8 GiB.
PARTS_PER_DOUBLING = 1000
MAX_PARTS = 10_000
COPY_THRESHOLD = 5 * GiB  # the largest object a single CopyObject may copy
COPY_PART_SIZE = 512 * MiB
DELETE_BATCH = 1000  # the most keys one DeleteObjects request takes
LOOKUP_THREADS = 8
DIRECT = "direct"  # staging objects clients PUT themselves live under <staging>/direct/

# Requests that answer at once get a short deadline and one try, so that a store that stops
# answering costs a prompt 503 (SECURITY.md: no hang over 5 s) instead of minutes of retries;
# the client re-runs the command, which sends only what is missing. Server-side copies and
# completing a multipart upload take time in proportion to the object, so they get their own.
_COMMON: dict[str, Any] = {
    "connect_timeout": 2,
    "s3": {"addressing_style": "path"},
    # Checksums only where S3 requires them: many S3-compatible servers reject newer defaults.
    "request_checksum_calculation": "when_required",
    "response_checksum_validation": "when_required",
}
CLIENT_CONFIG = Config(
    read_timeout=3, retries={"mode": "standard", "total_max_attempts": 1}, **_COMMON
)
SLOW_CLIENT_CONFIG = Config(
    read_timeout=600, retries={"mode": "standard", "total_max_attempts": 3}, **_COMMON
)
# Presigned URLs are computed here, without a request; SigV4 is what every S3 server takes.
PRESIGN_CONFIG = Config(signature_version="s3v4", **_COMMON)


@functools.cache
def _lookups() -> ThreadPoolExecutor:
    """Threads for HEAD requests sent side by side (fewer than botocore's 10 connections)."""
    return ThreadPoolExecutor(LOOKUP_THREADS, thread_name_prefix="cairn-s3-head")


def _status(err: ClientError) -> int | None:
    return err.response.get("ResponseMetadata", {}).get("HTTPStatusCode")


def _is_absent(err: ClientError) -> bool:
    """Whether S3 answered "no such object / upload" (HEAD has no body, so only a 404)."""
    return _status(err) == 404


def part_size(part_number: int, base: int = PART_SIZE) -> int:
    """The size of upload part `part_number` (1-based); every part but the last has this size."""
    if part_number > MAX_PARTS:
        raise ValueError("blob too large for a multipart upload")
    return base << ((part_number - 1) // PARTS_PER_DOUBLING)


class S3Writer:
    """Bytes buffered to a part size, streamed into a multipart upload at a staging key."""

    def __init__(self, store: S3BlobStore) -> None:
        self._store = store
        self._client = store.client
        self._bucket = store.bucket
        self._key = store.staging_key(uuid.uuid4().hex)
        self._buffer = bytearray()
        self._parts: list[CompletedPartTypeDef] = []
        self._upload_id: str | None = None
        self._staged = False  # the multipart upload was completed into an object at _key
        self._size = 0
        self._closed = False

    def write(self, chunk: Chunk) -> None:
        assert not self._closed, "writer already closed"
        self._buffer += chunk
        self._size += len(chunk)
        while len(self._buffer) >= (size := self._next_part_size()):
            self._upload_part(size)

    def _next_part_size(self) -> int:
        return part_size(len(self._parts) + 1, self._store.part_size)

    def _upload_part(self, size: int) -> None:
        if self._upload_id is None:
            upload = self._client.create_multipart_upload(Bucket=self._bucket, Key=self._key)
            self._upload_id = upload["UploadId"]
        number = len(self._parts) + 1
        answer = self._client.upload_part(
            Bucket=self._bucket,
            Key=self._key,
            UploadId=self._upload_id,
            PartNumber=number,
            Body=bytes(self._buffer[:size]),
        )
        del self._buffer[:size]
        self._parts.append({"PartNumber": number, "ETag": answer["ETag"]})

    def commit(self, sha256: str) -> None:
        assert not self._closed, "writer already closed"
        final = self._store.key_of(sha256)
        try:
            if self._upload_id is None:
                # Small: nothing was sent yet, so one atomic PutObject lands it in place.
                # An existing object is rewritten (same bytes) so its LastModified moves on:
                # the garbage collector's grace period then covers this upload too.
                self._client.put_object(Bucket=self._bucket, Key=final, Body=bytes(self._buffer))
            else:
                if self._buffer:
                    self._upload_part(len(self._buffer))
                self._store.slow_client.complete_multipart_upload(
                    Bucket=self._bucket,
                    Key=self._key,
                    UploadId=self._upload_id,
                    MultipartUpload={"Parts": self._parts},
                )
                self._upload_id = None
                self._staged = True
                self._store.copy(self._key, final, self._size)
        finally:
            # Best effort: the blob is in place (or the error below says why not), and
            # whatever staging is left behind, clean_staging() removes later.
            with contextlib.suppress(ClientError, BotoCoreError):
                self.abort()

    def abort(self) -> None:
        self._closed = True
        self._buffer = bytearray()
        if self._upload_id is not None:
            upload_id, self._upload_id = self._upload_id, None
            self._store.abort_upload(self._key, upload_id)
        if self._staged:
            self._staged = False
            self._client.delete_object(Bucket=self._bucket, Key=self._key)


class S3BlobStore:
    """Blobs as objects <prefix>/blobs/ab/cd/<sha256>; writers stage under <prefix>/staging/."""

    holds_files = False

    def __init__(
        self,
        client: S3Client,
        bucket: str,
        prefix: str = "",
        *,
        part_size: int = PART_SIZE,
        copy_threshold: int = COPY_THRESHOLD,
        copy_part_size: int = COPY_PART_SIZE,
        slow_client: S3Client | None = None,
        presigner: S3Client | None = None,
        presign_seconds: int = 300,
        presign_downloads: bool = False,
        presign_uploads: bool = False,
    ) -> None:
        if not bucket:
            raise ValueError("an S3 blob store needs a bucket name")
        self.client = client
        self.slow_client = slow_client or client  # copies and multipart completion
        self.presigner = presigner  # signs URLs for the endpoint clients reach
        self.presign_seconds = presign_seconds
        self.presign_downloads = presign_downloads
        self.presign_uploads = presign_uploads
        self.bucket = bucket
        root = prefix.strip("/")
        self.blobs_prefix = f"{root}/blobs/" if root else "blobs/"
        self.staging_prefix = f"{root}/staging/" if root else "staging/"
        self.part_size = part_size
        self.copy_threshold = copy_threshold
        self.copy_part_size = copy_part_size

    @classmethod
    def from_settings(cls, settings: Settings, *, bucket: str, prefix: str) -> S3BlobStore:
        """A store on the endpoint, region and credentials the settings name."""
        secret = settings.s3_secret_access_key
        session = boto3.session.Session()

        def client(config: Config, endpoint_url: str | None = settings.s3_endpoint_url) -> S3Client:
            return session.client(
                "s3",
                endpoint_url=endpoint_url,
                region_name=settings.s3_region,
                aws_access_key_id=settings.s3_access_key_id,
                aws_secret_access_key=secret.get_secret_value() if secret else None,
                config=config,
            )

        presigner = None
        if settings.s3_presigned_downloads or settings.s3_presigned_uploads:
            public = settings.s3_public_endpoint_url or settings.s3_endpoint_url
            presigner = client(PRESIGN_CONFIG, public)
        prompt = client(CLIENT_CONFIG)
        # botocore sends every body with `Expect: 100-continue` and waits up to 1 s for the
        # answer first: a store that stopped answering would add that second to the prompt
        # client's deadline (connect 2 s, read 3 s; SECURITY.md: no hang over 5 s).
        prompt.meta.events.unregister("before-call.s3", add_expect_header)
        return cls(
            prompt,
            bucket,
            prefix,
            slow_client=client(SLOW_CLIENT_CONFIG),
            presigner=presigner,
            presign_seconds=settings.s3_presign_seconds,
            presign_downloads=settings.s3_presigned_downloads,
            presign_uploads=settings.s3_presigned_uploads,
        )

    def key_of(self, sha256: str) -> str:
        """The object key of a blob; the digest is validated by blob_key()."""
        return self.blobs_prefix + blob_key(sha256)

    def staging_key(self, name: str) -> str:
        """The object key of a temporary object."""
        return self.staging_prefix + name

    def head(self, key: str) -> int | None:
        """The size of the object at `key`, or None when there is none."""
        try:
            return self.client.head_object(Bucket=self.bucket, Key=key)["ContentLength"]
        except ClientError as err:
            if _is_absent(err):
                return None
            raise

    def copy(self, source: str, target: str, size: int) -> None:
        """Server-side copy: one CopyObject up to the threshold, UploadPartCopy above it."""
        origin: CopySourceTypeDef = {"Bucket": self.bucket, "Key": source}
        if size <= self.copy_threshold:
            self.slow_client.copy_object(Bucket=self.bucket, Key=target, CopySource=origin)
            return
        step = max(self.copy_part_size, -(-size // MAX_PARTS))
        upload_id = self.client.create_multipart_upload(Bucket=self.bucket, Key=target)["UploadId"]
        try:
            parts: list[CompletedPartTypeDef] = []
            for number, start in enumerate(range(0, size, step), start=1):
                answer = self.slow_client.upload_part_copy(
                    Bucket=self.bucket,
                    Key=target,
                    UploadId=upload_id,
                    PartNumber=number,
                    CopySource=origin,
                    CopySourceRange=f"bytes={start}-{min(start + step, size) - 1}",
                )
                parts.append({"PartNumber": number, "ETag": answer["CopyPartResult"]["ETag"]})
            self.slow_client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=target,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
            )
        except BaseException:
            self.abort_upload(target, upload_id)
            raise

    def abort_upload(self, key: str, upload_id: str) -> None:
        """Abort a multipart upload; one already gone is fine."""
        try:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
        except ClientError as err:
            if not _is_absent(err):
                raise

    def modified(self, sha256: str) -> float | None:
        """When the blob was last written (UNIX time), or None when absent."""
        try:
            answer = self.client.head_object(Bucket=self.bucket, Key=self.key_of(sha256))
        except ClientError as err:
            if _is_absent(err):
                return None
            raise
        return answer["LastModified"].timestamp()

    def check(self) -> None:
        """Fail fast when the bucket is missing or unreachable (HEAD cannot tell otherwise)."""
        self.client.head_bucket(Bucket=self.bucket)

    def begin(self, size: int | None = None) -> S3Writer:
        return S3Writer(self)

    def exists(self, sha256: str) -> bool:
        return self.head(self.key_of(sha256)) is not None

    def size(self, sha256: str) -> int | None:
        return self.head(self.key_of(sha256))

    def sizes(self, digests: Sequence[str]) -> list[int | None]:
        if len(digests) < 2:
            return [self.size(d) for d in digests]
        return list(_lookups().map(self.size, digests))

    def read(
        self, sha256: str, start: int = 0, end: int | None = None, *, piece: int = READ_CHUNK
    ) -> Iterator[bytes]:
        return self._stream(self.key_of(sha256), start, end, piece)

    def local_path(self, sha256: str) -> Path | None:
        return None  # a bucket has no file the kernel could send

    def download_url(self, sha256: str, content_disposition: str) -> str | None:
        if self.presigner is None or not self.presign_downloads:
            return None
        params = {
            "Bucket": self.bucket,
            "Key": self.key_of(sha256),
            "ResponseContentDisposition": content_disposition,
            "ResponseContentType": "application/octet-stream",
        }
        return self.presigner.generate_presigned_url(
            "get_object", Params=params, ExpiresIn=self.presign_seconds
        )

    def _stream(
        self, key: str, start: int, end: int | None, piece: int = READ_CHUNK
    ) -> Iterator[bytes]:
        if end is not None and end <= start:
            if self.head(key) is None:
                raise FileNotFoundError(key)
            return
        try:
            answer = self._get(key, start, end)
        except ClientError as err:
            if _is_absent(err):
                raise FileNotFoundError(key) from None
            if _status(err) == 416:  # the range starts at or past the end
                return
            raise
        yield from _chunks_of(answer["Body"], piece)

    def _get(self, key: str, start: int, end: int | None) -> GetObjectOutputTypeDef:
        if start == 0 and end is None:
            return self.client.get_object(Bucket=self.bucket, Key=key)
        return self.client.get_object(Bucket=self.bucket, Key=key, Range=_byte_range(start, end))

    def _direct_key(self, name: str) -> str:
        return self.staging_key(f"{DIRECT}/{name}")

    def upload_url(self, name: str, size: int) -> str | None:
        if self.presigner is None or not self.presign_uploads:
            return None
        params = {"Bucket": self.bucket, "Key": self._direct_key(name), "ContentLength": size}
        return self.presigner.generate_presigned_url(
            "put_object", Params=params, ExpiresIn=self.presign_seconds
        )

    def read_staged(self, name: str) -> tuple[str, Iterator[bytes]]:
        key = self._direct_key(name)
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=key)
        except ClientError as err:
            if _is_absent(err):
                raise FileNotFoundError(key) from None
            raise
        return answer["ETag"], _chunks_of(answer["Body"])

    def promote(self, name: str, version: str, sha256: str, size: int) -> bool:
        # Copied even over a blob stored already, as S3Writer.commit rewrites one: the new
        # LastModified is what tells the garbage collector's orphan pass to keep the bytes.
        try:
            self.slow_client.copy_object(
                Bucket=self.bucket,
                Key=self.key_of(sha256),
                CopySource={"Bucket": self.bucket, "Key": self._direct_key(name)},
                CopySourceIfMatch=version,
            )
        except ClientError as err:
            if _status(err) == 412:
                return False
            raise
        return True

    def discard(self, name: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._direct_key(name))

    def delete(self, sha256: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.key_of(sha256))

    def _objects(self, prefix: str) -> Iterator[tuple[str, datetime]]:
        for page in self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix
        ):
            for item in page.get("Contents", []):
                yield item["Key"], item["LastModified"]

    def digests(self) -> Iterator[tuple[str, float]]:
        for key, modified in self._objects(self.blobs_prefix):
            sha = key.rsplit("/", 1)[-1]
            try:
                if self.key_of(sha) != key:
                    continue
            except InvalidDigestError:
                continue
            yield sha, modified.timestamp()

    def clean_staging(self, older_than: timedelta) -> int:
        cutoff = datetime.now(UTC) - older_than
        stale = [key for key, modified in self._objects(self.staging_prefix) if modified < cutoff]
        for first in range(0, len(stale), DELETE_BATCH):
            batch = stale[first : first + DELETE_BATCH]
            answer = self.client.delete_objects(
                Bucket=self.bucket,
                Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True},
            )
            if failed := answer.get("Errors"):
                raise RuntimeError(f"S3 refused to delete {len(failed)} staging objects")
        removed = len(stale)
        for page in self.client.get_paginator("list_multipart_uploads").paginate(
            Bucket=self.bucket, Prefix=self.staging_prefix
        ):
            for upload in page.get("Uploads", []):
                key, upload_id = upload["Key"], upload["UploadId"]
                if upload["Initiated"] < cutoff and self._idle(key, upload_id, cutoff):
                    self.abort_upload(key, upload_id)
                    removed += 1
        return removed

    def _idle(self, key: str, upload_id: str, cutoff: datetime) -> bool:
        """Whether no part of an upload arrived since `cutoff` (a slow, live upload is spared)."""
        try:
            for page in self.client.get_paginator("list_parts").paginate(
                Bucket=self.bucket, Key=key, UploadId=upload_id
            ):
                if any(part["LastModified"] >= cutoff for part in page.get("Parts", [])):
                    return False
        except ClientError as err:
            if _is_absent(err):  # completed or aborted meanwhile
                return False
            raise
        return True


def _chunks_of(body: StreamingBody, piece: int = READ_CHUNK) -> Iterator[bytes]:
    """An object's body ``piece`` bytes at a time, closed at the end or when abandoned."""
    try:
        yield from body.iter_chunks(piece)
    finally:
        body.close()


def _byte_range(start: int, end: int | None) -> str:
    """An HTTP Range header for bytes [start, end)."""
    return f"bytes={start}-" if end is None else f"bytes={start}-{end - 1}"
