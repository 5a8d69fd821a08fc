"""A close looks at the packs themselves under its lease: a pack an index names but the
storage no longer has (a gc of another machine deleted it before an upload indexed it) is
forgotten, and the files it held are sent again, or the close refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from deltaset import Dataset
from deltaset.errors import StateError
from tests.conftest import make_files, read_tree

FILES = {f"f{i}.txt": f"file {i}\n" * 40 for i in range(6)}


def _uploaded_then_pack_lost(tmp_path: Path) -> Dataset:
    """A draft whose upload is done, whose one pack is then deleted from its storage."""
    ds = Dataset.create(dataset_name="n", dataset_project="p")
    ds.add_files(str(make_files(tmp_path / "data", FILES)))
    ds.upload()
    root = Path(ds.get_default_storage().removeprefix("file://"))
    (pack,) = (root / "packs").rglob("*.pack")
    pack.unlink()
    return ds


def test_a_close_sends_again_the_files_of_a_pack_gone_since_its_upload(tmp_path: Path) -> None:
    ds = _uploaded_then_pack_lost(tmp_path)
    ds.finalize(auto_upload=True)
    assert read_tree(Path(ds.get_local_copy())) == {p: t.encode() for p, t in FILES.items()}


def test_a_close_without_upload_refuses_when_a_pack_is_gone(tmp_path: Path) -> None:
    ds = _uploaded_then_pack_lost(tmp_path)
    with pytest.raises(StateError, match=r"6 files of dataset version .* are not uploaded yet"):
        ds.finalize()
