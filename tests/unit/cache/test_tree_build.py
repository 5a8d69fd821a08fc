"""Building a cached folder with the blobs a pull fetches written straight into it."""

from __future__ import annotations

import errno
import os
from array import array
from collections.abc import Mapping
from pathlib import Path

import blake3
import pytest

from deltaset.cache import blobs, tree_build
from deltaset.cache.blobs import BlobCache
from deltaset.cache.links import LinkMode
from deltaset.cache.tree_build import TreeBuild
from deltaset.cache.trees import FileStat, TreeRecord
from deltaset.core.manifest import Entry, Manifest
from deltaset.errors import IntegrityError
from tests.conftest import verify_cached_blobs
from tests.damage import flip_a_byte

CONTENT = {"a.txt": b"alpha", "sub/b.txt": b"beta", "sub/again-a.txt": b"alpha"}


def entries() -> dict[str, Entry]:
    return {
        path: Entry(blob_id=blake3.blake3(data).hexdigest(), size=len(data))
        for path, data in CONTENT.items()
    }


def fetch_all(cache: BlobCache, key: str) -> Path:
    """What a cold pull does with a folder build: stage, store each fetched blob, publish."""
    manifest = Manifest(entries())
    content = {blake3.blake3(data).hexdigest(): data for data in CONTENT.values()}
    with cache.tree_build(key, LinkMode.HARDLINK, manifest) as build:
        build.stage(list(manifest.items()), 0, set(content))
        for blob_id in build.staged:
            build.store(blob_id, content[blob_id])
        return build.publish()


def test_a_blob_written_into_the_folder_is_the_cached_blob(tmp_path: Path) -> None:
    """Its only file: nothing is linked under ``blobs/``."""
    cache = BlobCache(tmp_path / "cache")
    tree = fetch_all(cache, "key")
    for path, data in CONTENT.items():
        placed = tree / path
        assert placed.read_bytes() == data
        blob = Path(cache.file_of(blake3.blake3(data).hexdigest()))
        assert placed.stat().st_ino == blob.stat().st_ino
        assert not placed.stat().st_mode & 0o222
    assert list((tmp_path / "cache" / "blobs").iterdir()) == []
    assert os.listdir(tmp_path / "cache" / "tmp") == []  # staging went with the publish


def test_a_blob_file_no_row_accounts_for_is_left_alone(tmp_path: Path) -> None:
    """A file under ``blobs/`` the index never heard of (an older release's killed pull
    leaves such files) is neither linked nor served: the folder's file is the blob's home."""
    cache = BlobCache(tmp_path / "cache")
    theirs = entries()["a.txt"].blob_id
    cache.store(theirs, b"alphX")
    tree = fetch_all(cache, "key")
    assert (tree / "a.txt").read_bytes() == b"alpha"
    assert (tree / "a.txt").stat().st_ino != os.stat(cache.blob_file(theirs)).st_ino
    assert cache.file_of(theirs) == f"{tree}/a.txt"


def test_where_hard_links_are_refused_a_blob_s_second_file_is_a_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No file system without hard links can be mounted here: the refusal is simulated.
    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EPERM, "hard links not supported")

    monkeypatch.setattr(os, "link", refuse)
    cache = BlobCache(tmp_path / "cache")
    tree = fetch_all(cache, "key")
    for path, data in CONTENT.items():
        assert (tree / path).read_bytes() == data
    assert cache.index.tree_copied_bytes("key") == len(b"alpha")  # sub/again-a.txt
    assert cache.check_tree("key") == []


def test_an_unpublished_build_leaves_nothing_in_view(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path / "cache")
    files = entries()
    with cache.tree_build("key", LinkMode.HARDLINK, Manifest(files)) as build:
        build.stage(list(Manifest(files).items()), 0, {files["a.txt"].blob_id})
        build.store(files["a.txt"].blob_id, b"alpha")
        # ended before publish: as when the pull fails or is interrupted
    assert not cache.has_tree("key")
    assert os.listdir(tmp_path / "cache" / "tmp") == []
    # what it wrote went with its staging folder: nothing to account for
    assert list((tmp_path / "cache" / "blobs").iterdir()) == []
    assert cache.index.known([files["a.txt"].blob_id, files["sub/b.txt"].blob_id]) == {}
    assert cache.usage().total_bytes == 0


def test_a_published_build_accounts_for_every_blob_it_links(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path / "cache")
    cache.store(entries()["sub/b.txt"].blob_id, b"beta")  # cached before, unaccounted
    fetch_all(cache, "key")
    assert cache.usage().blob_count == 2
    assert cache.usage().blob_bytes == len(b"alpha") + len(b"beta")
    assert cache.index.blobs_of(["key"]) == {e.blob_id for e in entries().values()}
    assert cache.index.unreferenced_blobs_by_age() == []


def test_a_blob_at_two_paths_of_a_folder_is_one_file_written_once(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path / "cache")
    tree = fetch_all(cache, "key")
    assert (tree / "sub" / "again-a.txt").read_bytes() == b"alpha"
    assert (tree / "a.txt").stat().st_ino == (tree / "sub" / "again-a.txt").stat().st_ino
    found = os.stat(tree / "a.txt")  # linked last: the blob's row has its stat now
    blob_id = entries()["a.txt"].blob_id
    assert cache.index.stats([blob_id])[blob_id] == (
        found.st_ino,
        found.st_size,
        found.st_mtime_ns,
        found.st_ctime_ns,
    )


def test_the_record_holds_the_stat_of_each_file_as_published(tmp_path: Path) -> None:
    """The stat a fetched file is recorded with is taken as it is written: it must be the
    one the published folder shows, or the next get would repair the file. (A file linked
    again later in the build, as a duplicate, moves its ctime: the blob's own record, taken
    last, tells that apart.)"""
    cache = BlobCache(tmp_path / "cache")
    cache.store(entries()["sub/b.txt"].blob_id, b"beta")  # linked, not written
    tree = fetch_all(cache, "key")
    record = cache.records.load("key")
    assert record is not None
    for at, path in enumerate(record.paths):
        found = os.stat(tree / path)
        assert record.stat(at)[:3] == (found.st_ino, found.st_size, found.st_mtime_ns)
        if path != "a.txt":  # linked again as sub/again-a.txt
            assert record.stat(at)[3] == found.st_ctime_ns
    assert cache.check_tree("key") == []


def test_a_cache_opened_while_a_build_runs_leaves_its_staging_and_blobs_alone(
    tmp_path: Path,
) -> None:
    """A build holds its log locked while it runs: a sweep by another opening of the cache
    (a lock of another open file, as another process's would be) must not take it for the
    leftovers of a killed build."""
    cache = BlobCache(tmp_path / "cache")
    manifest = Manifest(entries())
    content = {blake3.blake3(data).hexdigest(): data for data in CONTENT.values()}
    with cache.tree_build("key", LinkMode.HARDLINK, manifest) as build:
        build.stage(list(manifest.items()), 0, set(content))
        first = next(iter(build.staged))
        build.store(first, content[first])
        BlobCache(tmp_path / "cache")  # sweeps tmp/
        assert os.path.isdir(build.staging)
        assert os.path.exists(build.staging + ".linked")
        assert cache.index.known([first]) == {}  # not adopted: its build writes its row
        for blob_id in build.staged:
            if blob_id != first:
                build.store(blob_id, content[blob_id])
        tree = build.publish()
    assert {p.name for p in tree.rglob("*") if p.is_file()} == {"a.txt", "b.txt", "again-a.txt"}
    assert os.listdir(tmp_path / "cache" / "tmp") == []


def test_the_rows_of_a_folder_of_distinct_hard_linked_files_are_those_of_any_folder() -> None:
    """A folder whose files are each a blob of their own, all hard-linked (a cold get's
    usual one), has its index rows made column by column: the same rows, stats included,
    as the general way makes them file by file."""
    count = 3000
    manifest = Manifest(
        (f"d{at % 7}/f{at}", Entry(blob_id=blake3.blake3(b"%d" % at).hexdigest(), size=at))
        for at in range(count)
    )
    # a stat a file; the inode of some past 2**63, kept as the negative number of its bits
    stats = array("q", (at * 10 + f for at in range(count) for f in range(4)))
    for at in range(0, count, 5):
        stats[4 * at] -= 1 << 63
    record = TreeRecord(list(manifest), stats=stats)
    for at in range(count):
        record.add_id(manifest.raw_id_at(at))
    order = tree_build._id_order(manifest)
    assert not tree_build._repeated_ids(manifest, order)
    general = list(tree_build._blob_rows(manifest, order, record, bytearray([1]) * count))
    assert list(tree_build._linked_rows(manifest, order, stats)) == general
    homes = bytearray([tree_build._HOME]) * count  # every file written here
    assert list(tree_build._blob_rows(manifest, order, record, homes)) == general
    assert [row[0] for row in general] == sorted(manifest.raw_id_at(at) for at in range(count))
    assert any(row[2] is not None and row[2][0] >= 1 << 63 for row in general)


def test_a_blob_at_two_positions_is_told_apart_from_distinct_ones() -> None:
    twice = Manifest(entries())  # a.txt and sub/again-a.txt hold the same bytes
    alpha = bytes.fromhex(entries()["a.txt"].blob_id)
    assert tree_build._repeated_ids(twice, tree_build._id_order(twice)) == {alpha}
    assert twice.repeated_ids() == {alpha}  # the same, without the sort
    once = Manifest({p: e for p, e in entries().items() if p != "sub/again-a.txt"})
    assert not tree_build._repeated_ids(once, tree_build._id_order(once))
    assert once.repeated_ids() == set()


def test_ids_sorted_before_the_last_files_are_written_give_the_same_rows(tmp_path: Path) -> None:
    """A pull sorts the folder's ids while its helpers end their last jobs: the rows the
    folder then gets are those of the files as they end up, stats included."""
    cache = BlobCache(tmp_path / "cache")
    manifest = Manifest(entries())
    content = {blake3.blake3(data).hexdigest(): data for data in CONTENT.values()}
    with cache.tree_build("key", LinkMode.HARDLINK, manifest) as build:
        build.stage(list(manifest.items()), 0, set(content))
        order = list(build.sort_ids())
        for blob_id in build.staged:
            build.store(blob_id, content[blob_id])
        tree = build.publish()
    assert order == sorted(range(len(manifest)), key=manifest.raw_id_at)
    stats = cache.index.stats(content)
    for blob_id in content:
        found = os.stat(cache.file_of(blob_id))
        assert stats[blob_id] == (found.st_ino, found.st_size, found.st_mtime_ns, found.st_ctime_ns)
    assert cache.check_tree("key") == []
    assert (tree / "sub" / "b.txt").read_bytes() == b"beta"


def test_a_blob_fetched_in_two_batches_is_one_file_in_the_folder(tmp_path: Path) -> None:
    """A pull fetches a blob again in a later batch (its first file is not published yet):
    the folder keeps one file of it, linked at both paths, as the index counts it once."""
    cache = BlobCache(tmp_path / "cache")
    manifest = Manifest(entries())
    items = list(manifest.items())
    alpha = blake3.blake3(b"alpha").hexdigest()
    beta = blake3.blake3(b"beta").hexdigest()
    content = {alpha: b"alpha", beta: b"beta"}
    with cache.tree_build("key", LinkMode.HARDLINK, manifest) as build:
        for first in range(len(items)):  # one file a batch, each fetching its blob
            build.stage(items[first : first + 1], first, {items[first][1].blob_id})
            for blob_id in build.staged:
                build.store(blob_id, content[blob_id])
        tree = build.publish()
    assert sorted(path for path, _ in items if _.blob_id == alpha) == ["a.txt", "sub/again-a.txt"]
    first, again = (tree / "a.txt").stat(), (tree / "sub/again-a.txt").stat()
    assert first.st_ino == again.st_ino
    assert (tree / "sub/again-a.txt").read_bytes() == b"alpha"
    assert cache.check_tree("key") == []  # each recorded stat is the file's as published
    assert cache.missing({alpha: manifest["a.txt"]}) == []
    assert cache.unchanged([alpha, beta])


def linked_after_check(cache: BlobCache, key: str, damage: str | None = None) -> TreeBuild:
    """What a pull of a version whose blobs are all cached does with a folder build: check
    them (nothing to fetch), note what it found; then, with ``damage``, root writes into the
    cached file of that path before the build links it."""
    manifest = Manifest(entries())
    wanted = {e.blob_id: e for e in manifest.values()}
    hints = {e.blob_id: path for path, e in manifest.items()}
    at_home: dict[str, tuple[str, int]] = {}
    intact: dict[str, tuple[str, FileStat]] = {}
    assert cache.missing(wanted, hints=hints, at_home=at_home, intact=intact) == []
    build = cache.tree_build(key, LinkMode.HARDLINK, manifest)
    build.stage(list(manifest.items()), 0, ())
    build.found_at_home(list(manifest.items()), 0, at_home, hints)
    build.found_intact(list(manifest.items()), 0, intact)
    if damage is not None:
        flip_a_byte(Path(cache.file_of(wanted[manifest[damage].blob_id].blob_id)))
    return build


def test_a_blob_written_into_between_its_check_and_its_link_is_fetched_again(
    tmp_path: Path,
) -> None:
    """The stat recorded for a folder's file vouches for its bytes: never taken of a file
    written into after the cache checked it (the link comes at the end of the build)."""
    cache = BlobCache(tmp_path / "cache")
    fetch_all(cache, "first")
    beta = entries()["sub/b.txt"].blob_id
    fetched: list[str] = []

    def fetch_again(again: Mapping[str, Entry]) -> None:
        fetched.extend(again)
        cache.record_written([(beta, 4, cache.store(beta, b"beta"))])

    with linked_after_check(cache, "second", damage="sub/b.txt") as build:
        build.fetch_again = fetch_again
        tree = build.publish()
    assert fetched == [beta]
    assert {path: (tree / path).read_bytes() for path in CONTENT} == CONTENT
    assert cache.check_tree("second") == []
    assert cache.missing({beta: entries()["sub/b.txt"]}) == []
    verify_cached_blobs(tmp_path / "cache")


def test_without_a_way_to_fetch_it_again_the_build_fails_and_serves_nothing(
    tmp_path: Path,
) -> None:
    cache = BlobCache(tmp_path / "cache")
    fetch_all(cache, "first")
    with (
        linked_after_check(cache, "second", damage="sub/b.txt") as build,
        pytest.raises(IntegrityError, match="changed as it was linked"),
    ):
        build.publish()
    assert not cache.has_tree("second")
    beta = entries()["sub/b.txt"].blob_id
    assert cache.missing({beta: entries()["sub/b.txt"]}) == [beta]  # removed, not served


def test_a_blob_linked_at_two_paths_is_not_hashed_for_the_ctime_its_first_link_moved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = BlobCache(tmp_path / "cache")
    fetch_all(cache, "first")
    hashed: list[str] = []
    content_is = blobs.content_is

    def counted(path: str, blob_id: str, size: int) -> bool:
        hashed.append(path)
        return content_is(path, blob_id, size)

    monkeypatch.setattr(blobs, "content_is", counted)
    with linked_after_check(cache, "second") as build:
        tree = build.publish()
    assert hashed == []
    assert (tree / "a.txt").stat().st_ino == (tree / "sub/again-a.txt").stat().st_ino
    assert cache.check_tree("second") == []
    assert cache.check_tree("first") == []


DISTINCT = {"a.txt": b"alpha", "sub/b.txt": b"beta", "sub/c.txt": b"gamma"}


def checked_distinct(cache: BlobCache) -> TreeBuild:
    """:func:`linked_after_check` for a version whose files each hold their own content,
    after a folder ``first`` of the same files was built."""
    manifest = Manifest(
        {p: Entry(blob_id=blake3.blake3(d).hexdigest(), size=len(d)) for p, d in DISTINCT.items()}
    )
    with cache.tree_build("first", LinkMode.HARDLINK, manifest) as build:
        build.stage(list(manifest.items()), 0, {e.blob_id for e in manifest.values()})
        for path, data in DISTINCT.items():
            build.store(manifest[path].blob_id, data)
        build.publish()
    wanted = {e.blob_id: e for e in manifest.values()}
    hints = {e.blob_id: path for path, e in manifest.items()}
    at_home: dict[str, tuple[str, int]] = {}
    intact: dict[str, tuple[str, FileStat]] = {}
    assert cache.missing(wanted, hints=hints, at_home=at_home, intact=intact) == []
    build = cache.tree_build("second", LinkMode.HARDLINK, manifest)
    build.stage(list(manifest.items()), 0, ())
    build.found_at_home(list(manifest.items()), 0, at_home, hints)
    build.found_intact(list(manifest.items()), 0, intact)
    return build


def test_files_found_intact_at_home_are_linked_by_another_process_as_publish_links_them(
    tmp_path: Path,
) -> None:
    cache = BlobCache(tmp_path / "cache")
    with checked_distinct(cache) as build:
        links = build.home_links(list(build.manifest.items()), 0)
        assert links is not None
        placed: list[int] = []
        stats: list[int] = []
        tree_build.link_homes(links, placed, stats)  # what a helper process runs
        assert placed == [0, 1, 2]
        build.linked_elsewhere(placed, stats, hard=True)
        tree = build.publish()
    first = tmp_path / "cache" / "trees" / "first"
    for path, data in DISTINCT.items():
        assert (tree / path).read_bytes() == data
        assert (tree / path).stat().st_ino == (first / path).stat().st_ino
    assert cache.check_tree("second") == []  # each recorded stat is the link's
    assert cache.check_tree("first") == []
    verify_cached_blobs(tmp_path / "cache")


def test_another_process_links_no_file_changed_gone_or_replaced_since_its_check(
    tmp_path: Path,
) -> None:
    """Whatever it leaves, publish checks again: hashed, fetched again if damaged."""
    cache = BlobCache(tmp_path / "cache")
    first = tmp_path / "cache" / "trees" / "first"
    fetched: list[str] = []

    def fetch_again(again: Mapping[str, Entry]) -> None:
        for blob_id, entry in again.items():
            fetched.append(blob_id)
            data = next(d for d in DISTINCT.values() if len(d) == entry.size)
            cache.record_written([(blob_id, entry.size, cache.store(blob_id, data))])

    with checked_distinct(cache) as build:
        build.fetch_again = fetch_again
        links = build.home_links(list(build.manifest.items()), 0)
        assert links is not None
        flip_a_byte(first / "a.txt")  # written into as root would, its times kept
        (first / "sub/b.txt").unlink()
        (first / "sub/c.txt").rename(first / "c-moved")
        (first / "sub/c.txt").write_bytes(b"gamma")  # the same bytes in another file
        placed: list[int] = []
        stats: list[int] = []
        tree_build.link_homes(links, placed, stats)
        assert placed == []
        assert stats == []
        assert not list(Path(build.staging).rglob("*.txt"))
        build.linked_elsewhere(placed, stats, hard=True)
        tree = build.publish()
    assert {p: (tree / p).read_bytes() for p in DISTINCT} == DISTINCT
    assert sorted(fetched) == sorted(build.manifest[p].blob_id for p in ("a.txt", "sub/b.txt"))
    assert cache.check_tree("second") == []
    verify_cached_blobs(tmp_path / "cache")


def test_no_file_of_a_blob_at_two_positions_is_left_to_another_process(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path / "cache")
    fetch_all(cache, "first")
    with linked_after_check(cache, "second") as build:
        links = build.home_links(list(build.manifest.items()), 0)
        assert links is not None
        assert [path for _, path, *_ in links.files] == ["sub/b.txt"]  # not "alpha"'s two
        tree = build.publish()
        assert (tree / "a.txt").stat().st_ino == (tree / "sub/again-a.txt").stat().st_ino
