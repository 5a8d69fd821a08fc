"""``deltaset push`` and ``pull``: versions copied with their ancestors between this machine's
catalog and another storage (a folder, an S3 bucket) or a deltaset server, ids and lineage
kept, only the missing bytes sent, finished by running it again after an interruption."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from deltaset.catalog.base import Query
from deltaset.engine.context import default_context
from deltaset.storage import open_storage
from tests.cli.helpers import assert_error, id_of, ok
from tests.conftest import Result, forget_context, make_files, read_tree, run_cli
from tests.faulty_proxy import Faults, FaultyProxy
from tests.server.inprocess import served

Cli = Callable[..., Result]
V1: dict[str, bytes | str] = {"cat.jpg": "meow", "big.bin": os.urandom(3 << 20)}
V2: dict[str, bytes | str] = {**V1, "dog.jpg": "woof"}


class Homes:
    """Machines, each its own home (catalog, cache and default storage)."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.tmp_path = tmp_path
        self.monkeypatch = monkeypatch
        monkeypatch.setenv("DELTASET_DISCOVER_INTERVAL", "0")

    def use(self, name: str, storage: str | None = None) -> None:
        home = self.tmp_path / name
        home.mkdir(exist_ok=True)
        if storage:
            (home / "config.toml").write_text(f'storage = "{storage}"\n')
        self.monkeypatch.setenv("DELTASET_HOME", str(home))
        forget_context()


@pytest.fixture
def homes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Homes:
    return Homes(tmp_path, monkeypatch)


def two_versions(cli: Cli, tmp_path: Path) -> tuple[str, str]:
    """Version 1.0.0 and its child 1.0.1 in the current machine's catalog."""
    folder = tmp_path / "work"
    make_files(folder, V1)
    first = id_of(cli("sync", "--project", "p", "--name", "n", "--folder", str(folder)))
    make_files(folder, {"dog.jpg": "woof"})
    second = id_of(cli("sync", "--project", "p", "--name", "n", "--folder", str(folder)))
    ok(cli("metadata", "set", "--id", second, "--key", "labels", "--value", '{"cat": 1}'))
    return first, second


def push(cli: Cli, *args: str) -> dict[str, Any]:
    return dict(json.loads(ok(cli("push", *args, "--json")).stdout))


def expected(files: dict[str, bytes | str]) -> dict[str, bytes]:
    return {p: v.encode() if isinstance(v, str) else v for p, v in files.items()}


def check_seen(cli: Cli, first: str, second: str, tmp_path: Path) -> None:
    """The current machine's catalog has both versions with their lineage and content."""
    found = json.loads(ok(cli("search", "--project", "p", "--json")).stdout)
    assert sorted((r["id"], r["version"]) for r in found) == sorted(
        [(first, "1.0.0"), (second, "1.0.1")]
    )
    graph = json.loads(ok(cli("lineage", "--id", second, "--json")).stdout)["versions"]
    assert graph[second]["parents"] == [first]
    copy = tmp_path / f"copy-{second[:6]}-{len(list(tmp_path.iterdir()))}"
    ok(cli("get", "--id", second, "--copy", str(copy)))
    assert read_tree(copy) == expected(V2)
    meta = ok(cli("metadata", "get", "--id", second, "--key", "labels")).stdout
    assert json.loads(meta) == {"cat": 1}


def test_push_to_a_folder_a_teammate_shares(cli: Cli, homes: Homes, tmp_path: Path) -> None:
    team = (tmp_path / "team").as_uri()
    homes.use("alice")
    first, second = two_versions(cli, tmp_path)
    report = push(cli, "--id", second, "--to", team)
    assert report["copied"] == [first, second]  # the ancestor first
    assert report["stored_bytes"] > 3 << 20
    homes.use("bob", storage=team)
    check_seen(cli, first, second, tmp_path)
    homes.use("alice")
    again = push(cli, "--id", second, "--to", team)
    assert (again["copied"], again["present"], again["stored_bytes"]) == ([], [second], 0)


def test_push_to_s3_sends_only_what_the_bucket_lacks(
    cli: Cli, homes: Homes, tmp_path: Path, s3_url: str
) -> None:
    homes.use("alice")
    first, second = two_versions(cli, tmp_path)
    assert push(cli, "--id", first, "--to", s3_url)["copied"] == [first]
    report = push(cli, "--id", second, "--to", s3_url)
    assert report["copied"] == [second]
    assert report["stored_bytes"] < 1000  # only dog.jpg's pack: the rest is in the bucket
    homes.use("bob", storage=s3_url)
    check_seen(cli, first, second, tmp_path)


def test_push_to_a_server_and_pull_into_another_machine(
    cli: Cli, homes: Homes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    homes.use("alice")
    first, second = two_versions(cli, tmp_path)
    with served(tmp_path / "server") as (url, _):
        assert push(cli, "--id", second, "--to", url)["copied"] == [first, second]
        homes.use("through-the-server")
        monkeypatch.setenv("DELTASET_API_URL", url)
        forget_context()
        check_seen(cli, first, second, tmp_path)  # the server's catalog and storage
        monkeypatch.delenv("DELTASET_API_URL")
        homes.use("carol")
        pulled = json.loads(ok(cli("pull", "--id", second, "--from", url, "--json")).stdout)
        assert pulled["copied"] == [first, second]
        forget_context()  # the server may stop: carol has all of it
    check_seen(cli, first, second, tmp_path)
    carol_storage = (tmp_path / "carol" / "storage").as_uri()
    assert default_context().catalog.get(second).storage == carol_storage


def test_an_interrupted_push_is_finished_by_the_next(
    cli: Cli, homes: Homes, tmp_path: Path
) -> None:
    team = tmp_path / "team"
    homes.use("alice")
    first, _ = two_versions(cli, tmp_path)
    killed = run_cli(
        "push", "--id", first, "--to", str(team), env={"DELTASET_FAILPOINT": "transfer.after_blobs"}
    )
    assert killed.returncode == -9
    assert not (team / "versions" / f"{first}.json").exists()
    report = push(cli, "--id", first, "--to", str(team))
    assert (report["copied"], report["stored_bytes"]) == ([first], 0)  # the bytes were there
    assert f"versions/{first}.json" in set(open_storage(team.as_uri()).list("versions/"))


def test_a_draft_or_an_unknown_id_is_one_clear_error(
    cli: Cli, homes: Homes, tmp_path: Path
) -> None:
    homes.use("alice")
    draft = id_of(cli("create", "--project", "p", "--name", "n"))
    assert_error(cli("push", "--id", draft, "--to", str(tmp_path / "team")), "draft")
    missing = "0" * 32
    assert_error(cli("pull", "--id", missing, "--from", str(tmp_path / "team")), missing)
    assert_error(cli("push", "--id", "nope", "--to", str(tmp_path / "team")), "nope")


def test_the_python_api_pushes_and_a_teammate_refreshes(homes: Homes, tmp_path: Path) -> None:
    import deltaset
    from deltaset import Dataset

    team = str(tmp_path / "team")
    homes.use("alice")
    made = Dataset.create(dataset_project="p", dataset_name="n")
    made.add_files(str(make_files(tmp_path / "work", V1)))
    made.finalize(auto_upload=True)
    assert deltaset.push([made.id], to=team).copied == [made.id]
    homes.use("bob")  # his default storage is his own: the team folder he names
    reports = deltaset.refresh(team)
    assert [r.imported for r in reports] == [[made.id]]
    assert read_tree(Path(Dataset.get(dataset_id=made.id).get_local_copy())) == expected(V1)
    again = deltaset.pull([made.id], source=team)
    assert (again.copied, again.present) == ([], [made.id])


def test_a_server_with_tokens_takes_a_push_with_the_token_given_for_it(
    cli: Cli, homes: Homes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    homes.use("alice")
    first, second = two_versions(cli, tmp_path)
    with served(tmp_path / "server", auth=True) as (url, parts):
        token, _ = parts.tokens.create("alice", False, False)
        assert_error(cli("push", "--id", second, "--to", url), "token")
        monkeypatch.setenv("DELTASET_API_TOKEN", token)
        forget_context()
        assert push(cli, "--id", second, "--to", url)["copied"] == [first, second]
        assert [r.id for r in parts.catalog.search(Query(project="p"))] == [first, second]
        forget_context()


def test_a_push_to_another_server_never_carries_the_configured_servers_token(
    cli: Cli, homes: Homes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with (
        served(tmp_path / "team-server", auth=True) as (team_url, team),
        served(tmp_path / "other-server") as (other_url, other_parts),
    ):
        seen = Faults()  # no faults: the proxy notes what reaches the other server
        other = FaultyProxy(other_url, seen)
        try:
            token, _ = team.tokens.create("alice", False, False)
            homes.use("alice")
            monkeypatch.setenv("DELTASET_API_URL", team_url)
            monkeypatch.setenv("DELTASET_API_TOKEN", token)
            forget_context()
            first, second = two_versions(cli, tmp_path)
            assert push(cli, "--id", second, "--to", other.endpoint)["copied"] == [first, second]
            found = other_parts.catalog.search(Query(project="p"))
            assert [r.id for r in found] == [first, second]
        finally:
            forget_context()
            other.stop()
    assert seen.authorizations == []
