"""The folder where the SDK keeps unfinished downloads, which no artifact file may be under."""

from __future__ import annotations

import unicodedata

PARTIAL_DIR = ".cairn-partial"


def is_partial_dir(part: str) -> bool:
    """Whether a name part is the download folder on some filesystem: ignoring case, Unicode
    compatibility forms, and the trailing dots and spaces Windows drops."""
    folded = unicodedata.normalize("NFKC", part).upper().casefold()
    return folded.rstrip(". ") == PARTIAL_DIR


def partial_dir_refusal(shown: str) -> str:
    """Why the file name ``shown`` (as quoted back), under the download folder, is refused."""
    return (
        f"file name {shown!r} is inside {PARTIAL_DIR}/, the folder where Cairn keeps "
        "unfinished downloads; remove that folder before pushing, or name the files differently"
    )
