from __future__ import annotations

from pathlib import Path

import pytest

from deltaset import Dataset
from deltaset.errors import StateError
from tests.conftest import make_files, read_tree


def test_create_add_close_pull(tmp_path: Path) -> None:
    data = make_files(tmp_path / "data", {"a.txt": "alpha", "sub/b.csv": "x,y\n1,2\n"})
    ds = Dataset.create(dataset_name="n", dataset_project="p")
    assert ds.add_files(str(data)) == 2
    assert not ds.is_final()
    assert ds.is_dirty()
    ds.upload()
    assert not ds.is_dirty()
    assert ds.finalize()
    assert ds.is_final()
    folder = Path(Dataset.get(dataset_id=ds.id).get_local_copy())
    assert read_tree(folder) == {"a.txt": b"alpha", "sub/b.csv": b"x,y\n1,2\n"}


def test_final_version_cannot_change(tmp_path: Path) -> None:
    data = make_files(tmp_path / "data", {"a.txt": "alpha"})
    ds = Dataset.create(dataset_name="n", dataset_project="p")
    ds.add_files(str(data))
    ds.finalize(auto_upload=True)
    with pytest.raises(StateError, match="is final and cannot be modified"):
        ds.add_files(str(data))
    with pytest.raises(StateError, match="is final"):
        ds.remove_files("a.txt")
