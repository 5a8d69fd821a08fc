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
    assert listed == ["counts", "stats"]
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
    assert flow.run("metadata", "list", "--id", version, "--json").stdout.strip() == "[]"
    ok(flow.cli("metadata", "set", "--id", version, "--value", deeply_nested(100)))
