"""``deltaset import-clearml``: ClearML dataset versions, laid out by ClearML's own code as its
upload stores them (or made by ClearML itself in offline mode), become deltaset versions with
their lineage, files, links and metadata; damaged ones are named and skipped; an interrupted
import finishes when run again, and a second run changes nothing."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pytest

import deltaset
from deltaset import Dataset
from deltaset.api.migration import ImportReport
from deltaset.catalog.base import Query
from deltaset.engine.context import default_context
from deltaset.errors import NotFoundError
from deltaset.storage import open_storage
from tests.clearml_layouts import ClearMLStore
from tests.conftest import read_tree, run_cli


def blob(seed: int, size: int = 20_000) -> bytes:
    """Bytes that do not compress, so ClearML's zipper cuts small chunks by size."""
    return random.Random(seed).randbytes(size)


class History:
    """A ClearML history: a chain with a change, a removal and a link, a second dataset, and a
    version with both as parents."""

    def __init__(self, tmp_path: Path) -> None:
        self.root = tmp_path / "clearml"
        linked = tmp_path / "linked.bin"
        linked.write_bytes(b"an external object")
        self.store = ClearMLStore(self.root, tmp_path / "clearml-work")
        first = {"a.bin": blob(1), "b/c.bin": blob(2), "d.bin": blob(3)}
        self.first = self.store.version(
            "vision", "pets", first, chunk_mb=0.01, metadata={"classes": {"cat": 0}}
        )
        self.second = self.store.version(
            "vision",
            "pets",
            {"a.bin": blob(11), "e.bin": blob(4), "b/c.bin": blob(2)},
            removed=("d.bin",),
            links={"ext/linked.bin": linked.as_uri()},
            parents=(self.first,),
            chunk_mb=0.01,
        )
        self.other = self.store.version(
            "vision/more", "birds", {"x.bin": blob(5), "a.bin": blob(6)}
        )
        self.merged = self.store.version(
            "vision", "merged", {"y.bin": blob(7)}, parents=(self.second, self.other)
        )
        self.trees = {
            self.first: first,
            self.second: {
                "a.bin": blob(11),
                "b/c.bin": blob(2),
                "e.bin": blob(4),
                "ext/linked.bin": b"an external object",
            },
            self.other: {"x.bin": blob(5), "a.bin": blob(6)},
        }
        # ClearML merges parents in order: the later one wins on a path
        self.trees[self.merged] = {**self.trees[self.second], **self.trees[self.other]}
        self.trees[self.merged]["y.bin"] = blob(7)


@pytest.fixture
def history(tmp_path: Path) -> History:
    return History(tmp_path)


def imported_ids(report: ImportReport) -> dict[str, str]:
    return {o.clearml_id: o.id for o in report.outcomes if o.id}


def check_trees(history: History, ids: dict[str, str], tmp_path: Path) -> None:
    for clearml_id, tree in history.trees.items():
        folder = Dataset.get(dataset_id=ids[clearml_id]).get_local_copy()
        assert read_tree(Path(folder)) == tree


def test_a_history_imports_with_its_lineage_files_links_and_metadata(
    history: History, tmp_path: Path
) -> None:
    assert len(history.store.chunks(history.first)) >= 2  # several chunks per version
    report = deltaset.import_clearml(str(history.root))
    assert [o.status for o in report.outcomes] == ["imported"] * 4
    ids = imported_ids(report)
    check_trees(history, ids, tmp_path)
    second = Dataset.get(dataset_id=ids[history.second])
    assert (second.project, second.name) == ("vision", "pets")
    assert second.parents == [ids[history.first]]
    merged = Dataset.get(dataset_id=ids[history.merged])
    assert merged.parents == [ids[history.second], ids[history.other]]
    assert Dataset.get(dataset_id=ids[history.other]).project == "vision/more"
    first = Dataset.get(dataset_id=ids[history.first])
    assert first.get_metadata("classes") == {"cat": 0}
    assert first.get_metadata("clearml-import")["id"] == history.first
    # b/c.bin, unchanged in the second version, was checked in the first only and stored once
    assert report.files_checked == 3 + 2 + 2 + 1
    assert report.stored_bytes < sum(len(b) for t in history.trees.values() for b in t.values())


def test_a_second_run_changes_nothing(history: History) -> None:
    first = deltaset.import_clearml(str(history.root))
    again = deltaset.import_clearml(str(history.root))
    assert [o.status for o in again.outcomes] == ["present"] * 4
    assert imported_ids(again) == imported_ids(first)
    assert (again.stored_bytes, again.files_checked) == (0, 0)
    assert len(default_context().catalog.search(Query())) == 4


def test_a_damaged_chunk_skips_its_version_and_descendants_and_imports_nothing_of_them(
    history: History,
) -> None:
    chunk = history.store.chunks(history.second)[0]
    data = bytearray(chunk.read_bytes())
    data[len(data) // 2] ^= 0xFF
    chunk.write_bytes(bytes(data))
    history.store.chunks(history.other)[0].unlink()
    report = deltaset.import_clearml(str(history.root))
    status = {o.clearml_id: (o.status, o.reason) for o in report.outcomes}
    assert status[history.first][0] == "imported"
    assert status[history.second][0] == "skipped"
    assert "damaged" in status[history.second][1] or "SHA-256" in status[history.second][1]
    assert status[history.other] == ("skipped", "its chunk 'data' is missing.")
    assert status[history.merged] == ("skipped", f"its parent {history.second} was skipped.")
    names = {(r.name, str(r.state)) for r in default_context().catalog.search(Query())}
    assert names == {("pets", "final")}  # not even a draft of the others
    work = default_context().settings.home / "import-clearml"
    assert not work.exists() or not any(work.iterdir())  # nothing unpacked is left behind


def test_the_project_and_storage_asked_for_are_used(history: History, tmp_path: Path) -> None:
    report = deltaset.import_clearml(
        str(history.root), project="imported", storage=str(tmp_path / "elsewhere")
    )
    records = default_context().catalog.search(Query())
    assert {r.project for r in records} == {"imported"}
    assert {r.storage for r in records} == {(tmp_path / "elsewhere").as_uri()}
    check_trees(history, imported_ids(report), tmp_path)


def test_a_path_that_leaves_the_dataset_skips_the_version(tmp_path: Path) -> None:
    store = ClearMLStore(tmp_path / "clearml", tmp_path / "work")
    evil = store.version("p", "evil", {"ok.txt": b"fine"})
    state = store.folders[evil] / "state" / "state.json"
    state.write_text(state.read_text().replace('"ok.txt"', '"../../escaped.txt"'))
    report = deltaset.import_clearml(str(tmp_path / "clearml"))
    assert report.outcomes[0].status == "skipped"
    assert "'..'" in report.outcomes[0].reason
    assert not (tmp_path / "escaped.txt").exists()


@pytest.mark.parametrize(
    "point", ["clearml.after_create", "clearml.after_stage", "clearml.after_version"]
)
def test_an_import_killed_midway_finishes_when_run_again(history: History, point: str) -> None:
    killed = run_cli("import-clearml", str(history.root), env={"DELTASET_FAILPOINT": point})
    assert killed.returncode == -9
    done = run_cli("import-clearml", str(history.root), "--json")
    assert done.returncode == 0, done.stderr
    records = default_context().catalog.search(Query())
    assert len(records) == 4
    assert all(r.state.is_final for r in records)  # no stray draft
    assert not [t for r in records for t in r.tags if t.startswith("clearml-import:")]
    report = deltaset.import_clearml(str(history.root))
    assert [o.status for o in report.outcomes] == ["present"] * 4
    check_trees(history, imported_ids(report), history.root)


@pytest.mark.parametrize("bucket_fixture", ["s3_url", "gcs_url", "azure_url"])
def test_a_bucket_location_imports(
    history: History, bucket_fixture: str, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue(bucket_fixture)
    bucket = open_storage(url)
    for path in history.root.rglob("*"):
        if path.is_file():
            bucket.put_file(path.relative_to(history.root).as_posix(), path)
    report = deltaset.import_clearml(url)
    assert [o.status for o in report.outcomes] == ["imported"] * 4
    check_trees(history, imported_ids(report), history.root)


OFFLINE_SCRIPT = """
from clearml import Dataset
Dataset.set_offline(True)
ds = Dataset.create(dataset_name="offline-ds", dataset_project="team/raw",
                    dataset_tags=["night"], description="made on a plane", dataset_version="2.1.0")
ds.add_files({folder!r})
ds.set_metadata({{"rows": 2}}, metadata_name="stats", ui_visible=False)
ds.upload()
"""


def test_an_offline_session_clearml_made_imports_with_its_version_tags_and_metadata(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "files"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "one.txt").write_text("one")
    (folder / "two.txt").write_text("two")
    home = tmp_path / "clearml-home"
    home.mkdir()
    # Reports in-process: ClearML's reporter subprocess makes it wait many seconds offline.
    (home / "clearml.conf").write_text(
        "sdk { development { report_use_subprocess: false, detect_with_pip_freeze: false } }"
    )
    script = tmp_path / "make_offline.py"  # ClearML's repository detection wants a file
    script.write_text(OFFLINE_SCRIPT.format(folder=str(folder)))
    made = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"HOME": str(home), "PATH": "/usr/bin:/bin"},
        check=False,
        timeout=120,
    )
    assert made.returncode == 0, made.stderr[-2000:]
    assert "offline-" in made.stdout
    session = next(home.rglob("offline-*.zip"))  # what ClearML zipped
    report = deltaset.import_clearml(str(session))
    assert [o.status for o in report.outcomes] == ["imported"]
    ds = Dataset.get(dataset_id=report.outcomes[0].id or "")
    assert (ds.project, ds.name, ds.version, ds.tags) == (
        "team/raw",
        "offline-ds",
        "2.1.0",
        ["night"],
    )
    assert ds.get_metadata("stats") == {"rows": 2}
    assert read_tree(Path(ds.get_local_copy())) == {"sub/one.txt": b"one", "two.txt": b"two"}
    assert deltaset.import_clearml(str(session.with_suffix(""))).outcomes[0].status == "present"


def test_a_location_without_clearml_datasets_is_one_sentence(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(NotFoundError, match=r"^No ClearML dataset is under .*empty"):
        deltaset.import_clearml(str(tmp_path / "empty"))


def test_a_state_that_does_not_read_skips_the_version_and_its_children(history: History) -> None:
    (history.store.folders[history.other] / "state" / "state.json").write_text("{not json")
    report = deltaset.import_clearml(str(history.root))
    status = {o.clearml_id: (o.status, o.project, o.name) for o in report.outcomes}
    assert status[history.other] == ("skipped", "vision/more", "birds")
    assert status[history.merged][0] == "skipped"
    assert status[history.second][0] == "imported"
    assert "is not ClearML's" in report.of("skipped")[0].reason
