"""Folder state files: what they keep, and that damage or odd names cost nothing but time."""

from __future__ import annotations

import os
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

from deltaset.cache.folders import FolderStates, Meta, state_line
from deltaset.core.manifest import Entry, Manifest
from deltaset.engine.scan import Found, HashedFile, Landing
from deltaset.engine.unchanged import FolderPass

ID = "ab" * 32


def test_lines_saved_for_a_folder_come_back_for_that_folder_only(tmp_path: Path) -> None:
    states = FolderStates(tmp_path / "folders")
    lines = [state_line("a.txt", 1, 2, 3, 4, ID), state_line("b/c.txt", 1, 5, 6, 7, ID)]
    states.save(str(tmp_path / "data"), lines)
    assert states.load(str(tmp_path / "data")) == set(lines)
    assert states.load(str(tmp_path / "data" / ".")) == set(lines)  # the same folder
    assert states.load(str(tmp_path / "other")) == set()
    states.save(str(tmp_path / "data"), [])
    assert states.load(str(tmp_path / "data")) == set()


def test_undecodable_names_keep_and_names_with_a_line_break_are_left_out(tmp_path: Path) -> None:
    states = FolderStates(tmp_path)
    odd = b"caf\xe9.txt".decode("utf-8", "surrogateescape")  # a Latin-1 name on disk
    kept = state_line(odd, 1, 2, 3, 4, ID)
    states.save("/data", [kept, state_line("two\nlines", 1, 3, 3, 4, ID)])
    assert states.load("/data") == {kept}


def test_a_damaged_or_foreign_file_reads_as_no_state(tmp_path: Path) -> None:
    states = FolderStates(tmp_path)
    states.save("/data", [state_line("a.txt", 1, 2, 3, 4, ID)])
    (state,) = tmp_path.iterdir()
    state.write_bytes(state.read_bytes().replace(b"a.txt", b"b.txt"))
    assert states.load("/data") == set()
    state.write_bytes(b"something else entirely")
    assert states.load("/data") == set()


def test_a_state_that_cannot_be_written_is_skipped(tmp_path: Path) -> None:
    (tmp_path / "folders").write_text("a file where the folder goes")
    states = FolderStates(tmp_path / "folders")
    states.save("/data", [state_line("a.txt", 1, 2, 3, 4, ID)])  # no error
    assert states.load("/data") == set()


def test_states_of_folders_left_alone_for_a_month_go(tmp_path: Path) -> None:
    states = FolderStates(tmp_path)
    states.save("/old", [state_line("a.txt", 1, 2, 3, 4, ID)])
    (old,) = tmp_path.iterdir()
    month_ago = time.time() - 31 * 24 * 3600
    os.utime(old, (month_ago, month_ago))
    states.save("/recent", [state_line("a.txt", 1, 2, 3, 4, ID)])
    assert states.load("/old") == set()
    assert len(list(tmp_path.iterdir())) == 1


def test_a_state_of_300_000_files_is_kept_and_read_back_whole(tmp_path: Path) -> None:
    """No size limit: above 250,000 files the state used to be dropped for the hash cache."""
    states = FolderStates(tmp_path)
    lines = [state_line(f"d{i % 97}/f{i}", 1, i, 10, 7, ID) for i in range(300_000)]
    states.save("/big", iter(lines), Meta(session="s", seq=4, prefix="x", watchable=True))
    state = states.load_state("/big")
    assert state.meta == Meta(session="s", seq=4, prefix="x", watchable=True)
    assert state.lines() == set(lines)


def test_a_folder_pass_over_300_000_files_saves_them_all_and_sets_them_aside_next_time(
    tmp_path: Path,
) -> None:
    count = 300_000
    ctx = SimpleNamespace(folder_states=FolderStates(tmp_path / "folders"))
    view = Manifest.from_sorted(
        sorted((f"f{i:06d}", Entry(size=10, blob_id=ID)) for i in range(count))
    )
    landing = Landing("", len("/big/"))
    stamp = 10**18  # long settled

    def found() -> Iterator[Found]:
        for i in range(count):
            stat = os.stat_result(
                (0o100644, i, 1, 1, 0, 0, 10, 0, 0, 0, 0.0, 0.0, 0.0, *[stamp] * 3)
            )
            yield f"/big/f{i:06d}", landing, stat

    first = FolderPass(ctx, "/big", view)  # type: ignore[arg-type]
    files = first.sift(found())
    assert len(files) == count  # nothing known yet
    settled = (HashedFile(f.source, f.path, f.size, ID, f.key) for f in files)
    assert sum(1 for _ in first.recording(settled)) == count
    first.save()
    again = FolderPass(ctx, "/big", view)  # type: ignore[arg-type]
    assert len(again.sift(found())) == 0
    assert len(again.unchanged) == count


def test_saving_lines_holds_a_small_block_of_them_at_a_time(tmp_path: Path) -> None:
    """The lines already stand in memory: a save adds a block's text, not a copy of them all
    (at a million files, blocks of 65,536 lines added 33 MB to the peak of a sync)."""
    lines = [state_line(f"folder/{i:0120d}.txt", 1, i, 3, 4, ID) for i in range(60_000)]
    whole = sum(len(line) + 1 for line in lines)
    tracemalloc.start()
    try:
        FolderStates(tmp_path).save("/data", lines)
        added = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert FolderStates(tmp_path).load("/data") == set(lines)
    assert added < whole / 4, (added, whole)


def test_the_meta_reads_alone_and_damaged_lines_read_as_none(tmp_path: Path) -> None:
    """A sync reads the meta first and the lines only if it needs them: lines damaged (or
    replaced) since read as None, never as an empty folder."""
    states = FolderStates(tmp_path)
    states.save("/data", [state_line("a.txt", 1, 2, 3, 4, ID)], Meta(session="s", seq=1))
    state = states.load_state("/data")
    assert state.meta.session == "s"
    (stored,) = tmp_path.iterdir()
    stored.write_bytes(stored.read_bytes().replace(b"a.txt", b"b.txt"))
    assert states.load_state("/data").meta.session == "s"  # the meta has its own digest
    assert state.lines() is None
    assert states.load_state("/data").lines() is None
    assert states.load("/data") == set()
