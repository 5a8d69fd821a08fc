"""A cold get's blobs live in the folder it built, their home, with nothing under ``blobs/``:
found there by every reader, moved to another folder linking them when it goes, forgotten
with their bytes when none does."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Mapping
from pathlib import Path

import blake3

from deltaset.cache import locking
from deltaset.cache.blobs import BlobCache
from deltaset.cache.links import LinkMode
from deltaset.core.manifest import Entry, Manifest

CONTENT = {"a.txt": b"alpha", "sub/b.txt": b"beta", "sub/again-a.txt": b"alpha"}
IDS = {path: blake3.blake3(data).hexdigest() for path, data in CONTENT.items()}
BYTES = len(b"alpha") + len(b"beta")  # each blob once


def manifest(names: dict[str, str] | None = None) -> Manifest:
    """The files of ``CONTENT``, each under its name in ``names`` if given."""
    names = names or {p: p for p in CONTENT}
    return Manifest(
        {names[p]: Entry(blob_id=IDS[p], size=len(data)) for p, data in CONTENT.items()}
    )


def cold_get(
    cache: BlobCache, key: str, files: Manifest, content: Mapping[str, bytes] = CONTENT
) -> Path:
    """What a cold pull does with a folder build: fetch what the cache lacks into it.
    ``content``: the bytes of the files (by path; any file holding them will do)."""
    by_id = {blake3.blake3(data).hexdigest(): data for data in content.values()}
    with cache.tree_build(key, LinkMode.HARDLINK, files) as build:
        wanted = {e.blob_id: e for e in files.values()}
        build.stage(list(files.items()), 0, set(cache.missing(wanted)))
        for blob_id in build.staged:
            build.store(blob_id, by_id[blob_id])
        return build.publish()


def blob_files(cache: BlobCache) -> list[str]:
    return [str(p) for p in (cache.root / "blobs").rglob("*") if p.is_file()]


def test_a_cold_get_links_nothing_into_blobs_and_its_files_are_the_blobs(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path / "cache")
    tree = cold_get(cache, "v1", manifest())
    assert blob_files(cache) == []
    assert cache.missing({e.blob_id: e for e in manifest().values()}) == []
    for path in CONTENT:
        assert (tree / path).read_bytes() == CONTENT[path]
    assert cache.files([IDS["a.txt"], IDS["sub/b.txt"]]) == {
        IDS["a.txt"]: f"{tree}/a.txt",
        IDS["sub/b.txt"]: f"{tree}/sub/b.txt",
    }
    assert (tree / "a.txt").stat().st_ino == (tree / "sub/again-a.txt").stat().st_ino
    assert cache.usage().blob_bytes == BYTES
    assert cache.check_tree("v1") == []


def test_another_folder_of_the_same_blobs_links_their_homes_and_fetches_nothing(
    tmp_path: Path,
) -> None:
    cache = BlobCache(tmp_path / "cache")
    first = cold_get(cache, "v1", manifest())
    renamed = manifest({"a.txt": "x/a", "sub/b.txt": "x/b", "sub/again-a.txt": "y"})
    with cache.tree_build("v2", LinkMode.HARDLINK, renamed) as build:
        wanted = {e.blob_id: e for e in renamed.values()}
        assert cache.missing(wanted) == []
        second = build.publish()
    assert (second / "x/a").stat().st_ino == (first / "a.txt").stat().st_ino
    assert (second / "x/b").read_bytes() == b"beta"
    assert blob_files(cache) == []
    assert cache.check_tree("v1") == []
    assert cache.check_tree("v2") == []


def build_with_hints(cache: BlobCache, key: str, files: Manifest) -> Path:
    """What a pull does for a folder whose blobs are all cached: each looked for at its own
    path in its home folder first, the build told where it was found so."""
    with cache.tree_build(key, LinkMode.HARDLINK, files) as build:
        items = list(files.items())
        wanted = {e.blob_id: e for _, e in items}
        found: dict[str, tuple[str, int]] = {}
        hints = {e.blob_id: path for path, e in items}
        assert cache.missing(wanted, hints=hints, at_home=found) == []
        build.found_at_home(items, 0, found, hints)
        return build.publish()


def test_a_blob_is_linked_from_its_own_path_in_its_home_and_only_if_it_is_its_file(
    tmp_path: Path,
) -> None:
    """The path a blob has in the version pulled is tried first in its home folder; where
    that folder holds another blob at the path (contents swapped between versions), the
    blob's own file is linked, and the other file is left as it was (its stat included)."""
    cache = BlobCache(tmp_path / "cache")
    first = cold_get(cache, "v1", manifest())
    same = build_with_hints(cache, "v2", manifest())
    for path in CONTENT:
        assert (same / path).stat().st_ino == (first / path).stat().st_ino
    swapped = manifest({"a.txt": "sub/b.txt", "sub/b.txt": "a.txt", "sub/again-a.txt": "c"})
    third = build_with_hints(cache, "v3", swapped)
    assert (third / "sub/b.txt").read_bytes() == b"alpha"
    assert (third / "a.txt").read_bytes() == b"beta"
    assert (third / "a.txt").stat().st_ino == (first / "sub/b.txt").stat().st_ino
    for key in ("v1", "v2", "v3"):
        assert cache.check_tree(key) == []


def test_a_file_told_to_be_at_home_is_checked_as_it_is_linked(tmp_path: Path) -> None:
    """A folder evicted and built again between the lookup and the link holds new files at
    the paths told: the inode tells them apart, and the blob's own file is linked."""
    cache = BlobCache(tmp_path / "cache")
    first = cold_get(cache, "v1", manifest())
    with cache.tree_build("v2", LinkMode.HARDLINK, manifest()) as build:
        items = list(manifest().items())
        build.found_at_home(
            items,
            0,
            {e.blob_id: ("v1", 1) for _, e in items},
            dict((e.blob_id, path) for path, e in items),
        )
        second = build.publish()
    for path in CONTENT:
        assert (second / path).read_bytes() == CONTENT[path]
        assert (second / path).stat().st_ino == (first / path).stat().st_ino


def test_evicting_a_home_another_folder_links_moves_the_home_there(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path / "cache")
    cold_get(cache, "v1", manifest())
    renamed = manifest({"a.txt": "x/a", "sub/b.txt": "x/b", "sub/again-a.txt": "y"})
    cache.build_tree("v2", renamed, LinkMode.HARDLINK)
    assert cache.shrink(BYTES) == 0  # within the limit: nothing to free
    with locking.shared(cache.lock_path("v2")):  # read meanwhile: v2 stays
        assert cache.shrink(BYTES - 1) == 0  # v1 goes; its blobs stay, in v2
    assert not cache.has_tree("v1")
    assert cache.has_tree("v2")
    assert cache.usage().blob_bytes == BYTES
    assert cache.missing({e.blob_id: e for e in renamed.values()}) == []
    v2 = cache.tree_path("v2")
    assert cache.files([IDS["a.txt"]]) == {IDS["a.txt"]: f"{v2}/x/a"}
    fd = cache.open_intact(Entry(blob_id=IDS["sub/b.txt"], size=4))
    assert fd is not None
    with open(fd, "rb") as file:
        assert file.read() == b"beta"
    assert cache.shrink(1) == BYTES  # then v2: the blobs' bytes go with their last folder
    assert cache.usage().blob_count == 0


def test_evicting_a_home_no_other_folder_links_frees_its_bytes_and_rows(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path / "cache")
    cold_get(cache, "v1", manifest())
    assert cache.shrink(1) == BYTES
    assert not cache.has_tree("v1")
    assert cache.usage().total_bytes == 0
    homes = cache.index._db.execute("SELECT COUNT(*) FROM blob_homes").fetchone()[0]
    assert homes == 0
    assert sorted(cache.missing({e.blob_id: e for e in manifest().values()})) == sorted(
        {IDS["a.txt"], IDS["sub/b.txt"]}
    )


def test_emptying_the_cache_frees_the_bytes_of_the_blobs_at_home_in_its_folders(
    tmp_path: Path,
) -> None:
    cache = BlobCache(tmp_path / "cache")
    cold_get(cache, "v1", manifest())
    assert cache.shrink(0) == BYTES
    assert cache.usage().total_bytes == 0
    assert os.listdir(cache.root / "trees") == []


def test_a_home_file_written_into_is_missing_and_removed_not_served(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path / "cache")
    tree = cold_get(cache, "v1", manifest())
    home = tree / "sub/b.txt"
    before = home.stat()
    home.chmod(0o644)
    home.write_bytes(b"bEta")
    os.utime(home, ns=(before.st_atime_ns, before.st_mtime_ns))  # only ctime tells
    entry = {IDS["sub/b.txt"]: Entry(blob_id=IDS["sub/b.txt"], size=4)}
    assert cache.open_intact(entry[IDS["sub/b.txt"]]) is None
    assert not home.exists()  # removed from its folder, repaired by the next get
    assert cache.missing(entry) == [IDS["sub/b.txt"]]
    assert cache.check_tree("v1") == ["sub/b.txt"]


def test_a_blob_written_into_blobs_later_leaves_its_home(tmp_path: Path) -> None:
    """Fetched again into ``blobs/`` (its home file removed behind deltaset's back), a blob
    is found there from then on, not looked for in the folder."""
    cache = BlobCache(tmp_path / "cache")
    tree = cold_get(cache, "v1", manifest())
    os.unlink(tree / "sub/b.txt")
    entry = {IDS["sub/b.txt"]: Entry(blob_id=IDS["sub/b.txt"], size=4)}
    assert cache.missing(entry) == [IDS["sub/b.txt"]]
    with cache.writes() as writes:
        writes.written(IDS["sub/b.txt"], 4, cache.store(IDS["sub/b.txt"], b"beta"))
    assert cache.missing(entry) == []
    assert cache.files(entry) == {IDS["sub/b.txt"]: cache.blob_file(IDS["sub/b.txt"])}


def test_a_folder_of_symbolic_links_never_points_into_another_folder(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path / "cache")
    cold_get(cache, "v1", manifest())
    wanted = {e.blob_id: e for e in manifest().values()}
    assert sorted(cache.missing(wanted, in_blobs=True)) == sorted(wanted)


def test_an_index_with_homes_keeps_the_blob_rows_an_older_release_writes(tmp_path: Path) -> None:
    """An older release inserts blob rows of seven values, and never reads the homes: their
    table must leave the blobs' own alone."""
    cache = BlobCache(tmp_path / "cache")
    cold_get(cache, "v1", manifest())
    db = sqlite3.connect(cache.root / "index.db")
    db.execute("INSERT INTO cached_blobs VALUES (?, 1, 1, 1, 1, 1, 1)", (b"\1" * 32,))
    db.commit()
    db.close()
    assert cache.usage().blob_count == 3
