"""App: what every command shares — remembered id, output (text or JSON), progress, errors."""

from __future__ import annotations

import itertools
import json
import logging
import os
import sys
from argparse import Namespace
from collections.abc import Iterable
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deltaset import config
from deltaset.cli.escapes import escaped
from deltaset.errors import InvalidInputError
from deltaset.progress import NoProgress
from deltaset.progress import Progress as ProgressProtocol

if TYPE_CHECKING:
    from rich.console import Console

WIDTH_ROWS = 1000  # rows a table's column widths are measured on
log = logging.getLogger("deltaset")


class App:
    def __init__(self, args: Namespace) -> None:
        self.args = args
        self.settings = config.load()
        self.quiet: bool = getattr(args, "quiet", False)
        self.as_json: bool = getattr(args, "json", False)

    # rich is imported only when a command prints text: it is a third of a quiet run's start-up.
    # Names are shown as they are: no [markup] or :emoji: codes read in them.
    @cached_property
    def out(self) -> Console:
        from rich.console import Console

        # Piped output is never cut to a terminal's width: scripts get whole ids and paths.
        return Console(
            highlight=False,
            markup=False,
            emoji=False,
            width=None if sys.stdout.isatty() else 100_000,
        )

    @cached_property
    def err(self) -> Console:
        from rich.console import Console

        return Console(stderr=True, highlight=False, markup=False, emoji=False)

    # -- remembered dataset id (ClearML's stateful CLI) ---------------------------------------
    def _state_path(self) -> Path:
        return self.settings.cli_state_path

    def remembered_id(self) -> str | None:
        try:
            value = json.loads(self._state_path().read_text()).get("id")
        except (OSError, ValueError):
            return None
        return str(value) if value else None

    def remember(self, dataset_id: str | None) -> None:
        """Make ``dataset_id`` (None: no version) the default of later commands. A convenience
        only: on a full disk the command's work stands, and a warning says to pass --id."""
        path = self._state_path()
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        try:
            if dataset_id is None:
                path.unlink(missing_ok=True)  # frees space rather than needing it
                return
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps({"id": dataset_id}))
            os.replace(tmp, path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            log.warning(
                "could not remember %s for later commands (%s); pass --id",
                dataset_id or "that no version is current",
                exc.strerror or exc,
            )

    def dataset_id(self) -> str:
        """``--id`` if given, else the version remembered. As ClearML's CLI does, a version
        given with ``--id`` is remembered for the commands that follow (whole, found first:
        a mistyped id is refused, never remembered); ``close``, ``publish`` and ``delete``
        then forget it."""
        given: str | None = getattr(self.args, "id", None)
        if given:
            from deltaset.api.dataset import Dataset  # the catalog, only for a command given one

            whole = Dataset.get(dataset_id=given).id
            self.remember(whole)
            return whole
        found = self.remembered_id()
        if not found:
            raise InvalidInputError(
                "No dataset id given and none remembered; pass --id or run 'deltaset create' first."
            )
        return found

    # -- output -------------------------------------------------------------------------------
    # Every human-readable line goes through escaped(): names may hold what acts on a terminal.
    def say(self, text: str) -> None:
        """A human message on stdout, silenced by --quiet and by --json (stdout is the data's)."""
        if not self.quiet and not self.as_json:
            self.out.print(escaped(text))

    def clearml_line(self, text: str) -> None:
        """The line ClearML's CLI prints for the same result (``New dataset created id=...``),
        after deltaset's own, for the scripts that grep it; silenced as :meth:`say` is."""
        self.say(text)

    def lines(self, lines: Iterable[str]) -> None:
        """Text a command was asked for (a tree, a graph) on stdout, printed even with --quiet."""
        for line in lines:
            sys.stdout.write(escaped(line) + "\n")

    def problem(self, text: str) -> None:
        """A problem on stderr, printed even with --quiet."""
        sys.stderr.write(escaped(text) + "\n")

    def local_path(self, path: str) -> None:
        """A local path on stdout. For a script (``$(deltaset get ...)``), exactly as the system
        names it, bytes that are not UTF-8 included; on a terminal, escaped as all text is."""
        sys.stdout.flush()
        if sys.stdout.isatty():
            sys.stdout.write(escaped(path) + "\n")
            sys.stdout.flush()
            return
        sys.stdout.buffer.write(os.fsencode(path) + b"\n")
        sys.stdout.buffer.flush()

    def data(self, value: Any) -> None:
        """Machine-readable output, printed even with --quiet."""
        sys.stdout.write(json.dumps(value, indent=2) + "\n")

    def data_list(self, items: Iterable[Any]) -> None:
        """:meth:`data` of a list written item by item, so a million rows are never held."""
        separator = "[\n"
        for item in items:
            sys.stdout.write(separator + "  " + json.dumps(item))
            separator = ",\n"
        sys.stdout.write("[]\n" if separator == "[\n" else "\n]\n")

    def table(self, columns: list[str], rows: Iterable[list[str]]) -> None:
        """Aligned columns, printed as the rows come: the widths are those of the first
        :data:`WIDTH_ROWS` rows (a longer cell later pushes its line out), so the first lines
        show at once however many follow (``list | head``)."""
        from rich.cells import cell_len  # the terminal width of wide and combining characters

        rest = iter(rows)
        first = [[escaped(cell) for cell in row] for row in itertools.islice(rest, WIDTH_ROWS)]
        widths = [max(map(cell_len, cells)) for cells in zip(columns, *first, strict=True)]

        def line(cells: list[str]) -> str:
            pairs = zip(cells[:-1], widths[:-1], strict=True)
            padded = (cell + " " * (width - cell_len(cell)) for cell, width in pairs)
            return "  ".join([*padded, cells[-1]]) + "\n"

        sys.stdout.write(line(columns))
        for cells in first:
            sys.stdout.write(line(cells))
        for row in rest:
            sys.stdout.write(line([escaped(cell) for cell in row]))

    def progress(self) -> ProgressProtocol:
        if self.quiet or not sys.stderr.isatty():
            return NoProgress()
        from deltaset.cli.terminal import TerminalProgress

        return TerminalProgress(self.err)
