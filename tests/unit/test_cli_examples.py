"""Every command's help ends with an example, and every example is a command that parses."""

from __future__ import annotations

import shlex

import pytest

from deltaset.cli import reference
from deltaset.cli.examples import EXAMPLES, example_of
from deltaset.cli.main import build_parser

COMMANDS = reference.commands()
REFERENCE = reference.cli_reference()


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c.name)
def test_every_command_has_an_example_in_its_help_and_in_the_reference(
    command: reference.Command,
) -> None:
    example = example_of(command.parser)
    assert example, f"{command.name} has no example: add one to deltaset.cli.examples.EXAMPLES"
    assert example.startswith(command.name.split()[0] + " ")
    assert command.parser.format_help().rstrip().endswith(f"example:\n  {example}")
    section = REFERENCE.split(f"\n## {command.name}\n")[1].split("\n## ")[0]
    assert f"Example:\n\n```bash\n{example}\n```" in section


@pytest.mark.parametrize("path", sorted(EXAMPLES))
def test_every_example_parses_and_runs_the_command_it_illustrates(path: str) -> None:
    words = shlex.split(EXAMPLES[path])[1:]
    args = build_parser().parse_args(words)
    assert words[: len(path.split())] == path.split() or not path  # its own command
    assert callable(args.handler)


def test_every_example_belongs_to_a_command() -> None:
    assert set(EXAMPLES) == {" ".join(c.path) for c in COMMANDS}
