"""External files: objects added by reference (buckets, folders, HTTP), diffed, and pulled."""

from __future__ import annotations

import functools
import http.server
import json
import logging
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from deltaset import Dataset
from deltaset.cache.blobs import Assembler
from deltaset.engine import context as context_module
from deltaset.errors import IntegrityError, InvalidInputError, NotFoundError, StorageError
from deltaset.storage import external as external_storage
from deltaset.storage import open_storage
from deltaset.storage.external import close_http
from tests.conftest import Result, make_files, read_tree, stored_blob_ids

FILES: dict[str, bytes | str] = {
    "a.csv": "x,y\n1,2\n",
    "img/1.jpg": os.urandom(3000),
    "img/2.jpg": os.urandom(50),
}
BIG = os.urandom(20 << 20)  # read in pieces, never whole


def draft(**kwargs: object) -> Dataset:
    return Dataset.create(dataset_name="n", dataset_project="p", **kwargs)  # type: ignore[arg-type]


def closed_with_links(*urls: str, **kwargs: object) -> Dataset:
    ds = draft()
    ds.add_external_files(list(urls), **kwargs)  # type: ignore[arg-type]
    ds.upload()
    ds.finalize()
    return ds


def forget_cache(home: Path) -> None:
    """A new machine: nothing cached, so a pull must read every external file again."""
    shutil.rmtree(home / "cache", ignore_errors=True)
    context_module._default = None


def pulled(ds: Dataset) -> dict[str, bytes]:
    return read_tree(Path(Dataset.get(dataset_id=ds.id).get_local_copy()))


# -- folders ------------------------------------------------------------------------------------


def test_a_folder_is_added_by_reference_and_pulled_from_where_it_is(
    tmp_path: Path, isolation: Path
) -> None:
    source = make_files(tmp_path / "shared", FILES)
    ds = closed_with_links(str(source), dataset_path="raw")
    assert sorted(ds.list_files()) == ["raw/a.csv", "raw/img/1.jpg", "raw/img/2.jpg"]
    assert "external files" in Dataset.get(dataset_id=ds.id).tags
    assert stored_blob_ids(ds.get_default_storage()) == set()  # nothing was copied to storage
    forget_cache(isolation)
    assert pulled(ds) == {
        f"raw/{k}": v.encode() if isinstance(v, str) else v for k, v in FILES.items()
    }


def test_wildcard_recursion_and_one_dataset_path_per_url(tmp_path: Path) -> None:
    first = make_files(tmp_path / "one", FILES)
    second = make_files(tmp_path / "two", {"b.csv": "b", "deep/c.csv": "c"})
    ds = draft()
    count = ds.add_external_files(
        [str(first), second.as_uri()], wildcard="*.csv", dataset_path=["x", "y"], recursive=False
    )
    assert count == 2
    assert sorted(ds.list_files()) == ["x/a.csv", "y/b.csv"]
    with pytest.raises(InvalidInputError, match="one per URL"):
        ds.add_external_files([str(first), str(second)], dataset_path=["x"])
    single = ds.add_external_files(str(second / "deep" / "c.csv"), dataset_path="z")
    assert single == 1
    assert "z/c.csv" in ds.list_files()


def test_a_changed_object_is_a_modified_file_and_an_unchanged_one_no_change(
    tmp_path: Path,
) -> None:
    source = make_files(tmp_path / "shared", FILES)
    v1 = closed_with_links(str(source))
    v2 = draft(parent_datasets=[v1.id])
    assert v2.add_external_files(str(source)) == 0  # the same objects: nothing to stage
    (source / "a.csv").write_text("x,y\n1,2\n3,4\n")
    assert v2.add_external_files(str(source)) == 1
    v2.upload()
    v2.finalize()
    assert v2.list_modified_files() == ["a.csv"]
    assert pulled(v2)["a.csv"] == b"x,y\n1,2\n3,4\n"


def test_a_pull_refuses_an_object_changed_since_it_was_added(
    tmp_path: Path, isolation: Path
) -> None:
    source = make_files(tmp_path / "shared", FILES)
    ds = closed_with_links(str(source))
    (source / "a.csv").write_text("rewritten, longer than before")
    with pytest.raises(IntegrityError, match=r"external file .*a\.csv changed after it was added"):
        ds.verify_storage()
    forget_cache(isolation)
    with pytest.raises(IntegrityError, match="add it again to a new version"):
        Dataset.get(dataset_id=ds.id).get_local_copy()
    refused = pytest.raises(IntegrityError, match=r"accept_changed_links=True .*--accept-changed")
    with refused:  # the sentence names the option that takes the current content
        Dataset.get(dataset_id=ds.id).get_mutable_local_copy(str(tmp_path / "copy"))
    # A deleted object: one clear sentence, and still nothing half-made in the cache.
    (source / "a.csv").unlink()
    with pytest.raises(NotFoundError, match=r"a\.csv does not exist"):
        Dataset.get(dataset_id=ds.id).get_local_copy()
    assert not list((isolation / "cache" / "tmp").iterdir())


def test_accepting_changed_links_serves_their_current_content_apart_from_the_version(
    tmp_path: Path, isolation: Path, caplog: pytest.LogCaptureFixture
) -> None:
    source = make_files(tmp_path / "shared", FILES)
    ds = closed_with_links(str(source))
    (source / "a.csv").write_text("rewritten, longer than before")
    forget_cache(isolation)
    got = Dataset.get(dataset_id=ds.id)
    with caplog.at_level(logging.WARNING, logger="deltaset"):
        folder = Path(got.get_local_copy(accept_changed_links=True))
    assert read_tree(folder)["a.csv"] == b"rewritten, longer than before"
    assert read_tree(folder)["img/1.jpg"] == FILES["img/1.jpg"]
    warned = [m for m in caplog.messages if "changed after it was added" in m]
    assert len(warned) == 1
    assert "a.csv" in warned[0]
    assert got.get_local_copy(accept_changed_links=True) == str(folder)  # kept, warm
    copy = Path(got.get_mutable_local_copy(str(tmp_path / "copy"), accept_changed_links=True))
    assert (copy / "a.csv").read_bytes() == b"rewritten, longer than before"
    # Neither left the changed bytes where the version's own reads find them.
    with pytest.raises(IntegrityError, match=r"a\.csv changed after it was added"):
        got.get_local_copy()
    with pytest.raises(IntegrityError, match=r"a\.csv changed after it was added"):
        got.get_mutable_local_copy(str(tmp_path / "other"))
    (source / "a.csv").write_text("changed again")
    newest = Path(got.get_local_copy(accept_changed_links=True))
    assert newest != folder
    assert read_tree(newest)["a.csv"] == b"changed again"


def test_accepting_changed_links_reads_a_changed_object_in_a_bucket(
    s3_url: str, tmp_path: Path, isolation: Path
) -> None:
    bucket_url = s3_url.rsplit("/", 1)[0]
    raw = open_storage(f"{bucket_url}/raw")
    raw.put_bytes("a.csv", b"as added")
    ds = closed_with_links(f"{bucket_url}/raw/a.csv")
    raw.put_bytes("a.csv", b"as it is now")
    forget_cache(isolation)
    got = Dataset.get(dataset_id=ds.id)
    with pytest.raises(IntegrityError, match="accept_changed_links=True"):
        got.get_local_copy()
    copy = Path(got.get_mutable_local_copy(str(tmp_path / "copy"), accept_changed_links=True))
    assert (copy / "a.csv").read_bytes() == b"as it is now"
    with pytest.raises(IntegrityError, match="accept_changed_links=True"):
        got.get_local_copy()


def test_the_cli_get_accepts_changed_links_when_asked(
    tmp_path: Path, isolation: Path, cli: Callable[..., Result], caplog: pytest.LogCaptureFixture
) -> None:
    source = make_files(tmp_path / "shared", {"a.csv": "as added"})
    ds = closed_with_links(str(source))
    (source / "a.csv").write_text("as it is now")
    forget_cache(isolation)
    refused = cli("get", "--id", ds.id)
    assert refused.exit_code != 0
    assert "--accept-changed-links" in refused.stderr
    assert "Traceback" not in refused.stderr
    with caplog.at_level(logging.WARNING, logger="deltaset"):
        served = cli("get", "--id", ds.id, "--accept-changed-links")
    assert served.exit_code == 0, served.stderr
    assert any("a.csv" in m and "current content" in m for m in caplog.messages)
    assert (Path(served.stdout.strip()) / "a.csv").read_text() == "as it is now"


def test_a_missing_url_stages_nothing(tmp_path: Path) -> None:
    ds = draft()
    ds.add_external_files(str(make_files(tmp_path / "ok", {"a": "a"})))
    with pytest.raises(NotFoundError, match="No external file or folder"):
        ds.add_external_files([str(tmp_path / "ok"), str(tmp_path / "missing")], dataset_path="m")
    assert ds.list_files() == ["a"]


def test_external_and_stored_files_mix_in_one_version_and_its_writable_copy(
    tmp_path: Path,
) -> None:
    source = make_files(tmp_path / "shared", {"big.bin": BIG})
    local = make_files(tmp_path / "local", {"notes.txt": "kept in storage"})
    ds = draft()
    ds.add_files(str(local))
    ds.add_external_files(str(source / "big.bin"), dataset_path="ext")
    ds.upload()
    ds.finalize()
    assert len(stored_blob_ids(ds.get_default_storage())) == 1  # only notes.txt
    copy = tmp_path / "copy"
    ds.get_mutable_local_copy(str(copy))
    assert (copy / "ext" / "big.bin").read_bytes() == BIG
    assert (copy / "notes.txt").read_text() == "kept in storage"
    assert ds.verify_dataset_hash(local_copy_path=str(copy)) == []


def cached_files() -> int:
    return context_module.default_context().cache.usage().blob_count


def test_a_copy_of_files_linked_on_this_machine_leaves_the_cache_as_it_is(
    tmp_path: Path, isolation: Path, cli: Callable[..., Result]
) -> None:
    """As a copy from a folder storage on this machine: read again later at no download's
    cost, they would only double the copy's writes."""
    source = make_files(tmp_path / "shared", FILES)
    ds = draft()
    ds.add_files(str(make_files(tmp_path / "local", {"notes.txt": "kept in storage"})))
    ds.add_external_files([str(source), str(source / "a.csv")], dataset_path=["ext", "again"])
    ds.upload()
    ds.finalize()
    expected = {f"ext/{p}": v for p, v in read_tree(source).items()}
    expected |= {"again/a.csv": b"x,y\n1,2\n", "notes.txt": b"kept in storage"}
    copied = cli("get", "--id", ds.id, "--copy", str(tmp_path / "copy"))
    assert copied.exit_code == 0, copied.stderr
    assert read_tree(tmp_path / "copy") == expected
    Dataset.get(dataset_id=ds.id).get_mutable_local_copy(str(tmp_path / "api-copy"))
    assert read_tree(tmp_path / "api-copy") == expected
    assert cached_files() == 0
    assert not list((isolation / "cache" / "blobs").iterdir())
    assert pulled(ds) == expected  # a cached folder keeps them, as ever
    assert cached_files() == 4


def test_a_copy_of_files_linked_elsewhere_caches_them_once(
    web_folder: tuple[str, Path], isolation: Path, tmp_path: Path
) -> None:
    """As a copy from any other storage: the same bytes are never downloaded twice."""
    base, folder = web_folder
    (folder / "data.csv").write_bytes(b"a,b\n" * 1000)
    ds = closed_with_links(f"{base}/data.csv")
    Dataset.get(dataset_id=ds.id).get_mutable_local_copy(str(tmp_path / "copy"))
    assert read_tree(tmp_path / "copy") == {"data.csv": b"a,b\n" * 1000}
    assert cached_files() == 1
    reads = [m for m, _ in _QuietHandler.seen if m == "GET"]
    assert pulled(ds) == {"data.csv": b"a,b\n" * 1000}
    assert [m for m, _ in _QuietHandler.seen if m == "GET"] == reads


@pytest.mark.parametrize("kept", ["cached folder", "copy"])
def test_a_linked_file_written_into_as_it_is_read_is_refused(
    tmp_path: Path, isolation: Path, monkeypatch: pytest.MonkeyPatch, kept: str
) -> None:
    """Its etag is checked after the read too: bytes read as it changed are never kept."""
    source = make_files(tmp_path / "shared", {"data.bin": os.urandom(5000)})
    ds = closed_with_links(str(source / "data.bin"))
    monkeypatch.setattr(external_storage, "PIECE", 1000)  # read in five pieces
    write_at = Assembler.write_at

    def written_into_after_the_first_piece(self: Assembler, offset: int, data: bytes) -> None:
        write_at(self, offset, data)
        if offset == 0:
            before = (source / "data.bin").stat()
            with open(source / "data.bin", "r+b") as handle:
                handle.seek(3000)
                handle.write(b"changed")
            os.utime(source / "data.bin", ns=(before.st_atime_ns, before.st_mtime_ns + 1000))

    monkeypatch.setattr(Assembler, "write_at", written_into_after_the_first_piece)
    again = Dataset.get(dataset_id=ds.id)
    get: Callable[[], object] = again.get_local_copy
    if kept == "copy":
        get = functools.partial(again.get_mutable_local_copy, str(tmp_path / "copy"))
    with pytest.raises(IntegrityError, match=r"data\.bin changed after it was added"):
        get()
    assert cached_files() == 0
    assert not (tmp_path / "copy").exists() or read_tree(tmp_path / "copy") == {}


def test_the_cli_adds_links_and_needs_something_to_add(
    tmp_path: Path, cli: Callable[..., Result]
) -> None:
    source = make_files(tmp_path / "shared", FILES)
    local = make_files(tmp_path / "local", {"own.txt": "own"})
    assert cli("create", "--project", "p", "--name", "n").exit_code == 0
    result = cli("add", "--links", str(source), "--files", str(local))
    assert result.exit_code == 0, result.stderr
    assert "3 external files added" in result.stdout
    refused = cli("add")
    assert refused.exit_code != 0
    assert "--links URL" in refused.stderr
    assert cli("close").exit_code == 0
    files = Dataset.get(dataset_project="p", dataset_name="n").list_files()
    assert sorted(files) == ["a.csv", "img/1.jpg", "img/2.jpg", "own.txt"]
    listed = {
        row["path"]: row
        for row in json.loads(cli("list", "--project", "p", "--name", "n", "--json").stdout)
    }
    assert listed["a.csv"]["link"] == (source / "a.csv").resolve().as_uri()
    assert "link" not in listed["own.txt"]


# -- object stores --------------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["s3_url", "gcs_url", "azure_url"])
def test_objects_in_a_bucket_are_added_by_reference(
    scheme: str, request: pytest.FixtureRequest, isolation: Path
) -> None:
    bucket_url = request.getfixturevalue(scheme).rsplit("/", 1)[0]
    raw = open_storage(f"{bucket_url}/raw")
    for key, content in {**FILES, "big.bin": BIG}.items():
        raw.put_bytes(key, content.encode() if isinstance(content, str) else content)
    ds = closed_with_links(
        f"{bucket_url}/raw", f"{bucket_url}/raw/a.csv", dataset_path=["all", "one"]
    )
    assert sorted(ds.list_files()) == [
        "all/a.csv",
        "all/big.bin",
        "all/img/1.jpg",
        "all/img/2.jpg",
        "one/a.csv",
    ]
    forget_cache(isolation)
    tree = pulled(ds)
    assert tree["all/big.bin"] == BIG
    assert tree["one/a.csv"] == tree["all/a.csv"] == b"x,y\n1,2\n"
    raw.put_bytes("img/2.jpg", b"replaced")
    with pytest.raises(IntegrityError, match="changed after it was added"):
        Dataset.get(dataset_id=ds.id).verify_storage()
    assert pulled(ds)["all/img/2.jpg"] == FILES["img/2.jpg"]  # the cache keeps what was added


@pytest.mark.parametrize("scheme", ["s3_url", "gcs_url", "azure_url"])
def test_an_object_replaced_as_it_is_read_is_refused(
    scheme: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, isolation: Path
) -> None:
    """Its etag is checked after the read too: the pieces read before and after a
    replacement are never kept as the object that was added."""
    bucket_url = request.getfixturevalue(scheme).rsplit("/", 1)[0]
    raw = open_storage(f"{bucket_url}/raw")
    raw.put_bytes("data.bin", os.urandom(5000))
    ds = closed_with_links(f"{bucket_url}/raw/data.bin")
    forget_cache(isolation)
    monkeypatch.setattr(external_storage, "PIECE", 1000)  # read in five pieces
    write_at = Assembler.write_at

    def replaced_after_the_first_piece(self: Assembler, offset: int, data: bytes) -> None:
        write_at(self, offset, data)
        if offset == 0:
            raw.put_bytes("data.bin", os.urandom(5000))

    monkeypatch.setattr(Assembler, "write_at", replaced_after_the_first_piece)
    with pytest.raises(IntegrityError, match=r"data\.bin changed after it was added"):
        Dataset.get(dataset_id=ds.id).get_local_copy()
    assert cached_files() == 0


@pytest.mark.parametrize(("scheme", "checks"), [("s3_url", 0), ("azure_url", 0), ("gcs_url", 2)])
def test_a_bucket_object_costs_a_request_a_piece_where_the_service_checks_its_etag(
    scheme: str,
    checks: int,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    isolation: Path,
) -> None:
    """S3 and Azure refuse a read whose If-Match etag is no longer the object's, so a pull
    asks for each piece once and stats nothing; GCS's emulator ignores If-Match, so there
    the object is still checked before and after its read."""
    bucket_url = request.getfixturevalue(scheme).rsplit("/", 1)[0]
    raw = open_storage(f"{bucket_url}/raw")
    raw.put_bytes("small.bin", os.urandom(3000))
    raw.put_bytes("big.bin", BIG)  # three pieces
    ds = closed_with_links(f"{bucket_url}/raw")
    forget_cache(isolation)
    calls: list[str] = []
    storage_class = type(raw)
    for name in ("stat", "read_range", "read_range_if"):
        if hasattr(storage_class, name):
            original = getattr(storage_class, name)

            def counted(self: Any, *args: Any, _name: str = name, _call: Any = original) -> Any:
                calls.append(_name)
                return _call(self, *args)

            monkeypatch.setattr(storage_class, name, counted)
    tree = pulled(ds)
    assert tree["big.bin"] == BIG
    assert calls.count("stat") == 2 * checks
    assert calls.count("read_range_if" if checks == 0 else "read_range") == 1 + 3
    # Deleted, or replaced with as many bytes: one clear sentence, nothing cached.
    forget_cache(isolation)
    raw.put_bytes("small.bin", os.urandom(3000))
    with pytest.raises(IntegrityError, match=r"small\.bin changed after it was added"):
        Dataset.get(dataset_id=ds.id).get_local_copy()
    raw.delete("small.bin")
    with pytest.raises(NotFoundError, match=r"small\.bin"):
        Dataset.get(dataset_id=ds.id).get_local_copy()
    assert not list((isolation / "cache" / "tmp").iterdir())


# -- HTTP -----------------------------------------------------------------------------------------


@pytest.fixture
def web_folder(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A folder served over HTTP/1.1 on 127.0.0.1, as (base URL, folder)."""
    folder = tmp_path / "www"
    folder.mkdir()
    _QuietHandler.seen.clear()
    _QuietHandler.failures.clear()
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", folder
    close_http()  # before the server stops, so that none of its connections is left open
    server.shutdown()
    server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Serves a folder, notes each request's client port, and answers ``failures[path]`` (a
    list of status codes) first for a path, one per request, before serving it."""

    protocol_version = "HTTP/1.1"  # connections stay open between requests
    seen: ClassVar[list[tuple[str, int]]] = []
    failures: ClassVar[dict[str, list[int]]] = {}

    def send_head(self) -> Any:
        self.seen.append((self.command, self.client_address[1]))
        planned = self.failures.get(self.path)
        if planned:
            self.send_error(planned.pop(0))
            return None
        return super().send_head()

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_http_files_are_added_by_reference(web_folder: tuple[str, Path], isolation: Path) -> None:
    base, folder = web_folder
    (folder / "data.csv").write_bytes(b"a,b\n" * 1000)
    (folder / "big.bin").write_bytes(BIG)
    ds = closed_with_links(f"{base}/data.csv", f"{base}/big.bin")
    assert sorted(ds.list_files()) == ["big.bin", "data.csv"]
    forget_cache(isolation)
    tree = pulled(ds)
    assert tree == {"data.csv": b"a,b\n" * 1000, "big.bin": BIG}
    with pytest.raises(NotFoundError, match="HTTP 404"):
        draft().add_external_files(f"{base}/missing.csv")


def test_http_files_share_one_kept_connection(
    web_folder: tuple[str, Path], isolation: Path
) -> None:
    base, folder = web_folder
    names = [f"{i}.bin" for i in range(5)]
    for name in names:
        (folder / name).write_bytes(name.encode() * 100)
    ds = closed_with_links(*(f"{base}/{name}" for name in names))
    forget_cache(isolation)
    assert pulled(ds) == {name: name.encode() * 100 for name in names}
    methods = {method for method, _ in _QuietHandler.seen}
    assert methods == {"HEAD", "GET"}
    connections = {port for _, port in _QuietHandler.seen}
    assert len(connections) <= len(_QuietHandler.seen) // 2, _QuietHandler.seen


def test_http_server_errors_are_retried_and_refusals_are_not(
    web_folder: tuple[str, Path], isolation: Path
) -> None:
    base, folder = web_folder
    (folder / "flaky.csv").write_bytes(b"x\n" * 10)
    (folder / "secret.csv").write_bytes(b"no")
    _QuietHandler.failures["/flaky.csv"] = [503, 429, 500]
    _QuietHandler.failures["/secret.csv"] = [403]
    ds = closed_with_links(f"{base}/flaky.csv")
    forget_cache(isolation)
    assert pulled(ds) == {"flaky.csv": b"x\n" * 10}
    with pytest.raises(StorageError, match=r"secret.csv: HTTP 403 Forbidden\.$"):
        draft().add_external_files(f"{base}/secret.csv")
    assert [m for m, _ in _QuietHandler.seen].count("HEAD") == 4 + 1  # 3 failed, 1 ok, 1 refused
