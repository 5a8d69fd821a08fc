"""The token goes only to the deltaset server it belongs to: a version record whose storage
names another server is refused before any request reaches it."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from deltaset.catalog.base import Query
from tests.conftest import Result, forget_context, make_files
from tests.faulty_proxy import Faults, FaultyProxy
from tests.server.inprocess import served

TOKEN = "dst_the-teams-secret"


def test_a_record_naming_another_server_never_receives_the_token(
    tmp_path: Path, cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    with (
        served(tmp_path / "team-server") as (team_url, team),
        served(tmp_path / "other-server") as (other_url, _),
    ):
        seen = Faults()  # no faults: the proxy only notes what reaches the other server
        other = FaultyProxy(other_url, seen)
        try:
            monkeypatch.setenv("DELTASET_API_URL", team_url)
            monkeypatch.setenv("DELTASET_API_TOKEN", TOKEN)
            forget_context()
            assert cli("create", "--project", "p", "--name", "n").exit_code == 0
            assert cli("add", "--files", str(make_files(tmp_path / "d", {"a": "a"}))).exit_code == 0
            assert cli("close").exit_code == 0
            # A write token is enough to make a record such as this one.
            (record,) = team.catalog.search(Query(project="p"))
            planted = record.evolve(id=uuid.uuid4().hex, name="planted", storage=other.endpoint)
            team.catalog.import_final(planted, team.catalog.manifest(record.id) or b"")

            pulled = cli("get", "--id", planted.id, "--copy", str(tmp_path / "copy"))
            assert pulled.exit_code == 1
            assert pulled.stderr.strip() == (
                f"error: The storage {other.endpoint} is a deltaset server other than this "
                f"machine's ({team_url}); deltaset sends its token only there, so set api-url "
                f"to {other.endpoint} to use that server."
            )
            created = cli("create", "--project", "p", "--name", "m", "--storage", other.endpoint)
            assert created.exit_code == 1
            assert "deltaset server other than this machine's" in created.stderr
            # The honest version still comes from the team's server, token and all.
            honest_copy = tmp_path / "honest"
            assert cli("get", "--id", record.id, "--copy", str(honest_copy)).exit_code == 0
        finally:
            forget_context()
            other.stop()
    assert seen.authorizations == []
    assert sum(seen.counts.values()) == 0  # nothing reached the other server at all


def test_without_a_token_any_server_may_be_read(
    tmp_path: Path, cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no token there is nothing to give away: a server other than api-url is usable."""
    with (
        served(tmp_path / "team-server") as (team_url, _),
        served(tmp_path / "public-server") as (public_url, _),
    ):
        try:
            monkeypatch.setenv("DELTASET_API_URL", team_url)
            monkeypatch.delenv("DELTASET_API_TOKEN", raising=False)
            forget_context()
            created = cli("create", "--project", "p", "--name", "n", "--storage", public_url)
            assert created.exit_code == 0, created.stderr
            assert cli("add", "--files", str(make_files(tmp_path / "d", {"a": "a"}))).exit_code == 0
            assert cli("close").exit_code == 0
            copy = tmp_path / "copy"
            assert cli("get", "--project", "p", "--name", "n", "--copy", str(copy)).exit_code == 0
            assert (copy / "a").read_text() == "a"
        finally:
            forget_context()
