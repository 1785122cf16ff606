"""Copy-ready SDK and CLI snippets that name an exact reference (quoted for each language)."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass


@dataclass(frozen=True)
class Snippet:
    """What a usage box shows: the reference itself, Python, and a shell command."""

    ref: str
    sdk: str
    cli: str


def for_version(ref: str) -> Snippet:
    """How to fetch one linked version (or a collection's `latest`)."""
    sdk = (
        "import cairn\n\n"
        f"artifact = cairn.Api().artifact({json.dumps(ref)})\n"
        "path = artifact.download()"
    )
    return Snippet(ref, sdk, f"cairn artifact pull {shlex.quote(ref)} -o ./artifact")


def for_registry(org: str, registry: str) -> Snippet:
    """How to link a logged version into a collection of this registry, and fetch it back."""
    target = f"{org}/{registry}/<collection>"
    source = "<entity>/<project>/<artifact>:v0"
    sdk = (
        "import cairn\n\n"
        "api = cairn.Api()\n"
        f"api.artifact({json.dumps(source)}).link({json.dumps(target)})\n"
        f"artifact = api.artifact({json.dumps(target + ':latest')})\n"
        "path = artifact.download()"
    )
    cli = (
        f"cairn artifact link {shlex.quote(source)} {shlex.quote(target)}\n"
        f"cairn artifact pull {shlex.quote(target + ':latest')} -o ./artifact"
    )
    return Snippet(target, sdk, cli)
