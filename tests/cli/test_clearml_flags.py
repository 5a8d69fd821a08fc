"""``clearml-data`` command lines keep working as ``deltaset`` ones: list flags take what
ClearML's take (an empty list too), compared with the installed clearml package's parser."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import pytest

from deltaset.cli.main import build_parser
from tests.backends import EMBEDDED_ONLY
from tests.cli.helpers import Flow, assert_error, ok
from tests.conftest import Result


class _Captured(Exception):
    def __init__(self, parser: argparse.ArgumentParser) -> None:
        super().__init__("parser captured")
        self.parser = parser


def _clearml_parser(monkeypatch: pytest.MonkeyPatch) -> argparse.ArgumentParser:
    """The parser ``clearml-data`` builds, caught where it would read the command line."""
    main = pytest.importorskip("clearml.cli.data.__main__")

    def capture(parser: argparse.ArgumentParser, *args: object, **kwargs: object) -> None:
        raise _Captured(parser)

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", capture)
    try:
        main.cli()
    except _Captured as caught:
        return caught.parser
    raise AssertionError("clearml-data did not build its parser")


def _list_flags(parser: argparse.ArgumentParser) -> dict[tuple[str, str], object]:
    """``{(command, --flag): nargs}`` of every flag taking a list."""
    found: dict[tuple[str, str], object] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for command, sub in action.choices.items():
                for option in sub._actions:
                    if option.nargs in ("*", "+"):
                        for flag in option.option_strings:
                            found[(command, flag)] = option.nargs
    return found


@EMBEDDED_ONLY
def test_every_clearml_list_flag_takes_what_clearmls_takes(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    theirs = _list_flags(_clearml_parser(monkeypatch))
    capsys.readouterr()  # clearml-data prints its title
    monkeypatch.undo()
    ours = _list_flags(build_parser())
    assert ("add", "--links") in theirs
    assert ("search", "--tags") in theirs
    shared = {key: nargs for key, nargs in theirs.items() if key in ours}
    assert len(shared) >= 12
    assert {key: ours[key] for key in shared} == shared


def test_empty_lists_are_accepted_as_clearml_accepts_them(
    flow: Flow, cli: Callable[..., Result], data: Path
) -> None:
    draft = flow.create("--tags", "--parents")
    added = ok(cli("add", "--files", "--wildcard")).stdout.splitlines()
    assert added == [f"0 files added to {draft}", "0 files added"]
    ok(cli("add", "--files", str(data), "--links"))
    removed = ok(cli("remove", "--files")).stdout.splitlines()
    assert removed == [f"0 files removed from {draft}", "0 files removed"]
    ok(cli("close"))
    assert draft in ok(cli("search", "--ids", "--tags")).stdout
    assert "a.jpg" in ok(cli("list", "--id", draft, "--filter")).stdout
    assert_error(cli("add", "--id", draft), "Name what to add")


def test_deleting_what_is_absent_is_still_an_error_on_the_command_line(
    cli: Callable[..., Result],
) -> None:
    assert_error(cli("delete", "--project", "p", "--name", "gone"), "No dataset p/gone")
