"""Which base a new chunk is tried against: the chunk holding its lines, wherever they moved."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import pytest

from deltaset.core.hashing import blob_id_of
from deltaset.core.manifest import Entry, Manifest
from deltaset.engine.deltas import Bases, ChunkBases, anchors, closest
from deltaset.objects import store as store_module
from deltaset.objects.store import BlobStore, Rebuilt
from deltaset.packs.codec import Codec
from deltaset.packs.format import base_ids
from deltaset.storage.local import LocalStorage


def lines(seed: int, count: int) -> list[bytes]:
    rng = random.Random(seed)
    return [
        f"{seed}-{i:06d},{rng.randint(0, 10**9)},some words here\n".encode() for i in range(count)
    ]


def stored_bases(store: BlobStore, chunks: list[bytes]) -> tuple[tuple[str, ...], ChunkBases]:
    """The ids of ``chunks``, stored in ``store``, and the bases of a file made of them."""
    with store.session() as session:
        for chunk in chunks:
            session.put_bytes(blob_id_of(chunk), chunk)
    store.refresh()
    ids = tuple(blob_id_of(chunk) for chunk in chunks)
    bases = ChunkBases.of(store, Entry(sum(map(len, chunks)), "0" * 64, ids))
    assert bases is not None
    return ids, bases


def test_the_same_lines_give_the_same_anchors_wherever_they_are() -> None:
    body = b"".join(lines(1, 500))
    assert anchors(b"x\n" + body + b"tail") == anchors(b"other start\n" + body + b"y")
    assert anchors(body)


def test_a_chunk_whose_rows_moved_is_tried_against_the_chunks_holding_them(
    tmp_path: Path,
) -> None:
    """The chunk holding its first rows, and the next one, where its later rows now are."""
    store = BlobStore(LocalStorage(tmp_path))
    chunks = [b"".join(lines(seed, 2000)) for seed in (1, 2, 3)]
    ids, bases = stored_bases(store, chunks)
    widened = b"".join(line.replace(b"\n", b",new\n") for line in lines(2, 2000))
    chosen, raw = bases.base_for(0, widened)  # at the start, where the first chunk was
    assert chosen == ids[1:]
    assert raw == chunks[1] + chunks[2]
    last = b"".join(line.replace(b"\n", b",new\n") for line in lines(3, 2000))
    assert bases.base_for(len(chunks[0]), last) == ((ids[2],), chunks[2])
    # Past the base's end, in a file whose rows moved: where the rows are, not the last chunk.
    first = b"".join(line.replace(b"\n", b",new\n") for line in lines(1, 2000))
    assert bases.base_for(bases.size + 10, first)[0] == ids[:2]


def test_a_delta_against_two_bases_is_read_and_kept_through_both(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    first, second = b"".join(lines(1, 2000)), b"".join(lines(2, 2000))
    data = b"".join(line.replace(b"\n", b",new\n") for line in lines(1, 2000) + lines(2, 2000))
    with BlobStore(storage).session() as session:
        for chunk in (first, second):
            session.put_bytes(blob_id_of(chunk), chunk)
    store = BlobStore(storage)
    with store.session() as session:
        session.put_similar(
            blob_id_of(data), data, (blob_id_of(first), blob_id_of(second)), first + second
        )
    store = BlobStore(storage)
    wanted = blob_id_of(data)
    assert base_ids(store.index.base_of(wanted)) == [blob_id_of(first), blob_id_of(second)]
    assert store.index.depth_of(wanted) == 1
    assert store.read_raw(wanted) == data
    assert store.with_bases([wanted]) == {wanted, blob_id_of(first), blob_id_of(second)}
    assert store.holds(Entry(len(data), wanted))
    assert store.stored_size(wanted) < 0.5 * len(data) // 3  # a delta, not the data compressed
    other = BlobStore(LocalStorage(tmp_path / "other"))
    store.copy_to(other, [wanted])  # as a push does: the bases first, both of them
    other = BlobStore(LocalStorage(tmp_path / "other"))
    assert other.index.base_of(wanted) == store.index.base_of(wanted)
    assert other.read_raw(wanted) == data


def test_a_delta_whose_base_is_unknown_is_not_held(tmp_path: Path) -> None:
    """A close must not count on a delta it could not rebuild (its base's pack lost)."""
    storage = LocalStorage(tmp_path)
    base, data = b"".join(lines(1, 2000)), b"".join(lines(1, 2001))
    with BlobStore(storage).session() as session:
        session.put_bytes(blob_id_of(base), base)
    store = BlobStore(storage)
    with store.session() as session:
        session.put_similar(blob_id_of(data), data, blob_id_of(base), base)
    store.refresh()
    entry = Entry(len(data), blob_id_of(data))
    assert store.index.base_of(entry.blob_id) == blob_id_of(base)
    assert store.holds(entry)
    (base_pack,) = {loc.pack_id for loc in store.index.locations() if not loc.entry.base}
    assert base_pack in store.packs_holding(Manifest.from_sorted([("d.csv", entry)]))
    storage.delete(f"packs/{base_pack[:2]}/{base_pack}.pack")
    store.forget_missing_packs([base_pack])
    assert not store.holds(entry)
    assert not store.has(entry.blob_id)  # so an upload stores it again
    view = Manifest.from_sorted([("d.csv", entry)])
    assert list(store.unheld_positions(view)) == [0]


def stored(tmp_path: Path, files: dict[str, bytes]) -> tuple[Manifest, BlobStore]:
    """A parent version of ``files`` (path -> content), its blobs in a store."""
    store = BlobStore(LocalStorage(tmp_path))
    with store.session() as session:
        for data in files.values():
            session.put_bytes(blob_id_of(data), data)
    store.refresh()
    entries = [(path, Entry(len(data), blob_id_of(data))) for path, data in sorted(files.items())]
    return Manifest.from_sorted(entries), store


def text(seed: int) -> bytes:
    return b"".join(lines(seed, 100))


def test_a_moved_file_is_tried_against_the_same_name_in_the_folder_most_alike(
    tmp_path: Path,
) -> None:
    files = {"pkg/api.py": text(1), "tests/api.py": text(2), "pkg/models.py": text(3)}
    parents, store = stored(tmp_path, files)
    new = Entry(len(text(1)) + 5, "1" * 64)
    found = Bases(parents, store).candidates("src/pkg/api.py", new)
    assert [e.blob_id for e in found] == [blob_id_of(text(1)), blob_id_of(text(2))]


def test_candidates_chosen_by_size_alone_stop_at_the_budget(tmp_path: Path) -> None:
    files = {"a/one.py": text(1), "a/two.py": text(2), "b/three.csv": text(3)}
    parents, store = stored(tmp_path, files)
    new = Entry(len(text(1)), "1" * 64)
    assert len(Bases(parents, store).candidates("c/other.py", new)) == 2  # not the .csv
    budget = len(text(1)) + 1  # one base
    assert len(Bases(parents, store, extra=budget).candidates("c/other.py", new)) == 1
    assert Bases(parents, store, extra=0).candidates("c/other.py", new) == []
    # A file named like one of the parents' costs nothing of the budget.
    assert len(Bases(parents, store, extra=0).candidates("c/one.py", new)) == 1


def test_the_closest_base_shares_most_lines_and_the_first_wins_a_tie() -> None:
    data = text(2)[:-200] + b"an edited last line of the file\n"
    assert closest(data, [text(1), text(2), text(3)]) == 1
    assert closest(b"no lines to compare", [text(1), text(2)]) == 0
    assert closest(data, [text(3)]) == 0


def test_a_moved_file_of_a_common_name_is_matched_in_a_folder_named_alike(
    tmp_path: Path,
) -> None:
    files = {f"lib{i:02d}/__init__.py": text(i) for i in range(40)}
    files["pkg/__init__.py"] = text(99)
    parents, store = stored(tmp_path, files)
    new = Entry(len(text(99)), "1" * 64)
    found = Bases(parents, store).candidates("src/pkg/__init__.py", new)
    assert [e.blob_id for e in found] == [blob_id_of(text(99))]


class CountingStorage(LocalStorage):
    """A folder storage counting the bytes read from its packs."""

    read_bytes = 0

    def read_range(self, key: str, offset: int, length: int) -> bytes:
        self.read_bytes += length
        return super().read_range(key, offset, length)


def stored_chain(storage: LocalStorage, count: int) -> list[bytes]:
    """``count`` versions of a table, each stored as a delta against the one before."""
    versions = [b"".join(lines(1, 2000))]
    for seed in range(2, count + 1):
        versions.append(versions[-1].replace(b"some", f"w{seed}".encode(), 40))
    store = BlobStore(storage)
    with store.session() as session:
        session.put_bytes(blob_id_of(versions[0]), versions[0])
    for base, data in itertools.pairwise(versions):
        store = BlobStore(storage)
        with store.session() as session:
            session.put_similar(blob_id_of(data), data, blob_id_of(base), base)
    return versions


def test_reads_sharing_a_memo_rebuild_each_blob_once_and_give_the_same_bytes(
    tmp_path: Path,
) -> None:
    storage = CountingStorage(tmp_path)
    versions = stored_chain(storage, 4)
    ids = [blob_id_of(v) for v in versions]
    store = BlobStore(storage)
    assert store.index.depth_of(ids[-1]) == 3
    memo = Rebuilt()
    assert store.read_raw(ids[-1], memo) == versions[-1]
    before = storage.read_bytes
    for blob_id, data in zip(ids, versions, strict=True):  # rebuilt on the way: not read again
        assert store.read_raw(blob_id, memo) == data
    assert storage.read_bytes == before
    assert store.read_raw(ids[2]) == versions[2]  # without the memo: read again
    assert storage.read_bytes > before


def test_a_chain_restarting_past_the_depth_limit_starts_from_the_memo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "MAX_DEPTH", 3)
    storage = CountingStorage(tmp_path)
    versions = stored_chain(storage, 4)
    newest = versions[-1].replace(b"some", b"w5", 40)
    store = BlobStore(storage)
    memo = Rebuilt()
    base = store.read_raw(blob_id_of(versions[-1]), memo)  # as a close reads its base
    before = storage.read_bytes
    with store.session() as session:
        session.put_similar(blob_id_of(newest), newest, blob_id_of(versions[-1]), base, memo)
    assert storage.read_bytes == before  # the chain's restart point came from the memo
    store = BlobStore(storage)
    # The second version rewrote the first rows of its sample (each gained "w2"): a line
    # delta, the mark of a large change, where the chain restarts rather than at its start.
    second = store.index.get(blob_id_of(versions[1]))
    assert second is not None
    assert second.entry.codec == Codec.RUNS
    assert store.index.base_of(blob_id_of(newest)) == blob_id_of(versions[1])
    assert store.read_raw(blob_id_of(newest)) == newest


def test_a_chunk_starting_just_before_its_base_chunk_is_found_next_door(tmp_path: Path) -> None:
    """Its rows drifted by a few bytes across a small base chunk's start: it is tried against
    that chunk and the next, and the rest of the base is not read to index its lines."""
    storage = CountingStorage(tmp_path)
    store = BlobStore(storage)
    chunks = [b"".join(lines(seed, count)) for seed, count in ((1, 2000), (2, 100), (3, 2000))]
    with store.session() as session:
        for chunk in chunks:
            session.put_bytes(blob_id_of(chunk), chunk)
    store = BlobStore(storage)
    ids = tuple(blob_id_of(chunk) for chunk in chunks)
    bases = ChunkBases.of(store, Entry(sum(map(len, chunks)), "0" * 64, ids))
    assert bases is not None
    data = b"x\n" + chunks[1] + chunks[2][:40_000]  # mostly over the third chunk
    assert bases.base_for(len(chunks[0]) - 2, data) == (ids[1:], chunks[1] + chunks[2])
    assert storage.read_bytes < len(chunks[0])  # the first chunk was never read
    # Rows past the base's end are new rows, not moved ones: tried against the last chunk.
    more = b"".join(lines(4, 500))
    assert bases.base_for(bases.size, more) == ((ids[2],), chunks[2])


def test_base_chunks_are_read_from_a_local_copy_and_checked(tmp_path: Path) -> None:
    """A copy of the base on this machine (the cache's, after a get) is read rather than the
    chains rebuilt; a copy holding other bytes is left for the store."""
    storage = CountingStorage(tmp_path / "storage")
    versions = stored_chain(storage, 3)
    chunks = [versions[-1], b"".join(lines(7, 2000))]
    store = BlobStore(storage)
    with store.session() as session:
        session.put_bytes(blob_id_of(chunks[1]), chunks[1])
    store = BlobStore(storage)
    ids = tuple(blob_id_of(chunk) for chunk in chunks)
    base = Entry(sum(map(len, chunks)), "0" * 64, ids)
    local = tmp_path / "copy"
    local.write_bytes(b"".join(chunks))
    bases = ChunkBases.of(store, base, str(local))
    assert bases is not None
    before = storage.read_bytes
    assert bases.base_for(0, chunks[0]) == ((ids[0],), chunks[0])
    assert bases.base_for(len(chunks[0]), chunks[1]) == ((ids[1],), chunks[1])
    assert storage.read_bytes == before  # nothing rebuilt
    local.write_bytes(b"".join(chunks).replace(b"some", b"SOME", 1))  # written into since
    bases = ChunkBases.of(store, base, str(local))
    assert bases is not None
    assert bases.base_for(0, chunks[0]) == ((ids[0],), chunks[0])
    assert storage.read_bytes > before


def test_a_base_rebuilt_from_damaged_bytes_is_not_handed_out_from_the_memo(
    tmp_path: Path,
) -> None:
    """Bases rebuilt on the way to another blob are not hashed then; a reader asking for one
    from the memo gets it only once its bytes match its id."""
    storage = CountingStorage(tmp_path)
    versions = stored_chain(storage, 3)
    ids = [blob_id_of(v) for v in versions]
    store = BlobStore(storage)
    memo = Rebuilt()
    assert store.read_raw(ids[-1], memo) == versions[-1]
    assert memo.found([ids[1]]) == {ids[1]: versions[1]}  # kept, not yet checked
    assert ids[0] in memo.found([ids[0]])
    memo._raw[ids[0]] = b"not its bytes"  # as a base damaged in storage would leave it
    before = storage.read_bytes
    assert store.read_raw(ids[1], memo) == versions[1]  # hashed, matched: not read again
    assert storage.read_bytes == before
    assert store.read_raw(ids[0], memo) == versions[0]  # did not match: read from storage
    assert storage.read_bytes > before


def test_chunks_of_a_table_gaining_a_column_are_found_where_their_rows_drifted(
    tmp_path: Path,
) -> None:
    """Every row grows, so each new chunk's rows lie further back in the base than the last
    one's: each is tried against the chunk holding its first row, found from where the last
    one's rows were, and the base's lines are never indexed."""
    store = BlobStore(LocalStorage(tmp_path))
    chunks = [b"".join(lines(seed, 300)) for seed in range(12)]
    ids, bases = stored_bases(store, chunks)
    rows = [line for seed in range(12) for line in lines(seed, 300)]
    widened = b"".join(row.replace(b"\n", b",a new column of values\n") for row in rows)
    size = len(chunks[0])
    tried = []
    for start in range(0, len(widened) - size, size):
        piece = widened[start : start + size]
        chosen, raw = bases.base_for(start, piece)
        first_row = piece.split(b"\n")[1].split(b",a new")[0]
        assert first_row in raw[: len(chunks[0])]  # the first base chunk holds it
        tried.append(ids.index(chosen[0]))
    assert tried[-1] < len(tried) - 4  # the rows drifted by several chunks
    assert bases._where is None


class CountingReads(LocalStorage):
    """A folder storage counting its ranged reads (one per coalesced read of a pack)."""

    reads = 0

    def read_range(self, key: str, offset: int, length: int) -> bytes:
        self.reads += 1
        return super().read_range(key, offset, length)


def chunked_versions(storage: LocalStorage, chunks: int, count: int) -> list[list[bytes]]:
    """``count`` versions of a file of ``chunks`` chunks, each version's chunks stored (in a
    pack of their own) as deltas against the version before's: chains as deep as versions."""
    versions = [[b"".join(lines(seed, 2000)) for seed in range(1, chunks + 1)]]
    for version in range(2, count + 1):
        versions.append([c.replace(b"some", f"w{version}".encode(), 40) for c in versions[-1]])
    store = BlobStore(storage)
    with store.session() as session:
        for chunk in versions[0]:
            session.put_bytes(blob_id_of(chunk), chunk, group=False)
    for before, after in itertools.pairwise(versions):
        store = BlobStore(storage)
        with store.session() as session:
            for base, data in zip(before, after, strict=True):
                session.put_similar(blob_id_of(data), data, blob_id_of(base), base, group=False)
    return versions


@pytest.mark.parametrize("ahead", [True, False])
def test_chunks_restarting_their_chains_read_the_restart_points_together(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ahead: bool
) -> None:
    """A close whose chunks all reached the depth limit reads their restart points (and the
    bases those are rebuilt from) in one read a level, each once, not one read a chunk and
    level; each new chunk is stored against its restart point and rebuilt byte for byte."""
    monkeypatch.setattr(store_module, "MAX_DEPTH", 3)
    storage = CountingReads(tmp_path)
    chunks = 6
    versions = chunked_versions(storage, chunks, 4)
    newest = [c.replace(b"some", b"w5", 40) for c in versions[-1]]
    store = BlobStore(storage)
    base_ids = [blob_id_of(c) for c in versions[-1]]
    assert {store.index.depth_of(b) for b in base_ids} == {3}
    starts = {store.index.restart_point(bytes.fromhex(b), 3, 0.05).hex() for b in base_ids}
    assert {store.index.depth_of(s) for s in starts} == {1}  # each rebuilt from two blobs
    memo = Rebuilt()
    reads = storage.reads
    with store.session() as session:
        for at, (base, data) in enumerate(zip(versions[-1], newest, strict=True)):
            later = tuple(base_ids[at + 1 :]) if ahead else ()
            session.put_similar(
                blob_id_of(data), data, base_ids[at], base, memo, group=False, ahead=later
            )
    # Two levels (the chains' first blobs, then the line deltas of the second version), each
    # in one pack: two reads in all, against two for every chunk read one by one.
    assert storage.reads - reads == (2 if ahead else 2 * chunks)
    store = BlobStore(storage)
    for data in newest:
        assert store.index.base_of(blob_id_of(data)) in starts
        assert store.read_raw(blob_id_of(data)) == data


def test_the_chunks_ahead_are_those_after_the_first_chosen(tmp_path: Path) -> None:
    """Those the next new chunks likely start in: after the one chosen, or after the first
    of two chosen (rows moved across their border)."""
    store = BlobStore(LocalStorage(tmp_path))
    chunks = [b"".join(lines(seed, 300)) for seed in range(40)]
    ids, bases = stored_bases(store, chunks)
    assert bases.ahead() == ids[:16]  # nothing chosen yet: from the first
    assert bases.base_for(bases.starts[3], chunks[3]) == ((ids[3],), chunks[3])
    assert bases.ahead() == ids[4:20]
    # The second half of the sixth chunk's rows and all the seventh's, a few bytes early:
    # mostly over the seventh, from rows of the sixth.
    cut = chunks[5].index(b"\n", len(chunks[5]) // 2) + 1
    moved = b"x\n" + chunks[5][cut:] + chunks[6]
    assert bases.base_for(bases.starts[5] + cut - 2, moved)[0] == ids[5:7]
    assert bases.ahead() == ids[6:22]
    assert bases.base_for(bases.starts[39], chunks[39])[0] == (ids[39],)
    assert bases.ahead() == ()
