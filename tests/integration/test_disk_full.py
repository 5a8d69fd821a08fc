"""A full disk under the storage or the cache fails in one sentence and leaves nothing half-done.

Each test mounts a small tmpfs (tests run as root here) and unmounts it when done.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import blake3
import pytest

from deltaset import Dataset
from deltaset.storage.layout import manifest_key, record_key
from tests.conftest import make_files, read_tree, run_cli, verify_cached_blobs, verify_stored_packs

Mount = Callable[[str, str], Path]


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Mount]:
    """``tmpfs(name, size)`` mounts a tmpfs of ``size`` (such as ``2m``) at ``tmp_path/name``."""
    mounted: list[Path] = []

    def mount(name: str, size: str) -> Path:
        folder = tmp_path / name
        folder.mkdir()
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, f"cannot mount a tmpfs (tests need root): {done.stderr}"
        mounted.append(folder)
        return folder

    yield mount
    for folder in reversed(mounted):
        subprocess.run(["umount", "-l", str(folder)], check=True)


def remount(folder: Path, size: str) -> None:
    subprocess.run(["mount", "-o", f"remount,size={size}", str(folder)], check=True)


def random_files(root: Path, count: int, size: int) -> dict[str, bytes]:
    """Incompressible files (compression cannot make them fit), plus one compressible file."""
    files: dict[str, bytes | str] = {
        f"part{i % 3}/f{i:03d}.bin": os.urandom(size) for i in range(count)
    }
    files["labels.csv"] = "".join(f"{i},dog\n" for i in range(5000))
    make_files(root, files)
    return read_tree(root)


def one_sentence(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode != 0, done.stdout
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: "), lines[0]
    assert "no space left" in lines[0].lower(), lines[0]
    return lines[0]


def leftovers(folder: Path) -> list[Path]:
    """Files in a ``tmp/`` staging folder: a failed write must not leave them to fill the disk."""
    tmp = folder / "tmp"
    return sorted(p for p in tmp.rglob("*") if p.is_file()) if tmp.is_dir() else []


def staged(version_id: str) -> list[tuple[str, int, str]]:
    return [(e.relative_path, e.size, e.hash) for e in Dataset.get(version_id).file_entries]


def pulled_tree(version_id: str) -> dict[str, bytes]:
    done = run_cli("get", "--id", version_id)
    assert done.returncode == 0, done.stderr
    return read_tree(Path(done.stdout.strip()))


def fill(folder: Path) -> Path:
    """Write a filler file into ``folder`` until its device has no byte left."""
    filler = folder / "filler"
    with filler.open("wb", buffering=0) as handle:
        while True:
            try:
                handle.write(b"\0" * 4096)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                break
    assert shutil.disk_usage(folder).free == 0
    return filler


def test_close_on_full_storage_keeps_a_draft_that_closes_elsewhere(
    tmp_path: Path, tmpfs: Mount
) -> None:
    small = tmpfs("small-storage", "2m")
    expected = random_files(tmp_path / "data", count=12, size=256 * 1024)  # 3 MB
    ds = Dataset.create(dataset_name="big", dataset_project="disk", output_uri=str(small))
    ds.add_files(str(tmp_path / "data"))
    before = staged(ds.id)

    packed: dict[str, str] = {}
    for _ in range(2):  # a second attempt on the same full disk fails the same way
        # in packs of 1 MB, so the first pack fits and the second one does not
        line = one_sentence(run_cli("close", "--id", ds.id, "--chunk-size", "1"))
        assert str(small) in line
        assert Dataset.get(ds.id).is_final() is False
        stored = verify_stored_packs(small)  # no partial pack is visible under packs/
        assert 0 < len(stored.packed) < len(expected)  # some blobs fitted, in whole packs
        assert stored.unindexed == set()  # and are named already, for the next attempt
        assert packed.items() <= stored.packed.items()  # and stay there, sent once
        packed = stored.packed
        assert leftovers(small) == []  # the pack that did not fit left no trace
        assert not (small / manifest_key(ds.id)).exists()
        assert not (small / record_key(ds.id)).exists()
        assert staged(ds.id) == before
    search = run_cli("search", "--not-only-completed", "--json")
    assert [d["status"] for d in json.loads(search.stdout)] == ["draft"]

    roomy = tmp_path / "roomy-storage"
    done = run_cli("close", "--id", ds.id, "--storage", str(roomy))
    assert done.returncode == 0, done.stderr
    assert Dataset.get(ds.id).is_final()
    assert Dataset.get(ds.id).get_default_storage() == roomy.as_uri()
    assert {blake3.blake3(b).hexdigest() for b in expected.values()} <= verify_stored_packs(
        roomy
    ).indexed
    assert pulled_tree(ds.id) == expected


def test_full_storage_while_finalizing_keeps_a_draft(tmp_path: Path, tmpfs: Mount) -> None:
    """The bytes are all stored, then the disk fills: the manifest or record cannot be written."""
    small = tmpfs("small-storage", "4m")
    expected = random_files(tmp_path / "data", count=4, size=200 * 1024)
    ds = Dataset.create(dataset_name="big", dataset_project="disk", output_uri=str(small))
    ds.add_files(str(tmp_path / "data"))
    uploaded = run_cli("upload", "--id", ds.id)
    assert uploaded.returncode == 0, uploaded.stderr
    filler = fill(small)

    one_sentence(run_cli("close", "--id", ds.id, "--disable-upload"))
    assert Dataset.get(ds.id).is_final() is False
    assert not (small / manifest_key(ds.id)).exists()
    assert not (small / record_key(ds.id)).exists()
    assert leftovers(small) == []
    pull = run_cli("get", "--id", ds.id)
    assert pull.returncode != 0
    assert "draft" in pull.stderr

    filler.unlink()
    done = run_cli("close", "--id", ds.id, "--disable-upload")
    assert done.returncode == 0, done.stderr
    assert pulled_tree(ds.id) == expected


def test_get_with_full_cache_fails_cleanly_then_pulls_whole(
    tmp_path: Path, tmpfs: Mount, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = random_files(tmp_path / "data", count=12, size=256 * 1024)
    ds = Dataset.create(dataset_name="big", dataset_project="disk")
    ds.add_files(str(tmp_path / "data"))
    ds.finalize(auto_upload=True)
    cache = tmpfs("small-cache", "1m")
    monkeypatch.setenv("DELTASET_CACHE_DIR", str(cache))

    for _ in range(2):
        one_sentence(run_cli("get", "--id", ds.id))
        verify_cached_blobs(cache)
        assert leftovers(cache) == []
        assert not (cache / "trees" / ds.id).exists()

    remount(cache, "16m")
    assert pulled_tree(ds.id) == expected
    assert verify_cached_blobs(cache) == {blake3.blake3(b).hexdigest() for b in expected.values()}


def test_copy_into_full_folder_fails_cleanly(tmp_path: Path, tmpfs: Mount) -> None:
    expected = random_files(tmp_path / "data", count=12, size=256 * 1024)
    ds = Dataset.create(dataset_name="big", dataset_project="disk")
    ds.add_files(str(tmp_path / "data"))
    ds.finalize(auto_upload=True)
    small = tmpfs("small-target", "1m")

    one_sentence(run_cli("get", "--id", ds.id, "--copy", str(small / "copy")))
    verify_cached_blobs(tmp_path / "home" / "cache")

    roomy = tmp_path / "roomy-copy"
    done = run_cli("get", "--id", ds.id, "--copy", str(roomy))
    assert done.returncode == 0, done.stderr
    assert read_tree(roomy) == expected


def test_a_full_home_disk_is_named_as_such(tmp_path: Path, tmpfs: Mount) -> None:
    home = tmpfs("home", "1m")
    fill(home)
    env = {"DELTASET_HOME": str(home)}
    searched = one_sentence(run_cli("search", env=env))
    assert f"Cannot use the catalog {home / 'catalog.db'}: no space left" in searched
    one_sentence(run_cli("create", "--project", "p", "--name", "n", env=env))
