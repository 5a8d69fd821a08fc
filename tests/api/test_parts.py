"""Chunk counts and pulls by part: a draft answers ``get_num_chunks()`` as ClearML's does, and
``part`` without ``num_parts`` splits a version into one part per chunk, whatever the cache
holds."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from deltaset import Dataset
from deltaset.core.chunking import CHUNK_FROM
from deltaset.engine.context import Context
from tests.conftest import make_files

LAYERS: list[dict[str, bytes | str]] = [
    {"a.txt": "alpha", "b.txt": "beta"},
    {"c.txt": "gamma", "sub/d.txt": "delta"},
    {"sub/e.txt": "epsilon", "f.txt": "zeta"},
]
EVERYTHING = {p: v.encode() for layer in LAYERS for p, v in layer.items() if isinstance(v, str)}


def layered(
    tmp_path: Path, layers: list[dict[str, bytes | str]], output_uri: str | None = None
) -> Dataset:
    """A final version stacked from one version per layer: each upload makes one pack."""
    parents: list[str] = []
    for n, layer in enumerate(layers):
        ds = Dataset.create(
            dataset_name="n", dataset_project="p", parent_datasets=parents, output_uri=output_uri
        )
        ds.add_files(str(make_files(tmp_path / f"layer{n}", layer)))
        ds.finalize(auto_upload=True)
        parents = [ds.id]
    return Dataset.get(dataset_id=parents[0])


def with_cache(monkeypatch: pytest.MonkeyPatch, folder: Path, dataset_id: str) -> Dataset:
    """The version as a process using the cache ``folder`` sees it."""
    monkeypatch.setenv("DELTASET_CACHE_DIR", str(folder))
    return Dataset.get(dataset_id=dataset_id)


def test_a_draft_counts_the_chunks_uploaded_so_far(tmp_path: Path) -> None:
    parent = layered(tmp_path, LAYERS[:2])
    assert parent.get_num_chunks() == 2
    empty = Dataset.create(dataset_name="e", dataset_project="p")
    assert empty.get_num_chunks() == 0
    assert empty.get_num_chunks(include_parents=False) == 0
    draft = Dataset.create(dataset_name="n", dataset_project="p", parent_datasets=[parent.id])
    assert draft.get_num_chunks() == 2
    assert draft.get_num_chunks(include_parents=False) == 0
    big = {"big.bin": os.urandom(CHUNK_FROM + 1000)}  # chunked: counted once its chunks are
    draft.add_files(str(make_files(tmp_path / "new", {**LAYERS[2], **big})))
    assert draft.get_num_chunks() == 2  # staged, not uploaded yet
    assert draft.get_num_chunks(include_parents=False) == 0
    other = Context()  # as another process would
    Dataset(draft.record, other).upload()
    other.close()
    uploaded = (draft.get_num_chunks(), draft.get_num_chunks(include_parents=False))
    assert uploaded[1] >= 1
    assert uploaded[0] == 2 + uploaded[1]
    draft.finalize()
    assert (draft.get_num_chunks(), draft.get_num_chunks(include_parents=False)) == uploaded


def test_a_draft_counts_its_parents_chunks_in_their_own_storage(tmp_path: Path) -> None:
    parent = layered(tmp_path, LAYERS[:2], output_uri=str(tmp_path / "first-storage"))
    draft = Dataset.create(
        dataset_name="n",
        dataset_project="p",
        parent_datasets=[parent.id],
        output_uri=str(tmp_path / "second-storage"),
    )
    assert draft.get_num_chunks() == 2
    assert draft.get_num_chunks(include_parents=False) == 0
