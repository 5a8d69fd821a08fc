"""What the raw route serves a file as, and how it names it for a download."""

from __future__ import annotations

import pytest

from deltaset.engine.preview import FileInfo
from deltaset.ui.files import OCTETS, PLAIN_TEXT, disposition, served_type


def _info(kind: str, content_type: str) -> FileInfo:
    return FileInfo("a/file", 1, "0" * 64, kind, content_type, False)


@pytest.mark.parametrize(
    ("kind", "content_type", "served"),
    [
        ("image", "image/png", "image/png"),
        ("video", "video/mp4", "video/mp4"),
        ("image", "image/svg+xml", PLAIN_TEXT),  # an SVG can hold a script
        ("text", "text/plain", PLAIN_TEXT),  # what .html files are detected as
        ("text", "text/markdown", PLAIN_TEXT),
        ("text", "application/json", PLAIN_TEXT),
        ("table", "text/csv", PLAIN_TEXT),
        ("table", "application/vnd.apache.parquet", OCTETS),
        ("binary", "application/octet-stream", OCTETS),
    ],
)
def test_a_file_is_never_served_as_a_type_that_runs(
    kind: str, content_type: str, served: str
) -> None:
    assert served_type(_info(kind, content_type)) == served


def test_a_download_name_keeps_any_character_and_cannot_break_the_header() -> None:
    header = disposition("attachment", 'évil"; name=x.txt')
    assert header == (
        'attachment; filename="_vil___name_x.txt"; '
        "filename*=UTF-8''%C3%A9vil%22%3B%20name%3Dx.txt"
    )
