"""Shared fixtures: every test runs in its own deltaset home, cache and storage."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import blake3
import pytest

from deltaset import config
from deltaset.cache.trees import TreeRecords
from deltaset.cli.main import build_parser, run
from deltaset.core.paths import OWN_FOLDER
from deltaset.engine import context as context_module
from deltaset.engine import uses
from deltaset.packs.format import PackEntry
from deltaset.storage import registry
from tests import postgres, servers
from tests.tmpfs import tmpfs  # noqa: F401 (a fixture for every test)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Report a failure whose text holds a name that is not UTF-8 (a lone surrogate) with
    that character escaped: the workers of pytest-xdist cannot send it as it is, and a
    failure would otherwise stop the whole run with an internal error."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.failed and report.longrepr is not None:
        text = str(report.longrepr)
        if any("\udc80" <= c <= "\udcff" for c in text):
            report.longrepr = text.encode("utf-8", "backslashreplace").decode("utf-8")
    report.sections = [
        (title, body.encode("utf-8", "backslashreplace").decode("utf-8"))
        for title, body in report.sections
    ]


@pytest.fixture(autouse=True)
def isolation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "home"
    monkeypatch.setenv("DELTASET_HOME", str(home))
    for name in (
        "DELTASET_CACHE_DIR",
        "DELTASET_CACHE_LIMIT",
        "DELTASET_CACHE_ON_CLOSE",
        "DELTASET_DELTAS_ON_CLOSE",
        "DELTASET_STORAGE",
        "DELTASET_FAILPOINT",
        "DELTASET_PAUSE",
        "DELTASET_PACK_ON_ADD",
        "DELTASET_DEBUG",
        "DELTASET_API_URL",
        "DELTASET_API_TOKEN",
        "DELTASET_DISCOVER_INTERVAL",
        "DELTASET_RECORD_USES",
        "DELTASET_RUN",
        "DELTASET_OFFLINE",
    ):
        monkeypatch.delenv(name, raising=False)
    for name in list(os.environ):  # no test ever reaches a real cloud account
        if name.startswith(("AWS_", "AZURE_", "GOOGLE_", "STORAGE_EMULATOR_HOST")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("NO_GCE_CHECK", "true")  # google.auth: no metadata-server probe
    registry.close_all()
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "80")
    forget_context()
    yield home
    forget_context()


def forget_context() -> None:
    """A new process, as far as deltaset knows: no catalog, storage or settings kept."""
    if context_module._default is not None:
        context_module._default.close()
    context_module._default = None
    uses.forget()
    registry.close_all()


def as_client(
    monkeypatch: pytest.MonkeyPatch, home: Path, url: str | None, token: str | None = None
) -> None:
    """This process becomes a machine with its own ``home`` and cache, the client of the
    server at ``url`` (``None``: the embedded catalog), sending ``token`` if one is given."""
    monkeypatch.setenv("DELTASET_HOME", str(home))
    for name, value in (("DELTASET_API_URL", url), ("DELTASET_API_TOKEN", token)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    forget_context()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[servers.Server]:
    server = servers.start_moto()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def gcs_server() -> Iterator[servers.Server]:
    server = servers.start_fake_gcs()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def azurite_server() -> Iterator[servers.Server]:
    server = servers.start_azurite()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[servers.Server]:
    server = postgres.start_postgres()
    yield server
    server.stop()


@pytest.fixture
def s3_url(s3_server: servers.Server, monkeypatch: pytest.MonkeyPatch) -> str:
    """``s3://`` URL of an empty prefix of a fresh bucket, with the credentials set up."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server.endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    return f"s3://{servers.new_bucket(s3_server.endpoint)}/datasets"


@pytest.fixture
def gcs_url(gcs_server: servers.Server, monkeypatch: pytest.MonkeyPatch) -> str:
    """``gs://`` URL of an empty prefix of a fresh bucket on the emulator."""
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_server.endpoint)
    return f"gs://{servers.new_gcs_bucket(gcs_server.endpoint)}/datasets"


@pytest.fixture
def azure_url(azurite_server: servers.Server, monkeypatch: pytest.MonkeyPatch) -> str:
    """``azure://`` URL of an empty prefix of a fresh container, with the account set up."""
    endpoint = azurite_server.endpoint
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", servers.azure_connection_string(endpoint))
    return f"azure://{servers.new_container(endpoint)}/datasets"


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., Result]:
    """Run ``deltaset ARGS`` in this process and capture exit code and output."""

    def invoke(*args: str) -> Result:
        capsys.readouterr()
        try:
            code = run(build_parser().parse_args(list(args)))
        except SystemExit as exc:  # argparse usage errors
            code = int(exc.code or 0)
        out = capsys.readouterr()
        return Result(code, out.out, out.err)

    return invoke


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``deltaset ARGS`` as a real process (for kill, pipe and concurrency tests)."""
    return subprocess.run(
        [sys.executable, "-m", "deltaset", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=timeout,
        check=False,
    )


def lose_catalog(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Delete the catalog file (and a fresh cache, so pulls must read the storage)."""
    ctx = context_module._default
    if ctx is not None and "catalog" in ctx.__dict__:
        ctx.catalog.close()
    path = config.load().catalog_path
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    assert not path.exists()
    monkeypatch.setenv("DELTASET_CACHE_DIR", str(tmp_path / "fresh-cache"))
    # Else the catalog would pick the versions up from the default storage on its own.
    monkeypatch.setenv("DELTASET_DISCOVER_INTERVAL", "off")
    context_module._default = None


def make_files(root: Path, files: dict[str, bytes | str]) -> Path:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_text(content)
        else:
            path.write_bytes(content)
    return root


def read_tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (following links) by relative POSIX path, without deltaset's
    own notes in a writable copy (``.deltaset``, as git's ``.git``)."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and OWN_FOLDER not in p.relative_to(root).parts
    }


def stored_blob_ids(storage_url: str) -> set[str]:
    """Every blob id the pack indexes of a storage name, read afresh from the storage."""
    from deltaset.objects.store import BlobStore
    from deltaset.storage import open_storage

    return {loc.entry.blob_id for loc in BlobStore(open_storage(storage_url)).index.locations()}


@dataclass(frozen=True)
class StoredPacks:
    """What a folder storage holds, after :func:`verify_stored_packs` checked all of it."""

    packed: dict[str, str]  # blob id -> pack id, for every blob of every complete pack
    indexed: set[str]  # the blob ids the index files name
    entries: dict[str, PackEntry]  # blob id -> how its pack's header stores it

    @property
    def packs(self) -> set[str]:
        return set(self.packed.values())

    @property
    def unindexed(self) -> set[str]:
        """The blobs of complete packs that no index names yet (left by an interrupted upload)."""
        return set(self.packed) - self.indexed


def verify_stored_packs(storage_root: Path) -> StoredPacks:
    """Check that a folder storage holds only whole objects, and say what it holds.

    Every object under ``packs/`` parses from its own header, and each of its blobs decodes to
    bytes of its id: no partial pack is ever visible (writes in progress live under ``tmp/``,
    which may keep leftovers of a killed process). No blob is stored twice. Every index file
    decodes and names only packs that exist, with the entries their headers hold, and every blob
    an index names reads back through :meth:`BlobStore.read`, verified against its hash.
    """
    from deltaset.core.hashing import blob_id_of
    from deltaset.objects.store import BlobStore
    from deltaset.packs.format import Location
    from deltaset.packs.ranges import coalesce
    from deltaset.packs.reader import read_block, read_pack_entries
    from deltaset.packs.writer import pack_key
    from deltaset.storage.local import LocalStorage

    storage = LocalStorage(storage_root)
    headers: dict[str, set[Location]] = {}
    packed: dict[str, str] = {}
    stored: dict[str, PackEntry] = {}
    for key in sorted(storage.list("packs/")):
        pack_id = key.rsplit("/", 1)[-1].removesuffix(".pack")
        assert key == pack_key(pack_id), f"a stray object {key} under packs/"
        entries = read_pack_entries(storage, pack_id)  # IntegrityError on a partial pack
        assert entries, f"the pack {pack_id} is empty"
        headers[pack_id] = {Location(pack_id, e) for e in entries}
        # A delta rebuilds only from its base: it is checked by the store's read below.
        deltas = [loc for loc in headers[pack_id] if loc.entry.base]
        whole = [loc for loc in headers[pack_id] if not loc.entry.base]
        for block in coalesce(whole):
            for loc, _ in read_block(storage, block):  # IntegrityError on damaged bytes
                deltas.append(loc)
        for loc in deltas:
            blob_id = loc.entry.blob_id
            assert blob_id not in packed, f"{blob_id} is in {packed[blob_id]} and {pack_id}"
            packed[blob_id] = pack_id
            stored[blob_id] = loc.entry
    store = BlobStore(storage)
    for loc in store.index.locations():
        assert loc.pack_id in headers, f"an index names the missing pack {loc.pack_id}"
        assert loc in headers[loc.pack_id], f"an index misplaces {loc.entry.blob_id}"
    indexed = {loc.entry.blob_id for loc in store.index.locations()}
    hashes: dict[str, str] = {}
    store.read(indexed, lambda blob_id, data: hashes.__setitem__(blob_id, blob_id_of(data)))
    assert hashes == {blob_id: blob_id for blob_id in indexed}
    return StoredPacks(packed, indexed, stored)


def verify_cached_blobs(cache_root: Path) -> set[str]:
    """Every file in the blob cache holds exactly the bytes its name promises, and so does
    the file of each blob whose home is a cached folder (see deltaset.cache.homes); returns
    the ids of both."""
    found = set()
    for path in (cache_root / "blobs").rglob("*"):
        if path.is_file():
            assert blake3.blake3(path.read_bytes()).hexdigest() == path.name, path
            found.add(path.name)
    return found | verify_homes(cache_root)


def verify_homes(cache_root: Path) -> set[str]:
    """The ids of the blobs whose home is a cached folder, each checked to hold its bytes."""
    from tests.damage import DEFERRED_KEYS, cached_blob_in

    if not (cache_root / "index.db").exists():
        return set()
    with contextlib.closing(sqlite3.connect(cache_root / "index.db")) as db:
        homed = [raw.hex() for (raw,) in db.execute("SELECT blob FROM blob_homes")]
        deferred = [key for (key,) in db.execute(DEFERRED_KEYS)]
    for blob_id in homed:
        path = cached_blob_in(cache_root, blob_id)
        assert blake3.blake3(path.read_bytes()).hexdigest() == blob_id, path
    return set(homed) | {b for key in deferred for b in verify_deferred(cache_root, key)}


def verify_deferred(cache_root: Path, key: str) -> set[str]:
    """The ids of the blobs of folder ``key``, whose rows the index defers (each file is its
    blob's home), each file checked to hold its bytes."""
    record = TreeRecords(cache_root / "records").load(key)
    assert record is not None, key
    for at, path in enumerate(record.paths):
        data = (cache_root / "trees" / key / path).read_bytes()
        assert blake3.blake3(data).hexdigest() == record.blob_id(at), path
    return {record.blob_id(at) for at in range(len(record))}
