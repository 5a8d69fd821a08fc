"""A team sharing one storage and no server: each machine's catalog sees what the others
wrote there, by one listing and without a rebuild."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from deltaset.storage import open_storage
from tests.cli.helpers import assert_error, id_of, ok
from tests.conftest import Result, forget_context, make_files, run_cli


class Machines:
    """Two machines, each its own home (catalog, cache), sharing the storage ``shared``."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shared: str) -> None:
        self.tmp_path = tmp_path
        self.monkeypatch = monkeypatch
        self.shared = shared
        monkeypatch.setenv("DELTASET_DISCOVER_INTERVAL", "0")  # look at every lookup
        for name in ("alice", "bob"):
            home = tmp_path / name
            home.mkdir()
            (home / "config.toml").write_text(f'storage = "{shared}"\n')

    def use(self, name: str) -> None:
        self.monkeypatch.setenv("DELTASET_HOME", str(self.tmp_path / name))
        forget_context()


@pytest.fixture
def machines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Machines:
    return Machines(tmp_path, monkeypatch, (tmp_path / "shared").as_uri())


def make_version(cli: Callable[..., Result], folder: Path, files: dict[str, bytes | str]) -> str:
    make_files(folder, files)
    return id_of(cli("sync", "--project", "team", "--name", "pets", "--folder", str(folder)))


def ids_found(cli: Callable[..., Result]) -> set[str]:
    return {r["id"] for r in json.loads(ok(cli("search", "--project", "team", "--json")).stdout)}


def test_a_version_written_by_a_teammate_is_found_without_a_rebuild(
    cli: Callable[..., Result], machines: Machines, tmp_path: Path
) -> None:
    machines.use("alice")
    first = make_version(cli, tmp_path / "a", {"cat.jpg": "meow"})
    machines.use("bob")
    assert ids_found(cli) == {first}
    # Bob builds on it: his sync finds the parent Alice made.
    second = make_version(cli, tmp_path / "b", {"cat.jpg": "meow", "dog.jpg": "woof"})
    machines.use("alice")
    assert ids_found(cli) == {first, second}
    lineage = json.loads(ok(cli("lineage", "--id", second, "--json")).stdout)
    assert lineage["versions"][second]["parents"] == [first]
    copy = tmp_path / "copy"
    ok(cli("get", "--id", second, "--copy", str(copy)))
    assert (copy / "dog.jpg").read_text() == "woof"


def test_a_look_within_the_interval_waits_and_refresh_looks_now(
    cli: Callable[..., Result],
    machines: Machines,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DELTASET_DISCOVER_INTERVAL", "3600")
    machines.use("alice")
    first = make_version(cli, tmp_path / "a", {"cat.jpg": "meow"})
    machines.use("bob")
    assert ids_found(cli) == {first}  # the first look is due at once
    machines.use("alice")
    second = make_version(cli, tmp_path / "a2", {"cat.jpg": "purr"})
    machines.use("bob")
    assert ids_found(cli) == {first}  # looked a moment ago, in another command
    report = json.loads(ok(cli("refresh", "--json")).stdout)
    assert [(r["storage"], r["imported"]) for r in report] == [(machines.shared, [second])]
    assert ids_found(cli) == {first, second}


def test_a_version_asked_for_by_id_is_looked_for_whatever_the_interval(
    cli: Callable[..., Result],
    machines: Machines,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DELTASET_DISCOVER_INTERVAL", "off")
    machines.use("alice")
    made = make_version(cli, tmp_path / "a", {"cat.jpg": "meow"})
    machines.use("bob")
    assert ids_found(cli) == set()  # never on its own
    copy = tmp_path / "copy"
    ok(cli("get", "--id", made, "--copy", str(copy)))
    assert (copy / "cat.jpg").read_text() == "meow"
    assert_error(cli("get", "--id", "0" * 32), "0" * 32)


def test_a_look_reads_no_record_it_knows(
    cli: Callable[..., Result],
    machines: Machines,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    machines.use("alice")
    for n in range(3):
        make_version(cli, tmp_path / f"v{n}", {"n.txt": str(n)})
    machines.use("bob")
    assert len(ids_found(cli)) == 3
    stats = open_storage(machines.shared).stats
    reads = stats.reads
    assert len(ids_found(cli)) == 3  # looked again (interval 0): listed, nothing read
    assert stats.reads == reads


def test_a_shared_folder_gone_leaves_the_catalog_answering(
    cli: Callable[..., Result],
    machines: Machines,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    machines.use("alice")
    made = make_version(cli, tmp_path / "a", {"cat.jpg": "meow"})
    (tmp_path / "shared").rename(tmp_path / "moved")
    (tmp_path / "shared").write_text("not a folder any more")
    forget_context()
    result = cli("search", "--project", "team", "--json")
    assert result.exit_code == 0
    assert [r["id"] for r in json.loads(result.stdout)] == [made]


def test_refresh_against_a_server_catalog_says_it_is_not_needed(
    cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from tests.server.inprocess import served

    with served(tmp_path / "server") as (url, _):
        monkeypatch.setenv("DELTASET_API_URL", url)
        forget_context()
        assert_error(cli("refresh"), "server")
        forget_context()


def test_a_number_both_machines_took_is_skipped_with_a_warning(
    cli: Callable[..., Result],
    machines: Machines,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DELTASET_DISCOVER_INTERVAL", "off")  # neither sees the other's yet
    machines.use("alice")
    hers = make_version(cli, tmp_path / "a", {"cat.jpg": "meow"})
    machines.use("bob")
    his = make_version(cli, tmp_path / "b", {"dog.jpg": "woof"})
    refreshed = cli("refresh")
    assert refreshed.exit_code == 1
    assert refreshed.stderr.splitlines()[0].startswith(f"skipped {hers}: Version 1.0.0 of")
    assert refreshed.stderr.splitlines()[-1].startswith("error: Not every new version")
    monkeypatch.setenv("DELTASET_DISCOVER_INTERVAL", "0")
    result = run_cli("search", "--project", "team", "--json")  # a process: warnings shown
    assert result.returncode == 0
    assert [r["id"] for r in json.loads(result.stdout)] == [his]
    assert f"the version {hers} in {machines.shared} was not imported" in result.stderr
    assert "1.0.0 of team/pets is already taken" in result.stderr


def test_a_storage_that_cannot_be_read_warns_once_an_interval_and_the_lookup_answers(
    cli: Callable[..., Result], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    unreadable = "azure://no-account-here/datasets"  # no Azure account is set up
    (home / "config.toml").write_text(f'storage = "{unreadable}"\n')
    monkeypatch.setenv("DELTASET_HOME", str(home))
    monkeypatch.setenv("DELTASET_DISCOVER_INTERVAL", "3600")
    forget_context()
    folder = make_files(tmp_path / "a", {"cat.jpg": "meow"})
    made = id_of(
        cli(
            "sync",
            "--project",
            "team",
            "--name",
            "pets",
            "--folder",
            str(folder),
            "--storage",
            str(tmp_path / "own"),
        )
    )
    (home / "discovery.json").unlink()  # as if never looked
    first = run_cli("search", "--project", "team", "--json")
    assert first.returncode == 0
    assert [r["id"] for r in json.loads(first.stdout)] == [made]
    assert f"could not look for new versions in {unreadable}: No Azure account" in first.stderr
    second = run_cli("search", "--project", "team", "--json")
    assert (second.returncode, second.stderr) == (0, "")  # tried again after the interval
