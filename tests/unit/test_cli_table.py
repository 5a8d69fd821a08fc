"""Tables print their rows as they come, so ``deltaset list | head`` answers at once."""

from __future__ import annotations

from argparse import Namespace
from collections.abc import Iterator

import pytest

from deltaset.cli import app as app_module
from deltaset.cli.app import App


class Stop(Exception):
    pass


def test_rows_past_the_measured_ones_are_printed_before_the_next_is_made(
    capsys: pytest.CaptureFixture[str],
) -> None:
    made = app_module.WIDTH_ROWS + 3

    def rows() -> Iterator[list[str]]:
        for n in range(made):
            yield [f"file{n}", f"{n} B"]
        raise Stop  # as a reader that stops (head) or a row that fails

    with pytest.raises(Stop):
        App(Namespace()).table(["path", "size"], rows())
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 + made
    assert lines[0] == "path" + " " * (len(f"file{made - 4}") - 4) + "  size"
    assert lines[-1] == f"file{made - 1}  {made - 1} B"  # past the measured rows: as wide as needed


def test_columns_are_as_wide_as_their_widest_cell_in_terminal_cells(
    capsys: pytest.CaptureFixture[str],
) -> None:
    App(Namespace()).table(["path", "size"], [["日本.txt", "1 B"], ["a", "22 B"]])
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["path      size", "日本.txt  1 B", "a         22 B"]
