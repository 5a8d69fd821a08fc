"""A cold pull of many files shared with helper processes (see engine/pull_helpers.py) gives
what a pull by one process gives: the same files, the same cache rows, the same stats
recorded; a helper that fails gives one clear error, no folder and no wrong cached bytes.

The threshold is lowered through ``DELTASET_PULL_SPLIT_FROM`` (the helpers are real
processes, which inherit it) and the files a job through ``pull.JOB_FILES``, so that a few
hundred files make several jobs, some pulled by the helper, some by the pulling process."""

from __future__ import annotations

import functools
import os
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import blake3
import pytest

from deltaset import Dataset
from deltaset.core.chunking import CHUNK_FROM
from deltaset.engine import pull
from deltaset.engine.context import default_context
from deltaset.engine.pull_helpers import SPLIT_ENV
from tests.conftest import forget_context, make_files, read_tree, run_cli, verify_homes
from tests.damage import flip_a_byte

ALONE = "1000000000"  # a threshold no test reaches: one process
LINKED = os.urandom(2000)


def cached_whole(cache: Path) -> set[str]:
    """The blobs cached, each checked to hold the bytes its name promises (an external
    file's id is no hash of its bytes: it must hold those it was read with)."""
    found = set()
    for path in (cache / "blobs").rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert data == LINKED or blake3.blake3(data).hexdigest() == path.name, path
            found.add(path.name)
    return found | verify_homes(cache)  # (a cold get's, in the folder it built)


def mixed_version(tmp_path: Path) -> tuple[str, dict[str, bytes]]:
    """Small files (some sharing their content, within and across jobs), a chunked file and
    an external one, closed into the home's folder storage."""
    files: dict[str, bytes | str] = {
        f"d{i % 7}/f{i:03d}.txt": os.urandom(50 + i) for i in range(240)
    }
    for i in range(0, 240, 40):
        files[f"copies/c{i:03d}.txt"] = files[f"d{i % 7}/f{i:03d}.txt"]
    files["same/a.txt"] = files["same/b.txt"] = b"one content, two names"
    files["big/chunked.bin"] = os.urandom(CHUNK_FROM + 4096)
    data = make_files(tmp_path / "data", files)
    linked = make_files(tmp_path / "shared", {"linked.bin": LINKED})
    ds = Dataset.create(dataset_name="many", dataset_project="helpers")
    ds.add_files(str(data))
    ds.add_external_files(str(linked / "linked.bin"))
    ds.finalize(auto_upload=True)
    expected = read_tree(data)
    expected["linked.bin"] = (linked / "linked.bin").read_bytes()
    return ds.id, expected


def cold_cache(root: Path, name: str, monkeypatch: pytest.MonkeyPatch, split_from: str) -> Path:
    cache = root / name
    monkeypatch.setenv("DELTASET_CACHE_DIR", str(cache))
    monkeypatch.setenv(SPLIT_ENV, split_from)
    forget_context()
    return cache


def index_rows(cache: Path) -> tuple[list[tuple[str, int, bool]], list[tuple[str, str, int]]]:
    """What the cache index holds: each blob (hex id, size, whether a stat is recorded),
    each folder's blobs (hex id, key) and bytes copied."""
    db = sqlite3.connect(cache / "index.db")
    try:
        blobs = db.execute(
            "select hex(id), size, ino is not null from cached_blobs order by 1"
        ).fetchall()
        links = db.execute(
            "select hex(l.blob), f.key, f.copied from folder_blobs l"
            " join folders f on f.id = l.folder order by 1, 2"
        ).fetchall()
    finally:
        db.close()
    return [(b.lower(), s, bool(k)) for b, s, k in blobs], links


@pytest.fixture
def small_jobs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pull, "JOB_FILES", 60)


@pytest.mark.usefixtures("small_jobs")
def test_a_cold_get_shared_with_a_helper_builds_what_one_process_builds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    version, expected = mixed_version(tmp_path)
    built = {}
    for name, split_from in (("alone", ALONE), ("shared", "1")):
        cache = cold_cache(tmp_path, name, monkeypatch, split_from)
        folder = Path(Dataset.get(dataset_id=version).get_local_copy())
        assert read_tree(folder) == expected
        assert default_context().cache.check_tree(version) == []  # every stat as recorded
        cached_whole(cache)
        assert os.listdir(cache / "tmp") == []
        built[name] = index_rows(cache)
    assert built["shared"] == built["alone"]
    assert len(built["shared"][0]) == len(set(map(bytes, expected.values())))


@pytest.mark.usefixtures("small_jobs")
def test_a_cold_copy_shared_with_a_helper_writes_what_one_process_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    version, expected = mixed_version(tmp_path)
    for name, split_from in (("alone", ALONE), ("shared", "1")):
        cold_cache(tmp_path, name, monkeypatch, split_from)
        target = tmp_path / f"copy-{name}"
        Dataset.get(dataset_id=version).get_mutable_local_copy(str(target))
        assert read_tree(target) == expected
        modes = {stat.S_IMODE((target / p).stat().st_mode) for p in expected}
        assert modes == {0o644}  # writable copies, as one process makes them
        assert not [p for p in target.rglob("*.part")]


@pytest.mark.usefixtures("small_jobs")
def test_a_helper_reading_a_damaged_pack_fails_the_get_with_one_sentence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    version, _ = mixed_version(tmp_path)
    [small] = [
        p
        for p in (tmp_path / "home" / "storage" / "packs").rglob("*.pack")
        if p.stat().st_size < CHUNK_FROM
    ]
    flip_a_byte(small)
    cache = cold_cache(tmp_path, "damaged", monkeypatch, "1")
    done = run_cli("get", "--id", version)
    assert done.returncode == 1
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("error: "), line
    assert "does not match its hash" in line, line
    assert not (cache / "trees" / version).exists()
    assert os.listdir(cache / "tmp") == []  # no staging folder, no log: every row written
    cached = cached_whole(cache)  # whatever arrived before the damage is whole
    assert {blob for blob, _, _ in index_rows(cache)[0]} == cached  # and accounted for


def test_a_helper_killed_mid_get_fails_it_in_one_sentence_and_the_next_get_is_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the helper wrote before it died is unknown to the pulling process: it went with
    the build's staging folder, and the log left for the next opening of the cache has
    nothing more to account for."""
    version, expected = mixed_version(tmp_path)
    cache = cold_cache(tmp_path, "killed", monkeypatch, "1")
    done = run_cli("get", "--id", version, env={"DELTASET_FAILPOINT": "pull.helper_linked"})
    assert done.returncode == 1, done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("error: A helper process of the pull stopped unexpectedly"), line
    assert not (cache / "trees" / version).exists()
    assert [name for name in os.listdir(cache / "tmp") if name.endswith(".linked")]

    again = run_cli("get", "--id", version)
    assert again.returncode == 0, again.stderr
    assert read_tree(Path(again.stdout.strip())) == expected
    assert os.listdir(cache / "tmp") == []
    assert {blob for blob, _, _ in index_rows(cache)[0]} == cached_whole(cache)


def test_ctrl_c_stops_a_get_and_its_helper_and_the_cache_accounts_for_what_it_linked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    version, _ = mixed_version(tmp_path)
    cache = cold_cache(tmp_path, "interrupted", monkeypatch, "1")
    # 12 s for the helper's job, and as long for whatever the pulling process writes itself:
    # the Ctrl-C lands while the get runs, whichever process wrote the file seen first.
    env = {**os.environ, "DELTASET_PAUSE": "pull.helper_linked:0.05,pull.blob_staged:0.05"}
    command = [sys.executable, "-m", "deltaset", "get", "--id", version]
    # Ctrl-C as a terminal sends it: a test worker may run with SIGINT ignored (set by
    # something it ran before), which a child inherits, and then rightly keeps.
    default_sigint = functools.partial(signal.signal, signal.SIGINT, signal.SIG_DFL)
    with subprocess.Popen(
        command, env=env, stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint
    ) as pulling:
        while not list((cache / "tmp").rglob("*.txt")):
            time.sleep(0.05)  # until a file was written into the folder built
        pulling.send_signal(signal.SIGINT)
        _, stderr = pulling.communicate(timeout=60)
    assert pulling.returncode == 130, stderr
    assert stderr.strip().splitlines() == ["error: interrupted; nothing final was changed."]
    assert not (cache / "trees" / version).exists()
    assert not helpers_of(tmp_path)  # stopped with the pull, not left running
    assert run_cli("cache", "info").returncode == 0  # opening the cache sweeps what was left
    assert os.listdir(cache / "tmp") == []
    # What was written into the folder went with it; what was cached is accounted for.
    assert {blob for blob, _, _ in index_rows(cache)[0]} == cached_whole(cache)


def helpers_of(tmp_path: Path) -> list[int]:
    """The helper processes still running for this test's home."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            command = (entry / "cmdline").read_bytes()
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if b"pull_helpers" in command and str(tmp_path).encode() in environ:
            found.append(int(entry.name))
    return found


def next_version(tmp_path: Path, parent: str) -> tuple[str, dict[str, bytes]]:
    """A child of :func:`mixed_version`'s version synced from its folder: a file changed, one
    added, one removed (and the external file, not in the folder), the others as they were."""
    data = tmp_path / "data"
    (data / "d0" / "f000.txt").write_bytes(b"changed")
    (data / "d1" / "f001.txt").unlink()
    (data / "new" / "added.txt").parent.mkdir()
    (data / "new" / "added.txt").write_bytes(b"added")
    ds = Dataset.create(dataset_name="many", dataset_project="helpers", parent_datasets=[parent])
    ds.sync_folder(str(data))
    ds.finalize(auto_upload=True)
    return ds.id, read_tree(data)


@pytest.mark.usefixtures("small_jobs")
def test_the_files_a_get_finds_cached_by_the_last_are_linked_by_a_helper_as_by_one_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, _ = mixed_version(tmp_path)
    second, expected = next_version(tmp_path, first)
    built = {}
    for name, split_from in (("alone", ALONE), ("shared", "1")):
        cache = cold_cache(tmp_path, name, monkeypatch, split_from)
        Dataset.get(dataset_id=first).get_local_copy()
        folder = Path(Dataset.get(dataset_id=second).get_local_copy())
        assert read_tree(folder) == expected
        older = cache / "trees" / first
        kept = [p for p in expected if (older / p).is_file() and p != "d0/f000.txt"]
        assert len(kept) > 200
        assert all((folder / p).stat().st_ino == (older / p).stat().st_ino for p in kept)
        cached = default_context().cache
        assert cached.check_tree(second) == []
        assert cached.check_tree(first) == []
        cached_whole(cache)
        assert os.listdir(cache / "tmp") == []
        built[name] = index_rows(cache)
    assert built["shared"] == built["alone"]


def test_a_helper_killed_as_it_links_cached_files_fails_the_get_and_the_next_is_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, _ = mixed_version(tmp_path)
    second, expected = next_version(tmp_path, first)
    cache = cold_cache(tmp_path, "killed", monkeypatch, "1")
    assert run_cli("get", "--id", first).returncode == 0
    env = {"DELTASET_FAILPOINT": "pull.helper_hard_linked"}
    done = run_cli("get", "--id", second, env=env)
    assert done.returncode == 1, done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("error: A helper process of the pull stopped unexpectedly"), line
    assert not (cache / "trees" / second).exists()

    again = run_cli("get", "--id", second)
    assert again.returncode == 0, again.stderr
    assert read_tree(Path(again.stdout.strip())) == expected
    assert os.listdir(cache / "tmp") == []
    cached = default_context().cache
    assert cached.check_tree(second) == []
    assert cached.check_tree(first) == []
    assert {blob for blob, _, _ in index_rows(cache)[0]} == cached_whole(cache)


def test_a_helper_runs_the_code_its_pull_imported_however_that_was_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A script that finds deltaset by ``sys.path``, not by ``PYTHONPATH``: its helpers
    import the same code (not another installed copy, nor none)."""
    version, expected = mixed_version(tmp_path)
    cold_cache(tmp_path, "found", monkeypatch, "1")
    source = Path(pull.__file__).resolve().parents[2]
    script = (
        "import sys\n"
        "sys.path.insert(0, sys.argv[1])\n"
        "from deltaset import Dataset\n"
        "print(Dataset.get(dataset_id=sys.argv[2]).get_local_copy())\n"
    )
    env = {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}
    command = [sys.executable, "-c", script, str(source), version]
    done = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert read_tree(Path(done.stdout.strip())) == expected


def test_a_copy_whose_paths_fit_only_outside_a_private_folder_is_written_in_place(
    tmp_path: Path,
) -> None:
    """A path that fits the system's limit in the target, but not under the private folder a
    copy is written in, is copied all the same, straight into the target."""
    with tempfile.TemporaryDirectory(dir="/tmp") as short:
        target = Path(short) / "c"
        room = pull.PATH_LIMIT - len(os.fsencode(target)) - 2  # a path this long fits it
        parts = [f"{'d' * 200}{at:02d}" for at in range(room // 203)]
        name = "/".join(parts)
        name += "/" + "f" * (room - len(name) - 1)
        source = Path(short) / "s"
        (source / name).parent.mkdir(parents=True)
        (source / name).write_bytes(b"deep")
        ds = Dataset.create(dataset_name="deep", dataset_project="pull")
        ds.add_files(str(source))
        ds.finalize(auto_upload=True)
        shutil.rmtree(source)
        done = run_cli("get", "--id", ds.id, "--copy", str(target))
        assert done.returncode == 0, done.stderr
        assert (target / name).read_bytes() == b"deep"
        assert not list((target / ".deltaset").glob("pulling-*"))
