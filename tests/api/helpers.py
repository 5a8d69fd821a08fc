"""Builders shared by the API tests."""

from __future__ import annotations

from pathlib import Path

from deltaset import Dataset
from tests.conftest import make_files


def version_of(
    tmp_path: Path,
    files: dict[str, bytes | str],
    name: str = "n",
    parents: list[str] | None = None,
    project: str = "p",
) -> Dataset:
    """A closed version mirroring ``files`` (on top of ``parents``)."""
    folder = make_files(tmp_path / f"src-{len(list(tmp_path.iterdir()))}", files)
    ds = Dataset.create(dataset_name=name, dataset_project=project, parent_datasets=parents)
    ds.sync_folder(str(folder))
    ds.finalize(auto_upload=True)
    return ds
