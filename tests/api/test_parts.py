"""Chunk counts and pulls by part: a draft answers ``get_num_chunks()`` as ClearML's does, and
``part`` without ``num_parts`` splits a version into one part per chunk, whatever the cache
holds."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from deltaset import Dataset
from deltaset.core.chunking import CHUNK_FROM
from deltaset.engine import pull
from deltaset.engine.context import Context, default_context
from deltaset.errors import InvalidInputError
from tests.conftest import make_files, read_tree

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


def test_part_alone_is_one_part_per_chunk_cold_or_warm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    version = layered(tmp_path, LAYERS)
    count = version.get_num_chunks()
    assert count == 3
    cold = with_cache(monkeypatch, tmp_path / "cold-cache", version.id)
    parts = [read_tree(Path(cold.get_local_copy(part=k))) for k in range(count)]
    assert parts == [
        read_tree(Path(cold.get_local_copy(part=k, num_parts=count))) for k in range(count)
    ]
    assert all(parts)
    assert sum(len(p) for p in parts) == len(EVERYTHING)
    assert {path: data for p in parts for path, data in p.items()} == EVERYTHING
    warm = with_cache(monkeypatch, tmp_path / "warm-cache", version.id)
    assert read_tree(Path(warm.get_local_copy())) == EVERYTHING
    assert [read_tree(Path(warm.get_local_copy(part=k))) for k in range(count)] == parts


def test_a_writable_part_alone_is_the_cached_part(tmp_path: Path) -> None:
    version = layered(tmp_path, LAYERS)
    for k in range(version.get_num_chunks()):
        copy = version.get_mutable_local_copy(str(tmp_path / f"copy{k}"), part=k)
        assert copy is not None
        assert read_tree(Path(copy)) == read_tree(Path(version.get_local_copy(part=k)))


def test_a_part_beyond_the_chunks_is_refused_cold_or_warm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    version = layered(tmp_path, LAYERS)
    cold = with_cache(monkeypatch, tmp_path / "cold-cache", version.id)
    with pytest.raises(InvalidInputError, match=r"Part 3 .*num_parts.*3 chunks make parts 0 to 2"):
        cold.get_local_copy(part=3)
    warm = with_cache(monkeypatch, tmp_path / "warm-cache", version.id)
    warm.get_local_copy()
    with pytest.raises(InvalidInputError, match=r"Part 3 .*num_parts.*3 chunks make parts 0 to 2"):
        warm.get_local_copy(part=3)
    with pytest.raises(InvalidInputError, match=r"Part 3 .*num_parts.*3 chunks make parts 0 to 2"):
        warm.get_mutable_local_copy(str(tmp_path / "copy"), part=3)


def test_the_engine_never_answers_a_part_with_the_whole_cached_version(tmp_path: Path) -> None:
    version = layered(tmp_path, LAYERS)
    version.get_local_copy()
    ctx = default_context()
    with pytest.raises(InvalidInputError, match="part"):
        pull.get_local_copy(ctx, version.record, part=0, num_parts=None)


def test_a_version_without_packs_is_one_part(tmp_path: Path) -> None:
    empty = Dataset.create(dataset_name="e", dataset_project="p")
    empty.finalize()
    assert empty.get_num_chunks() == 0
    assert read_tree(Path(empty.get_local_copy(part=0))) == {}
    with pytest.raises(InvalidInputError, match=r"Part 1 .*0 chunks make parts 0 to 0"):
        empty.get_local_copy(part=1)
