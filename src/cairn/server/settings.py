"""Server settings: one pydantic-settings class (prefix CAIRN_), built at start-up."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

LOCAL_HOSTS = ["localhost", "127.0.0.1", "::1"]


class Settings(BaseSettings):
    """Everything configurable about a Cairn server; every field reads CAIRN_<NAME>."""

    model_config = SettingsConfigDict(env_prefix="CAIRN_", extra="ignore")

    data_dir: Path = Field(Path("cairn-data"), description="Where the embedded database lives.")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default: SQLite at <data_dir>/cairn.db."
    )
    host: str = Field("127.0.0.1", description="Address `cairn server` listens on.")
    port: int = Field(8080, description="Port `cairn server` listens on.")
    workers: int = Field(1, ge=1, le=64, description="Server processes.")
    default_org: str = Field("default", description="Name of the organization made at first start.")
    admin_password: SecretStr | None = Field(
        None, description="Password for the first `admin` user; generated and printed if unset."
    )
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(LOCAL_HOSTS),
        description="Host names the server answers to (comma-separated; `*` for any).",
    )
    blob_url: str | None = Field(
        None,
        description="Where blobs live: `s3://bucket/prefix`; default: <data_dir>/blobs on disk.",
    )
    s3_endpoint_url: str | None = Field(None, description="S3 endpoint, e.g. http://minio:9000.")
    s3_region: str = Field("us-east-1", description="S3 region name.")
    s3_access_key_id: str | None = Field(None, description="S3 access key id.")
    s3_secret_access_key: SecretStr | None = Field(None, description="S3 secret access key.")
    s3_presigned_downloads: bool = Field(
        False,
        description=(
            "Send clients straight to the bucket for a file's bytes: a single-file download "
            "answers 307 with a presigned URL (clients must be able to reach the S3 endpoint)."
        ),
    )
    s3_presigned_uploads: bool = Field(
        False,
        description=(
            "Let clients send large files straight to the bucket by presigned URL; the server "
            "reads them back and verifies them before they count as stored."
        ),
    )
    s3_presign_seconds: int = Field(
        300, ge=1, le=604_800, description="How long a presigned URL stays valid."
    )
    s3_public_endpoint_url: str | None = Field(
        None,
        description=(
            "The S3 endpoint as clients reach it, for presigned URLs (default: "
            "CAIRN_S3_ENDPOINT_URL)."
        ),
    )
    max_blob_bytes: int = Field(1 << 40, description="Largest single file accepted (1 TiB).")
    db_pool_size: int = Field(10, ge=1, le=200, description="PostgreSQL connections per process.")
    max_json_bytes: int = Field(1 << 20, description="Largest JSON request body accepted.")
    login_max_failures: int = Field(10, description="Failed sign-ins before a pause.")
    login_window_seconds: float = Field(300.0, description="Window for counting failures.")
    auto_migrate: bool = Field(True, description="Upgrade the database schema at start-up.")

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        if isinstance(value, str):
            return [h.strip() for h in value.split(",") if h.strip()]
        return value

    def resolved_database_url(self) -> str:
        """The database URL, defaulting to SQLite inside the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'cairn.db').resolve()}"
