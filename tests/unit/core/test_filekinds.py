"""Kind detection for previews, and HTTP Range headers."""

from __future__ import annotations

import pytest

from deltaset.core.byteranges import parse_range
from deltaset.core.filekinds import detect, table_format
from deltaset.errors import InvalidInputError


@pytest.mark.parametrize(
    ("path", "head", "kind"),
    [
        ("photo.bin", b"\x89PNG\r\n\x1a\n....", "image"),  # magic wins over the extension
        ("a.jpg", b"", "image"),
        ("t.parquet", b"PAR1xxxx", "table"),
        ("x", b"RIFF\0\0\0\0WAVEfmt ", "audio"),
        ("clip", b"\0\0\0\x18ftypmp42", "video"),
        ("notes.md", b"# title", "text"),
        ("README", b"plain words\n", "text"),
        ("blob.dat", b"\0\1\2\3", "binary"),
        ("script.py", b"print(1)\n", "text"),
    ],
)
def test_kind_from_magic_then_extension(path: str, head: bytes, kind: str) -> None:
    assert detect(path, head).kind == kind


def test_html_is_shown_as_plain_text_never_rendered() -> None:
    assert detect("page.html", b"<script>alert(1)</script>").content_type == "text/plain"


def test_table_formats() -> None:
    assert table_format("a.csv", b"x,y") == "csv"
    assert table_format("a.tsv", b"x\ty") == "tsv"
    assert table_format("data", b"ARROW1\0\0") == "arrow"
    assert table_format("a.txt", b"x") is None


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-99", (0, 100)),
        ("bytes=500-", (500, 1000)),
        ("bytes=-10", (990, 1000)),
        ("bytes=900-5000", (900, 1000)),
    ],
)
def test_range_headers(header: str, expected: tuple[int, int]) -> None:
    assert parse_range(header, 1000) == expected


@pytest.mark.parametrize("header", ["bytes=1000-", "bytes=5-2", "items=0-1", "bytes=0-1,5-6"])
def test_unsatisfiable_or_malformed_ranges_are_refused(header: str) -> None:
    with pytest.raises(InvalidInputError):
        parse_range(header, 1000)
