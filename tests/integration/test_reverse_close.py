"""``deltas-on-close = "reverse"``: a close stores its new content whole and the content it
replaces as deltas against it (engine/reverse.py); every version stays readable, whatever
runs beside it or cuts it short."""

from __future__ import annotations

import itertools
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from deltaset import Dataset
from deltaset.engine import leases
from deltaset.engine import reverse as reverse_module
from deltaset.engine.context import default_context
from deltaset.engine.gc import collect
from deltaset.faults import FAILPOINT_ENV as FAILPOINT
from deltaset.objects.store import BlobStore
from deltaset.packs.format import base_ids
from tests.conftest import forget_context, make_files, run_cli
from tests.integration.test_deltas import (
    as_bytes,
    assert_pulled_and_verified,
    chain,
    close,
    cold_copy,
    evolve,
    rows,
    store_of,
    stored_ids,
)


@pytest.fixture(autouse=True)
def reverse(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DELTASET_DELTAS_ON_CLOSE", "reverse")
    forget_context()


def pack_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in (root / "packs").rglob("*.pack"))


def root_of(url: str) -> Path:
    return Path(url.removeprefix("file://"))


def test_the_newest_version_is_whole_and_what_it_replaced_is_stored_against_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made, contents = chain(tmp_path, 4)
    store = store_of(made[-1])
    newest = stored_ids(made[-1])
    assert all(store.index.base_of(i) is None for i in newest)
    # Each older version's replaced content: deltas against the version after it.
    for older, newer in itertools.pairwise(made):
        small = older.file_entries_dict["small.csv"].hash
        assert store.index.base_of(small) == newer.file_entries_dict["small.csv"].hash
        replaced = stored_ids(older) - stored_ids(newer)
        bases = [base_ids(store.index.base_of(i)) for i in replaced]
        assert sum(bool(b) for b in bases) > 0.8 * len(replaced)
        assert all(set(b) <= stored_ids(newer) for b in bases)
    assert store.index.depth_of(made[0].file_entries_dict["small.csv"].hash) == 3
    # The whole copies the closes wrote are gone: about one whole version is stored.
    root = root_of(made[0].get_default_storage())
    written = sum(ds.record.stats.stored_bytes for ds in made)
    assert pack_bytes(root) < 0.5 * written
    assert pack_bytes(root) < 1.3 * made[0].record.stats.stored_bytes
    assert_pulled_and_verified(tmp_path, monkeypatch, made, contents)
    # A repack finds the newest whole already, and reads every version the same after it.
    collect(default_context(), str(root), delete=True, keep_recent=0, repack=True)
    assert all(store_of(made[-1]).index.base_of(i) is None for i in newest)
    assert_pulled_and_verified(tmp_path, monkeypatch, made, contents)


def test_a_new_dump_stores_the_one_before_against_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(3)
    table = rows(rng, 5_000)
    files: dict[str, bytes | str] = {"dumps/day-01.csv": "".join(table)}
    first = close(tmp_path, files, None)
    files["dumps/day-02.csv"] = "".join(evolve(rng, table))
    second = close(tmp_path, files, first)
    store = store_of(second)
    entries = second.file_entries_dict
    day1, day2 = entries["dumps/day-01.csv"].hash, entries["dumps/day-02.csv"].hash
    assert store.index.base_of(day2) is None
    assert store.index.base_of(day1) == day2
    assert cold_copy(tmp_path, monkeypatch, second) == as_bytes(files)


def test_chains_stay_within_the_depth_bound(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reverse_module, "MAX_DEPTH", 2)
    made, contents = chain(tmp_path, 6)
    store = store_of(made[-1])
    every = set().union(*(stored_ids(ds) for ds in made))
    assert max(store.index.depth_of(i) for i in every) == 2
    small = [ds.file_entries_dict["small.csv"].hash for ds in made]
    # Past the bound a chain is cut half way: the delta there is stored against the newest
    # content too. v3's close: v2's content would take v1's and v0's deltas past it, so v1's
    # is stored against v3's; v4's close: v1's again, against v4's; v5's close: below v4's
    # content two chains too deep (v3's, v1's), both cut.
    assert store.index.base_of(small[0]) == small[1]
    assert store.index.base_of(small[1]) == small[5]
    assert store.index.base_of(small[2]) == small[3]
    assert store.index.base_of(small[3]) == small[5]
    assert store.index.base_of(small[4]) == small[5]
    # No chain started again: no blob but the newest content's is whole with deltas below.
    below = reverse_module._Chains(store.index).below
    assert not [
        i for i in every - stored_ids(made[5]) if not store.index.base_of(i) and below.get(i)
    ]
    assert_pulled_and_verified(tmp_path, monkeypatch, made, contents)
    # The old copies of the cut deltas stay where they were, outranked, until a repack.
    root = root_of(made[0].get_default_storage())
    before = pack_bytes(root)
    collect(default_context(), str(root), delete=True, keep_recent=0, repack=True)
    assert pack_bytes(root) < before
    assert_pulled_and_verified(tmp_path, monkeypatch, made, contents)


def test_with_another_close_running_the_replaced_content_stays_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made, contents = chain(tmp_path, 1)
    storage = store_of(made[0]).storage
    rng = random.Random(9)
    files = {k: "".join(evolve(rng, v.splitlines(keepends=True))) for k, v in contents[0].items()}
    with leases.closing(storage, "f" * 32, []):
        second = close(tmp_path, files, made[0])
    store = store_of(second)
    assert not store.index.has_deltas()
    third = close(tmp_path, contents[0], second)  # alone again: rewritten
    assert store_of(third).index.base_of(second.file_entries_dict["small.csv"].hash)
    assert_pulled_and_verified(
        tmp_path, monkeypatch, [*made, second, third], [*contents, files, contents[0]]
    )


def test_a_close_killed_while_it_rewrites_leaves_every_version_readable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made, contents = chain(tmp_path, 1)
    rng = random.Random(9)
    files = {k: "".join(evolve(rng, v.splitlines(keepends=True))) for k, v in contents[0].items()}
    folder = make_files(tmp_path / "next", files)
    killed = run_cli(
        "sync",
        "--folder",
        str(folder),
        "--parents",
        made[0].id,
        "--project",
        "p",
        "--name",
        "t",
        env={FAILPOINT: "reverse.after_deltas"},
    )
    assert killed.returncode == -9
    root = root_of(made[0].get_default_storage())
    for lease in (root / "locks").iterdir():
        lease.unlink()  # the killed close's gc lease, which would hold the next gc off a while
    forget_context()
    second = Dataset.get(dataset_project="p", dataset_name="t")
    assert second.id != made[0].id
    assert second.is_final()
    both, held = [*made, second], [*contents, files]
    assert_pulled_and_verified(tmp_path, monkeypatch, both, held)
    # gc deletes what the rewrite left outranked, and every version still reads.
    before = pack_bytes(root)
    collect(default_context(), str(root), delete=True, keep_recent=0)
    assert pack_bytes(root) < before
    assert_pulled_and_verified(tmp_path, monkeypatch, both, held)


def test_a_close_killed_after_it_cut_a_chain_leaves_every_version_readable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reverse_module, "MAX_DEPTH", 2)
    made, contents = chain(tmp_path, 3)
    rng = random.Random(9)
    files = {k: "".join(evolve(rng, v.splitlines(keepends=True))) for k, v in contents[-1].items()}
    folder = make_files(tmp_path / "next", files)
    # The same bound in the killed process: its close cuts v0's delta loose from v1's content.
    bounded = "from deltaset.engine import reverse; reverse.MAX_DEPTH = 2; import deltaset.__main__"
    sync = ["sync", "--folder", str(folder), "--parents", made[-1].id, "--project", "p"]
    killed = subprocess.run(
        [sys.executable, "-c", bounded, *sync, "--name", "t"],
        capture_output=True,
        env={**os.environ, FAILPOINT: "reverse.after_deltas"},
        timeout=120,
        check=False,
    )
    assert killed.returncode == -9, killed.stderr
    root = root_of(made[0].get_default_storage())
    for lease in (root / "locks").iterdir():
        lease.unlink()
    forget_context()
    last = Dataset.get(dataset_project="p", dataset_name="t")
    assert last.is_final()
    store = store_of(last)
    small = [ds.file_entries_dict["small.csv"].hash for ds in [*made, last]]
    assert store.index.base_of(small[1]) == small[3]  # the cut, published before the kill
    assert store.index.base_of(small[2]) == small[3]
    every, held = [*made, last], [*contents, files]
    assert_pulled_and_verified(tmp_path, monkeypatch, every, held)
    before = pack_bytes(root)
    collect(default_context(), str(root), delete=True, keep_recent=0, repack=True)
    assert pack_bytes(root) < before
    assert_pulled_and_verified(tmp_path, monkeypatch, every, held)


def assert_newest_whole_and_whole_copies_dropped(made: list[Dataset]) -> BlobStore:
    """The newest of ``made`` (a chain) stored whole, the oldest as deltas, and the storage
    holding under half the bytes the closes wrote; returns the store."""
    store = store_of(made[-1])
    assert all(store.index.base_of(i) is None for i in stored_ids(made[-1]))
    assert store.index.base_of(made[0].file_entries_dict["small.csv"].hash)
    packs = sum(info.size for info in store.storage.list_info("packs/"))
    assert packs < 0.5 * sum(ds.record.stats.stored_bytes for ds in made)
    return store


@pytest.mark.parametrize("scheme", ["s3_url", "azure_url"])
def test_a_cloud_storage_ends_with_the_newest_whole_and_without_the_whole_copies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest, scheme: str
) -> None:
    """Through a service: the lease, the index files of a new rank and the pack deleted."""
    url: str = request.getfixturevalue(scheme)
    monkeypatch.setenv("DELTASET_STORAGE", url)
    forget_context()
    made, contents = chain(tmp_path, 3)
    store = assert_newest_whole_and_whole_copies_dropped(made)
    assert not list(store.storage.list("locks/"))
    assert_pulled_and_verified(tmp_path, monkeypatch, made, contents)


def test_a_client_of_a_deltaset_server_rewrites_through_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.server.inprocess import served

    with served(tmp_path / "server") as (url, _):
        monkeypatch.setenv("DELTASET_API_URL", url)
        forget_context()
        made, contents = chain(tmp_path, 3)
        assert_newest_whole_and_whole_copies_dropped(made)
        assert_pulled_and_verified(tmp_path, monkeypatch, made, contents)
        forget_context()


def test_deleting_the_newest_version_keeps_the_blobs_older_ones_are_rebuilt_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made, contents = chain(tmp_path, 3)
    only_newest = stored_ids(made[2]) - stored_ids(made[1])
    store = store_of(made[2])
    assert any(set(base_ids(store.index.base_of(i))) & only_newest for i in stored_ids(made[1]))
    Dataset.delete(dataset_id=made[2].id)
    root = root_of(made[0].get_default_storage())
    collect(default_context(), str(root), delete=True, keep_recent=0)
    assert_pulled_and_verified(tmp_path, monkeypatch, made[:2], contents[:2])
    # A repack stores the version now newest whole, and the deleted one's blobs can go.
    collect(default_context(), str(root), delete=True, keep_recent=0, repack=True)
    store = store_of(made[1])
    assert all(store.index.base_of(i) is None for i in stored_ids(made[1]))
    assert not any(i in store.index for i in only_newest)
    assert_pulled_and_verified(tmp_path, monkeypatch, made[:2], contents[:2])


def test_packs_of_small_files_changed_a_few_at_a_time_are_emptied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A source tree: each version changes a few of many small files, whose whole copies
    share packs (and group frames) with files unchanged."""
    rng = random.Random(4)
    files: dict[str, bytes | str] = {
        f"pkg/module_{i:02d}.py": "".join(rows(rng, 40)) for i in range(40)
    }
    made, contents = [close(tmp_path, files, None)], [dict(files)]
    for _ in range(4):
        files = dict(files)
        for name in rng.sample(sorted(files), 6):
            files[name] = str(files[name]) + f"# revised {rng.random()}\n"
        made.append(close(tmp_path, files, made[-1]))
        contents.append(files)
    root = root_of(made[0].get_default_storage())
    assert pack_bytes(root) < 1.25 * made[0].record.stats.stored_bytes
    assert_pulled_and_verified(tmp_path, monkeypatch, made, contents)
