"""File names as text: the reversible form names take in catalogs, JSON and ``--json``, and
the names a case-insensitive or normalising file system would make one."""

from __future__ import annotations

import os
import urllib.parse

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deltaset.core import names
from tests.unit.properties import PROPERTY

# What a file system may hold: any bytes but NUL, as os.fsdecode gives them to Python.
file_names = st.binary(min_size=1, max_size=40).filter(lambda b: b"\0" not in b).map(os.fsdecode)


@PROPERTY
@given(file_names)
def test_every_name_round_trips_through_valid_text(name: str) -> None:
    text = names.to_text(name)
    text.encode()  # valid UTF-8: any database, JSON encoder or terminal takes it
    assert names.from_text(text) == name
    assert names.to_bytes(names.from_text(text)) == os.fsencode(name)


@PROPERTY
@given(st.text(min_size=1).filter(lambda t: not t.startswith("//")))
def test_text_is_written_as_it_is(text: str) -> None:
    assert names.to_text(text) == text
    assert names.from_text(text) == text


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        (b"caf\xe9.txt", "//caf%E9.txt"),
        (b"dir/\xff x%", "//dir/%FF%20x%25"),
        (b"//a local path", "////a%20local%20path"),  # text, but starting with the marker
    ],
)
def test_the_documented_form(raw: bytes, text: str) -> None:
    assert names.to_text(os.fsdecode(raw)) == text
    assert urllib.parse.unquote_to_bytes(text[2:]) == raw  # what a script does to read it


def test_first_clash_finds_files_and_folders_a_fold_makes_one() -> None:
    fold = names.case_fold
    assert names.first_clash(["a/x.txt", "b/x.txt", "A.txt"], fold) is None
    assert names.first_clash(["Case.txt", "case.txt"], fold) == ("Case.txt", "case.txt")
    assert names.first_clash(["Dir/a.txt", "dir/b.txt"], fold) == ("Dir", "dir")
    nfc, nfd = "\u00e9t\u00e9.txt", "e\u0301te\u0301.txt"
    assert names.first_clash([nfc, nfd], names.normal_fold) == (nfc, nfd)
    assert names.first_clash([nfc, nfd], fold) == (nfc, nfd)
    assert names.first_clash(["Case.txt", "case.txt"], names.normal_fold) is None
