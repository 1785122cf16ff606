"""Artifacts: the local ``Artifact`` being built, and logging it into a project."""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from cairn.client._errors import ValidationError
from cairn.client._manifest import (
    check_aliases,
    check_file_name,
    check_manifest,
    check_metadata,
    check_token,
)
from cairn.client._projects import ensure_project, project_parts
from cairn.client._records import without_none
from cairn.client._refs import logged_parts, parse_ref
from cairn.client._session import Session, api_path
from cairn.client._upload import push_files
from cairn.client._versions import LinkedVersion, Version

StrPath = str | os.PathLike[str]


class Artifact:
    """A new artifact version assembled from local files, logged with ``Api.log_artifact``.

    >>> art = cairn.Artifact("sentiment-bert", type="model", metadata={"f1": 0.91})
    >>> art.add_file("model.safetensors")
    >>> art.add_dir("tokenizer/", name="tokenizer")
    >>> api.log_artifact(art, project="nlp-team/sentiment", aliases=["candidate"])
    """

    def __init__(
        self,
        name: str,
        type: str,  # W&B's parameter name
        description: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        self.name = check_token(name, "artifact name")
        self.type = check_token(type, "artifact type")
        self.description = description
        if metadata is not None and not isinstance(metadata, Mapping):
            raise ValidationError(
                f"metadata must be a JSON object (a dict), not {metadata.__class__.__name__}"
            )
        self.metadata: dict[str, Any] = dict(metadata or {})
        self._files: dict[str, Path] = {}
        self._folded: set[str] = set()

    def __repr__(self) -> str:
        return f"<Artifact {self.name} ({self.type}), {len(self._files)} files>"

    @property
    def files(self) -> dict[str, Path]:
        """The local file behind each name inside the artifact."""
        return dict(self._files)

    def add_file(self, local_path: StrPath, name: str | None = None) -> str:
        """Add one file, as ``name`` (default: its file name); returns the name used."""
        path = Path(local_path)
        if not path.is_file():
            raise ValidationError(f"{path} is not a file")
        return self._add(name if name is not None else _nfc(path.name), path)

    def add_dir(self, local_path: StrPath, name: str | None = None) -> list[str]:
        """Add every file under a folder, at the artifact's root or under folder ``name``.

        Links to files are read; links to folders are not followed. Returns the names added.
        """
        folder = Path(local_path)
        if not folder.is_dir():
            raise ValidationError(f"{folder} is not a folder")
        prefix = check_file_name(name.rstrip("/")) + "/" if name and name.strip("/") else ""
        found: list[tuple[str, Path]] = []
        for current, folders, names in os.walk(folder):
            folders.sort()
            for file_name in sorted(names):
                path = Path(current, file_name)
                if path.is_file():
                    found.append((prefix + _nfc(path.relative_to(folder).as_posix()), path))
        for entry, _ in found:
            self._check_new(entry)
        return [self._add(entry, path) for entry, path in found]

    def _check_new(self, name: str) -> None:
        check_file_name(name)
        if name.casefold() in self._folded:
            raise ValidationError(f"{name!r} is already in artifact {self.name!r}")

    def _add(self, name: str, path: Path) -> str:
        self._check_new(name)
        self._folded.add(name.casefold())
        self._files[name] = path
        return name


def _nfc(name: str) -> str:
    """A name read from disk in NFC (macOS spells accents decomposed)."""
    return unicodedata.normalize("NFC", name)


class ArtifactsApi:
    """``Api`` methods for logging, finding and listing artifact versions."""

    _session: Session

    def log_artifact(
        self,
        artifact: Artifact,
        project: str,
        aliases: Iterable[str] | None = None,
        *,
        progress: bool | None = None,
    ) -> Version:
        """Upload the files the server lacks, then commit ``artifact`` into ``entity/project``.

        The server is asked first whether the caller may log there (a missing project is
        created where allowed), so a refusal comes before any file is read. Every file is
        hashed (sha256, in parallel, streamed from disk); only missing blobs are sent.
        Identical content returns the existing version (with ``aliases`` applied); the
        version's ``new`` tells which happened.
        ``progress`` shows bars on stderr (``None``: only when it is a terminal).
        """
        entity, project_name = project_parts(project)
        check_manifest(artifact.files)
        body: dict[str, Any] = {
            "name": artifact.name,
            "type": artifact.type,
            "metadata": check_metadata(artifact.metadata),
            "aliases": check_aliases(aliases),
            **without_none(description=artifact.description),
        }
        ensure_project(self._session, entity, project_name)
        names, paths = list(artifact.files), list(artifact.files.values())
        hashes = push_files(self._session, paths, progress=progress)
        body["files"] = [
            {"path": name, "sha256": sha256, "size": size}
            for name, (sha256, size) in zip(names, hashes, strict=True)
        ]
        status, logged = self._session.exchange(
            "POST", api_path("projects", entity, project_name, "artifacts"), json=body
        )
        version = Version(self._session, logged)
        version.new = status == 201
        return version

    def artifact(self, name: str, type: str | None = None) -> Version | LinkedVersion:
        """The version a reference names (DESIGN §1), linked or logged, with its files.

        ``registry/collection[:v]`` is in the default organization; a three-part reference is
        a linked version when its first part is an organization. ``type`` checks the type.
        """
        parse_ref(name)
        params = {"ref": name, "org": self._session.organization()}
        data = self._session.request("GET", api_path("resolve"), params=params)
        found: Version | LinkedVersion = (
            LinkedVersion(self._session, data["linked"])
            if data.get("kind") == "linked"
            else Version(self._session, data["logged"])
        )
        if type is not None and found.type != type:
            raise ValidationError(f"{found.ref} is a {found.type!r}, not a {type!r}")
        return found

    def artifact_versions(self, name: str) -> list[Version]:
        """The versions of a logged artifact ``entity/project/artifact``, newest first."""
        entity, project, artifact = logged_parts(name)
        path = api_path("projects", entity, project, "artifacts", artifact, "versions")
        return [Version(self._session, item) for item in self._session.request("GET", path)]
