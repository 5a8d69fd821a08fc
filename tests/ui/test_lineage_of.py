"""Which versions a dataset's lineage graph draws: all of a small history, the newest of a
long one, with parents from other datasets."""

from __future__ import annotations

from deltaset import Dataset
from deltaset.engine.context import default_context
from deltaset.ui import catalog


def _chain(length: int, first_parent: str | None = None) -> list[str]:
    ids: list[str] = []
    for _ in range(length):
        parents = [ids[-1]] if ids else [first_parent] if first_parent else []
        ds = Dataset.create(dataset_name="long", dataset_project="p", parent_datasets=parents)
        ds.finalize(auto_upload=True)
        ids.append(ds.id)
    return ids


def test_a_short_history_is_drawn_whole_with_a_parent_of_another_dataset() -> None:
    other = Dataset.create(dataset_name="other", dataset_project="q")
    other.finalize(auto_upload=True)
    ids = _chain(3, first_parent=other.id)
    ctx = default_context()
    graph, left_out = catalog.lineage_of(ctx, catalog.versions_of(ctx, "p", "long"))
    assert graph == {ids[2]: [ids[1]], ids[1]: [ids[0]], ids[0]: [other.id], other.id: []}
    assert not left_out


def test_a_long_history_draws_its_newest_versions_and_says_so() -> None:
    ids = _chain(5)
    ctx = default_context()
    graph, left_out = catalog.lineage_of(ctx, catalog.versions_of(ctx, "p", "long"), limit=2)
    assert graph == {ids[4]: [ids[3]], ids[3]: [ids[2]], ids[2]: []}  # the last, a leaf
    assert left_out
