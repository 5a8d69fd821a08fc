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
    ids = {}
    for name, files in (("first", FIRST), ("second", SECOND)):
        made = cli("create", "--project", "p", "--name", name, "--json")
        assert made.exit_code == 0
        assert cli("add", "--files", str(make_files(tmp_path / name, files))).exit_code == 0
        assert cli("close").exit_code == 0
        ids[name] = made.stdout.split('"id": "')[1].split('"')[0]
    storage = Path(config.load().default_storage)
    wanted = blob_id_of(FIRST["a.txt"].encode())
    (index,) = [
        f
        for f in (storage / "index").iterdir()
        if wanted in {loc.entry.blob_id for loc in decode_index(f.read_bytes())}
    ]
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
