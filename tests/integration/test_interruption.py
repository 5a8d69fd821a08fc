"""A SIGKILL at any point of ``close`` or ``get`` leaves a resumable draft and an honest cache.

Kills come from the named failpoints (``DELTASET_FAILPOINT``) and from outside, with
``SIGKILL`` sent while the process is uploading, finalizing or downloading.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import blake3
import pytest

from deltaset import Dataset
from deltaset.core.chunking import chunks_of_file, should_chunk
from deltaset.core.hashing import blob_id_of
from deltaset.core.paths import OWN_FOLDER
from deltaset.engine.context import default_context
from deltaset.engine.views import stored_manifest
from deltaset.errors import StateError
from deltaset.objects.store import BlobStore
from deltaset.packs.reader import read_pack_entries
from deltaset.storage.layout import manifest_key, record_key
from deltaset.storage.local import LocalStorage
from tests.conftest import (
    Result,
    make_files,
    read_tree,
    run_cli,
    verify_cached_blobs,
    verify_stored_packs,
)

KILLED = -signal.SIGKILL
Cli = Callable[..., Result]


@dataclass
class Draft:
    id: str
    data: Path
    expected: dict[str, bytes]
    storage: Path

    def blob_ids(self) -> list[str]:
        """Ids of the content, in the order of the paths that hold them (pull order)."""
        ordered = dict.fromkeys(
            blake3.blake3(self.expected[p]).hexdigest() for p in sorted(self.expected)
        )
        return list(ordered)

    def stored_ids(self) -> set[str]:
        """Ids of what storage must hold: the chunks of each large file, every other file whole."""
        ids = set()
        for path, content in self.expected.items():
            if should_chunk(len(content)):
                ids |= {blob_id_of(chunk) for chunk in chunks_of_file(self.data / path)}
            else:
                ids.add(blob_id_of(content))
        return ids


def dataset_files(count: int, size: int, big: int) -> dict[str, bytes | str]:
    """Random (incompressible) files, ``big`` files of 4 MB (long writes, first in path order),
    a compressible file, an empty one and a duplicate."""
    files: dict[str, bytes | str] = {f"big/part{i}.bin": os.urandom(4 << 20) for i in range(big)}
    files.update({f"shard{i % 7}/item{i:04d}.bin": os.urandom(size) for i in range(count)})
    files["text/notes.csv"] = "id,label\n" + "".join(f"{i},cat\n" for i in range(20_000))
    files["text/empty.txt"] = b""
    files["text/copy.bin"] = files["shard0/item0000.bin"]
    return files


def make_draft(tmp_path: Path, home: Path, count: int, size: int, big: int = 0) -> Draft:
    data = make_files(tmp_path / "data", dataset_files(count, size, big))
    ds = Dataset.create(dataset_name="images", dataset_project="kill")
    assert ds.add_files(str(data)) == count + big + 3
    return Draft(ds.id, data, read_tree(data), home / "storage")


def assert_resumable_draft(draft: Draft, cli: Cli) -> None:
    """The version is still a draft, cannot be pulled, and storage holds only whole objects."""
    assert Dataset.get(dataset_id=draft.id).is_final() is False
    search = cli("search", "--not-only-completed", "--json")
    assert search.exit_code == 0, search.stderr
    states = {d["id"]: d["state"] for d in json.loads(search.stdout)}
    assert states[draft.id] == "draft"
    completed = cli("search", "--json")
    assert draft.id not in {d["id"] for d in json.loads(completed.stdout)}

    pulled = cli("get", "--id", draft.id)
    assert pulled.exit_code != 0
    lines = [line for line in pulled.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: ")
    assert "draft" in lines[0]
    assert pulled.stdout == ""

    verify_stored_packs(draft.storage)
    storage = LocalStorage(draft.storage)
    if storage.exists(manifest_key(draft.id)):  # written whole, or not at all
        # Stored whole or as a change-set against its parents: either way it rebuilds the files.
        manifest = stored_manifest(default_context(), storage, draft.id)
        assert set(manifest) == set(draft.expected)
    if storage.exists(record_key(draft.id)):
        assert json.loads(storage.get_bytes(record_key(draft.id)))["id"] == draft.id


def assert_final_and_whole(draft: Draft) -> None:
    """A final version references only bytes that storage holds, and pulls byte-identical."""
    assert Dataset.get(dataset_id=draft.id).is_final()
    stored = verify_stored_packs(draft.storage)
    assert draft.stored_ids() <= stored.indexed
    assert stored.unindexed == set()  # a finished close names every pack it left behind
    manifest = stored_manifest(default_context(), LocalStorage(draft.storage), draft.id)
    assert manifest.stored_ids() == draft.stored_ids()
    pulled = run_cli("get", "--id", draft.id)
    assert pulled.returncode == 0, pulled.stderr
    assert read_tree(Path(pulled.stdout.strip())) == draft.expected


def close_again(draft: Draft) -> None:
    done = run_cli("close", "--id", draft.id)
    assert done.returncode == 0, done.stderr
    assert_final_and_whole(draft)


def kill_when(
    args: list[str], ready: Callable[[], bool], poll: float = 0.0005, timeout: float = 60
) -> int:
    """Run ``deltaset ARGS`` and SIGKILL it as soon as ``ready()``; returns its exit status."""
    with subprocess.Popen(
        [sys.executable, "-m", "deltaset", *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    ) as proc:
        deadline = time.monotonic() + timeout
        while proc.poll() is None and not ready():
            assert time.monotonic() < deadline, "the process neither progressed nor ended"
            time.sleep(poll)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=timeout)
        return proc.returncode


def after_delay(seconds: float) -> Callable[[], bool]:
    start = time.monotonic()
    return lambda: time.monotonic() - start >= seconds


# -- close: failpoints -------------------------------------------------------------------------

# One worker and packs of 1 MB: the 4 MB file goes first (path order) and fills a few packs,
# published one by one, before the first file is done and the failpoint fires.
IN_SMALL_PACKS = ["--max-workers", "1", "--chunk-size", "1"]


@pytest.mark.parametrize(
    "point", ["upload.after_blob", "finalize.after_manifest", "finalize.after_record"]
)
def test_close_killed_at_failpoint_leaves_resumable_draft(
    tmp_path: Path, isolation: Path, cli: Cli, point: str
) -> None:
    draft = make_draft(tmp_path, isolation, count=40, size=20_000, big=1)
    done = run_cli("close", "--id", draft.id, *IN_SMALL_PACKS, env={"DELTASET_FAILPOINT": point})
    assert done.returncode == KILLED, done.stderr

    assert_resumable_draft(draft, cli)
    stored = verify_stored_packs(draft.storage)
    if point == "upload.after_blob":
        # the packs completed before the kill stay, whole, though no index names them yet
        assert stored.indexed == set()
        assert 0 < len(stored.packed) < len(draft.stored_ids())
        assert set(stored.packed) < draft.stored_ids()
    else:  # the manifest is written only once every byte is stored and indexed
        assert stored.indexed == set(stored.packed) == draft.stored_ids()
        assert LocalStorage(draft.storage).exists(manifest_key(draft.id))
    if point == "finalize.after_record":  # storage has the record, the catalog still says draft
        record = json.loads(LocalStorage(draft.storage).get_bytes(record_key(draft.id)))
        assert record["state"] == "final"

    close_again(draft)
    # the packs stored before the kill were indexed where they lay, not sent again
    assert stored.packed.items() <= verify_stored_packs(draft.storage).packed.items()


@pytest.mark.parametrize(
    "point",
    [
        "upload.after_staged_pack",
        "upload.after_blob",
        "finalize.after_manifest",
        "finalize.after_record",
    ],
)
def test_catalog_rebuilt_from_killed_close_shows_only_whole_versions(
    tmp_path: Path, isolation: Path, point: str
) -> None:
    """Storage alone (another machine's catalog) never sees a version with bytes missing."""
    draft = make_draft(tmp_path, isolation, count=20, size=20_000)
    # Packs of 1 MB are not what add packed: upload reads the files again, one by one.
    sizes = IN_SMALL_PACKS if point == "upload.after_blob" else []
    done = run_cli("close", "--id", draft.id, *sizes, env={"DELTASET_FAILPOINT": point})
    assert done.returncode == KILLED, done.stderr
    elsewhere = {"DELTASET_HOME": str(tmp_path / "other-machine")}
    rebuilt = run_cli("rebuild-catalog", "--storage", str(draft.storage), env=elsewhere)
    assert rebuilt.returncode == 0, rebuilt.stderr
    pulled = run_cli("get", "--id", draft.id, env=elsewhere)
    if point != "finalize.after_record":  # no record in storage yet: the version is unknown
        assert pulled.returncode != 0
        assert "No dataset version" in pulled.stderr
        return
    # the record is stored after every byte and the manifest: whole, so it may be imported
    assert pulled.returncode == 0, pulled.stderr
    assert read_tree(Path(pulled.stdout.strip())) == draft.expected


def test_close_killed_after_sending_a_staged_pack_indexes_it_where_it_lies(
    tmp_path: Path, isolation: Path, cli: Cli
) -> None:
    """add packed the small files; a kill after the first of those packs reached storage
    leaves it unindexed, and the next close indexes it instead of sending it again."""
    draft = make_draft(tmp_path, isolation, count=40, size=20_000, big=1)
    point = {"DELTASET_FAILPOINT": "upload.after_staged_pack"}
    done = run_cli("close", "--id", draft.id, env=point)
    assert done.returncode == KILLED, done.stderr
    assert_resumable_draft(draft, cli)
    stored = verify_stored_packs(draft.storage)
    assert stored.indexed == set()
    assert 0 < len(stored.packed) < len(draft.stored_ids())  # the big file is not staged
    close_again(draft)
    after = verify_stored_packs(draft.storage)
    assert stored.packed.items() <= after.packed.items()
    assert set(after.packed) == after.indexed == draft.stored_ids()


def test_close_killed_again_and_again_still_resumes(
    tmp_path: Path, isolation: Path, cli: Cli
) -> None:
    """Every failpoint in turn on the same draft, then a close that finishes."""
    draft = make_draft(tmp_path, isolation, count=40, size=20_000, big=1)
    before: dict[str, str] = {}
    for point in (
        "upload.after_blob",
        "upload.after_blob",
        "finalize.after_manifest",
        "finalize.after_record",
        "finalize.after_manifest",
    ):
        done = run_cli(
            "close", "--id", draft.id, *IN_SMALL_PACKS, env={"DELTASET_FAILPOINT": point}
        )
        assert done.returncode == KILLED, (point, done.stderr)
        assert_resumable_draft(draft, cli)
        stored = verify_stored_packs(draft.storage).packed
        assert before.items() <= stored.items()  # each run keeps every pack stored before
        before = stored
    close_again(draft)


def test_child_version_killed_after_record_resumes(
    tmp_path: Path, isolation: Path, cli: Cli
) -> None:
    """A draft with a parent: inherited, removed and new files all survive the kill."""
    parent = make_draft(tmp_path, isolation, count=10, size=5_000)
    close_again(parent)
    child = Dataset.create(
        dataset_name="images", dataset_project="kill", parent_datasets=[parent.id]
    )
    child.remove_files("shard1/*")
    extra = make_files(tmp_path / "extra", {"new/a.bin": os.urandom(30_000)})
    child.add_files(str(extra))
    expected = {p: b for p, b in parent.expected.items() if not p.startswith("shard1/")}
    expected["new/a.bin"] = (extra / "new/a.bin").read_bytes()
    draft = Draft(child.id, extra, expected, parent.storage)

    done = run_cli("close", "--id", child.id, env={"DELTASET_FAILPOINT": "finalize.after_record"})
    assert done.returncode == KILLED, done.stderr
    assert_resumable_draft(draft, cli)
    close_again(draft)
    assert Dataset.get(dataset_id=child.id).list_removed_files() == sorted(
        p for p in parent.expected if p.startswith("shard1/")
    )


# -- close: external SIGKILL -------------------------------------------------------------------

EXTERNAL_KILLS = {
    # while the interpreter is still starting or just opening the catalog
    "after 50 ms": lambda draft: after_delay(0.05),
    # during the upload, after a growing share of the blobs is stored in complete packs
    "first pack stored": lambda draft: packed_share(draft, 0.0),
    "a third stored": lambda draft: packed_share(draft, 0.33),
    "two thirds stored": lambda draft: packed_share(draft, 0.66),
    # between upload and the catalog flip (the close may also just finish first)
    "manifest written": lambda draft: lambda: (draft.storage / manifest_key(draft.id)).is_file(),
}


def packed_share(draft: Draft, share: float, at_least: int = 1) -> Callable[[], bool]:
    """True once the complete packs in storage hold ``share`` of the blobs to store, and at
    least ``at_least`` of them (a pack shows up under ``packs/`` only once it is whole)."""
    wanted = max(at_least, int(share * len(draft.stored_ids())))
    storage = LocalStorage(draft.storage)
    counted: dict[str, int] = {}

    def ready() -> bool:
        for key in storage.list("packs/"):
            if key not in counted:
                pack_id = key.rsplit("/", 1)[-1].removesuffix(".pack")
                counted[key] = len(read_pack_entries(storage, pack_id))
        return sum(counted.values()) >= wanted

    return ready


# Packs of 1 MB, so the 20 MB upload publishes a pack every 5 %.
CLOSE_IN_PACKS = ["--max-workers", "2", "--chunk-size", "1"]


@pytest.mark.parametrize("moment", list(EXTERNAL_KILLS))
def test_close_killed_from_outside_leaves_draft_or_whole_final(
    tmp_path: Path, isolation: Path, cli: Cli, moment: str
) -> None:
    draft = make_draft(tmp_path, isolation, count=200, size=80_000, big=1)  # about 20 MB
    status = kill_when(["close", "--id", draft.id, *CLOSE_IN_PACKS], EXTERNAL_KILLS[moment](draft))
    if moment != "manifest written":
        assert status == KILLED  # killed mid-way: the close cannot have finished by then
    assert status in (KILLED, 0)
    if Dataset.get(dataset_id=draft.id).is_final():
        assert moment == "manifest written"  # only a kill after the catalog flip gets here
        assert_final_and_whole(draft)
        return
    assert_resumable_draft(draft, cli)
    close_again(draft)


def test_close_killed_repeatedly_from_outside_makes_progress(
    tmp_path: Path, isolation: Path, cli: Cli
) -> None:
    """Kills at growing shares of the upload on one draft; each resume keeps what was stored."""
    draft = make_draft(tmp_path, isolation, count=200, size=80_000, big=1)
    before: dict[str, str] = {}
    for share in (0.1, 0.4, 0.7):
        # each run must add a pack of its own before the kill
        ready = packed_share(draft, share, at_least=len(before) + 1)
        status = kill_when(["close", "--id", draft.id, *CLOSE_IN_PACKS], ready)
        assert status == KILLED
        assert_resumable_draft(draft, cli)
        stored = verify_stored_packs(draft.storage).packed
        # nothing stored earlier was lost or sent again, and the upload moved on
        assert before.items() < stored.items()
        before = stored
    close_again(draft)
    assert before.items() <= verify_stored_packs(draft.storage).packed.items()


# -- get: failpoint and external SIGKILL -------------------------------------------------------


def final_version(tmp_path: Path, home: Path, count: int, size: int, big: int = 0) -> Draft:
    draft = make_draft(tmp_path, home, count, size, big)
    Dataset.get(dataset_id=draft.id).finalize(auto_upload=True)
    return draft


def assert_cache_honest(draft: Draft, cache_root: Path) -> None:
    """Cached blobs are whole; a version's folder is either absent or complete."""
    verify_cached_blobs(cache_root)
    trees = cache_root / "trees"
    for tree in trees.iterdir() if trees.is_dir() else []:
        assert read_tree(tree) == draft.expected, tree


def test_get_killed_at_failpoint_then_pulls_whole(tmp_path: Path, isolation: Path) -> None:
    draft = final_version(tmp_path, isolation, count=40, size=20_000)
    cache = isolation / "cache"
    done = run_cli("get", "--id", draft.id, env={"DELTASET_FAILPOINT": "pull.after_blob"})
    assert done.returncode == KILLED, done.stderr
    # Written into the folder being built, their home once it is published: gone with it.
    assert verify_cached_blobs(cache) == set()
    assert not (cache / "trees" / draft.id).exists()
    assert_cache_honest(draft, cache)

    pulled = run_cli("get", "--id", draft.id)
    assert pulled.returncode == 0, pulled.stderr
    assert read_tree(Path(pulled.stdout.strip())) == draft.expected
    assert verify_cached_blobs(cache) == set(draft.blob_ids())


def test_get_copy_killed_at_failpoint_then_copies_whole(tmp_path: Path, isolation: Path) -> None:
    draft = final_version(tmp_path, isolation, count=40, size=20_000)
    target = tmp_path / "copy"
    done = run_cli(
        "get",
        "--id",
        draft.id,
        "--copy",
        str(target),
        env={"DELTASET_FAILPOINT": "pull.after_blob"},
    )
    assert done.returncode == KILLED, done.stderr
    assert_cache_honest(draft, isolation / "cache")

    again = run_cli("get", "--id", draft.id, "--copy", str(target), "--overwrite")
    assert again.returncode == 0, again.stderr
    assert read_tree(target) == draft.expected


PULL_KILLS = {
    "after 50 ms": lambda draft, cache: after_delay(0.05),
    "first blob cached": lambda draft, cache: cached_share(draft, cache, 0.0),
    "half cached": lambda draft, cache: cached_share(draft, cache, 0.5),
    # the download is over: the process is building the folder or about to exit
    "all cached": lambda draft, cache: cached_share(draft, cache, 1.0),
    # the folder shows up: it must be complete from the first moment it is visible
    "folder visible": lambda draft, cache: (cache / "trees" / draft.id).is_dir,
}


def cached_share(draft: Draft, cache: Path, share: float) -> Callable[[], bool]:
    """Whether that share of the blobs is written: under ``blobs/`` (a file assembled from
    its chunks) or into the folder being built (a whole blob, whose home it becomes)."""
    ordered = draft.blob_ids()
    blob_id = ordered[int(share * (len(ordered) - 1))]
    [path] = [p for p, data in draft.expected.items() if blob_id_of(data) == blob_id][:1]

    def written() -> bool:
        staged = any((cache / "tmp").glob(f"tree-*/{path}"))
        return staged or (cache / "blobs" / blob_id[:2] / blob_id).is_file()

    return written


@pytest.mark.parametrize("moment", list(PULL_KILLS))
def test_get_killed_from_outside_never_serves_partial_bytes(
    tmp_path: Path, isolation: Path, moment: str
) -> None:
    # large blobs first, so a kill lands while another blob is half written
    draft = final_version(tmp_path, isolation, count=100, size=100_000, big=4)  # 26 MB
    cache = isolation / "cache"
    status = kill_when(
        ["get", "--id", draft.id, "--max-workers", "2"], PULL_KILLS[moment](draft, cache)
    )
    if moment not in ("all cached", "folder visible"):
        assert status == KILLED
    assert status in (KILLED, 0)
    assert_cache_honest(draft, cache)

    pulled = run_cli("get", "--id", draft.id)
    assert pulled.returncode == 0, pulled.stderr
    assert read_tree(Path(pulled.stdout.strip())) == draft.expected
    assert verify_cached_blobs(cache) == set(draft.blob_ids())


def test_a_draft_interrupted_after_its_record_cannot_change(tmp_path: Path) -> None:
    """Another machine may already see the stored record as final: the content is frozen."""
    data = make_files(tmp_path / "data", {"a.txt": "alpha"})
    assert run_cli("create", "--project", "p", "--name", "n").returncode == 0
    assert run_cli("add", "--files", str(data)).returncode == 0
    killed = run_cli("close", env={"DELTASET_FAILPOINT": "finalize.after_record"})
    assert killed.returncode == -signal.SIGKILL
    make_files(data, {"e.txt": "extra"})
    refused = run_cli("add", "--files", str(data))
    assert refused.returncode == 1
    assert "was interrupted while closing; run 'deltaset close' to finish it" in refused.stderr
    assert run_cli("remove", "--files", "a.txt").returncode == 1
    assert run_cli("close").returncode == 0
    pulled = run_cli("get", "--project", "p", "--name", "n")
    assert read_tree(Path(pulled.stdout.strip().splitlines()[-1])) == {"a.txt": b"alpha"}


def test_only_an_upload_after_an_interrupted_one_lists_the_stored_packs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Listing every pack costs a request per thousand on an object store: a clean upload
    skips it, and the first upload after a failed one does it, to index what that one sent."""
    listings: list[str] = []
    recover = BlobStore.recover
    monkeypatch.setattr(
        BlobStore, "recover", lambda self: listings.append("packs/") or recover(self)
    )
    monkeypatch.setenv("DELTASET_PACK_ON_ADD", "0")  # the upload reads the files again
    first = Dataset.create(dataset_name="clean", dataset_project="p")
    first.add_files(str(make_files(tmp_path / "one", {"a.txt": "a"})))
    first.upload()
    assert listings == []

    data = make_files(tmp_path / "two", {"b.txt": "bbbb", "c.txt": "c"})
    second = Dataset.create(dataset_name="failing", dataset_project="p")
    second.add_files(str(data))
    (data / "b.txt").write_text("BBBB")  # changed after it was added: the upload fails
    with pytest.raises(StateError, match="changed after it was added"):
        second.upload()
    (data / "b.txt").write_text("bbbb")
    second.upload()
    assert listings == ["packs/"]
    second.upload()
    assert listings == ["packs/"]


@pytest.mark.parametrize("cache", ["cold", "warm"])
def test_get_copy_killed_while_writing_a_file_leaves_no_partial_file_under_its_name(
    tmp_path: Path, isolation: Path, cache: str
) -> None:
    draft = final_version(tmp_path, isolation, count=40, size=20_000)
    if cache == "warm":
        assert run_cli("get", "--id", draft.id).returncode == 0  # copies come from the cache
    target = tmp_path / "copy"
    done = run_cli(
        "get",
        "--id",
        draft.id,
        "--copy",
        str(target),
        env={"DELTASET_FAILPOINT": "pull.copy_opened"},
    )
    assert done.returncode == KILLED, done.stderr
    finished = {
        path.relative_to(target).as_posix(): path.read_bytes()
        for path in target.rglob("*")
        if path.is_file()
        and not path.name.endswith(".part")
        # (deltaset's own folder: the private one a copy is written into, out of view)
        and OWN_FOLDER not in path.relative_to(target).parts
    }
    assert finished == {p: draft.expected[p] for p in finished}  # whole, or not there yet

    again = run_cli("get", "--id", draft.id, "--copy", str(target), "--overwrite")
    assert again.returncode == 0, again.stderr
    assert read_tree(target) == draft.expected
