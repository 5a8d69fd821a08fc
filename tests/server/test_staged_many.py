"""A draft of many files staged through a server, on SQLite and on PostgreSQL: it closes to
the manifest the embedded catalog makes of the same files; a bad line stores nothing of its
stream; a path staged twice in one stream keeps its last change."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from deltaset.catalog.base import Query
from deltaset.core.hashing import blob_id_of
from deltaset.core.manifest import Manifest
from deltaset.engine.context import default_context
from tests import postgres
from tests.conftest import Result, as_client
from tests.server.inprocess import served
from tests.servers import Server

FILES = 3000  # more than one batch of the server's reading and writing of staged rows


@pytest.fixture(params=["sqlite", "postgresql", "postgresql+pg8000", "postgresql en-US"])
def server_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A server on each catalog; pg8000, a driver other than psycopg, stages rows without COPY;
    a database in a locale's collation, as most PostgreSQL installations make them, sorts
    "a" before "B" and "_" before both, where manifests keep code point order."""
    db = None
    if request.param.startswith("postgresql"):
        pg: Server = request.getfixturevalue("postgres_server")
        driver, _, locale = request.param.partition(" ")
        db = postgres.new_database(pg, locale or None)
        db = db.replace("postgresql+psycopg:", f"{driver}:")
    with served(tmp_path / "server", db=db) as (url, _):
        yield url


def _many_files(root: Path) -> Path:
    for i in range(FILES):
        folder = root / f"d{i % 7}" / f"e{i % 3}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"f{i:05d}.txt").write_text(f"file {i}\n" * (i % 5))
    odd = ["caf\u00e9 \u65e5\u672c.txt", "tab\there", "new\nline", "back\\slash", 'q"uote']
    odd += ["B.txt", "a_b.txt", "aB.txt", "_x.txt", "Z"]  # a locale's order is not theirs
    for name in odd:  # as COPY and JSON must escape them
        (root / name).write_text(name)
    (root / os.fsdecode(b"not-utf8-\xe9.bin")).write_bytes(b"\xe9")
    return root


def _closed_manifest(cli: Callable[..., Result], files: Path) -> Manifest:
    for argv in (
        ("create", "--project", "p", "--name", "many"),
        ("add", "--files", str(files)),
        ("close",),
    ):
        done = cli(*argv)
        assert done.exit_code == 0, done.stderr
    catalog = default_context().catalog
    (record,) = catalog.search(Query(project="p", name="many"))
    data = catalog.manifest(record.id)
    assert data is not None
    return Manifest.from_bytes(data)


def test_many_files_staged_through_a_server_close_as_on_the_embedded_catalog(
    server_url: str,
    tmp_path: Path,
    cli: Callable[..., Result],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    files = _many_files(tmp_path / "files")
    as_client(monkeypatch, tmp_path / "embedded", None)
    embedded = _closed_manifest(cli, files)
    as_client(monkeypatch, tmp_path / "client", server_url)
    through_server = _closed_manifest(cli, files)
    assert len(embedded) == FILES + 11
    assert through_server == embedded
    assert through_server.ids_by_path() == embedded.ids_by_path()


def _lines(*changes: dict[str, object]) -> str:
    return "".join(json.dumps(change) + "\n" for change in changes)


def test_a_bad_line_far_into_a_stream_stores_nothing_of_it(server_url: str) -> None:
    with httpx.Client(base_url=server_url + "/api/v1") as http:
        draft = http.post("/versions", json={"project": "p", "name": "n"}).json()["id"]
        kept = {"path": "kept.txt", "size": 1, "blob_id": blob_id_of(b"k")}
        assert http.post(f"/versions/{draft}/staged", content=_lines(kept)).status_code == 204
        many = [{"path": f"f{i:05d}", "size": i, "blob_id": "0" * 64} for i in range(FILES)]
        for bad, sentence in (
            ({"path": "x", "size": -1}, "is invalid."),
            ({"path": "a/../b", "size": 1}, "contains '..'"),
        ):
            body = _lines(*many, bad, *many[:5])
            refused = http.post(f"/versions/{draft}/staged", content=body)
            assert refused.status_code == 400, refused.text
            error = refused.json()["error"]
            assert error.startswith(f"Line {FILES + 1} of the staged changes")
            assert sentence in error
            staged = [
                json.loads(line) for line in http.get(f"/versions/{draft}/staged").text.split()
            ]
            assert [c["path"] for c in staged] == ["kept.txt"]  # all of a stream, or none


def test_a_path_staged_twice_keeps_its_last_change_across_streams_and_batches(
    server_url: str,
) -> None:
    with httpx.Client(base_url=server_url + "/api/v1") as http:
        draft = http.post("/versions", json={"project": "p", "name": "n"}).json()["id"]
        first = [{"path": f"f{i:05d}", "size": 1, "blob_id": "1" * 64} for i in range(FILES)]
        assert http.post(f"/versions/{draft}/staged", content=_lines(*first)).status_code == 204
        again = [{"path": f"f{i:05d}", "size": 2, "blob_id": "2" * 64} for i in range(0, FILES, 2)]
        removed = {"path": "f00001", "removed": True}
        # f00000 thrice in one stream, its changes thousands of lines apart; f00001 removed.
        body = _lines(*again, removed, {"path": "f00000", "size": 3, "blob_id": "3" * 64})
        assert http.post(f"/versions/{draft}/staged", content=body).status_code == 204
        answer = http.get(f"/versions/{draft}/staged")
        staged = {c["path"]: c for c in map(json.loads, answer.text.splitlines())}
    assert list(staged) == sorted(staged)
    assert len(staged) == FILES
    assert (staged["f00000"]["size"], staged["f00000"]["blob_id"]) == (3, "3" * 64)
    assert staged["f00001"]["removed"] is True
    assert (staged["f00002"]["size"], staged["f00003"]["size"]) == (2, 1)
    assert set(staged["f00004"]) == {
        "path", "removed", "size", "blob_id", "source", "uploaded", "link", "etag"
    }  # fmt: skip
