"""The progress bar shown on a terminal: files, bytes, rate and ETA."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Column
from rich.text import Text

from deltaset.cli.escapes import escaped
from deltaset.core.sizes import human_size


class _BytesColumn(ProgressColumn):
    """Bytes done out of the total, in the units every other command shows sizes in."""

    def __init__(self) -> None:
        super().__init__(table_column=Column(no_wrap=True))  # the bar gives way, not the text

    def render(self, task: Task) -> Text:
        return Text(f"{human_size(task.completed)}/{human_size(task.total or 0)}")


class _RateColumn(ProgressColumn):
    def __init__(self) -> None:
        super().__init__(table_column=Column(no_wrap=True))

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("?" if speed is None else f"{human_size(speed)}/s")


class TerminalProgress:
    """Files, bytes, rate and ETA on the terminal's stderr."""

    def __init__(self, console: Console) -> None:
        self._bar = Progress(
            TextColumn("{task.description:<11}"),
            BarColumn(bar_width=None),  # what the other columns leave of the line
            TextColumn("{task.fields[files]}/{task.fields[total_files]} files"),
            _BytesColumn(),
            _RateColumn(),
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
