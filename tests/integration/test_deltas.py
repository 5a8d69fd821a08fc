"""Delta storage: a changed or new file like a parent's file is stored as a delta against it,
and every read, verify, gc, repack and squash rebuilds or keeps what it needs."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

import deltaset
from deltaset import Dataset
from deltaset.engine import deltas as deltas_module
from deltaset.engine import gc as gc_module
from deltaset.engine import rewrite as rewrite_module
from deltaset.engine import upload as upload_module
from deltaset.engine.context import default_context
from deltaset.engine.deltas import raw_of
from deltaset.engine.gc import collect
from deltaset.engine.rewrite import rewrite_chains
from deltaset.engine.views import final_manifest
from deltaset.errors import IntegrityError
from deltaset.faults import FAILPOINT_ENV as FAILPOINT
from deltaset.objects import store as store_module
from deltaset.objects.store import BlobStore, Rebuilt
from deltaset.packs.codec import Codec, encode_against
from deltaset.packs.format import base_ids
from deltaset.packs.index import REWRITE_PREFIX
from deltaset.packs.writer import pack_key
from deltaset.storage import open_storage
from tests.conftest import forget_context, make_files, read_tree, run_cli, verify_stored_packs
from tests.unit.objects.test_chain_policy import scored

MIB = 1 << 20


def rows(rng: random.Random, count: int, start: int = 0) -> list[str]:
    words = ["alpha", "beta", "gamma", "delta", "omega", "river", "stone", "cloud"]
    return [
        f"{start + i},{rng.randint(0, 10**6)},{' '.join(rng.choices(words, k=4))}\n"
        for i in range(count)
    ]


def evolve(rng: random.Random, table: list[str]) -> list[str]:
    """The next version of ``table``: 0.5% of rows revised, 2% more rows."""
    changed = list(table)
    for at in rng.sample(range(len(changed)), len(changed) // 200):
        changed[at] = rows(rng, 1, at)[0]
    return changed + rows(rng, len(changed) // 50, len(changed))


def close(tmp_path: Path, files: dict[str, bytes | str], parent: Dataset | None) -> Dataset:
    folder = make_files(tmp_path / f"src-{len(list(tmp_path.iterdir()))}", files)
    parents = [parent.id] if parent else None
    ds = Dataset.create(dataset_name="t", dataset_project="p", parent_datasets=parents)
    ds.sync_folder(str(folder))
    ds.finalize(auto_upload=True)
    return ds


def cold_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ds: Dataset) -> dict[str, bytes]:
    """The files of ``ds`` pulled into an empty cache: every byte read from storage."""
    cache = tmp_path / f"cache-{len(list(tmp_path.iterdir()))}"
    monkeypatch.setenv("DELTASET_CACHE_DIR", str(cache))
    forget_context()
    target = cache.with_name(cache.name + "-copy")
    again = Dataset.get(dataset_id=ds.id)
    found = read_tree(Path(again.get_mutable_local_copy(str(target))))
    return {k: v for k, v in found.items() if not k.startswith(".deltaset")}


def store_of(ds: Dataset) -> BlobStore:
    return BlobStore(open_storage(ds.get_default_storage()))


def chain(tmp_path: Path, versions: int) -> tuple[list[Dataset], list[dict[str, bytes | str]]]:
    """A growing table (large: stored as chunks) and a small one, closed ``versions`` times."""
    rng = random.Random(5)
    big, small = rows(rng, 130_000), rows(rng, 2_000)
    made: list[Dataset] = []
    contents: list[dict[str, bytes | str]] = []
    for _ in range(versions):
        files: dict[str, bytes | str] = {"big.csv": "".join(big), "small.csv": "".join(small)}
        made.append(close(tmp_path, files, made[-1] if made else None))
        contents.append(files)
        big, small = evolve(rng, big), evolve(rng, small)
    return made, contents


def as_bytes(files: dict[str, bytes | str]) -> dict[str, bytes]:
    return {k: v.encode() if isinstance(v, str) else v for k, v in files.items()}


def test_an_evolving_table_stores_deltas_and_pulls_every_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made, contents = chain(tmp_path, 4)
    assert len(contents[0]["big.csv"]) > 4 * MIB  # stored as chunks
    first = made[0].record.stats.stored_bytes
    for later in made[1:]:
        assert later.record.stats.stored_bytes < 0.2 * first
    store = store_of(made[-1])
    codecs = {loc.entry.codec for loc in store.index.locations()}
    assert Codec.DELTA in codecs
    for ds, files in zip(made, contents, strict=True):
        assert cold_copy(tmp_path, monkeypatch, ds) == as_bytes(files)


def test_a_new_dump_is_stored_against_the_one_before(tmp_path: Path) -> None:
    rng = random.Random(3)
    table = rows(rng, 5_000)
    files: dict[str, bytes | str] = {"dumps/day-01.csv": "".join(table)}
    first = close(tmp_path, files, None)
    table = evolve(rng, table)
    files["dumps/day-02.csv"] = "".join(table)
    second = close(tmp_path, files, first)
    assert 0 < second.record.stats.stored_bytes < 0.2 * first.record.stats.stored_bytes
    assert read_tree(Path(second.get_local_copy())) == as_bytes(files)


def test_incompressible_files_are_not_tried_as_deltas(tmp_path: Path) -> None:
    noise = random.Random(1).randbytes(200_000)
    first = close(tmp_path, {"a.bin": noise}, None)
    close(tmp_path, {"a.bin": noise[:-10] + b"0123456789"}, first)
    assert not store_of(first).index.has_deltas()


def test_gc_after_deleting_the_middle_version_keeps_the_bases(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made, contents = chain(tmp_path, 3)
    Dataset.delete(dataset_id=made[1].id, force=True)
    url = made[0].get_default_storage()
    collect(default_context(), url, delete=True, keep_recent=0)
    assert cold_copy(tmp_path, monkeypatch, made[2]) == as_bytes(contents[2])
    collect(default_context(), url, delete=True, keep_recent=0, repack=True)
    assert cold_copy(tmp_path, monkeypatch, made[2]) == as_bytes(contents[2])
    Dataset.get(dataset_id=made[2].id).verify_storage()


def test_gc_repack_rewrites_packs_with_their_deltas(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made, contents = chain(tmp_path, 3)
    url = made[0].get_default_storage()
    Dataset.delete(dataset_id=made[0].id, force=True)
    report = collect(default_context(), url, delete=True, keep_recent=0, repack=True)
    assert report.repacked_packs or not report.sparse_packs
    store = store_of(made[2])
    assert store.index.has_deltas()
    assert cold_copy(tmp_path, monkeypatch, made[2]) == as_bytes(contents[2])


def test_verify_detects_a_damaged_base(tmp_path: Path) -> None:
    rng = random.Random(9)
    table = rows(rng, 5_000)
    first = close(tmp_path, {"t.csv": "".join(table)}, None)
    second = close(tmp_path, {"t.csv": "".join(evolve(rng, table))}, first)
    store = store_of(second)
    (delta,) = [loc for loc in store.index.locations() if loc.entry.base]
    base = store.location(str(delta.entry.base))
    root = Path(second.get_default_storage().removeprefix("file://"))
    pack = root / pack_key(base.pack_id)
    data = bytearray(pack.read_bytes())
    data[base.entry.offset + base.entry.length // 2] ^= 0xFF
    pack.write_bytes(bytes(data))
    with pytest.raises(IntegrityError):
        Dataset.get(dataset_id=second.id).verify_storage()


def test_squash_of_a_delta_chain_holds_the_newest_files(tmp_path: Path) -> None:
    made, contents = chain(tmp_path, 3)
    squashed = Dataset.squash("squashed", dataset_ids=[d.id for d in made])
    assert read_tree(Path(squashed.get_local_copy())) == as_bytes(contents[-1])
    squashed.verify_storage()


def test_a_chain_of_deltas_stops_at_the_depth_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "MAX_DEPTH", 2)
    rng = random.Random(4)
    table = rows(rng, 5_000)
    made: list[Dataset] = []
    table_at: list[list[str]] = []
    for _ in range(5):
        made.append(close(tmp_path, {"t.csv": "".join(table)}, made[-1] if made else None))
        table_at.append(table)
        table = evolve(rng, table)
    index = store_of(made[-1]).index
    blobs = [ds.file_entries_dict["t.csv"].hash for ds in made]
    assert [index.depth_of(b) for b in blobs] == [0, 1, 2, 1, 2]
    # Past the limit, a delta against the chain's first blob, not a whole copy.
    assert index.base_of(blobs[3]) == blobs[0]
    assert made[3].record.stats.stored_bytes < 0.2 * made[0].record.stats.stored_bytes
    assert cold_copy(tmp_path, monkeypatch, made[-1]) == {"t.csv": "".join(table_at[-1]).encode()}


def test_a_storage_holding_deltas_passes_the_whole_object_check(tmp_path: Path) -> None:
    made, _ = chain(tmp_path, 2)
    root = Path(made[0].get_default_storage().removeprefix("file://"))
    found = verify_stored_packs(root)
    assert any(entry.base for entry in found.entries.values())


def test_a_table_gaining_a_column_is_stored_against_two_base_chunks_and_survives_gc(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(6)
    table = rows(rng, 130_000)
    widened = [f"{line[:-1]},{rng.randint(0, 99)}\n" for line in table]
    first = close(tmp_path, {"t.csv": "".join(table)}, None)
    second = close(tmp_path, {"t.csv": "".join(widened)}, first)
    store = store_of(second)
    two = [loc for loc in store.index.locations() if len(base_ids(loc.entry.base)) == 2]
    assert two
    assert second.record.stats.stored_bytes < 0.7 * first.record.stats.stored_bytes
    Dataset.delete(dataset_id=first.id, force=True)
    url = second.get_default_storage()
    collect(default_context(), url, delete=True, keep_recent=0, repack=True)
    assert cold_copy(tmp_path, monkeypatch, second) == {"t.csv": "".join(widened).encode()}
    Dataset.get(dataset_id=second.id).verify_storage()


def test_past_the_depth_limit_a_blob_is_tried_against_where_its_content_last_changed_much(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not the chain's first blob, which holds the rows from before a column was added."""
    monkeypatch.setattr(store_module, "MAX_DEPTH", 2)
    rng = random.Random(8)
    table = rows(rng, 5_000)
    versions = [table, [f"{line[:-1]},{rng.randint(0, 99)}\n" for line in table]]
    versions += [evolve(rng, versions[-1])]
    versions += [evolve(rng, versions[-1])]
    made: list[Dataset] = []
    for table in versions:
        made.append(close(tmp_path, {"t.csv": "".join(table)}, made[-1] if made else None))
    index = store_of(made[-1]).index
    blobs = [ds.file_entries_dict["t.csv"].hash for ds in made]
    assert [index.depth_of(b) for b in blobs] == [0, 1, 2, 2]
    assert index.base_of(blobs[3]) == blobs[1]  # the version that gained the column
    assert made[3].record.stats.stored_bytes < 0.1 * made[0].record.stats.stored_bytes
    assert cold_copy(tmp_path, monkeypatch, made[-1]) == {"t.csv": "".join(versions[-1]).encode()}


def codec_of(ds: Dataset, path: str) -> tuple[Codec, list[str]]:
    """How ``path`` of ``ds`` is stored (a small file: one blob), and its bases."""
    found = store_of(ds).index.get(ds.file_entries_dict[path].hash)
    assert found is not None
    return Codec(found.entry.codec), base_ids(found.entry.base)


def module(seed: int, count: int = 300) -> str:
    rng = random.Random(seed)
    return "".join(f"def f{i}(x):\n    return x * {rng.randint(0, 10**6)}\n" for i in range(count))


def test_a_module_moved_and_edited_is_stored_against_its_old_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = {"requests/api.py": module(1), "requests/models.py": module(2), "setup.py": module(3)}
    first = close(tmp_path, old, None)
    moved = {f"src/{k}": v.replace("return x", "return -x", 9) for k, v in old.items()}
    second = close(tmp_path, moved, first)
    for path in ("requests/api.py", "requests/models.py"):
        codec, bases = codec_of(second, f"src/{path}")
        assert codec is Codec.DELTA
        assert bases == [first.file_entries_dict[path].hash]
    assert second.record.stats.stored_bytes < 0.1 * first.record.stats.stored_bytes
    assert cold_copy(tmp_path, monkeypatch, second) == as_bytes(moved)
    Dataset.get(dataset_id=second.id).verify_storage()


def test_a_new_file_like_a_parents_file_under_an_unrelated_name_is_stored_against_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Of the parents' files of the same suffix and a size alike, the one sharing its lines."""
    old = {"a/alpha.py": module(4), "a/beta.py": module(5), "c/gamma.py": module(6)}
    first = close(tmp_path, old, None)
    files = {**old, "b/zeta.py": module(5).replace("return x", "return 2 * x", 20)}
    second = close(tmp_path, files, first)
    codec, bases = codec_of(second, "b/zeta.py")
    assert codec is Codec.DELTA
    assert bases == [first.file_entries_dict["a/beta.py"].hash]
    assert cold_copy(tmp_path, monkeypatch, second) == as_bytes(files)
    Dataset.get(dataset_id=second.id).verify_storage()


def test_a_column_added_to_every_row_is_stored_as_a_line_delta(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(10)
    table = rows(rng, 20_000)
    widened = "".join(f"{line[:-1]},{rng.randint(0, 99)}\n" for line in table)
    first = close(tmp_path, {"t.csv": "".join(table)}, None)
    second = close(tmp_path, {"t.csv": widened}, first)
    assert codec_of(second, "t.csv")[0] is Codec.RUNS
    assert second.record.stats.stored_bytes < 0.3 * first.record.stats.stored_bytes
    third = close(tmp_path, {"t.csv": widened + "20000,1,added\n"}, second)
    assert codec_of(third, "t.csv")[1] == [second.file_entries_dict["t.csv"].hash]
    assert cold_copy(tmp_path, monkeypatch, third) == {
        "t.csv": widened.encode() + b"20000,1,added\n"
    }
    Dataset.get(dataset_id=third.id).verify_storage()
    root = Path(third.get_default_storage().removeprefix("file://"))
    verify_stored_packs(root)


def stored_ids(ds: Dataset) -> set[str]:
    """The ids of the blobs (whole files and chunks) version ``ds`` is stored as."""
    return final_manifest(default_context(), ds.record).stored_ids()


def rewritten(made: list[Dataset]) -> None:
    """Run ``gc --repack`` on the storage of ``made``."""
    url = made[0].get_default_storage()
    report = collect(default_context(), url, delete=True, keep_recent=0, repack=True)
    assert report.rewritten_blobs


def test_gc_repack_stores_the_newest_whole_and_older_versions_against_newer_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made, contents = chain(tmp_path, 3)
    rewritten(made)
    store = store_of(made[-1])
    newest = stored_ids(made[-1])
    assert len(newest) > 2
    assert all(store.index.base_of(i) is None for i in newest)
    older = made[0].file_entries_dict["small.csv"].hash
    assert store.index.base_of(older) == made[1].file_entries_dict["small.csv"].hash
    chunk_bases = [base_ids(store.index.base_of(c)) for c in stored_ids(made[0])]
    later = stored_ids(made[1]) | newest
    assert sum(bool(b) for b in chunk_bases) > 2
    assert all(set(b) <= later for b in chunk_bases)
    assert store.index.depth_of(older) == 2
    assert_pulled_and_verified(tmp_path, monkeypatch, made, contents)


def test_with_deltas_off_at_close_only_a_repack_stores_deltas(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``deltas-on-close = off``: each close stores its changed files whole (the newest
    version's pull rebuilds no chain); `gc --repack` then stores the deltas a close would."""
    monkeypatch.setenv("DELTASET_DELTAS_ON_CLOSE", "off")
    forget_context()
    made, contents = chain(tmp_path, 3)
    store = store_of(made[-1])
    assert not store.index.has_deltas()
    first = made[0].record.stats.stored_bytes
    assert all(later.record.stats.stored_bytes > 0.5 * first for later in made[1:])
    packs = Path(made[0].get_default_storage().removeprefix("file://")) / "packs"
    whole = sum(p.stat().st_size for p in packs.rglob("*.pack"))
    newest = {i: store.index.get(i) for i in stored_ids(made[-1])}
    rewritten(made)
    store = store_of(made[-1])
    assert store.index.has_deltas()
    assert sum(p.stat().st_size for p in packs.rglob("*.pack")) < 0.6 * whole
    # The newest blobs stay whole, compressed again as hard as a repack compresses them.
    recompressed = [(i, loc) for i, loc in newest.items() if loc and loc.entry.codec == Codec.ZSTD]
    assert recompressed
    for blob_id, before in recompressed:
        after = store.index.get(blob_id)
        assert after is not None
        assert after.entry.base is None
        assert after.entry.length < before.entry.length
    assert_pulled_and_verified(tmp_path, monkeypatch, made, contents)
    assert not collect(default_context(), str(packs.parent), repack=True).rewritten_blobs


def assert_pulled_and_verified(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    made: list[Dataset],
    contents: list[dict[str, bytes | str]],
) -> None:
    """Every version of ``made`` pulled cold holds its ``contents``, and passes verify."""
    for ds, files in zip(made, contents, strict=True):
        assert cold_copy(tmp_path, monkeypatch, ds) == as_bytes(files)
        Dataset.get(dataset_id=ds.id).verify_storage()


def rewrite_index_files(root: Path) -> list[Path]:
    """The index files a rewrite wrote, in the order it wrote them."""
    found = (root / "index").glob(f"{REWRITE_PREFIX}*.idx")
    return sorted(found, key=lambda p: p.stat().st_mtime_ns)


def assert_rewritten_whole(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    root: Path,
    made: list[Dataset],
    contents: list[dict[str, bytes | str]],
) -> None:
    """After a completed rewrite: the newest version's blobs stored whole, every pack named
    by an index file, and every version pulled cold byte for byte and verified."""
    store = store_of(made[-1])
    assert all(store.index.base_of(i) is None for i in stored_ids(made[-1]))
    assert len(verify_stored_packs(root).packs) == len(list((root / "packs").rglob("*.pack")))
    assert_pulled_and_verified(tmp_path, monkeypatch, made, contents)


def test_a_rewrite_cut_short_after_any_pack_leaves_every_version_readable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made, contents = chain(tmp_path, 3)
    root = Path(made[0].get_default_storage().removeprefix("file://"))
    before = {p.name for p in (root / "index").iterdir()}
    rewrite_chains(default_context(), store_of(made[0]), pack_size=256 * 1024)
    named = rewrite_index_files(root)
    assert len(named) > 3
    kept = {p: p.read_bytes() for p in named}
    for cut in (1, len(named) // 2, len(named) - 1):
        # As if killed once ``cut`` packs were named: the others written, but named by none.
        for at, path in enumerate(named):
            if at < cut:
                path.write_bytes(kept[path])
            else:
                path.unlink(missing_ok=True)
        for ds, files in zip(made, contents, strict=True):
            assert cold_copy(tmp_path, monkeypatch, ds) == as_bytes(files)
    assert before <= {p.name for p in (root / "index").iterdir()}  # the old rows still named
    forget_context()
    rewritten(made)  # a rerun completes, and drops the old packs and the unnamed ones
    assert_rewritten_whole(tmp_path, monkeypatch, root, made, contents)


@pytest.mark.parametrize("point", ["packs.after_publish", "gc.after_rewrite"])
def test_a_gc_killed_while_rewriting_loses_nothing_and_the_next_one_completes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, point: str
) -> None:
    made, contents = chain(tmp_path, 3)
    killed = run_cli("gc", "--delete", "--repack", "--keep-recent", "0", env={FAILPOINT: point})
    assert killed.returncode == -9
    root = Path(made[0].get_default_storage().removeprefix("file://"))
    for lease in (root / "locks").iterdir():
        lease.unlink()  # the killed gc's lease, which would hold the next gc off a while
    for ds, files in zip(made, contents, strict=True):
        assert cold_copy(tmp_path, monkeypatch, ds) == as_bytes(files)
    forget_context()
    collect(
        default_context(), made[0].get_default_storage(), delete=True, keep_recent=0, repack=True
    )
    assert_rewritten_whole(tmp_path, monkeypatch, root, made, contents)


def test_gc_after_a_rewrite_keeps_every_base_and_squash_and_push_read_the_new_chains(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made, contents = chain(tmp_path, 4)
    rewritten(made)
    Dataset.delete(dataset_id=made[-1].id, force=True)  # the base of every other version's
    url = made[0].get_default_storage()
    report = collect(default_context(), url, delete=True, keep_recent=0)
    assert report.freed_bytes == 0  # it holds the bases of the versions before it
    store = store_of(made[0])
    assert any(store.index.base_of(i) for i in stored_ids(made[0]))
    for ds, files in zip(made[:-1], contents[:-1], strict=True):
        assert cold_copy(tmp_path, monkeypatch, ds) == as_bytes(files)
        Dataset.get(dataset_id=ds.id).verify_storage()
    squashed = Dataset.squash("squashed", dataset_ids=[d.id for d in made[:-1]])
    assert read_tree(Path(squashed.get_local_copy())) == as_bytes(contents[-2])
    team = tmp_path / "team"
    assert deltaset.push([d.id for d in made[:-1]], to=str(team)).copied
    found = verify_stored_packs(team)
    assert any(entry.base for entry in found.entries.values())
    pushed = BlobStore(open_storage(str(team)))
    for ds in made[:-1]:
        pushed.read(stored_ids(ds), lambda _id, _data: None)  # each one rebuilt and checked


def test_gc_repack_stores_each_dump_against_the_next_days(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(11)
    table = rows(rng, 5_000)
    files: dict[str, bytes | str] = {}
    made: list[Dataset] = []
    for day in range(1, 5):
        files = {**files, f"dumps/day-{day:02d}.csv": "".join(table)}
        made.append(close(tmp_path, files, made[-1] if made else None))
        table = evolve(rng, table)
    rewritten(made)
    index = store_of(made[-1]).index
    days = [made[-1].file_entries_dict[f"dumps/day-{day:02d}.csv"].hash for day in range(1, 5)]
    assert [index.base_of(b) for b in days] == [*days[1:], None]
    for ds in made:
        assert cold_copy(tmp_path, monkeypatch, ds) == as_bytes(files_of(ds, files))


def recomputed(tmp_path: Path, versions: int) -> list[Dataset]:
    """A table whose score column is computed again in every row, closed ``versions`` times
    (each version a line delta against the one before)."""
    made: list[Dataset] = []
    for version in range(versions):
        made.append(close(tmp_path, {"t.csv": scored(version)}, made[-1] if made else None))
    return made


def line_deltas(made: list[Dataset]) -> list[int]:
    index = store_of(made[-1]).index
    return [index.line_deltas_of(ds.file_entries_dict["t.csv"].hash) for ds in made]


def test_gc_repack_stores_no_chain_of_more_line_deltas_than_a_close_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = recomputed(tmp_path, 5)
    rewritten(made)
    assert codec_of(made[-1], "t.csv")[1] == []  # the newest stored whole
    assert [codec_of(ds, "t.csv")[0] for ds in made[:-1]] == [Codec.RUNS] * 4
    assert line_deltas(made) == [store_module.MAX_LINE_DELTAS] * 4 + [0]
    for version, ds in enumerate(made):
        assert cold_copy(tmp_path, monkeypatch, ds) == {"t.csv": scored(version)}
        Dataset.get(dataset_id=ds.id).verify_storage()


def test_gc_repack_shortens_the_line_deltas_a_repack_without_the_bound_chained(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = recomputed(tmp_path, 4)
    monkeypatch.setattr(store_module, "MAX_LINE_DELTAS", 99)
    rewritten(made)
    assert line_deltas(made) == [3, 2, 1, 0]
    monkeypatch.setattr(store_module, "MAX_LINE_DELTAS", 1)
    forget_context()
    rewritten(made)
    assert line_deltas(made) == [1, 1, 1, 0]
    for version, ds in enumerate(made):
        assert cold_copy(tmp_path, monkeypatch, ds) == {"t.csv": scored(version)}
        Dataset.get(dataset_id=ds.id).verify_storage()


def test_gc_repack_makes_no_line_delta_the_bound_throws_away(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A blob whose base's chain holds a line delta already is tried by zstd alone against
    it, then against the chain's blob rebuilt without one: each blob is made a line delta
    once at most, and stored no larger."""
    made = recomputed(tmp_path, 5)
    made_lines: dict[bytes, int] = {}

    def counting(data: bytes, base: bytes, *args: object) -> tuple[Codec, bytes]:
        codec, payload = encode_against(data, base, *args)  # type: ignore[arg-type]
        made_lines[data] = made_lines.get(data, 0) + (codec == Codec.RUNS)
        return codec, payload

    monkeypatch.setattr(rewrite_module, "encode_against", counting)
    rewritten(made)
    assert sorted(made_lines.values()) == [1, 1, 1, 1]
    assert line_deltas(made) == [store_module.MAX_LINE_DELTAS] * 4 + [0]
    for version, ds in enumerate(made):
        assert cold_copy(tmp_path, monkeypatch, ds) == {"t.csv": scored(version)}


def encodings(made: list[Dataset]) -> dict[str, tuple[int, str | None]]:
    """The codec and bases of every blob the versions ``made`` are stored as."""
    index = store_of(made[-1]).index
    found = {}
    for blob_id in set().union(*(stored_ids(ds) for ds in made)):
        loc = index.get(blob_id)
        assert loc is not None
        found[blob_id] = (loc.entry.codec, loc.entry.base)
    return found


def growing_table(rng: random.Random, versions: int) -> list[dict[str, bytes | str]]:
    """One table evolving under one name."""
    tables = [rows(rng, 4_000)]
    while len(tables) < versions:
        tables.append(evolve(rng, tables[-1]))
    return [{"t.csv": "".join(table)} for table in tables]


def daily_dumps(rng: random.Random, versions: int) -> list[dict[str, bytes | str]]:
    """A folder gaining a dump a version, each like the one before under a new name."""
    folders: list[dict[str, bytes | str]] = []
    table = rows(rng, 4_000)
    for day in range(versions):
        folders.append({**(folders[-1] if folders else {}), f"dump-{day:02}.csv": "".join(table)})
        table = evolve(rng, table)
    return folders


@pytest.mark.parametrize("history", [growing_table, daily_dumps])
def test_a_repack_after_every_version_stores_them_as_one_repack_of_them_all(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    history: Callable[..., list[dict[str, bytes | str]]],
) -> None:
    """A delta a repack stored against other content than the file it is tried against now
    (past the depth bound, the chain's restart point) is chosen again by the next repack.
    Kept, each repack added such deltas: version 0 stayed against version 3's content when
    version 1's was the nearer base, and a dump kept its depth as noted before its base was
    written as a delta, past the bound."""
    monkeypatch.setattr(store_module, "MAX_DEPTH", 2)
    folders = history(random.Random(9), 7)

    def closed(name: str, repack_each: bool) -> list[Dataset]:
        monkeypatch.setenv("DELTASET_HOME", str(tmp_path / name))
        forget_context()
        made: list[Dataset] = []
        for files in folders:
            made.append(close(tmp_path, files, made[-1] if made else None))
            if repack_each and len(made) > 1:
                rewritten(made)
        if not repack_each:
            rewritten(made)
        return made

    once = encodings(closed("once", repack_each=False))
    made = closed("each", repack_each=True)
    assert encodings(made) == once
    index = store_of(made[-1]).index
    assert max(index.depth_of(b) for b in once) == store_module.MAX_DEPTH
    encoded: list[bytes] = []

    def counting(data: bytes, *args: object) -> tuple[Codec, bytes]:
        encoded.append(data)
        return encode_against(data, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(rewrite_module, "encode_against", counting)
    url = made[0].get_default_storage()
    again = collect(default_context(), url, delete=True, keep_recent=0, repack=True)
    # Nothing new: each delta at a restart point is chosen again as it is stored, and kept
    # without being encoded again.
    assert (again.rewritten_blobs, encoded) == (0, [])
    assert_pulled_and_verified(tmp_path, monkeypatch, made, folders)


def source_tree(rng: random.Random, versions: int) -> list[dict[str, bytes | str]]:
    """A package of small modules (stored in groups), a few edited and one added a version."""
    files: dict[str, bytes | str] = {
        f"pkg/m{i:02}.py": module(rng.randrange(10**6), 150) for i in range(12)
    }
    folders = [dict(files)]
    while len(folders) < versions:
        for name in rng.sample(sorted(files), 3):
            files[name] = str(files[name]).replace("return x", f"return {len(folders)} * x", 5)
        files[f"pkg/new{len(folders)}.py"] = module(rng.randrange(10**6), 100)
        folders.append(dict(files))
    return folders


def pack_bytes(ds: Dataset) -> int:
    """The bytes of the packs of ``ds``'s storage and of their index files."""
    root = Path(ds.get_default_storage().removeprefix("file://"))
    files = [p for folder in ("packs", "index") for p in (root / folder).rglob("*")]
    return sum(p.stat().st_size for p in files if p.is_file())


def test_repacks_after_every_version_of_small_files_store_what_one_repack_stores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each close of a few changed files leaves a small pack, and each repack one more; kept
    while under half unused, they held copies no version reads any more (a source history:
    299 against 242 KB). A repack copies packs until at most 5 % of their bytes are unused."""
    folders = source_tree(random.Random(5), 6)
    stored = {}
    for way in ("once", "each"):
        monkeypatch.setenv("DELTASET_HOME", str(tmp_path / way))
        forget_context()
        made: list[Dataset] = []
        for files in folders:
            made.append(close(tmp_path, files, made[-1] if made else None))
            if way == "each" and len(made) > 1:
                rewritten(made)
        if way == "once":
            rewritten(made)
        stored[way] = pack_bytes(made[-1])
    assert stored["each"] <= 1.02 * stored["once"]  # 1.19x before
    dry = collect(default_context(), made[0].get_default_storage(), keep_recent=0)
    assert dry.more_packs == 0
    assert dry.partly_unused_bytes <= gc_module.UNUSED_AT_MOST * stored["each"]
    assert_pulled_and_verified(tmp_path, monkeypatch, made, folders)


def test_a_repack_reads_no_blob_of_a_history_no_version_was_added_to(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its deltas at restart points are chosen again only when something above them moved:
    a storage holding many datasets, one of which gained a version, reads that one's."""
    monkeypatch.setattr(store_module, "MAX_DEPTH", 2)
    rng = random.Random(11)
    tables = growing_table(rng, 6)
    made: list[Dataset] = []
    for files in tables[:5]:
        made.append(close(tmp_path, files, made[-1] if made else None))
    other = [close(tmp_path, files, None) for files in daily_dumps(rng, 1)]
    rewritten(made)
    read: list[str] = []
    file_items = rewrite_module.file_items

    def reading(store: BlobStore, entry: object, mine: set[str], base: object) -> Iterator[Any]:
        for item in file_items(store, entry, mine, base):  # type: ignore[arg-type]
            read.append(item.blob_id)
            yield item

    monkeypatch.setattr(rewrite_module, "file_items", reading)
    url = made[0].get_default_storage()
    again = collect(default_context(), url, delete=True, keep_recent=0, repack=True)
    assert (again.rewritten_blobs, read) == (0, [])
    made.append(close(tmp_path, tables[5], made[-1]))
    rewritten(made)
    assert read
    assert stored_ids(other[0]).isdisjoint(read)
    restarted = [b for ds in made[:3] for b in stored_ids(ds) if b in read]
    assert restarted  # the chains below the new version moved: chosen again
    for ds, files in zip(made, tables, strict=True):
        assert cold_copy(tmp_path, monkeypatch, ds) == as_bytes(files)


def test_a_repack_writes_a_blob_two_files_hold_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Written twice, its index rows named its base twice over, so the next repack found it
    stored against other bases than those chosen and wrote it again, twice, every time."""
    rng = random.Random(3)
    table = rows(rng, 3_000)
    made: list[Dataset] = []
    texts: list[str] = []
    for _ in range(3):
        texts.append("".join(table))
        files = {"a.csv": texts[-1], "b.csv": texts[-1]}
        made.append(close(tmp_path, files, made[-1] if made else None))
        table = evolve(rng, table)
    rewritten(made)
    oldest, next_one = (ds.file_entries_dict["a.csv"].hash for ds in made[:2])
    assert base_ids(store_of(made[-1]).index.base_of(oldest)) == [next_one]
    url = made[0].get_default_storage()
    again = collect(default_context(), url, delete=True, keep_recent=0, repack=True)
    assert again.rewritten_blobs == 0
    first = texts[0].encode()
    assert cold_copy(tmp_path, monkeypatch, made[0]) == {"a.csv": first, "b.csv": first}


def files_of(ds: Dataset, newest: dict[str, bytes | str]) -> dict[str, bytes | str]:
    return {path: newest[path] for path in ds.file_entries_dict}


def test_a_close_after_a_get_reads_its_bases_from_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The parent pulled with ``get`` is at hand: its files are read, not rebuilt from
    storage, and the new version is stored as it would be otherwise."""
    rng = random.Random(9)
    big, small = rows(rng, 130_000), rows(rng, 2_000)
    first = close(tmp_path, {"big.csv": "".join(big), "small.csv": "".join(small)}, None)
    Dataset.get(dataset_id=first.id).get_local_copy()
    rebuilt: list[str] = []

    def counting(store: BlobStore, ids: Iterable[str], memo: Rebuilt | None = None) -> dict:
        rebuilt.extend(ids)
        return raw_of(store, ids, memo)

    monkeypatch.setattr(deltas_module, "raw_of", counting)
    monkeypatch.setattr(upload_module, "raw_of", counting)
    files = {"big.csv": "".join(evolve(rng, big)), "small.csv": "".join(evolve(rng, small))}
    second = close(tmp_path, files, first)
    assert rebuilt == []
    assert second.record.stats.stored_bytes < 0.2 * first.record.stats.stored_bytes
    assert cold_copy(tmp_path, monkeypatch, second) == as_bytes(files)
