"""The committed command and API references are what the code generates, and cover it all."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from deltaset.cli import reference
from deltaset.cli.main import build_parser

DOCS = Path(__file__).resolve().parents[2] / "docs"
HOW = f"regenerate the references from the repository root with: {reference.REGENERATE}"


@pytest.mark.parametrize("name", sorted(reference.REFERENCES))
def test_committed_reference_is_what_the_code_generates(name: str) -> None:
    path = DOCS / name
    assert path.exists(), f"docs/{name} is missing; {HOW}"
    committed = path.read_text(encoding="utf-8")
    assert committed == reference.REFERENCES[name](), (
        f"docs/{name} is not what the code generates (a command, flag, help text, method or "
        f"docstring changed); {HOW}"
    )


def test_every_command_of_the_parser_has_a_section() -> None:
    text = reference.cli_reference()
    found = reference.commands()
    names = [c.name for c in found]
    assert len(names) == len(set(names))
    for command in found:
        assert f"\n## {command.name}\n" in text, f"{command.name} has no section"
        if command.path:
            assert f"[`{command.name}`](#" in text, f"{command.name} is not in the contents"


def test_every_sub_command_argparse_knows_is_walked() -> None:
    """Compared with a walk of argparse's own choices, aliases and nesting included."""
    expected: set[str] = set()

    def walk(parser: argparse.ArgumentParser, prefix: str) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    expected.add(f"{prefix} {name}")
                    walk(sub, f"{prefix} {name}")

    walk(build_parser(), "deltaset")
    walked = {c.name for c in reference.commands()[1:]}
    assert walked == expected
    assert {"deltaset server token create", "deltaset metadata set", "deltaset config show"} <= (
        walked
    )


def _section(text: str, command: str) -> str:
    start = text.index(f"\n## {command}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else None]


@pytest.mark.parametrize(
    ("command", "flag"),
    [
        ("deltaset get", "--num-parts"),
        ("deltaset get", "--files"),
        ("deltaset get", "--copy"),
        ("deltaset sync", "--skip-close"),
        ("deltaset sync", "--folder"),
        ("deltaset create", "--output-uri"),
        ("deltaset add", "--links"),
        ("deltaset close", "--disable-upload"),
        ("deltaset search", "--not-only-completed"),
        ("deltaset delete", "--entire-dataset"),
        ("deltaset verify", "--filesize"),
        ("deltaset server", "--public-url"),
        ("deltaset server token create", "--read-only"),
        ("deltaset metadata set", "--csv"),
    ],
)
def test_known_flags_are_in_their_command_section(command: str, flag: str) -> None:
    assert f"`{flag}`" in _section(reference.cli_reference(), command)


def test_usage_wraps_at_a_fixed_width_whatever_the_terminal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "40")
    narrow = reference.cli_reference()
    monkeypatch.setenv("COLUMNS", "250")
    assert reference.cli_reference() == narrow
    usage = _section(narrow, "deltaset get").split("```text\n")[1].split("```")[0]
    assert all(len(line) <= reference.WIDTH for line in usage.splitlines())
    assert usage.startswith("usage: deltaset get [--id ID]")


def test_required_options_and_defaults_are_shown() -> None:
    text = reference.cli_reference()
    assert "| `--name` | `NAME` | required |" in _section(text, "deltaset create")
    assert "| `--port` | `PORT` | `8080` |" in _section(text, "deltaset server")
    assert "required: one of --value, --csv" in _section(text, "deltaset metadata set")
    assert "(--value VALUE | --csv FILE)" in _section(text, "deltaset metadata set")


def test_every_public_dataset_member_is_in_the_api_reference() -> None:
    text = reference.api_reference()
    members = reference.api_members()
    names = {m.name for m in members}
    assert {"create", "get", "add_files", "get_local_copy", "id", "file_entries"} <= names
    for member in members:
        assert f"`Dataset.{member.name}`" in text, f"Dataset.{member.name} is not documented"
    assert "Dataset.create(\n    dataset_name: str | None = None," in text
    assert "Read back every stored byte of the version" in text  # a docstring's first paragraph


def test_every_storage_manager_method_is_in_the_api_reference() -> None:
    from deltaset import StorageManager

    text = reference.api_reference()
    members = reference.api_members(StorageManager)
    assert {"get_local_copy", "download_folder", "list"} <= {m.name for m in members}
    for member in members:
        assert f"## `StorageManager.{member.name}`" in text, member.name
    assert "StorageManager.get_local_copy(\n    remote_url: str," in text


def test_check_mode_names_the_stale_file_and_how_to_regenerate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert reference.main(["--write", "--docs", str(tmp_path)]) == 0
    assert reference.main(["--check", "--docs", str(tmp_path)]) == 0
    (tmp_path / "cli-reference.md").write_text("old\n")
    capsys.readouterr()
    assert reference.main(["--check", "--docs", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "cli-reference.md" in err
    assert reference.REGENERATE in err
