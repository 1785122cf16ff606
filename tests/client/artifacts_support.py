"""Helpers shared by the artifact SDK and CLI tests: request recording and sample files."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import httpx

import cairn

MIB = 1 << 20


def record(client: httpx.Client) -> list[httpx.Request]:
    """Every request ``client`` sends from now on, in order."""
    seen: list[httpx.Request] = []
    client.event_hooks["request"].append(seen.append)
    return seen


def uploads(requests: list[httpx.Request]) -> list[httpx.Request]:
    """The blob uploads among ``requests``: one file each, or a blob stream of several (not
    the empty stream that asks whether the server takes them)."""
    return [r for r in requests if r.method == "PUT" and "/blobs/" in r.url.path] + [
        r
        for r in requests
        if r.method == "POST"
        and r.url.path.endswith("/blobs/batch")
        and r.headers.get("content-length") != "0"
    ]


def stored(client: httpx.Client) -> list[str]:
    """The digest of every blob the server acknowledges from now on, however it was sent."""
    seen: list[str] = []

    def note(response: httpx.Response) -> None:
        request = response.request
        if response.status_code != 201 or "/blobs/" not in request.url.path:
            return
        response.read()
        if request.method == "PUT":
            seen.append(response.json()["sha256"])
        elif request.url.path.endswith("/blobs/batch"):
            seen.extend(blob["sha256"] for blob in response.json()["blobs"])

    client.event_hooks["response"].append(note)
    return seen


def file_gets(requests: list[httpx.Request]) -> list[httpx.Request]:
    """The file downloads among ``requests``: one file each, or a blob stream of several."""
    return [
        r
        for r in requests
        if (r.method == "GET" and "/files/" in r.url.path)
        or (r.method == "POST" and r.url.path.endswith("/files/batch"))
    ]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write(path: Path, data: bytes | str) -> Path:
    """Write ``data`` at ``path``, creating folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def sample_artifact(folder: Path, name: str = "sentiment-bert") -> cairn.Artifact:
    """A model file and a tokenizer folder (written on first use) as an artifact."""
    if not folder.exists():
        write(folder / "model.safetensors", b"weights" * 1000)
        write(folder / "tokenizer" / "vocab.txt", "hello\nworld\n")
        write(folder / "tokenizer" / "sub" / "config.json", '{"lower": true}')
    art = cairn.Artifact(name, type="model", description="BERT", metadata={"f1": 0.91})
    art.add_file(folder / "model.safetensors")
    art.add_dir(folder / "tokenizer", name="tokenizer")
    return art


def logged(api: cairn.Api, folder: Path, project: str = "nlp-team/sentiment") -> cairn.Version:
    """The sample artifact logged into ``project`` (its team is created when missing)."""
    entity = project.split("/")[0]
    if entity not in {t.name for t in api.teams()}:
        api.create_team(entity)
    return api.log_artifact(sample_artifact(folder), project=project, aliases=["candidate"])


def tree(root: Path) -> dict[str, bytes]:
    """Every regular file under ``root`` by POSIX relative name."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


def version_json(files: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """A logged ``Version`` answer as the server shapes it."""
    return {
        "id": 1, "ref": "team/proj/art:v0", "entity": "team", "project": "proj", "name": "art",
        "type": "model", "version": "v0", "version_index": 0, "digest": "0" * 64,
        "description": None, "metadata": {}, "size": sum(f["size"] for f in files),
        "file_count": len(files), "aliases": ["latest"], "created_by": "admin",
        "created_at": "2024-05-01T12:00:00Z", "client_id": None, "files": files, **extra,
    }  # fmt: skip
