"""Scale-out: two server processes on one PostgreSQL and one S3 bucket serve as one registry."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

from tests import pg, servers
from tests.blobs.seaweed import S3Server
from tests.reliability.client import PASSWORD, Blob, admin_key, client_for, log, upload


def test_two_servers_share_database_and_blobs(tmp_path: Path, seaweedfs: S3Server) -> None:
    with pg.admin_url() as admin, pg.scratch_database(admin) as url:
        env = {
            "CAIRN_ADMIN_PASSWORD": PASSWORD,
            "CAIRN_DATABASE_URL": url,
            "CAIRN_BLOB_URL": f"s3://{seaweedfs.bucket}/scale-{uuid.uuid4().hex[:8]}",
            "CAIRN_S3_ENDPOINT_URL": seaweedfs.endpoint,
            "CAIRN_S3_ACCESS_KEY_ID": seaweedfs.access_key,
            "CAIRN_S3_SECRET_ACCESS_KEY": seaweedfs.secret_key,
        }
        with (
            servers.running(tmp_path / "a", env) as first,
            servers.running(tmp_path / "b", env) as second,
        ):
            key = admin_key(first.base)  # a key made on one server works on the other
            blob = Blob(b"shared weights " * 10_000)
            with client_for(first.base, key) as a, client_for(second.base, key) as b:
                assert upload(a, blob) == 201
                logged = log(b, "admin/scale", "model", [blob])
                assert logged.status_code == 201, logged.text
                ref = logged.json()["ref"]
                linked = b.post(
                    "/orgs/default/registries/Models/collections/shared/versions",
                    json={"source": ref, "aliases": ["production"]},
                )
                assert linked.status_code == 201, linked.text
                resolved = a.get("/resolve", params={"ref": "Models/shared:production"}).json()
                sha = resolved["linked"]["files"][0]["sha256"]
                body = a.get(
                    f"/orgs/default/registries/Models/collections/shared/versions/production/"
                    f"files/{sha}"
                ).content
                assert hashlib.sha256(body).hexdigest() == blob.sha256
            assert not any((tmp_path / name / "blobs").exists() for name in ("a", "b")), (
                "with CAIRN_BLOB_URL set, nothing is written to the local data directory"
            )
