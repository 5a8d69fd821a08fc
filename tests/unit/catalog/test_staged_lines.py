"""Staged changes as the server's NDJSON lines, written and read by client and server alike."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from deltaset.catalog.base import DraftChange
from deltaset.catalog.http import _line
from deltaset.catalog.rows import change_columns, change_of
from deltaset.errors import InvalidInputError
from deltaset.server.models import ChangeModel
from deltaset.server.staged_lines import _LINE, read_changes, write_changes

CHANGES = [
    DraftChange("a.txt", size=3, blob_id="0" * 64, source="/src/a.txt"),
    DraftChange("old/b.txt", removed=True),
    DraftChange('q"uo\\te\n\t.txt', size=1, blob_id="1" * 64, source="/src/q", uploaded=True),
    DraftChange("caf\xe9/\u65e5\u672c.txt", size=2, blob_id="2" * 64, source="/s/\U0001f600"),
    DraftChange("bad\udce9name", size=4, blob_id="3" * 64, source="/s/\udcff"),
    DraftChange("remote.bin", size=5, blob_id="4" * 64, link="s3://b/k", etag='"e"'),
]


@pytest.mark.parametrize("change", CHANGES)
def test_a_client_line_is_what_json_writes_of_the_columns(change: DraftChange) -> None:
    line = _line(change)
    assert line.endswith(b"\n")
    assert line.count(b"\n") == 1
    assert line == json.dumps(change_columns(change), separators=(",", ":")).encode() + b"\n"
    assert change_of(json.loads(line)) == change


def test_the_server_reads_back_the_columns_it_writes() -> None:
    body = b"".join(_line(c) for c in CHANGES)
    read = list(read_changes(io.BytesIO(body)))
    assert read == [change_columns(c) for c in CHANGES]
    assert [change_of(json.loads(x)) for x in write_changes(read).splitlines()] == CHANGES


def test_a_line_leaving_fields_out_takes_their_defaults() -> None:
    (read,) = read_changes(io.BytesIO(b'\n{"path": "x.txt", "extra": 1}\n\n'))
    assert change_of(read) == DraftChange("x.txt")


@pytest.mark.parametrize(
    ("line", "sentence"),
    [
        (b"{", "Line 2 of the staged changes is invalid."),
        (b'{"path": ""}', "Line 2 of the staged changes is invalid."),
        (b'{"path": "a", "size": -1}', "Line 2 of the staged changes is invalid."),
        (b'{"path": "a", "removed": "maybe"}', "Line 2 of the staged changes is invalid."),
        (b'["a"]', "Line 2 of the staged changes is invalid."),
        (b'{"path": "../a"}', "Line 2 of the staged changes: "),
    ],
)
def test_a_bad_line_is_refused_by_its_number(line: bytes, sentence: str) -> None:
    with pytest.raises(InvalidInputError) as refused:
        list(read_changes(io.BytesIO(b'{"path": "ok.txt"}\n' + line + b"\n")))
    assert str(refused.value).startswith(sentence)


def test_the_line_validator_keeps_every_field_and_rule_of_the_documented_change() -> None:
    """The server reads lines by its own validator, not by ChangeModel (the schema the API
    documents): the two must not drift apart, field, type, bound or requirement."""

    def rules(schema: dict[str, Any]) -> dict[str, Any]:
        fields = {
            name: {k: v for k, v in field.items() if k != "default"}
            for name, field in schema["properties"].items()
        }
        return {"fields": fields, "required": schema["required"]}

    assert rules(_LINE.json_schema()) == rules(ChangeModel.model_json_schema())
