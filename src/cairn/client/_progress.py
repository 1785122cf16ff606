"""Transfer progress: a rich bar (bytes, files, rate, ETA) on a terminal's stderr, else nothing."""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Self

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)


def progress_enabled(requested: bool | None) -> bool:
    """``requested``, or (for ``None``) whether stderr is a terminal."""
    if requested is not None:
        return requested
    return Console(stderr=True).is_terminal


class TransferProgress:
    """Counts the bytes and files of one upload or download; thread-safe; silent when disabled.

    >>> with TransferProgress("Uploading", total_bytes=10, total_files=1, enabled=None) as bar:
    ...     bar.advance(10)
    ...     bar.file_done()
    """

    def __init__(self, label: str, *, total_bytes: int, total_files: int, enabled: bool | None):
        self.total_files = total_files
        self.files_done = 0
        self._lock = threading.Lock()
        self._bar: Progress | None = None
        self._task = TaskID(0)
        if total_files and progress_enabled(enabled):
            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                DownloadColumn(),
                TextColumn("{task.fields[files]}"),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
            )
            self._task = self._bar.add_task(label, total=total_bytes, files=self._files_text())

    def _files_text(self) -> str:
        return f"{self.files_done}/{self.total_files} files"

    def advance(self, size: int) -> None:
        """``size`` more bytes were sent, received or found locally."""
        if self._bar is not None:
            self._bar.advance(self._task, size)

    def file_done(self) -> None:
        """One more file is complete."""
        with self._lock:
            self.files_done += 1
            text = self._files_text()
        if self._bar is not None:
            self._bar.update(self._task, files=text)

    def __enter__(self) -> Self:
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            self._bar.stop()
