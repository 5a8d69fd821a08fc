"""Storage alone is enough: the catalog is rebuilt from the records and manifests it holds."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from deltaset import Dataset, config
from deltaset.catalog.base import Query
from deltaset.core.records import State, VersionRecord
from deltaset.engine.context import default_context
from deltaset.errors import NotFoundError
from deltaset.storage.layout import STORAGE_FORMAT, manifest_key, record_key
from tests.conftest import Result, lose_catalog, make_files, read_tree

Cli = Callable[..., Result]


@dataclass
class History:
    finals: dict[str, VersionRecord]  # id -> record as the lost catalog held it
    trees: dict[str, dict[str, bytes]]  # id -> the files a pull gave before the loss
    drafts: list[str]


def _version(
    tmp_path: Path,
    name: str,
    files: dict[str, bytes | str],
    project: str = "vision",
    parents: list[str] | None = None,
    tags: list[str] | None = None,
    remove: tuple[str, ...] = (),
) -> Dataset:
    ds = Dataset.create(
        dataset_name=name, dataset_project=project, parent_datasets=parents, dataset_tags=tags
    )
    if files:
        folder = make_files(tmp_path / f"src-{ds.id}", files)
        ds.add_files(str(folder))
    for path in remove:
        ds.remove_files(path)
    return ds


def _make_history(tmp_path: Path) -> History:
    first = _version(
        tmp_path, "images", {"a.txt": "alpha", "img/1.bin": bytes(range(256)) * 40}, tags=["raw"]
    )
    first.finalize(auto_upload=True)
    second = _version(
        tmp_path,
        "images",
        {"a.txt": "alpha v2", "c.csv": "x,y\n1,2\n"},
        parents=[first.id],
        remove=("img/1.bin",),
    )
    second.finalize(auto_upload=True)
    other = _version(
        tmp_path,
        "labels",
        {"labels.json": '{"cat": 1}', "a.txt": "from labels"},
        project="vision/sub",
        tags=["gold", "v1"],
    )
    other.finalize(auto_upload=True)
    merged = _version(
        tmp_path, "images", {"d/new.txt": "merged"}, parents=[second.id, other.id], tags=["merged"]
    )
    merged.finalize(auto_upload=True)

    uploaded_draft = _version(
        tmp_path, "images", {"draft.txt": "never closed"}, parents=[merged.id]
    )
    uploaded_draft.upload()
    empty_draft = _version(tmp_path, "scratch", {})

    finals = [first, second, other, merged]
    return History(
        finals={ds.id: ds.record for ds in finals},
        trees={ds.id: read_tree(Path(ds.get_local_copy())) for ds in finals},
        drafts=[uploaded_draft.id, empty_draft.id],
    )


def test_rebuild_catalog_restores_every_final_version(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    history = _make_history(tmp_path)
    expected_trees = {
        "images 1.0.0": {"a.txt": b"alpha", "img/1.bin": bytes(range(256)) * 40},
        "images 1.0.1": {"a.txt": b"alpha v2", "c.csv": b"x,y\n1,2\n"},
        "labels 1.0.0": {"labels.json": b'{"cat": 1}', "a.txt": b"from labels"},
        "images 1.0.2": {
            "a.txt": b"from labels",  # the later parent wins
            "c.csv": b"x,y\n1,2\n",
            "labels.json": b'{"cat": 1}',
            "d/new.txt": b"merged",
        },
    }
    by_label = {f"{r.name} {r.version}": r.id for r in history.finals.values()}
    assert {label: history.trees[i] for label, i in by_label.items()} == expected_trees

    lose_catalog(monkeypatch, tmp_path)
    assert default_context().catalog.search(Query()) == []

    result = cli("rebuild-catalog")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "4 versions imported into the catalog\n"

    catalog = default_context().catalog
    restored = catalog.search(Query())
    assert {r.id for r in restored} == set(history.finals)
    for version_id, before in history.finals.items():
        after = catalog.get(version_id)
        assert (after.project, after.name, after.version) == (
            before.project,
            before.name,
            before.version,
        )
        assert after.tags == before.tags
        assert after.parents == before.parents
        assert after.state is State.FINAL
        assert after == before
    merged = catalog.get(by_label["images 1.0.2"])
    assert merged.parents == (by_label["images 1.0.1"], by_label["labels 1.0.0"])
    assert {c.id for c in catalog.children(by_label["images 1.0.0"])} == {by_label["images 1.0.1"]}

    for draft_id in history.drafts:
        with pytest.raises(NotFoundError):
            catalog.get(draft_id)

    fresh_cache = tmp_path / "fresh-cache"
    for version_id, tree in history.trees.items():
        folder = Path(Dataset.get(dataset_id=version_id).get_local_copy())
        assert folder.is_relative_to(fresh_cache)
        assert read_tree(folder) == tree

    again = cli("rebuild-catalog")
    assert again.exit_code == 0, again.stderr
    assert again.stdout == "0 versions imported into the catalog\n"
    assert len(default_context().catalog.search(Query())) == 4


def test_versions_created_after_a_rebuild_continue_the_numbering(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _version(tmp_path, "n", {"a.txt": "a"}, project="p")
    first.finalize(auto_upload=True)
    second = _version(tmp_path, "n", {"b.txt": "b"}, project="p", parents=[first.id])
    second.finalize(auto_upload=True)
    lose_catalog(monkeypatch, tmp_path)
    assert cli("rebuild-catalog").exit_code == 0

    latest = Dataset.get(dataset_project="p", dataset_name="n")
    assert latest.id == second.id
    child = Dataset.create(dataset_name="n", dataset_project="p", parent_datasets=[latest.id])
    assert child.version == "1.0.2"
    child.finalize()
    assert read_tree(Path(child.get_local_copy())) == {"a.txt": b"a", "b.txt": b"b"}


def test_rebuild_from_an_explicit_storage(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "team-storage"
    ds = Dataset.create(dataset_name="n", dataset_project="p", output_uri=str(elsewhere))
    ds.add_files(str(make_files(tmp_path / "src", {"x.txt": "x"})))
    ds.finalize(auto_upload=True)
    lose_catalog(monkeypatch, tmp_path)

    assert cli("rebuild-catalog").stdout == "0 versions imported into the catalog\n"
    result = cli("rebuild-catalog", "--storage", str(elsewhere))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "1 version imported into the catalog\n"
    restored = default_context().catalog.get(ds.id)
    assert restored.storage == elsewhere.resolve().as_uri()
    assert read_tree(Path(Dataset.get(dataset_id=ds.id).get_local_copy())) == {"x.txt": b"x"}


def test_a_number_taken_after_the_loss_is_one_clear_error(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lost = _one_final(tmp_path)
    lose_catalog(monkeypatch, tmp_path)
    newer = Dataset.create(dataset_name="n", dataset_project="p")
    assert newer.version == lost.version == "1.0.0"
    result = cli("rebuild-catalog")
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: Version 1.0.0 of p/n is already taken by another version than {lost.id}; "
        "delete that one and rebuild.\n"
    )
    Dataset.delete(dataset_id=newer.id)
    assert cli("rebuild-catalog").stdout == "1 version imported into the catalog\n"
    assert Dataset.get(dataset_project="p", dataset_name="n").id == lost.id


def _storage_with_descriptor(tmp_path: Path, text: str) -> Path:
    folder = tmp_path / "foreign"
    folder.mkdir()
    (folder / "deltaset.json").write_text(text)
    return folder


@pytest.mark.parametrize("found", [99, 1], ids=["newer", "loose-blobs"])
def test_a_storage_of_an_unknown_format_is_refused(cli: Cli, tmp_path: Path, found: int) -> None:
    assert found != STORAGE_FORMAT
    folder = _storage_with_descriptor(
        tmp_path, json.dumps({"format": found, "storage_id": "abc", "kind": "deltaset"})
    )
    (folder / "versions").mkdir()
    (folder / "versions" / "v.json").write_text("{}")
    result = cli("rebuild-catalog", "--storage", str(folder))
    assert result.exit_code == 1
    reason = (
        "which this deltaset does not understand; upgrade deltaset"
        if found > STORAGE_FORMAT
        else "from an earlier development version of deltaset that this one cannot read; "
        "create a new storage"
    )
    assert result.stderr == (
        f"error: The storage {folder.resolve().as_uri()} has format {found}, {reason}.\n"
    )
    assert result.stdout == ""
    assert json.loads((folder / "deltaset.json").read_text())["format"] == found


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", json.dumps({"format": STORAGE_FORMAT})])
def test_a_storage_with_a_damaged_descriptor_is_refused(
    cli: Cli, tmp_path: Path, text: str
) -> None:
    folder = _storage_with_descriptor(tmp_path, text)
    result = cli("rebuild-catalog", "--storage", str(folder))
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: The storage {folder.resolve().as_uri()} has a damaged deltaset.json.\n"
    )


def _one_final(tmp_path: Path) -> Dataset:
    ds = _version(tmp_path, "n", {"a.txt": "a"}, project="p")
    ds.finalize(auto_upload=True)
    return ds


def test_a_damaged_record_is_reported_and_skipped(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ds = _one_final(tmp_path)
    storage = Path(config.load().default_storage)
    (storage / record_key(ds.id)).write_text('{"id": "truncated')
    lose_catalog(monkeypatch, tmp_path)
    result = cli("rebuild-catalog")
    assert result.exit_code == 1
    url = storage.resolve().as_uri()
    assert result.stderr == (
        f"skipped {ds.id}: The stored record {record_key(ds.id)} in {url} is damaged.\n"
        f"error: 1 version found in {url} could not be imported (each is named above with "
        "the reason).\n"
    )


def test_a_flipped_byte_in_one_manifest_skips_that_version_alone(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every intact version is imported, before and after the damaged one, and the damaged
    one is named with its reason (in text and in JSON)."""
    made = [_version(tmp_path, f"n{i}", {"a.txt": f"a{i}"}, project="p") for i in range(5)]
    for ds in made:
        ds.finalize(auto_upload=True)
    damaged = sorted(ds.id for ds in made)[2]  # listed in the middle
    storage = Path(config.load().default_storage)
    key = manifest_key(damaged)
    data = bytearray((storage / key).read_bytes())
    data[len(data) // 2] ^= 0x01
    (storage / key).write_bytes(bytes(data))
    url = storage.resolve().as_uri()
    reason = f"The stored manifest {key} of dataset version {damaged} in {url} is damaged."

    verified = cli("verify", "--id", damaged)  # the catalog's copy is intact: not enough
    assert verified.exit_code == 1
    assert verified.stderr == f"error: {reason}\n"

    lose_catalog(monkeypatch, tmp_path)
    result = cli("rebuild-catalog")
    assert result.exit_code == 1
    assert result.stdout == "4 versions imported into the catalog\n"
    assert result.stderr.startswith(f"skipped {damaged}: {reason}\nerror: 1 version found")
    restored = {r.id for r in default_context().catalog.search(Query())}
    assert restored == {ds.id for ds in made} - {damaged}

    lose_catalog(monkeypatch, tmp_path)
    as_json = cli("rebuild-catalog", "--json")
    assert as_json.exit_code == 1
    assert json.loads(as_json.stdout) == {
        "storage": url,
        "imported": 4,
        "skipped": [{"id": damaged, "reason": reason}],
    }


def test_rebuild_refuses_a_folder_that_is_not_a_storage(
    tmp_path: Path, cli: Callable[..., Result]
) -> None:
    done = cli("rebuild-catalog", "--storage", str(tmp_path / "typo"))
    assert done.exit_code == 1
    assert (
        done.stderr.strip()
        == f"error: There is no deltaset storage at {(tmp_path / 'typo').as_uri()}."
    )
    assert not (tmp_path / "typo").exists()
