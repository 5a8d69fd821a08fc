"""A large add of tiny files is read, hashed and packed by a second process: it stages the rows,
and closes to the version, that one process makes; a file it cannot read gives the sentence one
process gives; a kill of either process loses nothing.

The threshold is lowered through ``DELTASET_HASH_PROCESS_FROM`` (and raised out of reach for
the one-process runs); each run has a home of its own, so that no hash is known beforehand.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from deltaset.catalog.sqlite import SqliteCatalog
from deltaset.core.chunking import CHUNK_FROM
from deltaset.engine import scan
from deltaset.engine.context import default_context
from deltaset.engine.found import FoundFiles
from deltaset.engine.hash_process import PROCESS_FROM_ENV
from deltaset.engine.scan import STREAM_BATCH, LocalFile
from deltaset.progress import NoProgress
from tests.conftest import make_files, read_tree, run_cli, verify_stored_packs

TWO = {PROCESS_FROM_ENV: "100"}
# The second process is only started with two cores or more.
two_cores = pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one core: one process")
ONE = {PROCESS_FROM_ENV: "1000000000"}


def tiny_files(count: int) -> dict[str, bytes | str]:
    """``count`` tiny files in several folders, many alike (in either batch), some empty."""
    pick = random.Random(7)
    files: dict[str, bytes | str] = {
        f"d{at % 13}/f{at:05d}.txt": f"row {pick.randrange(40)}\n" for at in range(count)
    }
    files.update({f"empty/e{at}.txt": b"" for at in range(3)})
    return files


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Two batches of tiny files, a chunked file (their mean stays under a KiB) and links."""
    data = make_files(tmp_path / "data", tiny_files(STREAM_BATCH + 900))
    (data / "big.bin").write_bytes(random.Random(3).randbytes(CHUNK_FROM + 12345))
    (data / "links").mkdir()
    (data / "links" / "to-first.txt").symlink_to(data / "d0" / "f00000.txt")
    (data / "links" / "to-big.bin").symlink_to(data / "big.bin")
    return data


def home_env(tmp_path: Path, name: str, knob: dict[str, str]) -> dict[str, str]:
    return {"DELTASET_HOME": str(tmp_path / name), **knob}


def created(env: dict[str, str]) -> str:
    done = run_cli("create", "--project", "p", "--name", "n", "--json", env=env)
    assert done.returncode == 0, done.stderr
    return str(json.loads(done.stdout)["id"])


def staged_rows(env: dict[str, str], draft: str) -> list[tuple[object, ...]]:
    catalog = SqliteCatalog(Path(env["DELTASET_HOME"]) / "catalog.db")
    try:
        return sorted(tuple(change) for change in catalog.staged(draft))
    finally:
        catalog.close()


def test_two_processes_stage_and_close_what_one_process_does(tmp_path: Path, folder: Path) -> None:
    runs = {}
    for name, knob in (("one", ONE), ("two", TWO)):
        env = home_env(tmp_path, name, knob)
        draft = created(env)
        added = run_cli("add", "--id", draft, "--files", str(folder), env=env)
        assert added.returncode == 0, added.stderr
        packs = list((Path(env["DELTASET_HOME"]) / "staging" / draft).rglob("*.pack"))
        runs[name] = (env, draft, staged_rows(env, draft), len(packs))
    (one_env, one, one_rows, one_packs), (two_env, two, two_rows, two_packs) = runs.values()
    assert len(one_rows) == STREAM_BATCH + 900 + 3 + 3
    assert two_rows == one_rows
    assert two_packs == one_packs > 0

    listed = {}
    for env, draft in ((one_env, one), (two_env, two)):
        closed = run_cli("close", "--id", draft, env=env)
        assert closed.returncode == 0, closed.stderr
        assert run_cli("verify", "--id", draft, env=env).returncode == 0
        stored = verify_stored_packs(Path(env["DELTASET_HOME"]) / "storage")
        assert stored.unindexed == set()  # every staged pack was sent whole
        shown = run_cli("list", "--id", draft, "--json", env=env)
        listed[draft] = json.loads(shown.stdout)
    assert listed[two] == listed[one]
    pulled = run_cli("get", "--id", two, "--copy", str(tmp_path / "copy"), env=two_env)
    assert pulled.returncode == 0, pulled.stderr
    assert read_tree(tmp_path / "copy") == read_tree(folder)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads files of /proc")
@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("/proc/self/mem", "Input/output error."),  # unreadable: EIO at offset 0
        ("/proc/self/stat", "it changed while it was read (3 times)."),  # size 0, reads bytes
    ],
)
def test_a_file_the_second_process_cannot_read_gives_the_sentence_one_process_gives(
    tmp_path: Path, target: str, reason: str
) -> None:
    data = make_files(tmp_path / "data", tiny_files(300))
    (data / "d5" / "odd").symlink_to(target)
    said = {}
    for name, knob in (("one", ONE), ("two", TWO)):
        env = home_env(tmp_path, name, knob)
        draft = created(env)
        args = ("add", "--id", draft, "--files", str(data), "--copy-unsafe-links")
        failed = run_cli(*args, env=env)
        assert failed.returncode == 1
        assert run_cli("list", "--id", draft, "--json", env=env).stdout.strip() == "[]"
        skipped = run_cli(*args, "--ignore-failed-read", env=env)
        assert skipped.returncode == 0, skipped.stderr
        said[name] = (failed.stderr, skipped.stderr, staged_rows(env, draft))
    for one, two in zip(said["one"], said["two"], strict=True):  # each told apart on failure
        assert two == one
    failed_text, skipped_text, rows = said["two"]
    assert failed_text.splitlines() == [
        f"error: Cannot add {data / 'd5' / 'odd'}: {reason[:-1]}; "
        "--ignore-failed-read skips such files."
    ]
    assert skipped_text.splitlines() == [f"skipped {data / 'd5' / 'odd'}: {reason}"]
    assert len(rows) == 303


@two_cores
@pytest.mark.parametrize("failpoint", ["staging.after_keep", "packs.after_publish"])
def test_a_killed_hashing_process_fails_the_add_in_one_sentence_and_loses_nothing(
    tmp_path: Path, folder: Path, failpoint: str
) -> None:
    env = home_env(tmp_path, "home", TWO)
    draft = created(env)
    killed = run_cli(
        "add", "--id", draft, "--files", str(folder), env={**env, "DELTASET_FAILPOINT": failpoint}
    )
    assert killed.returncode == 1, killed.stderr  # the second process died, not this one
    assert killed.stderr.splitlines() == [
        f"error: The process hashing the files ended before it was done (killed by signal "
        f"{int(signal.SIGKILL)}); nothing was added."
    ]
    assert run_cli("list", "--id", draft, "--json", env=env).stdout.strip() == "[]"

    added = run_cli("add", "--id", draft, "--files", str(folder), env=env)
    assert added.returncode == 0, added.stderr
    closed = run_cli("close", "--id", draft, env=env)
    assert closed.returncode == 0, closed.stderr
    assert run_cli("verify", "--id", draft, env=env).returncode == 0
    stored = verify_stored_packs(Path(env["DELTASET_HOME"]) / "storage")
    assert stored.unindexed == set()


@two_cores
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="looks processes up in /proc")
def test_a_killed_add_takes_its_hashing_process_with_it(tmp_path: Path, folder: Path) -> None:
    """The caller killed while the second process hashes its next batch: it stops on its own,
    and the draft is as it was."""
    env = home_env(tmp_path, "home", TWO)
    draft = created(env)
    args = ("add", "--id", draft, "--files", str(folder))
    killed = run_cli(*args, env={**env, "DELTASET_FAILPOINT": "scan.hashed"})
    assert killed.returncode == -signal.SIGKILL
    assert wait_until_gone(env["DELTASET_HOME"])
    assert run_cli("list", "--id", draft, "--json", env=env).stdout.strip() == "[]"
    assert run_cli(*args, env=env).returncode == 0
    assert len(json.loads(run_cli("list", "--id", draft, "--json", env=env).stdout)) > STREAM_BATCH


def wait_until_gone(home: str, attempts: int = 600) -> bool:
    """Whether every process working with ``home`` ends (within a minute)."""
    for _ in range(attempts):
        if not processes_of(home):
            return True
        time.sleep(0.1)
    return False


def processes_of(home: str) -> list[int]:
    """The ids of the processes whose environment names ``home`` as deltaset's home."""
    wanted = f"DELTASET_HOME={home}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and wanted in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:
            continue  # ended meanwhile, or not ours to read
    return found


class Told:
    """A progress that adds up what it is told."""

    def __init__(self) -> None:
        self.total = (0, 0)
        self.files = self.bytes = 0

    def start(self, task: str, total_files: int, total_bytes: int) -> None:
        self.total = (total_files, total_bytes)

    def advance(self, files: int, nbytes: int) -> None:
        self.files += files
        self.bytes += nbytes

    def finish(self) -> None:
        pass


def test_progress_counts_each_file_once_whichever_process_reads_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = make_files(tmp_path / "data", tiny_files(STREAM_BATCH + 10))
    found = [LocalFile(*f) for f in scan.find(str(data), None, None, None, True)]
    told = {}
    for name, knob in (("one", ONE), ("two", TWO)):
        monkeypatch.setenv("DELTASET_HOME", str(tmp_path / name))  # no hash known
        monkeypatch.setenv(PROCESS_FROM_ENV, knob[PROCESS_FROM_ENV])
        ctx = default_context()
        ctx.progress = progress = Told()
        try:
            hashed = list(scan.hash_files(ctx, found, None))
        finally:
            ctx.progress = NoProgress()
        assert len(hashed) == len(found)
        told[name] = (progress.total, progress.files, progress.bytes)
    size = sum(f.size for f in found)
    assert told["two"] == told["one"] == ((len(found), size), len(found), size)


@two_cores
@pytest.mark.skipif(
    not sys.platform.startswith("linux") or os.geteuid() != 0 or not shutil.which("unshare"),
    reason="mounts a read-only /dev/shm in a namespace of its own (root on Linux)",
)
def test_an_add_where_no_second_process_can_start_hashes_in_one(
    tmp_path: Path, folder: Path
) -> None:
    """Without a writable /dev/shm (some containers and serverless runtimes) no queue between
    processes can be made: the add warns and hashes in its own process, staging the same rows."""
    rows = {}
    for name, knob, mount in (("one", ONE, ""), ("two", TWO, NO_SHM)):
        env = home_env(tmp_path, name, knob)
        draft = created(env)
        added = subprocess.run(
            ["unshare", "-m", "sh", "-c", f'{mount}exec "$0" -m deltaset "$@"', sys.executable,
             "add", "--id", draft, "--files", str(folder)],
            capture_output=True, text=True, env={**os.environ, **env}, timeout=120, check=False,
        )  # fmt: skip
        assert added.returncode == 0, added.stderr
        rows[name] = (staged_rows(env, draft), added.stderr)
    assert rows["two"][0] == rows["one"][0]
    assert "No second process could hash the files" not in rows["one"][1]
    assert "No second process could hash the files (" in rows["two"][1]


NO_SHM = "mount -t tmpfs -o ro none /dev/shm && "


@two_cores
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="looks processes up in /proc")
def test_an_add_killed_while_its_walk_feeds_the_hashing_process_stages_nothing(
    tmp_path: Path, folder: Path
) -> None:
    """The second process reads the first batch while the walk goes on: the caller killed
    then, the process stops on its own, nothing is staged, and the next add stages it all."""
    env = home_env(tmp_path, "home", TWO)
    draft = created(env)
    args = ("add", "--id", draft, "--files", str(folder))
    killed = run_cli(*args, env={**env, "DELTASET_FAILPOINT": "scan.told"})
    assert killed.returncode == -signal.SIGKILL  # reached: the walk told a batch early
    assert wait_until_gone(env["DELTASET_HOME"])
    assert staged_rows(env, draft) == []
    added = run_cli(*args, env=env)
    assert added.returncode == 0, added.stderr
    assert len(staged_rows(env, draft)) == STREAM_BATCH + 900 + 3 + 3
    assert run_cli("close", "--id", draft, env=env).returncode == 0
    assert run_cli("verify", "--id", draft, env=env).returncode == 0


def test_the_second_process_remembers_the_hashes_one_process_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hash cache learns every settled file's hash, whichever process read it, and a
    file changed too recently to be settled is not remembered."""
    data = make_files(tmp_path / "data", tiny_files(STREAM_BATCH + 10))
    old = time.time() - 3600
    fresh = data / "d0" / "f00000.txt"
    for path in data.rglob("*.txt"):
        os.utime(path, (old, old) if path != fresh else (old + 7200, old + 7200))  # the future
    found = [LocalFile(*f) for f in scan.find(str(data), None, None, None, True)]
    remembered = {}
    for name, knob in (("one", ONE), ("two", TWO)):
        monkeypatch.setenv("DELTASET_HOME", str(tmp_path / name))
        monkeypatch.setenv(PROCESS_FROM_ENV, knob[PROCESS_FROM_ENV])
        ctx = default_context()
        hashed = {f.key: f.blob_id for f in scan.hash_files(ctx, found, None)}
        remembered[name] = ctx.hashes.lookup(f.key for f in found)
        assert remembered[name] == {k: v for k, v in hashed.items() if k[3] < old * 1e9 + 1e9}
    assert remembered["two"] == remembered["one"]
    assert len(remembered["two"]) == len(found) - 1


@two_cores
def test_a_walk_failing_once_it_told_batches_stops_the_hashing_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DELTASET_HOME", str(tmp_path / "home"))
    monkeypatch.setenv(PROCESS_FROM_ENV, "100")
    data = make_files(tmp_path / "data", tiny_files(STREAM_BATCH + 10))
    files = FoundFiles()
    for found in scan.find(str(data), None, None, None, True):
        files.add(*found)
    early = scan.EarlyHashing(default_context(), None, None)

    def walk_failing() -> None:
        with early:
            early(files)
            raise OSError("the walk failed")

    with pytest.raises(OSError, match="the walk failed"):
        walk_failing()
    assert early.process is not None
    assert len(early.told) == 1  # one whole batch told, the rest left to hash_files
    assert [p.name for p in multiprocessing.active_children()] == []  # stopped, and reaped
