"""Each command builds only its own parser: it must be the very parser the full tree holds."""

from __future__ import annotations

import argparse

import pytest

from deltaset.cli import commands
from deltaset.cli.main import build_parser


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("the parser has no sub-commands")


FULL = _subcommands(build_parser())


def test_every_command_names_the_module_that_registers_it() -> None:
    assert sorted(commands.BY_NAME) == sorted(FULL)


@pytest.mark.parametrize("name", sorted(FULL))
def test_a_command_alone_parses_and_helps_as_in_the_full_tree(name: str) -> None:
    alone = _subcommands(build_parser(name))
    assert name in alone
    assert alone[name].format_help() == FULL[name].format_help()


def test_an_unknown_command_still_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser("colour").parse_args(["colour"])
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert all(f"'{name}'" in err for name in FULL)
