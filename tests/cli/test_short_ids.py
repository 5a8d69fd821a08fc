"""Short ids: any unique start of a version id (at least 4 digits), as git takes, wherever a
command or an API call takes an id."""

from __future__ import annotations

import json
from collections.abc import Callable

from deltaset import Dataset
from tests.cli.helpers import Flow, assert_error, id_of, ok
from tests.conftest import Result


def _unique_prefix(version_id: str, others: list[str]) -> str:
    """The shortest start of ``version_id`` (4 digits or more) no other id shares."""
    for length in range(4, 33):
        if not any(other.startswith(version_id[:length]) for other in others):
            return version_id[:length]
    raise AssertionError("ids are unique")


def test_every_kind_of_id_argument_takes_a_unique_start(
    cli: Callable[..., Result], flow: Flow
) -> None:
    parent = flow.version({"a.txt": "a"})
    short = _unique_prefix(parent, [])
    child = id_of(cli("create", "--project", "proj", "--name", "ds", "--parents", short))
    flow.run("add", "--id", child[:6].upper(), "--files", str(flow.folder({"b.txt": "b"})))
    flow.run("close", "--id", child[:8])
    ids = [parent, child]
    p, c = _unique_prefix(parent, [child]), _unique_prefix(child, [parent])
    assert json.loads(ok(cli("show", "--id", c, "--json")).stdout)["parents"] == [parent]
    assert flow.paths("--id", c) == ["a.txt", "b.txt"]
    assert (
        json.loads(flow.run("compare", "--source", p, "--target", c, "--json").stdout)["source"]
        == parent
    )
    assert [v["id"] for v in flow.search("--ids", p)] == [parent]
    squashed = id_of(cli("squash", "--name", "flat", "--ids", p, c))
    assert Dataset.get(dataset_id=squashed[:10]).id == squashed  # the API takes one too
    assert Dataset.get(dataset_id=c).list_added_files(dataset_id=p) == ["b.txt"]
    deleted = ok(cli("delete", "--id", squashed[:12])).stdout.splitlines()
    assert deleted[0] == f"Deleted {squashed}"
    assert sorted(v["id"] for v in flow.search()) == sorted(ids)
    folder = flow.folder({"a.txt": "a", "b.txt": "b", "c.txt": "c"})
    synced = cli("sync", "--project", "proj", "--name", "ds", "--parents", c, "--folder",
                 str(folder), "--json")  # fmt: skip
    assert json.loads(ok(synced).stdout)["version"]["parents"] == [child]


def test_a_short_id_that_is_too_short_or_matches_nothing_is_one_sentence(
    cli: Callable[..., Result], flow: Flow
) -> None:
    version_id = flow.version({"a.txt": "a"})
    assert_error(cli("get", "--id", version_id[:3]), "too short", "at least 4")
    unknown = next(c for c in "0123456789abcdef" if c != version_id[0]) * 6
    assert_error(
        cli("show", "--id", unknown), f"No dataset version has an id starting with {unknown!r}"
    )
    assert_error(cli("show", "--id", "nothex"), "is not a dataset version id")
    assert flow.search("--ids", unknown) == []  # a search filters: nothing found, no error
