"""The shared (server) catalog on a real PostgreSQL: many writers at once, in-place upgrades,
and clear sentences for a database it cannot use."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from deltaset.catalog.base import DraftChange, NewVersion, Query
from deltaset.catalog.sql import MIGRATIONS, SqlCatalog
from deltaset.core.records import State
from deltaset.errors import CatalogError
from deltaset.server.tokens import Tokens
from tests import postgres
from tests.servers import Server, free_port


def new(name: str = "n", version: str | None = None) -> NewVersion:
    return NewVersion("p", name, version, (), (), "", "file:///srv", "tester")


def test_concurrent_creators_on_several_replicas_get_distinct_numbers(
    postgres_server: Server,
) -> None:
    url = postgres.new_database(postgres_server)
    replicas = [SqlCatalog(url) for _ in range(3)]  # three servers on one database
    start = threading.Barrier(12)

    def create(i: int) -> str:
        start.wait()
        return replicas[i % 3].create_version(new()).version

    with ThreadPoolExecutor(12) as pool:
        numbers = list(pool.map(create, range(12)))
    assert len(set(numbers)) == 12  # nothing duplicated
    assert len(replicas[0].search(Query())) == 12
    for replica in replicas:
        replica.close()


def test_replicas_starting_at_once_migrate_a_new_database_once(postgres_server: Server) -> None:
    url = postgres.new_database(postgres_server)
    start = threading.Barrier(4)

    def open_catalog(_: int) -> SqlCatalog:
        start.wait()
        return SqlCatalog(url)

    with ThreadPoolExecutor(4) as pool:
        catalogs = list(pool.map(open_catalog, range(4)))
    record = catalogs[0].create_version(new())
    assert catalogs[3].get(record.id) == record
    for catalog in catalogs:
        catalog.close()


def test_a_tag_edit_and_a_finalize_at_once_lose_neither(postgres_server: Server) -> None:
    catalog = SqlCatalog(postgres.new_database(postgres_server))
    record = catalog.create_version(new())
    catalog.update(record.evolve(tags=("reviewed",)))
    catalog.finalize(catalog.get(record.id).evolve(state=State.FINAL), b"manifest")
    stored = catalog.get(record.id)
    assert stored.state is State.FINAL
    assert stored.tags == ("reviewed",)
    catalog.close()


def test_a_database_from_a_newer_deltaset_is_refused(postgres_server: Server) -> None:
    url = postgres.new_database(postgres_server)
    SqlCatalog(url).close()
    engine = sa.create_engine(url)
    with engine.begin() as db:
        db.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    with pytest.raises(CatalogError, match=r"newer deltaset \(schema 9999\); upgrade"):
        SqlCatalog(url)


def test_an_unreachable_database_is_one_sentence_without_its_password() -> None:
    url = f"postgresql+psycopg://deltaset:s3cret-pass@127.0.0.1:{free_port()}/catalog"
    with pytest.raises(CatalogError) as caught:
        SqlCatalog(url)
    message = str(caught.value)
    assert "cannot be used" in message
    assert "s3cret-pass" not in message
    assert len(message.splitlines()) == 1


def test_a_database_of_an_earlier_schema_is_upgraded_in_place(postgres_server: Server) -> None:
    """A server upgraded to a newer deltaset keeps its catalog: the migrations run on start."""
    url = postgres.new_database(postgres_server)
    engine = sa.create_engine(url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")  # the first schema, as the first release made it
        connection.execute(
            sa.text(
                "INSERT INTO versions VALUES ('0123456789abcdef0123456789abcdef', 'p', 'n', "
                "'1.0.0', 'final', '[]', '[]', '', '2026-01-01T00:00:00+00:00', 'someone', "
                "'file:///s', '{}')"
            )
        )
    engine.dispose()
    catalog = SqlCatalog(url)
    assert catalog.get("0123456789abcdef0123456789abcdef").version == "1.0.0"  # kept
    assert catalog.create_version(new()).version == "1.0.1"
    token, _ = Tokens(catalog.engine).create("after the upgrade")  # the new table is there
    assert Tokens(catalog.engine).check(token) is not None
    catalog.close()


def test_paths_staged_in_a_locale_database_before_the_upgrade_come_in_code_point_order(
    postgres_server: Server,
) -> None:
    """A database in a locale's collation (most installations') gave a draft's staged paths
    in that order, which a close refuses; the upgrade keeps the rows and orders them by code
    point, as manifests are."""
    url = postgres.new_database(postgres_server, "en-US")
    draft = "0123456789abcdef0123456789abcdef"
    paths = ["B.txt", "a.txt", "_x.txt", "a_b.txt", "aB.txt", "\u00e9t\u00e9.txt", "Z/1", "z/1"]
    engine = sa.create_engine(url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:  # staged by the release before the upgrade
        config.attributes["connection"] = connection
        command.upgrade(config, "0006")
        connection.execute(
            sa.text(
                "INSERT INTO versions VALUES (:id, 'p', 'n', '1.0.0', 'draft', '[]', '[]', '', "
                "'2026-01-01T00:00:00+00:00', 'someone', 'file:///s', '{}')"
            ),
            {"id": draft},
        )
        connection.execute(
            sa.text("INSERT INTO staged VALUES (:id, :path, false, 1, :blob, '', false, '', '')"),
            [{"id": draft, "path": p, "blob": "0" * 64} for p in paths],
        )
        old_order = connection.execute(
            sa.text("SELECT path FROM staged WHERE version_id = :id ORDER BY path"), {"id": draft}
        ).scalars()
        assert list(old_order) != sorted(paths)  # the locale's order, not the manifests'
    engine.dispose()
    catalog = SqlCatalog(url)
    assert [c.path for c in catalog.staged(draft)] == sorted(paths)
    assert [c["path"] for c in catalog.staged_columns(draft)] == sorted(paths)
    more = catalog.create_version(new())  # and a draft staged after it, through COPY
    catalog.stage(more.id, [DraftChange(p, size=1, blob_id="0" * 64) for p in paths])
    catalog.stage(more.id, [DraftChange("a.txt", size=2, blob_id="1" * 64)])  # staged again
    sizes = {c.path: c.size for c in catalog.staged(more.id)}
    assert list(sizes) == sorted(paths)
    assert sizes["a.txt"] == 2
    catalog.close()


@pytest.mark.parametrize("database", ["postgresql", "sqlite"])
def test_concurrent_tag_edits_lose_nothing(
    database: str, postgres_server: Server, tmp_path_factory: pytest.TempPathFactory
) -> None:
    if database == "postgresql":
        url = postgres.new_database(postgres_server)
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('tags') / 'server.db'}"
    replicas = [SqlCatalog(url) for _ in range(2)]
    record = replicas[0].create_version(new())
    start = threading.Barrier(8)

    def tag(i: int) -> None:
        start.wait()
        replicas[i % 2].edit_tags(record.id, add=[f"t{i}"])

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(tag, range(8)))
    assert set(replicas[1].get(record.id).tags) == {f"t{i}" for i in range(8)}
    for replica in replicas:
        replica.close()
