"""``deltaset gc``: unused stored bytes found (dry run), deleted on demand, never a live byte,
and never while a version is being closed into the same storage."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from deltaset import Dataset
from deltaset.core.hashing import blob_id_of
from deltaset.engine import gc as gc_module
from deltaset.engine import leases
from deltaset.engine.context import default_context
from deltaset.engine.gc import collect
from deltaset.errors import StateError
from deltaset.packs.writer import pack_key
from deltaset.storage import open_storage
from tests.conftest import (
    forget_context,
    make_files,
    read_tree,
    run_cli,
    verify_stored_packs,
)

OLD = time.time() - 3 * 24 * 3600


def version(
    tmp_path: Path, files: dict[str, bytes | str], name: str = "n", **kw: object
) -> Dataset:
    folder = make_files(tmp_path / f"src-{len(list(tmp_path.iterdir()))}", files)
    ds = Dataset.create(dataset_name=name, dataset_project="p", **kw)  # type: ignore[arg-type]
    ds.add_files(str(folder))
    ds.finalize(auto_upload=True)
    return ds


def storage_root(ds: Dataset) -> Path:
    return Path(ds.get_default_storage().removeprefix("file://"))


def without_parent(parent: Dataset, removed: str) -> Dataset:
    """A closed child of ``parent`` without the files ``removed`` matches, ``parent`` then
    deleted: what ``parent`` alone held is unused, in the packs the child still reads."""
    child = Dataset.create(dataset_name="n", parent_datasets=[parent.id])
    child.remove_files(removed)
    child.finalize()
    Dataset.delete(dataset_id=parent.id, force=True)
    return child


def age(root: Path, folder: str) -> None:
    """Make every object under ``folder`` look written days ago."""
    for path in (root / folder).rglob("*"):
        if path.is_file():
            os.utime(path, (OLD, OLD))


CLOSE_123, CLOSE_456 = (f"close-{digit * 32}.json" for digit in "12")


def close_lease(root: Path, name: str) -> Path:
    """The lease of a close, on another machine, of a version with no parent."""
    lease = root / "locks" / name
    lease.parent.mkdir(parents=True, exist_ok=True)
    body = {"what": "close x", "host": "elsewhere", "pid": 7, "since": "2026-01-01T00:00:00"}
    lease.write_text(json.dumps({**body, "parents": []}))
    return lease


def gc_cli(*args: str) -> dict[str, object]:
    done = run_cli("gc", "--json", *args)
    assert done.returncode == 0, done.stderr
    found: dict[str, object] = json.loads(done.stdout)
    return found


def _wait_until(ready: Callable[[], object], process: subprocess.Popen[str]) -> None:
    """Until ``ready()`` holds; fails with ``process``'s output if it ends first."""
    while not ready():
        assert process.poll() is None, process.communicate()
        time.sleep(0.02)


def test_dry_run_reports_and_delete_frees_what_no_version_uses(tmp_path: Path) -> None:
    keep = version(tmp_path, {"keep.bin": os.urandom(50_000)}, name="keep")
    doomed = version(tmp_path, {"gone.bin": os.urandom(70_000)}, name="gone")
    root = storage_root(keep)
    Dataset.delete(dataset_id=doomed.id, delete_files=False)
    age(root, "packs")
    before = verify_stored_packs(root).packs
    report = gc_cli()
    assert report["dry_run"] is True
    assert report["unused_packs"] == 1
    assert 70_000 < int(report["unused_bytes"]) < 71_000  # type: ignore[call-overload]
    assert verify_stored_packs(root).packs == before  # a dry run deletes nothing
    done = gc_cli("--delete")
    assert done["freed_bytes"] == report["unused_bytes"]
    assert len(verify_stored_packs(root).packs) == len(before) - 1
    assert keep.verify_storage() > 0
    assert read_tree(Path(keep.get_local_copy())).keys() == {"keep.bin"}
    assert gc_cli()["unused_packs"] == 0


def test_recent_packs_are_kept_for_uploads_elsewhere(tmp_path: Path) -> None:
    doomed = version(tmp_path, {"gone.bin": os.urandom(10_000)})
    root = storage_root(doomed)
    Dataset.delete(dataset_id=doomed.id, delete_files=False)
    report = gc_cli("--delete")  # written seconds ago: another machine may be closing
    assert report["recent_packs_kept"] == 1
    assert report["freed_bytes"] == 0
    assert len(verify_stored_packs(root).packs) == 1
    assert gc_cli("--delete", "--keep-recent", "0")["unused_packs"] == 1
    assert verify_stored_packs(root).packs == set()


def test_a_pack_partly_in_use_is_kept_and_reported(tmp_path: Path) -> None:
    parent = version(tmp_path, {"a.bin": os.urandom(5_000), "b.bin": os.urandom(7_000)})
    child = without_parent(parent, "b.bin")
    report = gc_cli("--delete", "--keep-recent", "0")
    assert report["partly_used_packs"] == 1
    assert 7_000 <= int(report["partly_unused_bytes"]) < 7_100  # type: ignore[call-overload]
    assert report["freed_bytes"] == 0
    assert child.verify_storage() > 0


def test_interrupted_uploads_and_server_parts_are_swept_once_old(tmp_path: Path) -> None:
    kept = version(tmp_path, {"k.txt": "k"})
    root = storage_root(kept)
    folder = make_files(tmp_path / "draft", {"x.bin": os.urandom(20_000)})
    draft = Dataset.create(dataset_name="d", dataset_project="p")
    draft.add_files(str(folder))
    killed = run_cli(
        "close", "--id", draft.id, env={"DELTASET_FAILPOINT": "upload.after_staged_pack"}
    )
    assert killed.returncode == -9
    junk = root / "packs" / "ff" / ("f" * 32 + ".pack")
    junk.parent.mkdir(parents=True, exist_ok=True)
    junk.write_bytes(b"half a pack")
    part = root / "uploads" / "u1" / "parts" / "1"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"p" * 100)
    age(root, "packs")
    age(root, "uploads")
    # the killed close's pack holds what the draft still needs: only the junk goes
    report = gc_cli("--delete")
    assert report["orphan_packs"] == 1
    assert report["upload_parts"] == 1
    assert not junk.exists()
    assert not part.exists()
    draft.finalize(auto_upload=True)  # the draft's close resumes with its pack
    assert draft.verify_storage() > 0
    assert kept.verify_storage() > 0


def test_leftovers_of_deleted_drafts_on_this_machine_are_swept(tmp_path: Path) -> None:
    kept = version(tmp_path, {"k.txt": "k"})
    settings = default_context().settings
    stale = settings.staging_dir / ("a" * 32)
    stale.mkdir(parents=True)
    marker = settings.home / "uploads" / ("b" * 32)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.touch()
    fresh = settings.staging_dir / ("c" * 32)
    fresh.mkdir()
    for path in (stale, marker):
        os.utime(path, (OLD, OLD))
    assert gc_cli("--delete")["local_leftovers"] == 2
    assert not stale.exists()
    assert not marker.exists()
    assert fresh.exists()
    assert kept.verify_storage() > 0


def test_gc_refuses_while_a_close_holds_its_lease(tmp_path: Path) -> None:
    doomed = version(tmp_path, {"gone.bin": os.urandom(10_000)})
    root = storage_root(doomed)
    Dataset.delete(dataset_id=doomed.id, delete_files=False)
    lease = close_lease(root, CLOSE_123)
    refused = run_cli("gc", "--delete", "--keep-recent", "0")
    assert refused.returncode == 1
    assert refused.stderr.startswith("error: A version is being closed into ")
    assert len(verify_stored_packs(root).packs) == 1
    assert gc_cli("--keep-recent", "0")["unused_packs"] == 1  # a dry run deletes nothing: runs
    os.utime(lease, (OLD, OLD))  # left by a killed close: it stops counting
    assert gc_cli("--delete", "--keep-recent", "0")["freed_bytes"] != 0
    assert sorted(p.name for p in (root / "locks").iterdir()) == [CLOSE_123]


def test_a_close_waits_for_a_running_gc_then_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = make_files(tmp_path / "d", {"a.txt": "a"})
    draft = Dataset.create(dataset_name="d", dataset_project="p")
    draft.add_files(str(folder))
    storage = open_storage(draft.get_default_storage())
    monkeypatch.setattr(leases, "WAIT_FOR_GC_S", 0.5)
    monkeypatch.setattr(leases, "POLL_S", 0.1)
    with leases.collecting(storage), pytest.raises(StateError, match="garbage collection"):
        draft.finalize(auto_upload=True)
    assert not draft.is_final()
    draft.finalize(auto_upload=True)  # the gc is over
    assert draft.is_final()
    assert list(storage.list("locks/")) == []


CLOSER = """
import sys
from deltaset import Dataset
ids = []
for i in range(int(sys.argv[2])):
    ds = Dataset.create(dataset_name="loop", dataset_project="p")
    ds.add_files(sys.argv[1])
    ds.finalize(auto_upload=True)
    ids.append(ds.id)
    if i % 2 == 0:
        Dataset.delete(dataset_id=ds.id, delete_files=False)  # its packs become garbage
        ids.pop()
print(" ".join(ids))
"""


def test_gc_on_another_machine_never_deletes_what_a_close_relies_on(tmp_path: Path) -> None:
    # Each close finds its files in the packs of the version deleted just before (so sends
    # nothing) and pauses between that check and its manifest. The gc runs from another
    # machine (another catalog): only the leases keep it from deleting those packs meanwhile.
    files = {f"f{i}.bin": bytes([i]) * 4_000 for i in range(8)}
    folder = make_files(tmp_path / "same", files)
    storage = default_context().storage_url(None)
    closer = subprocess.Popen(
        [sys.executable, "-c", CLOSER, str(folder), "8"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "DELTASET_PAUSE": "finalize.after_check:0.4"},
    )
    elsewhere = {"DELTASET_HOME": str(tmp_path / "other-machine"), "DELTASET_STORAGE": storage}
    collections = refusals = 0
    while closer.poll() is None:
        done = run_cli("gc", "--delete", "--keep-recent", "0", env=elsewhere)
        if done.returncode == 0:
            collections += 1
        else:
            assert "being closed" in done.stderr, done.stderr
            refusals += 1
    out, err = closer.communicate()
    assert closer.returncode == 0, err
    assert collections >= 1
    assert refusals >= 1
    for version_id in out.split():
        ds = Dataset.get(dataset_id=version_id)
        assert ds.verify_storage() > 0
        assert read_tree(Path(ds.get_local_copy())) == files


CLOSE_ONE = """
import sys
from deltaset import Dataset
ds = Dataset.create(dataset_name="one", dataset_project="p")
ds.add_files(sys.argv[1])
ds.finalize(auto_upload=True)
print(ds.id)
"""


def test_a_pack_a_gc_deleted_before_its_upload_named_it_is_sent_again_by_the_close(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The close's upload has put its pack but not yet the index file naming it when a gc runs
    # on another machine: to the gc the pack is an old unnamed one holding nothing live, so
    # it goes. The index file the upload writes next names a missing pack all the same.
    files = {f"f{i}.bin": os.urandom(4_000) for i in range(4)}
    folder = make_files(tmp_path / "src", files)
    home = default_context().settings.home
    storage = default_context().storage_url(None)
    root = Path(storage.removeprefix("file://"))
    closer = subprocess.Popen(
        [sys.executable, "-c", CLOSE_ONE, str(folder)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "DELTASET_PAUSE": "upload.after_staged_pack:3"},
    )
    _wait_until(lambda: list(root.glob("packs/*/*.pack")), closer)
    monkeypatch.setenv("DELTASET_HOME", str(tmp_path / "other-machine"))
    forget_context()
    report = collect(default_context(), storage, delete=True, keep_recent=0)
    assert report.freed_bytes > 0
    assert not list(root.glob("index/*.idx"))  # the upload is still pausing before its index
    monkeypatch.setenv("DELTASET_HOME", str(home))
    forget_context()
    out, err = closer.communicate()
    assert closer.returncode == 0, err
    ds = Dataset.get(dataset_id=out.split()[-1])
    assert ds.verify_storage() > 0
    assert read_tree(Path(ds.get_local_copy())) == files
    verify_stored_packs(root)  # and no index file names a missing pack


def test_a_pack_named_while_a_gc_judges_is_kept_as_recent(tmp_path: Path) -> None:
    # A draft on another machine uploads (no lease needed) while the gc pauses between its
    # survey and its deletions: the index file naming the new pack appears meanwhile.
    kept = version(tmp_path, {"k.txt": "k"})
    root = storage_root(kept)
    storage = kept.get_default_storage()
    elsewhere = {"DELTASET_HOME": str(tmp_path / "other-machine"), "DELTASET_STORAGE": storage}
    gc = subprocess.Popen(
        [sys.executable, "-m", "deltaset", "gc", "--delete", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **elsewhere, "DELTASET_PAUSE": "gc.before_delete:3"},
    )
    _wait_until(lambda: list(root.glob("locks/gc-*.json")), gc)
    before = verify_stored_packs(root).packs
    folder = make_files(tmp_path / "draft", {"d.bin": os.urandom(20_000)})
    draft = Dataset.create(dataset_name="d", dataset_project="p")
    draft.add_files(str(folder))
    draft.upload()
    uploaded = verify_stored_packs(root).packs - before
    assert len(uploaded) == 1
    out, err = gc.communicate()
    assert gc.returncode == 0, err
    assert json.loads(out)["freed_bytes"] == 0
    assert uploaded <= verify_stored_packs(root).packs
    draft.finalize()  # nothing to send again
    assert draft.verify_storage() > 0


def test_delete_leaves_its_bytes_to_gc_while_a_close_runs(tmp_path: Path) -> None:
    doomed = version(tmp_path, {"gone.bin": os.urandom(10_000)})
    root = storage_root(doomed)
    lease = close_lease(root, CLOSE_456)
    Dataset.delete(dataset_id=doomed.id)  # the version goes; its pack waits for a later gc
    assert len(verify_stored_packs(root).packs) == 1
    lease.unlink()
    assert gc_cli("--delete", "--keep-recent", "0")["unused_packs"] == 1
    assert verify_stored_packs(root).packs == set()


def test_a_gc_killed_before_it_deletes_holds_closes_only_until_its_lease_ages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    doomed = version(tmp_path, {"gone.bin": os.urandom(10_000)})
    root = storage_root(doomed)
    Dataset.delete(dataset_id=doomed.id, delete_files=False)
    killed = run_cli(
        "gc", "--delete", "--keep-recent", "0", env={"DELTASET_FAILPOINT": "gc.before_delete"}
    )
    assert killed.returncode == -9
    assert [p.name.startswith("gc-") for p in (root / "locks").iterdir()] == [True]
    assert len(verify_stored_packs(root).packs) == 1  # nothing deleted
    monkeypatch.setattr(leases, "TTL_S", 1.0)
    monkeypatch.setattr(leases, "POLL_S", 0.1)
    for lease in (root / "locks").iterdir():  # held on another machine: not released at once
        lease.write_text(json.dumps({**json.loads(lease.read_text()), "host": "elsewhere"}))
        os.utime(lease)  # its last renewal: now
    started = time.monotonic()
    done = version(tmp_path, {"new.txt": "n"}, name="after")  # waits for the lease to age
    assert time.monotonic() - started >= 0.5
    assert done.verify_storage() > 0


def test_a_gc_killed_between_index_and_packs_loses_nothing_and_finishes_next_time(
    tmp_path: Path,
) -> None:
    kept = version(tmp_path, {"keep.bin": os.urandom(20_000)}, name="keep")
    doomed = version(tmp_path, {"gone.bin": os.urandom(30_000)}, name="gone")
    root = storage_root(kept)
    Dataset.delete(dataset_id=doomed.id, delete_files=False)
    killed = run_cli(
        "gc", "--delete", "--keep-recent", "0", env={"DELTASET_FAILPOINT": "gc.after_index"}
    )
    assert killed.returncode == -9
    assert kept.verify_storage() > 0
    for lease in (root / "locks").iterdir():
        os.utime(lease, (OLD, OLD))  # as if its renewals had stopped long ago
    report = gc_cli("--delete", "--keep-recent", "0")
    assert report["unused_packs"] == 1  # the pack the killed gc left unindexed
    assert len(verify_stored_packs(root).packs) == 1
    assert kept.verify_storage() > 0


def test_a_lease_is_renewed_while_its_holder_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = open_storage(str(tmp_path / "store"))
    monkeypatch.setattr(leases, "RENEW_S", 0.05)
    with leases.collecting(storage):
        (lease,) = storage.list_info("locks/gc-")
        time.sleep(0.3)
        (renewed,) = storage.list_info("locks/gc-")
        assert renewed.key == lease.key
        assert renewed.modified > lease.modified
    assert list(storage.list("locks/")) == []


def sparse_pack_setup(tmp_path: Path) -> tuple[Dataset, dict[str, bytes], Path]:
    """A version whose only pack is mostly unused: its parent, which also held 8 more files
    in that pack, was deleted."""
    files = {f"f{i}.bin": os.urandom(10_000) for i in range(10)}
    folder = make_files(tmp_path / "ten", files)
    parent = Dataset.create(dataset_name="n", dataset_project="p")
    parent.add_files(str(folder))
    parent.upload(chunk_size=-1)  # one pack
    parent.finalize()
    child = without_parent(parent, "f[2-9].bin")
    root = storage_root(child)
    age(root, "packs")
    return child, {k: v for k, v in files.items() if k in ("f0.bin", "f1.bin")}, root


def test_repack_rewrites_a_mostly_unused_pack_keeping_what_versions_need(tmp_path: Path) -> None:
    child, kept, root = sparse_pack_setup(tmp_path)
    dry = gc_cli()
    assert dry["sparse_packs"] == 1
    assert 80_000 <= int(dry["sparse_unused_bytes"]) < 81_000  # type: ignore[call-overload]
    done = gc_cli("--delete", "--repack")
    assert done["repacked_packs"] == 1
    assert 79_000 < int(done["freed_bytes"]) < 81_000  # type: ignore[call-overload]
    packs = verify_stored_packs(root)
    assert len(packs.packs) == 1
    assert set(packs.packed) == {blob_id_of(data) for data in kept.values()}
    assert child.verify_storage() > 0
    assert read_tree(Path(child.get_local_copy())) == kept
    assert gc_cli()["sparse_packs"] == 0


def test_repack_merges_many_small_packs_once_old_and_empties_their_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gc_module, "MANY_SMALL_PACKS", 2)
    made: list[Dataset] = []
    contents: list[dict[str, bytes]] = []
    for i in range(3):
        contents.append({**(contents[-1] if contents else {}), f"f{i}.bin": os.urandom(5_000)})
        parents = [made[-1].id] if made else None
        made.append(version(tmp_path, contents[-1], parent_datasets=parents))
    root, url = storage_root(made[-1]), made[-1].get_default_storage()
    before = verify_stored_packs(root).packs
    assert len(before) == 3  # one a close
    done = collect(default_context(), url, delete=True, repack=True)
    assert done.more_packs == 0  # written a moment ago: another machine may be closing
    assert verify_stored_packs(root).packs == before
    age(root, "packs")
    assert collect(default_context(), url).more_packs == 3  # a dry run says so
    done = collect(default_context(), url, delete=True, repack=True)
    assert (done.more_packs, done.repacked_packs) == (3, 3)
    after = verify_stored_packs(root)
    assert len(after.packs) == 1
    assert len(list((root / "index").iterdir())) == 1
    folders = set((root / "packs").iterdir())
    assert folders == {(root / pack_key(p)).parent for p in after.packs}  # none left empty
    for ds, files in zip(made, contents, strict=True):
        assert ds.verify_storage() > 0
        assert read_tree(Path(ds.get_local_copy())) == files
    age(root, "packs")
    done = collect(default_context(), url, delete=True, repack=True)
    assert done.repacked_packs == 0  # one small pack: not many


def test_repack_takes_the_small_packs_along_with_a_pack_it_copies(tmp_path: Path) -> None:
    """Copied alone, the mostly unused pack's one used blob made a pack of its own."""
    files = {"a.bin": os.urandom(5_000), "gone.bin": os.urandom(20_000)}
    parent = version(tmp_path, files)
    child = Dataset.create(dataset_name="n", parent_datasets=[parent.id])
    child.remove_files("gone.bin")
    child.add_files(str(make_files(tmp_path / "more", {"c.bin": (c := os.urandom(5_000))})))
    child.finalize(auto_upload=True)
    Dataset.delete(dataset_id=parent.id, force=True)
    root = storage_root(child)
    assert len(verify_stored_packs(root).packs) == 2
    age(root, "packs")
    done = gc_cli("--delete", "--repack")
    assert (done["sparse_packs"], done["more_packs"], done["repacked_packs"]) == (1, 1, 2)
    assert len(verify_stored_packs(root).packs) == 1
    assert read_tree(Path(child.get_local_copy())) == {"a.bin": files["a.bin"], "c.bin": c}


def test_repack_leaves_a_little_unused_and_copies_more_once_there_are_many_packs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A copy checks every blob it keeps (a delta by rebuilding it), so 10 KB unused of the
    packs' 400 KB stay; past MANY_SMALL_PACKS small packs, they are merged all the same."""
    parent = version(tmp_path, {"a.bin": os.urandom(190_000), "b.bin": os.urandom(10_000)})
    child = without_parent(parent, "b.bin")
    other = version(tmp_path, {"c.bin": os.urandom(200_000)}, name="other")
    root = storage_root(child)
    url = child.get_default_storage()
    done = collect(default_context(), url, delete=True, keep_recent=0, repack=True)
    assert (done.repacked_packs, done.more_packs, done.partly_used_packs) == (0, 0, 1)
    assert len(verify_stored_packs(root).packs) == 2
    monkeypatch.setattr(gc_module, "MANY_SMALL_PACKS", 1)
    done = collect(default_context(), url, delete=True, keep_recent=0, repack=True)
    assert (done.repacked_packs, done.more_packs, done.partly_used_packs) == (2, 2, 0)
    assert len(verify_stored_packs(root).packs) == 1
    assert read_tree(Path(child.get_local_copy())).keys() == {"a.bin"}
    assert read_tree(Path(other.get_local_copy())).keys() == {"c.bin"}
    assert child.verify_storage() > 0


def test_repack_copies_a_pack_under_half_unused_when_unused_bytes_pass_the_bound(
    tmp_path: Path,
) -> None:
    rng = random.Random(2)
    # Incompressible chunks, stored raw: the rewrite of a repack leaves them where they are
    # (a close's zstd blobs it compresses again, into new packs).
    text = rng.randbytes(9 * 1024 * 1024)
    gone = rng.randbytes(5 * 1024 * 1024)  # chunks in the same pack
    parent = version(tmp_path, {"big.txt": text, "gone.txt": gone})
    child = without_parent(parent, "gone.txt")
    root = storage_root(child)
    age(root, "packs")
    (pack,) = (root / "packs").rglob("*.pack")
    dry = gc_cli()
    assert (dry["partly_used_packs"], dry["sparse_packs"], dry["more_packs"]) == (1, 0, 1)
    assert 0.3 < int(dry["partly_unused_bytes"]) / pack.stat().st_size < gc_module.REPACK_FROM  # type: ignore[call-overload]
    said = run_cli("gc")
    assert "1 more packs in use hold bytes no version needs" in said.stdout
    done = gc_cli("--delete", "--repack")
    assert (done["repacked_packs"], done["partly_used_packs"]) == (1, 0)
    assert read_tree(Path(child.get_local_copy())) == {"big.txt": text}
    assert child.verify_storage() > 0


def test_a_reader_that_loaded_the_index_before_a_repack_still_pulls(tmp_path: Path) -> None:
    child, kept, _ = sparse_pack_setup(tmp_path)
    reader = Dataset.get(dataset_id=child.id)
    assert reader.get_num_chunks() == 1  # this process now holds the index naming the old pack
    gc_cli("--delete", "--repack")  # another process moves the blobs and deletes that pack
    assert read_tree(Path(reader.get_local_copy())) == kept


def test_a_gc_killed_after_writing_new_packs_loses_nothing(tmp_path: Path) -> None:
    child, kept, root = sparse_pack_setup(tmp_path)
    killed = run_cli("gc", "--delete", "--repack", env={"DELTASET_FAILPOINT": "gc.after_repack"})
    assert killed.returncode == -9
    assert len(list((root / "packs").rglob("*.pack"))) == 2  # both copies, both indexed
    for lease in (root / "locks").iterdir():
        os.utime(lease, (OLD, OLD))
    assert child.verify_storage() > 0
    age(root, "packs")
    done = gc_cli("--delete", "--repack")
    # The old one goes either way: unused, or merged with the new copy (two small packs).
    assert done["unused_packs"] + done["repacked_packs"] in (1, 2)
    assert len(verify_stored_packs(root).packs) == 1
    assert read_tree(Path(child.get_local_copy())) == kept


def test_repack_needs_delete() -> None:
    refused = run_cli("gc", "--repack")
    assert refused.returncode == 1
    assert refused.stderr == "error: --repack rewrites packs, so it goes with --delete.\n"


def test_a_close_sends_again_what_a_gc_deleted_after_its_upload(tmp_path: Path) -> None:
    # The upload finds the files in a deleted version's pack and sends nothing; a gc of another
    # machine deletes that pack before the close takes its lease: the close sends them again.
    files = {f"f{i}.bin": os.urandom(3_000) for i in range(4)}
    folder = make_files(tmp_path / "same", files)
    old = version(tmp_path, files, name="old")
    root = storage_root(old)
    Dataset.delete(dataset_id=old.id, delete_files=False)
    draft = Dataset.create(dataset_name="new", dataset_project="p")
    draft.add_files(str(folder))
    go = tmp_path / "go"
    with subprocess.Popen(
        [sys.executable, "-m", "deltaset", "close", "--id", draft.id],
        env={**os.environ, "DELTASET_PAUSE": f"finalize.before_lease:{go}"},
        stderr=subprocess.PIPE,
        text=True,
    ) as closing:
        _wait_until((tmp_path / "go.paused").exists, closing)  # uploaded (nothing), unleased
        elsewhere = {
            "DELTASET_HOME": str(tmp_path / "other-machine"),
            "DELTASET_STORAGE": str(root),
        }
        swept = run_cli("gc", "--delete", "--keep-recent", "0", "--json", env=elsewhere)
        go.touch()
        _, err = closing.communicate(timeout=120)
    assert swept.returncode == 0, swept.stderr
    assert json.loads(swept.stdout)["unused_packs"] == 1
    assert closing.returncode == 0, err
    done = Dataset.get(dataset_id=draft.id)
    assert done.verify_storage() > 0
    assert read_tree(Path(done.get_local_copy())) == files


def test_repack_moves_blobs_as_stored_keeping_their_compression(tmp_path: Path) -> None:
    words = random.Random(7).choices(["alpha", "beta", "gamma", "delta", "epsilon"], k=60_000)
    text = " ".join(f"{w}{i % 97}" for i, w in enumerate(words))
    # Text zstd shrinks less at level 1 than at 19, so a blob compressed again would change.
    files = {f"f{i}.txt": f"{i}\n{text[i * 5000 :]}".encode() for i in range(10)}
    folder = make_files(tmp_path / "ten", files)
    parent = Dataset.create(dataset_name="n", dataset_project="p")
    parent.add_files(str(folder))
    parent.upload(chunk_size=-1, compression="zstd:19")  # one pack, at a level repack never uses
    parent.finalize()
    child = Dataset.create(dataset_name="n", parent_datasets=[parent.id])
    child.remove_files("f[2-9].txt")
    child.finalize()
    root = storage_root(child)
    before = verify_stored_packs(root).entries
    Dataset.delete(dataset_id=parent.id, force=True)
    age(root, "packs")
    assert gc_cli("--delete", "--repack")["repacked_packs"] == 1
    after = verify_stored_packs(root).entries
    assert set(after) == {blob_id_of(files["f0.txt"]), blob_id_of(files["f1.txt"])}
    # f0 is like f1, the file sorting after it: the rewrite stores it as a delta against it
    # (see engine/rewrite.py). f1, stored whole, moves as stored: not compressed again.
    newer = blob_id_of(files["f1.txt"])
    assert after[blob_id_of(files["f0.txt"])].base == newer
    assert (after[newer].codec, after[newer].length) == (
        before[newer].codec,
        before[newer].length,
    )
    assert read_tree(Path(child.get_local_copy())) == {k: files[k] for k in ("f0.txt", "f1.txt")}


def test_repack_refuses_a_damaged_blob_and_deletes_nothing(tmp_path: Path) -> None:
    _, kept, root = sparse_pack_setup(tmp_path)
    (pack,) = (root / "packs").rglob("*.pack")
    data = bytearray(pack.read_bytes())
    first = verify_stored_packs(root).entries[blob_id_of(kept["f0.bin"])]
    data[first.offset + 10] ^= 0xFF  # inside a blob that must move
    pack.write_bytes(bytes(data))
    age(root, "packs")
    refused = run_cli("gc", "--delete", "--repack")
    assert refused.returncode != 0
    assert "does not match its hash" in refused.stderr
    assert list((root / "packs").rglob("*.pack")) == [pack]  # the only copy is kept


def test_a_delete_waits_for_a_running_gc_and_changes_nothing_meanwhile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two collectors at once each rewrite index files the other is reading: one fails midway
    # (its version gone, yet an error) or leaves an index naming a pack the other deleted.
    doomed = version(tmp_path, {"gone.bin": os.urandom(10_000)})
    storage, root = open_storage(doomed.get_default_storage()), storage_root(doomed)
    monkeypatch.setattr(leases, "WAIT_FOR_GC_S", 0.5)
    monkeypatch.setattr(leases, "POLL_S", 0.1)
    with leases.collecting(storage), pytest.raises(StateError, match="delete again once"):
        Dataset.delete(dataset_id=doomed.id)
    assert Dataset.get(dataset_id=doomed.id).verify_storage() > 0
    Dataset.delete(dataset_id=doomed.id)  # the gc is over
    assert verify_stored_packs(root).packs == set()
    assert list(storage.list("locks/")) == []


def test_a_gc_waits_for_a_running_delete(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    doomed = version(tmp_path, {"gone.bin": os.urandom(10_000)})
    storage, root = open_storage(doomed.get_default_storage()), storage_root(doomed)
    Dataset.delete(dataset_id=doomed.id, delete_files=False)
    monkeypatch.setattr(leases, "WAIT_FOR_GC_S", 0.5)
    monkeypatch.setattr(leases, "POLL_S", 0.1)
    with (
        leases.excluding_closes(storage, "delete 0123456789abcdef0123456789abcdef"),
        pytest.raises(StateError, match="gc again once"),
    ):
        collect(default_context(), storage.url, delete=True, keep_recent=0)
    assert len(verify_stored_packs(root).packs) == 1  # nothing deleted
    assert gc_cli("--delete", "--keep-recent", "0")["unused_packs"] == 1  # the delete is over


def test_a_delete_frees_only_its_own_packs_not_a_draft_uploading_elsewhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    doomed = version(tmp_path, {"gone.bin": os.urandom(10_000)})
    root = storage_root(doomed)
    own = verify_stored_packs(root).packs
    home = default_context().settings.home
    monkeypatch.setenv("DELTASET_HOME", str(tmp_path / "other-machine"))
    monkeypatch.setenv("DELTASET_STORAGE", doomed.get_default_storage())
    forget_context()
    draft = Dataset.create(dataset_name="d", dataset_project="p")
    draft.add_files(str(make_files(tmp_path / "draft", {"d.bin": os.urandom(20_000)})))
    draft.upload()  # to this machine's catalog, its pack holds nothing any version needs
    uploaded = verify_stored_packs(root).packs - own
    monkeypatch.setenv("DELTASET_HOME", str(home))
    forget_context()
    Dataset.delete(dataset_id=doomed.id, delete_files=True)
    assert verify_stored_packs(root).packs == uploaded


def test_gc_drops_the_index_entries_of_a_lost_pack(tmp_path: Path) -> None:
    # A race (fixed since) could leave index files naming a pack that was deleted.
    kept = version(tmp_path, {"k.bin": os.urandom(5_000)}, name="kept")
    root = storage_root(kept)
    before = verify_stored_packs(root).packs
    version(tmp_path, {"lost.bin": os.urandom(7_000)}, name="lost")
    (lost_pack,) = verify_stored_packs(root).packs - before
    next(root.glob(f"packs/*/{lost_pack}.pack")).unlink()
    report = gc_cli()
    assert (report["missing_packs"], report["missing_pack_ids"]) == (1, [lost_pack])
    assert list(root.glob("index/*.idx"))  # a dry run rewrites nothing
    done = run_cli("gc")
    assert "1 packs named by an index are lost" in done.stdout, done.stdout
    assert gc_cli("--delete")["missing_packs"] == 1
    verify_stored_packs(root)  # no index file names a missing pack any more
    assert gc_cli()["missing_packs"] == 0
    assert kept.verify_storage() > 0
