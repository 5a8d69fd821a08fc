from __future__ import annotations

import errno
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import pytest

from deltaset.core.hashing import blob_id_of
from deltaset.core.manifest import Entry, Manifest
from deltaset.errors import IntegrityError, NotFoundError, StateError, StorageError
from deltaset.objects.store import BlobStore, UploadSession
from deltaset.packs import groups
from deltaset.packs.codec import Codec
from deltaset.packs.format import TRAILER_SIZE, decode_index
from deltaset.packs.index import INDEX_PREFIX
from deltaset.packs.reader import read_pack_entries
from deltaset.packs.writer import PackWriter, pack_key
from deltaset.storage.local import LocalStorage

# Larger than a member of a group (see packs/groups.py): stored alone, each in its own frame.
RANDOM = os.urandom(groups.MEMBER_MAX + 4_000)
TEXT = b"".join(b"row %d: the quick brown fox\n" % i for i in range(6_000))
CONTENTS = [RANDOM, TEXT, b"tiny"]
CONTENT_IDS = ["raw", "zstd", "tiny"]


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "storage")


@pytest.fixture
def store(storage: LocalStorage) -> BlobStore:
    return BlobStore(storage)


def _put(store: BlobStore, *contents: bytes, pack_size: int = 1 << 20) -> list[str]:
    """Store ``contents`` in one upload session; returns their ids."""
    with store.session(pack_size) as session:
        for content in contents:
            session.put_bytes(blob_id_of(content), content)
    return [blob_id_of(c) for c in contents]


def _in_session(
    store: BlobStore, *steps: Callable[[UploadSession], object], pack_size: int = 1 << 20
) -> None:
    with store.session(pack_size) as session:
        for step in steps:
            step(session)


def _adding(content: bytes) -> Callable[[UploadSession], object]:
    return lambda session: session.put_bytes(blob_id_of(content), content)


# Blobs this large are written as they come, not kept back for a group (see packs/groups.py).
ALONE = groups.MEMBER_MAX


def _interrupt(session: UploadSession) -> None:
    raise RuntimeError("interrupted")


class _FillingStorage(LocalStorage):
    """A folder storage whose disk fills once ``room`` bytes of packs are written."""

    def __init__(self, root: Path, room: int) -> None:
        super().__init__(root)
        self.room = room

    @contextmanager
    def writer(self, key: str) -> Iterator[BinaryIO]:
        with super().writer(key) as handle:
            if key.startswith("packs/"):
                real_write = handle.write

                def write(data: bytes) -> int:
                    if len(data) > self.room:
                        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                    self.room -= len(data)
                    return real_write(data)

                handle.write = write  # type: ignore[method-assign]
            yield handle


def _read(store: BlobStore, *blob_ids: str) -> dict[str, bytes]:
    got: dict[str, bytes] = {}
    store.read(blob_ids, got.__setitem__)
    return got


def _pack_path(store: BlobStore, storage: LocalStorage, blob_id: str) -> Path:
    return storage.root / pack_key(store.location(blob_id).pack_id)


def _packs(storage: LocalStorage) -> set[str]:
    return {key.rsplit("/", 1)[-1].removesuffix(".pack") for key in storage.list("packs/")}


def _index_files(storage: LocalStorage) -> list[str]:
    return sorted(storage.list(INDEX_PREFIX))


def _assert_no_index_names_a_missing_pack(storage: LocalStorage) -> None:
    packs = _packs(storage)
    for key in _index_files(storage):
        named = {loc.pack_id for loc in decode_index(storage.get_bytes(key))}
        assert named, f"{key} names nothing"
        assert named <= packs, f"{key} names missing packs {named - packs}"


# -- round trips --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "codec"),
    [(RANDOM, Codec.RAW), (TEXT, Codec.ZSTD), (b"", Codec.RAW), (b"tiny", Codec.RAW)],
    ids=["random-raw", "text-zstd", "empty", "tiny"],
)
def test_put_file_then_read_round_trip(
    store: BlobStore, storage: LocalStorage, tmp_path: Path, content: bytes, codec: Codec
) -> None:
    source = tmp_path / "source.bin"
    source.write_bytes(content)
    blob_id = blob_id_of(content)
    with store.session() as session:
        assert session.put_file(blob_id, source) is True
        assert session.put_file(blob_id, source) is False  # claimed once per session
    entry = store.location(blob_id).entry
    assert (entry.blob_id, entry.codec, entry.raw_length) == (blob_id, codec, len(content))
    assert store.has(blob_id)
    assert store.raw_size(blob_id) == len(content)
    assert store.stored_size(blob_id) == entry.length == session.stored_bytes
    assert store.read([blob_id], lambda _, data: None) == entry.length
    assert _read(store, blob_id) == {blob_id: content}
    assert read_pack_entries(storage, store.location(blob_id).pack_id) == [entry]


def test_raw_payload_is_stored_as_is_and_zstd_payload_is_smaller(
    store: BlobStore, storage: LocalStorage
) -> None:
    raw_id, text_id = _put(store, RANDOM, TEXT)
    pack = _pack_path(store, storage, raw_id).read_bytes()
    entry = store.location(raw_id).entry
    assert pack[entry.offset : entry.offset + entry.length] == RANDOM  # no codec byte in front
    assert store.stored_size(text_id) < len(TEXT) // 2
    assert _read(store, raw_id, text_id) == {raw_id: RANDOM, text_id: TEXT}


def test_compress_false_keeps_even_text_raw(store: BlobStore) -> None:
    with store.session(compress=False) as session:
        session.put_bytes(blob_id_of(TEXT), TEXT)
    assert store.location(blob_id_of(TEXT)).entry.codec == Codec.RAW
    assert session.stored_bytes == len(TEXT)
    assert _read(store, blob_id_of(TEXT)) == {blob_id_of(TEXT): TEXT}


def test_blobs_are_findable_only_once_the_session_names_them(
    store: BlobStore, storage: LocalStorage
) -> None:
    blob_id = blob_id_of(TEXT)
    with store.session() as session:
        assert session.put_bytes(blob_id, TEXT) is True
        assert session.put_bytes(blob_id, TEXT) is False
        assert not store.has(blob_id)
        assert list(storage.list("packs/")) == [] == _index_files(storage)
    assert store.has(blob_id)
    assert len(_index_files(storage)) == 1
    other = BlobStore(storage)  # another process finds it through the index file
    assert other.has(blob_id)
    assert _read(other, blob_id) == {blob_id: TEXT}


def test_a_stored_blob_is_not_stored_again(store: BlobStore, storage: LocalStorage) -> None:
    [blob_id] = _put(store, TEXT)
    before = (_packs(storage), _index_files(storage))
    with store.session() as session:
        assert session.put_bytes(blob_id, TEXT) is False
    assert session.stored_bytes == 0
    assert (_packs(storage), _index_files(storage)) == before  # an empty session writes nothing


def test_holds_needs_every_chunk_of_a_large_file(store: BlobStore) -> None:
    one, two = _put(store, b"chunk one", b"chunk two")
    absent = blob_id_of(b"never stored")
    big = 4 << 20
    assert store.holds(Entry(9, one))
    assert store.holds(Entry(big, blob_id_of(b"whole"), (one, two)))
    assert not store.holds(Entry(big, blob_id_of(b"whole"), (one, absent)))
    assert not store.holds(Entry(big, one))  # chunks not known yet: cannot be held whole
    assert store.missing([one, absent, absent, two]) == [absent]


def test_a_pack_gone_from_storage_is_forgotten_and_no_index_names_it(
    storage: LocalStorage, store: BlobStore
) -> None:
    (kept,) = _put(store, b"in a pack that stays")
    one, two = _put(store, b"chunk one", b"chunk two")
    view = Manifest({"a": Entry(9, kept), "b": Entry(4 << 20, blob_id_of(b"whole"), (one, two))})
    stays, gone = (store.location(blob_id).pack_id for blob_id in (kept, one))
    packs = store.packs_holding(view)
    assert packs == {stays, gone}
    storage.delete(pack_key(gone))  # as a gc does to a pack no index named yet
    assert store.forget_missing_packs(packs) == {gone}
    assert store.missing([kept, one, two]) == [one, two]
    assert list(store.unheld_positions(view)) == [1]
    _assert_no_index_names_a_missing_pack(storage)
    assert BlobStore(storage).missing([kept, one, two]) == [one, two]  # as another process sees
    assert store.forget_missing_packs(store.packs_holding(view)) == set()


def test_unheld_lists_exactly_the_files_holds_refuses(store: BlobStore) -> None:
    one, two = _put(store, b"chunk one", b"chunk two")
    absent = blob_id_of(b"never stored")
    big = 4 << 20
    entries = {
        "held whole": Entry(9, one),
        "missing whole": Entry(12, absent),
        "held chunks": Entry(big, blob_id_of(b"whole"), (one, two)),
        "missing a chunk": Entry(big, blob_id_of(b"other"), (one, absent)),
        "chunks unknown": Entry(big, one),
    }
    view = Manifest(entries)
    unheld = [view.entry_at(at) for at in store.unheld_positions(view)]
    assert unheld == [e for e in view.values() if not store.holds(e)]
    assert unheld == [
        entries["chunks unknown"],
        entries["missing a chunk"],
        entries["missing whole"],
    ]


def test_many_blobs_of_one_pack_come_in_one_ranged_read(
    store: BlobStore, storage: LocalStorage
) -> None:
    contents = [os.urandom(2_000) for _ in range(20)]
    ids = _put(store, *contents)
    assert len(_packs(storage)) == 1
    reads = storage.stats.reads
    assert store.read(ids, lambda _, data: None, max_workers=3) == 20 * 2_000
    assert storage.stats.reads - reads == 1
    assert _read(store, *ids) == dict(zip(ids, contents, strict=True))


def test_one_block_is_read_in_the_calling_thread_and_none_reads_nothing(
    store: BlobStore,
) -> None:
    ids = _put(store, b"one", b"two")
    threads: set[int] = set()
    assert store.read(ids, lambda _, data: threads.add(threading.get_ident()), 4) == 6
    assert threads == {threading.get_ident()}  # no pool started for a single read
    assert store.read([], lambda _, data: None, max_workers=4) == 0


def test_blobs_spread_over_packs_all_read_back(store: BlobStore, storage: LocalStorage) -> None:
    contents = [os.urandom(3_000) for _ in range(12)]
    ids = _put(store, *contents, pack_size=5_000)
    assert len(_packs(storage)) == 6
    assert _read(store, *reversed(ids)) == dict(zip(ids, contents, strict=True))


@pytest.mark.parametrize("size", [20, 300_000], ids=["small", "large"])
def test_refuses_a_source_whose_content_no_longer_matches(
    store: BlobStore, storage: LocalStorage, tmp_path: Path, size: int
) -> None:
    source = tmp_path / "changed.txt"
    source.write_bytes(b"a" * size)
    blob_id = blob_id_of(source.read_bytes())
    source.write_bytes(b"a" * (size - 1) + b"b")
    with pytest.raises(StateError, match="changed after it was added"):
        # TEXT is in the pack in progress when the session fails
        _in_session(store, _adding(TEXT), lambda session: session.put_file(blob_id, source))
    assert not store.has(blob_id)
    assert not store.has(blob_id_of(TEXT))
    assert list(storage.list("packs/")) == [] == _index_files(storage)
    assert not list((storage.root / "tmp").iterdir())


def test_a_failed_session_still_names_the_packs_it_completed(
    store: BlobStore, storage: LocalStorage
) -> None:
    done = [os.urandom(ALONE) for _ in range(3)]
    with pytest.raises(RuntimeError, match="interrupted"):
        _in_session(store, *map(_adding, done), _interrupt, pack_size=ALONE * 5 // 3)
    complete, in_progress = [blob_id_of(c) for c in done[:2]], blob_id_of(done[2])
    assert _read(store, *complete) == dict(zip(complete, done[:2], strict=True))
    assert not store.has(in_progress)
    assert len(_packs(storage)) == 1
    assert not list((storage.root / "tmp").iterdir())


def test_a_session_failing_to_write_still_names_the_packs_it_completed(tmp_path: Path) -> None:
    """The disk fills in the second pack: one sentence names the storage, the first pack stays
    and is named at once, and the second leaves no trace."""
    storage = _FillingStorage(tmp_path / "storage", room=ALONE * 8 // 3)
    store = BlobStore(storage)
    done = [os.urandom(ALONE) for _ in range(3)]
    with pytest.raises(StorageError, match="no space left") as failed:
        _in_session(store, *map(_adding, done), pack_size=ALONE * 5 // 3)
    assert storage.url in str(failed.value)
    complete = [blob_id_of(c) for c in done[:2]]
    for fresh in (store, BlobStore(storage)):
        assert _read(fresh, *complete) == dict(zip(complete, done[:2], strict=True))
        assert not fresh.has(blob_id_of(done[2]))
    assert len(_packs(storage)) == 1
    assert not list((storage.root / "tmp").iterdir())


def test_missing_blob_is_not_found(store: BlobStore) -> None:
    absent = blob_id_of(b"never stored")
    with pytest.raises(NotFoundError, match=absent):
        store.location(absent)
    with pytest.raises(NotFoundError, match=absent):
        store.read([absent], lambda _, data: None)


# -- damage -------------------------------------------------------------------------------------


@pytest.mark.parametrize("content", CONTENTS, ids=CONTENT_IDS)
@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_a_flipped_byte_in_a_payload_is_detected(
    store: BlobStore, storage: LocalStorage, content: bytes, where: str
) -> None:
    before, [blob_id] = _put(store, RANDOM[:500]), _put(store, content)
    after = _put(store, b"stored after it " * 50)
    entry = store.location(blob_id).entry
    at = {"first": 0, "middle": entry.length // 2, "last": entry.length - 1}[where]
    path = _pack_path(store, storage, blob_id)
    damaged = bytearray(path.read_bytes())
    damaged[entry.offset + at] ^= 0x41
    path.write_bytes(bytes(damaged))
    with pytest.raises(IntegrityError, match=blob_id):
        store.read([blob_id], lambda _, data: None)
    assert _read(store, *before, *after) == {
        before[0]: RANDOM[:500],
        after[0]: b"stored after it " * 50,
    }


def test_a_damaged_blob_is_never_handed_over_among_good_neighbours(
    store: BlobStore, storage: LocalStorage
) -> None:
    """A read never hands over a damaged blob, even among good ones of the same ranged read."""
    ids = _put(store, RANDOM, TEXT, b"tiny")
    path = _pack_path(store, storage, ids[1])
    damaged = bytearray(path.read_bytes())
    damaged[store.location(ids[1]).entry.offset] ^= 0x01
    path.write_bytes(bytes(damaged))
    got: dict[str, bytes] = {}
    with pytest.raises(IntegrityError, match=ids[1]):
        store.read(ids, got.__setitem__)
    assert ids[1] not in got
    assert all(got[b] == c for b, c in zip(ids, [RANDOM, TEXT, b"tiny"], strict=True) if b in got)


@pytest.mark.parametrize("content", CONTENTS, ids=CONTENT_IDS)
@pytest.mark.parametrize("keep", ["nothing", "half", "all but one"])
def test_a_truncated_pack_is_detected(
    store: BlobStore, storage: LocalStorage, content: bytes, keep: str
) -> None:
    [blob_id] = _put(store, content)
    entry = store.location(blob_id).entry
    path = _pack_path(store, storage, blob_id)
    cut = {"nothing": 0, "half": entry.length // 2, "all but one": entry.length - 1}[keep]
    path.write_bytes(path.read_bytes()[: entry.offset + cut])
    with pytest.raises(IntegrityError, match=store.location(blob_id).pack_id):
        store.read([blob_id], lambda _, data: None)
    with pytest.raises(IntegrityError, match=r"truncated|trailer"):
        read_pack_entries(storage, store.location(blob_id).pack_id)


def test_another_packs_bytes_under_a_pack_id_are_detected(
    store: BlobStore, storage: LocalStorage
) -> None:
    [real] = _put(store, TEXT)
    [other] = _put(store, RANDOM)
    _pack_path(store, storage, real).write_bytes(_pack_path(store, storage, other).read_bytes())
    with pytest.raises(IntegrityError, match=real):
        store.read([real], lambda _, data: None)


@pytest.mark.parametrize("where", ["magic", "count", "header length", "header body"])
def test_a_damaged_pack_header_is_detected(
    store: BlobStore, storage: LocalStorage, where: str
) -> None:
    [blob_id] = _put(store, TEXT)
    path = _pack_path(store, storage, blob_id)
    data = bytearray(path.read_bytes())
    end = len(data)
    header_start = store.location(blob_id).entry.length
    at = {
        "magic": end - 1,
        "count": end - 8,
        "header length": end - 12,
        "header body": (header_start + end - TRAILER_SIZE) // 2,
    }[where]
    data[at] ^= 0x41
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError):
        read_pack_entries(storage, store.location(blob_id).pack_id)


# -- recover -------------------------------------------------------------------------------------


def _unindexed_pack(storage: LocalStorage, *contents: bytes) -> str:
    """A complete pack no index names, as an upload killed before its index leaves."""
    with PackWriter(storage) as writer:
        for content in contents:
            writer.add(blob_id_of(content), Codec.RAW, content, len(content))
    [pack_id] = {loc.pack_id for loc in writer.locations()}
    return pack_id


def test_recover_indexes_complete_packs_no_index_names(
    store: BlobStore, storage: LocalStorage
) -> None:
    [named] = _put(store, TEXT)
    first = _unindexed_pack(storage, b"one", b"two")
    second = _unindexed_pack(storage, b"three")
    store.refresh()
    assert not store.has(blob_id_of(b"one"))
    assert store.recover() == 2
    assert {store.location(blob_id_of(c)).pack_id for c in (b"one", b"two")} == {first}
    assert store.location(blob_id_of(b"three")).pack_id == second
    assert _read(store, named, blob_id_of(b"two")) == {named: TEXT, blob_id_of(b"two"): b"two"}
    assert len(_index_files(storage)) == 2  # the session's, and one naming both recovered packs
    assert store.recover() == 0
    assert len(_index_files(storage)) == 2
    assert BlobStore(storage).has(blob_id_of(b"three"))  # another process finds them too


@pytest.mark.parametrize("damage", ["truncated", "bad trailer"])
def test_recover_leaves_a_partial_pack_unnamed(
    store: BlobStore, storage: LocalStorage, damage: str
) -> None:
    good = _unindexed_pack(storage, b"good")
    bad = _unindexed_pack(storage, b"bad")
    path = storage.root / pack_key(bad)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if damage == "truncated" else data[:-1] + b"X")
    (storage.root / "tmp").mkdir(exist_ok=True)
    (storage.root / "tmp" / "leftover.tmp").write_bytes(b"half a pack")  # a killed write
    assert store.recover() == 1
    assert store.location(blob_id_of(b"good")).pack_id == good
    assert not store.has(blob_id_of(b"bad"))
    assert store.recover() == 0


# -- drop_unreferenced ----------------------------------------------------------------------------


def test_drop_unreferenced_keeps_packs_with_a_live_blob_and_deletes_dead_ones(
    store: BlobStore, storage: LocalStorage
) -> None:
    # one index file naming three packs: {live, dead}, {dead}, {dead}
    live, mixed_dead, dead1, dead2 = (os.urandom(3_000) for _ in range(4))
    ids = _put(store, live, mixed_dead, dead1, dead2, pack_size=5_000)
    assert len(_packs(storage)) == 2
    [later] = _put(store, b"a later upload, all dead")
    assert len(_index_files(storage)) == 2
    kept_pack = store.location(ids[0]).pack_id
    doomed = _packs(storage) - {kept_pack}
    sizes = sum((storage.root / pack_key(p)).stat().st_size for p in doomed)

    assert store.drop_unreferenced({ids[0]}) == sizes
    assert _packs(storage) == {kept_pack}
    _assert_no_index_names_a_missing_pack(storage)
    assert len(_index_files(storage)) == 1  # rewritten without the dead packs; the other gone
    for fresh in (store, BlobStore(storage)):
        assert {loc.entry.blob_id for loc in fresh.index.locations()} == set(ids[:2])
        assert _read(fresh, *ids[:2]) == {ids[0]: live, ids[1]: mixed_dead}  # kept whole
        assert not {ids[2], ids[3], later} & {loc.entry.blob_id for loc in fresh.index.locations()}


def test_a_repack_reads_and_rewrites_only_the_index_files_naming_its_packs(
    storage: LocalStorage, tmp_path: Path
) -> None:
    copies = tmp_path / "index-copies"  # as every command keeps them: read once per machine
    store = BlobStore(storage, copies)
    [first] = _put(store, os.urandom(3_000))
    moved = _put(store, os.urandom(3_000), os.urandom(3_000))
    [last] = _put(store, os.urandom(3_000))
    store = BlobStore(storage, copies)
    before = {key: storage.get_bytes(key) for key in _index_files(storage)}
    doomed = store.location(moved[0]).pack_id
    read: list[str] = []
    get_bytes = storage.get_bytes

    def counting(key: str) -> bytes:
        read.append(key)
        return get_bytes(key)

    storage.get_bytes = counting  # type: ignore[method-assign]
    written, dropped = store.repack([doomed], None, 1 << 20, 3)
    storage.get_bytes = get_bytes  # type: ignore[method-assign]
    assert written > 0
    assert dropped > 0
    assert doomed not in _packs(storage)
    after = _index_files(storage)
    untouched = [key for key in before if key in after]
    assert len(untouched) == 2  # those of the first and the last upload, as they were
    assert all(storage.get_bytes(key) == before[key] for key in untouched)
    assert [key for key in read if key in before] == sorted(set(before) - set(untouched))
    _assert_no_index_names_a_missing_pack(storage)
    fresh = BlobStore(storage)
    assert {fresh.location(b).pack_id for b in moved} != {doomed}
    assert set(_read(fresh, first, *moved, last)) == {first, *moved, last}


def test_drop_unreferenced_with_everything_live_changes_nothing(
    store: BlobStore, storage: LocalStorage
) -> None:
    ids = _put(store, RANDOM, TEXT, pack_size=1)
    before = (_packs(storage), _index_files(storage))
    assert store.drop_unreferenced(set(ids)) == 0
    assert (_packs(storage), _index_files(storage)) == before


def test_drop_unreferenced_of_nothing_live_empties_the_storage(
    store: BlobStore, storage: LocalStorage
) -> None:
    _put(store, RANDOM, TEXT, pack_size=1)
    _put(store, b"more")
    freed = sum(storage.size(key) for key in storage.list("packs/"))
    assert store.drop_unreferenced(set()) == freed
    assert list(storage.list("packs/")) == [] == _index_files(storage)
    assert len(store.index) == 0


def test_local_index_copies_do_not_bring_back_a_dropped_pack(
    storage: LocalStorage, tmp_path: Path
) -> None:
    copies = tmp_path / "index-copies"
    store = BlobStore(storage, copies)
    keep, drop = _put(store, RANDOM, TEXT, pack_size=1)
    assert BlobStore(storage, copies).has(drop)
    assert any(copies.iterdir())  # the index file was kept locally
    store.drop_unreferenced({keep})
    later = BlobStore(storage, copies)
    assert later.has(keep)
    assert not later.has(drop)
    assert _read(later, keep) == {keep: RANDOM}


def test_blobs_of_published_packs_are_known_at_once_and_indexed_once(
    store: BlobStore, storage: LocalStorage
) -> None:
    contents = [b"blob %d " % i * 50 for i in range(12)]
    ids = [blob_id_of(c) for c in contents]
    with store.session(pack_size=1, compress=False) as session:  # one blob per pack
        for content, blob_id in zip(contents, ids, strict=True):
            assert session.put_bytes(blob_id, content)
            assert store.has(blob_id)  # its pack is published: no second copy can be claimed
            assert not session.put_bytes(blob_id, content)
        assert not session._claimed  # the claims of published packs are dropped
        assert _index_files(storage) == []  # the index file comes once, at the end
    assert len(_index_files(storage)) == 1
    reopened = BlobStore(storage)
    assert all(reopened.has(b) for b in ids)
    assert len(reopened.index) == len(ids)
    assert _read(reopened, *ids) == dict(zip(ids, contents, strict=True))


def test_a_finished_session_is_freed_at_once(store: BlobStore) -> None:
    import gc
    import weakref

    gc.disable()  # a reference cycle would keep it alive until a collection
    try:
        with store.session(pack_size=1) as session:
            session.put_bytes(blob_id_of(b"x" * 100), b"x" * 100)
        gone = weakref.ref(session)
        del session
        assert gone() is None
    finally:
        gc.enable()


def test_small_files_are_grouped_and_chunks_stored_alone(store: BlobStore) -> None:
    files = [b"import os\nprint(%d)\n" % i * 40 for i in range(4)]
    chunks = [b"row,%d,value\n" % i * 60 for i in range(3)]
    unlike = b"".join(b"note %d: %d\n" % (i, i * 7919 % 1000) for i in range(80))
    with store.session() as session:
        for content in files:
            session.put_bytes(blob_id_of(content), content)
        for content in chunks:
            session.put_bytes(blob_id_of(content), content, group=False)
        session.put_similar(blob_id_of(unlike), unlike, blob_id_of(files[0]), files[0])
    codecs = {c: store.location(blob_id_of(c)).entry.codec for c in files + chunks}
    assert {codecs[c] for c in files} == {Codec.GROUP}
    assert {codecs[c] for c in chunks} == {Codec.ZSTD}
    assert store.location(blob_id_of(unlike)).entry.codec == Codec.GROUP  # no delta paid
    assert _read(store, *map(blob_id_of, files + chunks)) == {
        blob_id_of(c): c for c in files + chunks
    }
