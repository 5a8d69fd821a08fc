"""The server's catalog keeps no index of staged rows by content: an upload's lookup of the
files a draft staged is filled when first asked, and stays true to the staged rows across
schema upgrades, replicas and a stage under way."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from deltaset.catalog.base import DraftChange, NewVersion
from deltaset.catalog.sql import MIGRATIONS, SqlCatalog
from deltaset.core.hashing import blob_id_of
from tests import postgres
from tests.servers import Server

DRAFT = "0123456789abcdef0123456789abcdef"
ONE, TWO, THREE = blob_id_of(b"1"), blob_id_of(b"2"), blob_id_of(b"3")


def new(name: str = "n") -> NewVersion:
    return NewVersion("p", name, None, (), (), "", "file:///srv", "tester")


@pytest.fixture(params=["postgresql", "sqlite"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'server.db'}"
    server: Server = request.getfixturevalue("postgres_server")
    return postgres.new_database(server)


def _staged_indexes(url: str) -> list[str]:
    engine = sa.create_engine(url)
    try:
        return [str(index["name"]) for index in sa.inspect(engine).get_indexes("staged")]
    finally:
        engine.dispose()


def test_a_database_of_the_previous_schema_drops_the_index_and_keeps_the_rows(url: str) -> None:
    """A server upgraded from the schema that indexed staged rows by content keeps its drafts
    and finds their sources without the index."""
    engine = sa.create_engine(url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0005")  # the schema before this change
        connection.execute(
            sa.text(
                f"INSERT INTO versions VALUES ('{DRAFT}', 'p', 'n', '1.0.0', 'draft', '[]', "
                "'[]', '', '2026-01-01T00:00:00+00:00', 'someone', 'file:///s', '{}')"
            )
        )
        connection.execute(
            sa.text(
                "INSERT INTO staged VALUES (:v, 'a.txt', false, 1, :b, '/src/a.txt', false, '', '')"
            ),
            {"v": DRAFT, "b": ONE},
        )
    engine.dispose()
    assert "staged_by_blob" in _staged_indexes(url)
    catalog = SqlCatalog(url)
    try:
        assert "staged_by_blob" not in _staged_indexes(url)
        assert [c.path for c in catalog.staged(DRAFT)] == ["a.txt"]
        assert catalog.staged_sources(DRAFT, [ONE, TWO]) == {ONE: "/src/a.txt"}
        if url.startswith("postgresql"):  # a lookup made again when emptied: not logged
            with catalog.engine.connect() as db:
                kind = "SELECT relpersistence FROM pg_class WHERE relname = 'staged_sources'"
                assert db.execute(sa.text(kind)).scalar() == "u"
    finally:
        catalog.close()


def test_replicas_find_the_sources_another_replica_staged_since(url: str) -> None:
    mine, theirs = SqlCatalog(url), SqlCatalog(url)
    try:
        draft = mine.create_version(new())
        mine.stage(draft.id, [DraftChange("a", size=1, blob_id=ONE, source="/src/a")])
        assert theirs.staged_sources(draft.id, [ONE, TWO]) == {ONE: "/src/a"}
        mine.stage(draft.id, [DraftChange("b", size=1, blob_id=TWO, source="/src/b")])
        assert theirs.staged_sources(draft.id, [ONE, TWO]) == {ONE: "/src/a", TWO: "/src/b"}
        mine.unstage(draft.id, ["a"])
        assert theirs.staged_sources(draft.id, [ONE, TWO]) == {TWO: "/src/b"}
        mine.delete(draft.id)
        assert theirs.staged_sources(draft.id, [ONE, TWO]) == {}
    finally:
        mine.close()
        theirs.close()


def test_a_lookup_asked_for_during_a_stage_waits_for_it_and_is_not_left_stale(
    postgres_server: Server,
) -> None:
    """A replica filling the lookup while another's stage is under way must not keep the rows
    as they were before it: the next upload would miss the files that stage added."""
    url = postgres.new_database(postgres_server)
    stager, asker = SqlCatalog(url), SqlCatalog(url)
    try:
        draft = stager.create_version(new())
        stager.stage(draft.id, [DraftChange("a", size=1, blob_id=ONE, source="/src/a")])
        inside, release = threading.Event(), threading.Event()

        def changes() -> Iterator[DraftChange]:  # consumed inside the stage's transaction
            yield DraftChange("b", size=1, blob_id=TWO, source="/src/b")
            inside.set()
            release.wait()
            yield DraftChange("c", size=1, blob_id=THREE, source="/src/c")

        with ThreadPoolExecutor(2) as pool:
            staging = pool.submit(stager.stage, draft.id, changes())
            inside.wait()
            asking = pool.submit(asker.staged_sources, draft.id, [ONE, TWO, THREE])
            _wait_until_blocked_or_done(url, asking)
            release.set()
            staging.result()
            asking.result()
        every = {ONE: "/src/a", TWO: "/src/b", THREE: "/src/c"}
        assert asker.staged_sources(draft.id, [ONE, TWO, THREE]) == every
    finally:
        stager.close()
        asker.close()


def _wait_until_blocked_or_done(url: str, asking: Future[dict[str, str]]) -> None:
    """Until the asker waits on a lock held by the stage, or has answered without waiting."""
    engine = sa.create_engine(url)
    waiting = sa.text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
    try:
        with engine.connect() as db:
            while not asking.done() and not db.execute(waiting).scalar():
                db.rollback()  # a fresh view of the activity each time
                time.sleep(0.01)
    finally:
        engine.dispose()
