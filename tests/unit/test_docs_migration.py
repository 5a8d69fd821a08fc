"""The migration page covers every command and every public Dataset member the code has.

The lists come from the parser and the class at test time, so a command or method added
without a line in docs/migrating-from-clearml.md fails here, naming it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from deltaset.cli import reference

PAGE = Path(__file__).resolve().parents[2] / "docs" / "migrating-from-clearml.md"

# ClearML Data's own surface (clearml 2.1): each must say what it becomes.
CLEARML_COMMANDS = [
    "create",
    "add",
    "remove",
    "sync",
    "upload",
    "close",
    "publish",
    "list",
    "search",
    "delete",
    "get",
    "verify",
    "compare",
    "squash",
    "rename",
    "move",
    "set-description",
]
CLEARML_METHODS = [
    "create",
    "get",
    "list_datasets",
    "delete",
    "rename",
    "move_to_project",
    "squash",
    "add_files",
    "add_external_files",
    "remove_files",
    "sync_folder",
    "upload",
    "finalize",
    "publish",
    "is_final",
    "is_dirty",
    "get_local_copy",
    "get_mutable_local_copy",
    "list_files",
    "list_added_files",
    "list_modified_files",
    "list_removed_files",
    "get_dependency_graph",
    "verify_dataset_hash",
    "get_default_storage",
    "set_metadata",
    "get_metadata",
    "set_description",
    "add_tags",
    "get_num_chunks",
    "get_logger",
    "is_offline",
    "set_offline",
    "import_offline_session",
]


@pytest.fixture(scope="module")
def page() -> str:
    return PAGE.read_text(encoding="utf-8")


def _mentions(text: str, phrase: str) -> bool:
    return re.search(re.escape(phrase) + r"(?![\w-])", text) is not None


def test_every_command_of_the_parser_is_on_the_migration_page(page: str) -> None:
    missing = [c.name for c in reference.commands()[1:] if not _mentions(page, c.name)]
    assert not missing, (
        f"docs/migrating-from-clearml.md does not mention {', '.join(missing)}: add a line "
        "saying what each maps to in ClearML Data, or that it goes beyond ClearML."
    )


def test_every_public_dataset_member_is_on_the_migration_page(page: str) -> None:
    missing = [
        f"Dataset.{m.name}"
        for m in reference.api_members()
        if not _mentions(page, f"Dataset.{m.name}")
    ]
    assert not missing, (
        f"docs/migrating-from-clearml.md does not mention {', '.join(missing)}: add it to the "
        "method tables with its ClearML equivalent (or 'beyond ClearML') and what differs."
    )


@pytest.mark.parametrize("command", CLEARML_COMMANDS)
def test_every_clearml_command_has_a_section(page: str, command: str) -> None:
    assert f"### `clearml-data {command}` → `deltaset {command}`" in page


@pytest.mark.parametrize("method", CLEARML_METHODS)
def test_every_clearml_method_has_a_line(page: str, method: str) -> None:
    assert _mentions(page, f"`{method}(") or _mentions(page, f"Dataset.{method}"), (
        f"ClearML's Dataset.{method} has no line on docs/migrating-from-clearml.md"
    )


def test_the_documents_are_linked_from_the_readme() -> None:
    readme = (PAGE.parents[1] / "README.md").read_text(encoding="utf-8")
    for name in ("migrating-from-clearml.md", "cli-reference.md", "api-reference.md"):
        assert f"(docs/{name})" in readme
