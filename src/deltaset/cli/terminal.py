"""The progress bar shown on a terminal: files, bytes, rate and ETA."""

from __future__ import annotations

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

from deltaset.cli.escapes import escaped


class TerminalProgress:
    """Files, bytes, rate and ETA on the terminal's stderr."""

    def __init__(self, console: Console) -> None:
        self._bar = Progress(
            TextColumn("{task.description:<11}"),
            BarColumn(),
            TextColumn("{task.fields[files]}/{task.fields[total_files]} files"),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self._task: TaskID | None = None
        self._files = 0

    def start(self, task: str, total_files: int, total_bytes: int) -> None:
        self._files = 0
        self._bar.start()
        self._task = self._bar.add_task(
            escaped(task), total=total_bytes, files=0, total_files=total_files
        )

    def advance(self, files: int, nbytes: int) -> None:
        if self._task is not None:
            self._files += files
            self._bar.update(self._task, advance=nbytes, files=self._files)

    def finish(self) -> None:
        self._bar.stop()
        self._task = None
