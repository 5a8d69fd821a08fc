"""Metadata of versions: JSON values and pandas tables, kept in the catalog and in storage."""

from __future__ import annotations

import json
from pathlib import Path

import pandas
import pytest
import zstandard

from deltaset import Dataset
from deltaset.engine.context import default_context
from deltaset.engine.rebuild import rebuild_catalog
from deltaset.errors import InvalidInputError
from deltaset.storage import open_storage
from tests.backends import EMBEDDED_ONLY
from tests.conftest import lose_catalog, make_files


def closed(tmp_path: Path) -> Dataset:
    ds = Dataset.create(dataset_name="n", dataset_project="p")
    ds.add_files(str(make_files(tmp_path / "src", {"a.csv": "x\n1\n"})))
    ds.finalize(auto_upload=True)
    return ds


def test_values_and_tables_round_trip(tmp_path: Path) -> None:
    ds = closed(tmp_path)
    ds.set_metadata({"classes": 10, "split": [0.8, 0.2]})
    table = pandas.DataFrame({"label": ["cat", "dog"], "count": [120, 80]})
    ds.set_metadata(table, metadata_name="label_counts")
    again = Dataset.get(dataset_id=ds.id)
    assert again.get_metadata() == {"classes": 10, "split": [0.8, 0.2]}
    pandas.testing.assert_frame_equal(again.get_metadata("label_counts"), table)
    assert again.list_metadata() == ["dataset-content", "label_counts", "metadata"]
    assert again.get_metadata("missing") is None  # as ClearML (see test_clearml_habits)
    with pytest.raises(InvalidInputError, match="not a set"):
        ds.set_metadata({1, 2})
    with pytest.raises(InvalidInputError, match="is not a name"):
        ds.set_metadata(1, metadata_name="../x")


@EMBEDDED_ONLY  # loses this machine's own catalog
def test_a_catalog_rebuilt_from_storage_has_the_metadata(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ds = closed(tmp_path)
    ds.set_metadata({"source": "camera 3"})
    storage = ds.get_default_storage()
    lose_catalog(monkeypatch, tmp_path)
    rebuild_catalog(default_context(), storage)
    assert Dataset.get(dataset_id=ds.id).get_metadata() == {"source": "camera 3"}


@EMBEDDED_ONLY  # loses this machine's own catalog
def test_json_metadata_is_stored_compressed_and_plain_files_of_earlier_releases_still_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ds = closed(tmp_path)
    labels = {f"class {i}": {"count": i * 7, "split": "train"} for i in range(200)}
    ds.set_metadata(labels, metadata_name="labels")
    storage = open_storage(ds.get_default_storage())
    stored = storage.get_bytes(f"metadata/{ds.id}/labels.json.zst")
    assert len(stored) < len(json.dumps(labels)) / 4
    storage.put_bytes(f"metadata/{ds.id}/older.json", b'{"written": "plain"}')
    storage.put_bytes(f"metadata/{ds.id}/stale.json", b'{"value": "old"}')
    storage.put_bytes(f"metadata/{ds.id}/stale.json.zst", zstandard.compress(b'{"value": 2}'))
    url = ds.get_default_storage()
    lose_catalog(monkeypatch, tmp_path)
    rebuild_catalog(default_context(), url)
    again = Dataset.get(dataset_id=ds.id)
    assert again.get_metadata("labels") == labels
    assert again.get_metadata("older") == {"written": "plain"}
    assert again.get_metadata("stale") == {"value": 2}  # the compressed form is the newer


def test_setting_metadata_again_leaves_one_stored_form(tmp_path: Path) -> None:
    ds = closed(tmp_path)
    storage = open_storage(ds.get_default_storage())
    ds.set_metadata(list(range(500)), metadata_name="m")
    assert storage.exists(f"metadata/{ds.id}/m.json.zst")
    ds.set_metadata(1, metadata_name="m")  # too small to gain from compression
    assert not storage.exists(f"metadata/{ds.id}/m.json.zst")
    assert storage.get_bytes(f"metadata/{ds.id}/m.json") == b"1"


def test_deleting_a_version_deletes_its_stored_metadata(tmp_path: Path) -> None:
    ds = closed(tmp_path)
    ds.set_metadata([1, 2, 3], metadata_name="numbers")
    storage = open_storage(ds.get_default_storage())
    assert sorted(storage.list(f"metadata/{ds.id}/")) == [
        f"metadata/{ds.id}/dataset-content.json.zst",  # compressed: smaller so
        f"metadata/{ds.id}/numbers.json",
    ]
    Dataset.delete(dataset_id=ds.id)
    assert list(storage.list(f"metadata/{ds.id}/")) == []


def nested(levels: int) -> list[object]:
    value: list[object] = []
    for _ in range(levels - 1):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ({"loss": float("nan")}, "nan, which is not JSON"),
        ([1.0, float("-inf")], "-inf, which is not JSON"),
        (nested(60_000), "nests deeper than"),
    ],
    ids=["nan", "infinity", "60000-levels"],
)
def test_values_json_cannot_hold_are_refused(tmp_path: Path, value: object, reason: str) -> None:
    ds = closed(tmp_path)
    with pytest.raises(InvalidInputError, match=reason):
        ds.set_metadata(value)
    assert ds.list_metadata() == ["dataset-content"]  # stored by finalize()
    shared = [1, 2]
    ds.set_metadata({"a": shared, "b": shared, "deep": nested(150)})  # shared, not cyclic
    assert ds.get_metadata()["a"] == [1, 2]
