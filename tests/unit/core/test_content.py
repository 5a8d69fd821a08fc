from __future__ import annotations

from posixpath import splitext

from hypothesis import given
from hypothesis import strategies as st

from deltaset.core.content import NO_EXTENSION, ROOT, summarize
from tests.unit.properties import PROPERTY

NAMES = [
    "a.txt", "A.JSON", ".bashrc", "d/.bashrc", "d/..a", "..a", "d/a..b", "d.e/f", "d.e/f.G",
    "x", "a.", "d/a.", "...", "d/...", "d/.a.b", "a/b/c.tar.gz", "a.b/c", "a/b.c/d",
]  # fmt: skip


def _expected(paths: list[tuple[str, int]]) -> tuple[dict[str, int], dict[str, int]]:
    by_extension: dict[str, int] = {}
    by_folder: dict[str, int] = {}
    for path, size in paths:
        extension = splitext(path.rsplit("/", 1)[-1])[1].lower() or NO_EXTENSION
        folder = path.split("/", 1)[0] if "/" in path else ROOT
        by_extension[extension] = by_extension.get(extension, 0) + size
        by_folder[folder] = by_folder.get(folder, 0) + size
    return by_extension, by_folder


def _bytes(totals: dict[str, dict[str, int]]) -> dict[str, int]:
    return {key: found["bytes"] for key, found in totals.items()}


def test_extensions_and_folders_are_those_of_splitext_for_odd_names() -> None:
    files = [(name, 1 + at) for at, name in enumerate(NAMES)]
    summary = summarize(files)
    assert (_bytes(summary["by_extension"]), _bytes(summary["by_folder"])) == _expected(files)
    assert summary["files"] == len(NAMES)


@PROPERTY
@given(st.lists(st.tuples(st.text("ab./X", min_size=1, max_size=8), st.integers(0, 9))))
def test_summary_counts_every_file_once(files: list[tuple[str, int]]) -> None:
    summary = summarize(files)
    assert (_bytes(summary["by_extension"]), _bytes(summary["by_folder"])) == _expected(files)
    assert sum(f["files"] for f in summary["by_extension"].values()) == len(files)
