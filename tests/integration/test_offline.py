"""Offline sessions: versions made while the team's server is down (offline mode), imported
into it later with their ids, lineage, tags and metadata; only missing bytes sent, finished
by running it again after an interruption, a no-op the second time."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from deltaset.catalog.base import Query
from deltaset.cli.versions import schema
from deltaset.errors import NotFoundError, StateError
from tests.cli.helpers import assert_error, id_of, ok
from tests.conftest import Result, forget_context, make_files, read_tree, run_cli
from tests.integration.test_push_pull import V1, V2, Homes, check_seen, expected, two_versions
from tests.server.inprocess import served
from tests.servers import free_port

Cli = Callable[..., Result]


@pytest.fixture
def homes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Homes:
    return Homes(tmp_path, monkeypatch)


def go_offline(cli: Cli, monkeypatch: pytest.MonkeyPatch, dead_server: str) -> str:
    """Offline mode on a laptop whose configured server is down; returns a draft it made."""
    monkeypatch.setenv("DELTASET_API_URL", dead_server)
    forget_context()
    assert_error(cli("create", "--project", "p", "--name", "n"), "offline mode")
    monkeypatch.setenv("DELTASET_OFFLINE", "1")
    forget_context()
    return id_of(cli("create", "--project", "p", "--name", "drafty"))


def back_online(monkeypatch: pytest.MonkeyPatch, server: str) -> None:
    monkeypatch.delenv("DELTASET_OFFLINE", raising=False)
    monkeypatch.setenv("DELTASET_API_URL", server)
    forget_context()


def import_offline(cli: Cli, *args: str) -> dict[str, Any]:
    report = json.loads(ok(cli("import-offline", *args, "--json")).stdout)
    jsonschema.validate(report, {**schema(), "$ref": "#/$defs/import-offline"})
    return dict(report)


def test_a_session_made_while_the_server_is_down_is_imported_once(
    cli: Cli, homes: Homes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    homes.use("laptop")
    draft = go_offline(cli, monkeypatch, f"http://127.0.0.1:{free_port()}")
    first, second = two_versions(cli, tmp_path)
    ok(cli("tag", "--id", second, "--add", "offline-made"))
    with served(tmp_path / "server") as (url, parts):
        back_online(monkeypatch, url)
        report = import_offline(cli)
        assert (report["id"], report["copied"], report["drafts"]) == (
            second,
            [first, second],
            [draft],
        )
        assert report["stored_bytes"] > 3 << 20
        assert parts.catalog.get(second).tags == ("offline-made",)
        assert parts.catalog.get(second).parents == (first,)
        check_seen(cli, first, second, tmp_path)  # through the server: lineage, bytes, metadata
        again = import_offline(cli)
        assert (again["copied"], again["present"], again["stored_bytes"]) == (
            [],
            [first, second],
            0,
        )
        assert [r.id for r in parts.catalog.search(Query(project="p"))] == [first, second]
        forget_context()


def test_the_uses_of_a_session_go_with_its_versions(
    cli: Cli, homes: Homes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    homes.use("laptop")
    go_offline(cli, monkeypatch, f"http://127.0.0.1:{free_port()}")
    first, second = two_versions(cli, tmp_path)
    forget_context()  # the read below is another process's, under a run
    monkeypatch.setenv("DELTASET_RUN", "offline-experiment")
    ok(cli("get", "--id", second))
    monkeypatch.delenv("DELTASET_RUN")
    with served(tmp_path / "server") as (url, parts):
        back_online(monkeypatch, url)
        import_offline(cli)
        [use] = parts.catalog.uses(run="offline-experiment")
        assert (use.version_id, use.alias) == (second, "n")
        assert parts.catalog.uses(first) == []
        import_offline(cli)  # a no-op the second time: no use twice
        assert len(parts.catalog.uses(run="offline-experiment")) == 1
        forget_context()


def test_an_interrupted_import_is_finished_by_the_next(
    cli: Cli, homes: Homes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    homes.use("laptop")
    go_offline(cli, monkeypatch, f"http://127.0.0.1:{free_port()}")
    first, second = two_versions(cli, tmp_path)
    with served(tmp_path / "server") as (url, parts):
        back_online(monkeypatch, url)
        killed = run_cli("import-offline", env={"DELTASET_FAILPOINT": "transfer.after_blobs"})
        assert killed.returncode == -9
        assert parts.catalog.search(Query(project="p")) == []
        report = import_offline(cli)
        assert report["copied"] == [first, second]
        assert report["stored_bytes"] < 1 << 20  # big.bin reached the server before the kill
        check_seen(cli, first, second, tmp_path)
        forget_context()


def test_the_python_api_imports_a_zipped_session_and_finalizes_its_drafts(
    homes: Homes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from deltaset import Dataset

    homes.use("laptop")
    monkeypatch.setenv("DELTASET_OFFLINE", "0")  # restored after the test
    assert not Dataset.is_offline()
    Dataset.set_offline(True)
    assert Dataset.is_offline()
    made = Dataset.create(dataset_project="p", dataset_name="n")
    made.add_files(str(make_files(tmp_path / "work", V1)))
    made.finalize(auto_upload=True)
    session = made.get_offline_mode_folder()
    assert session == tmp_path / "laptop" / "offline"
    child = Dataset.create(dataset_project="p", dataset_name="n", parent_datasets=[made])
    child.add_files(str(make_files(tmp_path / "work", V2)))
    with pytest.raises(StateError, match="Offline mode is on"):
        Dataset.import_offline_session(str(session))
    Dataset.set_offline(False)
    assert Dataset.import_offline_session(str(session), upload=False, finalize=True) == child.id
    with pytest.raises(NotFoundError):  # closed in the session, nothing sent
        Dataset.get(dataset_id=child.id)
    zipped = shutil.make_archive(str(tmp_path / "session"), "zip", session.parent, "offline")
    shutil.rmtree(session)  # moved: the zip is all there is
    team = tmp_path / "team"
    assert Dataset.import_offline_session(zipped, to=str(team)) == child.id
    homes.use("teammate", storage=team.as_uri())
    got = Dataset.get(dataset_id=child.id)
    assert got.parents == [made.id]
    assert read_tree(Path(got.get_local_copy())) == expected(V2)


def test_a_version_number_the_server_gave_meanwhile_is_refused_before_sending(
    cli: Cli, homes: Homes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    homes.use("laptop")
    go_offline(cli, monkeypatch, f"http://127.0.0.1:{free_port()}")
    first, _ = two_versions(cli, tmp_path)
    with served(tmp_path / "server") as (url, parts):
        back_online(monkeypatch, url)
        make_files(tmp_path / "other", {"x.txt": "x"})
        ok(cli("sync", "--project", "p", "--name", "n", "--folder", str(tmp_path / "other")))
        assert_error(cli("import-offline"), "1.0.0", "rename")
        assert first not in {r.id for r in parts.catalog.search(Query(project="p"))}
        monkeypatch.setenv("DELTASET_OFFLINE", "1")  # the way out the error gives
        forget_context()
        ok(cli("rename", "--project", "p", "--name", "n", "--new-name", "n-laptop"))
        monkeypatch.delenv("DELTASET_OFFLINE")
        forget_context()
        assert import_offline(cli)["copied"][0] == first
        assert parts.catalog.get(first).name == "n-laptop"
        forget_context()


def test_what_is_not_a_session_is_one_clear_error(cli: Cli, homes: Homes, tmp_path: Path) -> None:
    homes.use("laptop")
    assert_error(cli("import-offline"), "No offline session")
    (tmp_path / "notes.txt").write_text("hello")
    assert_error(cli("import-offline", "--session", str(tmp_path / "notes.txt")), "zip")


def test_the_config_file_turns_offline_mode_on(cli: Cli, homes: Homes, tmp_path: Path) -> None:
    homes.use("laptop")
    assert_error(cli("config", "set", "offline", "maybe"), "maybe")
    ok(cli("config", "set", "offline", "on"))
    forget_context()
    shown = json.loads(ok(cli("config", "show", "--json")).stdout)["offline"]
    assert shown == {"value": "on", "source": "file"}
    made = id_of(cli("create", "--project", "p", "--name", "n"))
    assert (tmp_path / "laptop" / "offline" / "catalog.db").is_file()
    ok(cli("config", "set", "offline", ""))
    forget_context()
    assert_error(cli("show", "--id", made), made)  # the configured catalog has not got it


def test_a_session_builds_on_a_version_pulled_from_the_server(
    cli: Cli, homes: Homes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    homes.use("laptop")
    with served(tmp_path / "server") as (url, parts):
        back_online(monkeypatch, url)
        make_files(tmp_path / "work", V1)
        base = id_of(
            cli("sync", "--project", "p", "--name", "n", "--folder", str(tmp_path / "work"))
        )
        monkeypatch.setenv("DELTASET_OFFLINE", "1")  # before the train leaves
        forget_context()
        ok(cli("pull", "--id", base, "--from", url))
        monkeypatch.setenv("DELTASET_API_URL", f"http://127.0.0.1:{free_port()}")  # on the train
        forget_context()
        make_files(tmp_path / "work", {"dog.jpg": "woof"})
        child = id_of(
            cli("sync", "--project", "p", "--name", "n", "--folder", str(tmp_path / "work"))
        )
        back_online(monkeypatch, url)
        report = import_offline(cli)
        assert (report["copied"], report["present"]) == ([child], [base])
        assert report["stored_bytes"] < 1000  # only dog.jpg: the rest was the server's
        assert parts.catalog.get(child).parents == (base,)
        forget_context()
