"""`verify` checks every byte rebuilt through a chain of deltas, though a read hashes only the
blobs it is asked for: a damaged blob in the middle of a chain is found and named."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from deltaset import Dataset
from deltaset.errors import IntegrityError
from deltaset.objects.store import BlobStore
from deltaset.packs.writer import pack_key
from deltaset.storage import open_storage
from tests.conftest import make_files


def table(rng: random.Random, count: int, start: int = 0) -> list[str]:
    return [f"{start + i},{rng.randint(0, 10**6)},some words of a row\n" for i in range(count)]


def closed(tmp_path: Path, text: str, parent: Dataset | None) -> Dataset:
    folder = make_files(tmp_path / f"v{len(list(tmp_path.iterdir()))}", {"t.csv": text})
    ds = Dataset.create(
        dataset_name="t", dataset_project="p", parent_datasets=[parent.id] if parent else None
    )
    ds.sync_folder(str(folder))
    ds.finalize(auto_upload=True)
    return ds


@pytest.mark.parametrize("where", [0.25, 0.5, 0.9])
def test_verify_of_the_newest_names_a_damaged_blob_in_the_middle_of_its_chain(
    tmp_path: Path, where: float
) -> None:
    rng = random.Random(2)
    rows = table(rng, 5000)
    made: list[Dataset] = []
    for _ in range(3):
        made.append(closed(tmp_path, "".join(rows), made[-1] if made else None))
        at = rng.randrange(4000)
        rows[at : at + 10] = table(rng, 10, at)  # revised
        rows += table(rng, 100, len(rows))
    ids = [ds.file_entries_dict["t.csv"].hash for ds in made]
    store = BlobStore(open_storage(made[-1].get_default_storage()))
    assert [store.index.base_of(i) for i in ids] == [None, ids[0], ids[1]]
    middle = store.location(ids[1])
    root = Path(made[-1].get_default_storage().removeprefix("file://"))
    pack = root / pack_key(middle.pack_id)
    data = bytearray(pack.read_bytes())
    data[middle.entry.offset + int(middle.entry.length * where)] ^= 0x01
    pack.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match=ids[1]):
        Dataset.get(dataset_id=made[-1].id).verify_storage()
