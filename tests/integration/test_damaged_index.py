"""One damaged pack index file: every dataset of the storage stays readable (its packs are
read from their own headers), the file is named, verify reports it and gc rewrites it."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from deltaset import config
from deltaset.core.hashing import blob_id_of
from deltaset.packs.format import decode_index
from tests.conftest import Result, forget_context, make_files, read_tree

FIRST = {"a.txt": "alpha", "b.bin": bytes(range(256)) * 50}
SECOND = {"c.txt": "gamma"}


def test_a_damaged_index_file_is_named_skipped_reported_and_rewritten(
    tmp_path: Path,
    cli: Callable[..., Result],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ids = _two_versions(tmp_path, cli)
    storage = Path(config.load().default_storage)
    index = _index_of(storage, FIRST["a.txt"].encode())
    index.write_bytes(b"JUNK" + index.read_bytes()[4:])
    key = f"index/{index.name}"
    monkeypatch.setenv("DELTASET_CACHE_DIR", str(tmp_path / "another-machine"))
    forget_context()

    for name, files in (("first", FIRST), ("second", SECOND)):
        copy = tmp_path / f"copy-{name}"
        got = cli("get", "--id", ids[name], "--copy", str(copy))
        assert got.exit_code == 0, got.stderr
        assert read_tree(copy) == {k: _bytes(v) for k, v in files.items()}
    named = f"The pack index {key} in {storage.as_uri()} is damaged: wrong magic."
    assert f"{named} Its packs are read from their own headers instead." in caplog.messages

    verified = cli("verify", "--id", ids["first"])
    assert verified.exit_code == 1
    assert f"are damaged (first: {key}); 'deltaset gc --delete' rewrites" in verified.stderr

    assert cli("gc", "--delete").exit_code == 0
    assert not index.exists()
    shutil.rmtree(tmp_path / "another-machine")
    forget_context()
    for name in ids:
        again = cli("verify", "--id", ids[name])
        assert again.exit_code == 0, again.stderr
        assert again.stderr == ""


def _bytes(value: str | bytes) -> bytes:
    return value.encode() if isinstance(value, str) else value


def _two_versions(tmp_path: Path, cli: Callable[..., Result]) -> dict[str, str]:
    ids = {}
    for name, files in (("first", FIRST), ("second", SECOND)):
        made = cli("create", "--project", "p", "--name", name, "--json")
        assert made.exit_code == 0
        assert cli("add", "--files", str(make_files(tmp_path / name, files))).exit_code == 0
        assert cli("close").exit_code == 0
        ids[name] = made.stdout.split('"id": "')[1].split('"')[0]
    return ids


def _index_of(storage: Path, blob: bytes) -> Path:
    wanted = blob_id_of(blob)
    (index,) = [
        f
        for f in (storage / "index").iterdir()
        if wanted in {loc.entry.blob_id for loc in decode_index(f.read_bytes())}
    ]
    return index


def test_the_machine_that_wrote_an_index_sees_its_stored_damage_and_gc_repairs_it(
    tmp_path: Path, cli: Callable[..., Result]
) -> None:
    """This machine's own copy of the index file is intact: verify and gc must still judge
    the stored file, or the damage stays for every other machine."""
    ids = _two_versions(tmp_path, cli)
    storage = Path(config.load().default_storage)
    index = _index_of(storage, FIRST["a.txt"].encode())
    data = bytearray(index.read_bytes())
    data[-1] ^= 1
    index.write_bytes(bytes(data))
    key = f"index/{index.name}"

    verified = cli("verify", "--id", ids["first"])
    assert verified.exit_code == 1
    assert key in verified.stderr
    assert cli("gc", "--delete").exit_code == 0
    assert not index.exists()
    forget_context()
    for version_id in ids.values():
        again = cli("verify", "--id", version_id)
        assert again.exit_code == 0, again.stderr


def test_a_deleted_index_file_still_pulls_says_so_and_gc_indexes_its_packs(
    tmp_path: Path,
    cli: Callable[..., Result],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ids = _two_versions(tmp_path, cli)
    storage = Path(config.load().default_storage)
    _index_of(storage, FIRST["a.txt"].encode()).unlink()
    monkeypatch.setenv("DELTASET_CACHE_DIR", str(tmp_path / "another-machine"))
    forget_context()

    copy = tmp_path / "copy"
    got = cli("get", "--id", ids["first"], "--copy", str(copy))
    assert got.exit_code == 0, got.stderr
    assert read_tree(copy) == {k: _bytes(v) for k, v in FIRST.items()}
    assert any("named by no index file" in m and "gc --delete" in m for m in caplog.messages)
    assert cli("verify", "--id", ids["first"]).exit_code == 0

    assert cli("gc", "--delete").exit_code == 0
    _index_of(storage, FIRST["a.txt"].encode())  # gc wrote an index file naming it again
    shutil.rmtree(tmp_path / "another-machine")
    forget_context()
    for version_id in ids.values():
        assert cli("verify", "--id", version_id).exit_code == 0
