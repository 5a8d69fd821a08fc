"""``deltaset metadata``: set, get and list values and tables from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.helpers import Flow, assert_error, ok


def test_set_get_list(flow: Flow, tmp_path: Path) -> None:
    version = flow.version({"a.txt": "a"})
    ok(flow.cli("metadata", "set", "--id", version, "--key", "stats", "--value", '{"n": 3}'))
    table = tmp_path / "counts.csv"
    table.write_text("label,count\ncat,120\ndog,80\n")
    ok(flow.cli("metadata", "set", "--id", version, "--key", "counts", "--csv", str(table)))
    assert json.loads(
        ok(flow.cli("metadata", "get", "--id", version, "--key", "stats")).stdout
    ) == {"n": 3}
    shown = ok(flow.cli("metadata", "get", "--id", version, "--key", "counts")).stdout
    assert shown == "label,count\ncat,120\ndog,80\n"
    listed = json.loads(ok(flow.cli("metadata", "list", "--id", version, "--json")).stdout)
    assert listed == ["counts", "dataset-content", "stats"]
    assert_error(
        flow.cli("metadata", "set", "--id", version, "--value", "{not json"), "--value is not JSON"
    )
    assert_error(
        flow.cli("metadata", "get", "--id", version, "--key", "nope"), "no metadata 'nope'"
    )


def deeply_nested(levels: int) -> str:
    return "[" * levels + "]" * levels


@pytest.mark.parametrize(
    ("value", "fragments"),
    [
        ('{"loss": NaN}', ["NaN", "not JSON"]),
        ("[Infinity]", ["Infinity", "not JSON"]),
        ('{"x": -Infinity}', ["-Infinity", "not JSON"]),
        (deeply_nested(60_000), ["nests deeper than"]),
        (deeply_nested(300), ["nests deeper than"]),
    ],
    ids=["nan", "infinity", "minus-infinity", "60000-levels", "300-levels"],
)
def test_values_json_cannot_hold_are_one_error_and_stored_nowhere(
    flow: Flow, value: str, fragments: list[str]
) -> None:
    version = flow.version({"a.txt": "a"})
    assert_error(flow.cli("metadata", "set", "--id", version, "--value", value), *fragments)
    assert json.loads(flow.run("metadata", "list", "--id", version, "--json").stdout) == [
        "dataset-content"  # stored by close
    ]
    ok(flow.cli("metadata", "set", "--id", version, "--value", deeply_nested(100)))


@pytest.mark.parametrize(
    ("content", "fragments"),
    [
        (None, ["Cannot read ", "missing.csv: No such file or directory."]),
        (b'a,b\n1,2\n"x\n', ["is not a well-formed CSV file (C error: EOF inside string"]),
        (b"\xff\xfe\x00a,b\n1,2\n", ["is not a CSV file: byte 0 is not UTF-8 text."]),
        (b"", ["is empty: a table needs at least a header."]),
        ("folder", ["Cannot read ", "missing.csv: Is a directory."]),
    ],
    ids=["missing", "malformed", "binary", "empty", "folder"],
)
def test_a_table_that_cannot_be_read_is_one_error_and_stored_nowhere(
    flow: Flow, tmp_path: Path, content: bytes | str | None, fragments: list[str]
) -> None:
    version = flow.version({"a.txt": "a"})
    table = tmp_path / "missing.csv"
    if content == "folder":
        table.mkdir()
    elif isinstance(content, bytes):
        table.write_bytes(content)
    assert_error(flow.cli("metadata", "set", "--id", version, "--csv", str(table)), *fragments)
    assert json.loads(flow.run("metadata", "list", "--id", version, "--json").stdout) == [
        "dataset-content"  # stored by close
    ]
