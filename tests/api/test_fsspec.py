"""``deltaset://`` URLs: fsspec, pandas and PyArrow read versions in place."""

from __future__ import annotations

import os
from pathlib import Path

import fsspec
import pandas as pd
import pyarrow.dataset as pa_dataset
import pyarrow.parquet as pq
import pytest

from deltaset import Dataset
from deltaset.api.filesystem import DeltasetFileSystem, VersionRef, parse_url
from deltaset.core.chunking import CHUNK_FROM
from deltaset.engine.context import default_context
from deltaset.engine.views import final_manifest
from deltaset.errors import InvalidInputError, StateError
from tests.api.helpers import version_of
from tests.damage import DAMAGE, cached_blob

BIG = os.urandom(CHUNK_FROM + 123_457)
CSV = "x,y\n1,a\n2,b\n"


def table(first: int) -> pd.DataFrame:
    return pd.DataFrame({"n": [first, first + 1], "s": ["p", "q"]})


@pytest.fixture
def tables(tmp_path: Path) -> Dataset:
    """A version with a CSV file, a large binary file and a folder of Parquet files."""
    folder = tmp_path / "tables"
    folder.mkdir()
    for at in range(3):
        table(10 * at).to_parquet(folder / f"part-{at}.parquet")
    files: dict[str, bytes | str] = {"data/t.csv": CSV, "big.bin": BIG}
    files |= {f"parts/{p.name}": p.read_bytes() for p in folder.iterdir()}
    return version_of(tmp_path, files)


@pytest.fixture
def fs() -> DeltasetFileSystem:
    found = fsspec.filesystem("deltaset")  # found through the package's entry point
    assert isinstance(found, DeltasetFileSystem)
    return found


def test_urls_name_a_version_by_number_highest_or_id() -> None:
    assert parse_url("deltaset://vision/pets@1.2.0/img/0.jpg") == (
        VersionRef("vision/pets@1.2.0", project="vision", name="pets", version="1.2.0"),
        "img/0.jpg",
    )
    assert parse_url("deltaset://a/b/c@latest/x") == (
        VersionRef("a/b/c@latest", project="a/b", name="c"),
        "x",
    )
    assert parse_url("a/my@name@1.0.0") == (
        VersionRef("a/my@name@1.0.0", project="a", name="my@name", version="1.0.0"),
        "",
    )
    assert parse_url("deltaset://vision/pets/img/0.jpg") == (
        VersionRef("vision/pets", project="vision", name="pets"),
        "img/0.jpg",
    )
    assert parse_url("deltaset://id=abc123/x/y.csv") == (
        VersionRef("id=abc123", dataset_id="abc123"),
        "x/y.csv",
    )
    for bad in ("deltaset://", "deltaset://vision", "deltaset://@1.0.0/x", "id="):
        with pytest.raises(InvalidInputError, match="names no dataset version"):
            parse_url(bad)


def test_ls_info_glob_and_find_show_files_and_derived_folders(
    tables: Dataset, fs: DeltasetFileSystem
) -> None:
    root = "deltaset://p/n@1.0.0"
    assert fs.ls(root, detail=False) == ["p/n@1.0.0/big.bin", "p/n@1.0.0/data", "p/n@1.0.0/parts"]
    assert fs.ls(f"{root}/data/") == [
        {
            "name": "p/n@1.0.0/data/t.csv",
            "size": len(CSV),
            "type": "file",
            "blob_id": tables.file_entries[1].hash,
            "version_id": tables.id,
        }
    ]
    assert fs.info(f"{root}/big.bin")["size"] == len(BIG)
    assert fs.info(f"{root}/parts")["type"] == "directory"
    assert fs.info(root) == {"name": "p/n@1.0.0", "size": 0, "type": "directory"}
    assert fs.isdir(f"{root}/data")
    assert fs.isfile(f"{root}/data/t.csv")
    assert not fs.exists(f"{root}/nothing")
    assert not fs.exists(f"{root}/dat")  # a prefix of a folder's name is not a folder
    assert fs.glob(f"{root}/parts/*.parquet") == [
        f"p/n@1.0.0/parts/part-{i}.parquet" for i in range(3)
    ]
    assert fs.glob(f"{root}/**/*.csv") == ["p/n@1.0.0/data/t.csv"]
    assert fs.find("p/n@1.0.0") == [
        "p/n@1.0.0/big.bin",
        "p/n@1.0.0/data/t.csv",
        *(f"p/n@1.0.0/parts/part-{i}.parquet" for i in range(3)),
    ]
    assert fs.du(root) == sum(e.size for e in tables.file_entries)
    assert fs.ukey(f"{root}/big.bin") == fs.ukey(f"id={tables.id}/big.bin")


def test_cat_file_reads_ranges_and_open_reads_text(tables: Dataset, fs: DeltasetFileSystem) -> None:
    url = "deltaset://p/n@1.0.0/big.bin"
    middle = CHUNK_FROM // 2
    assert fs.cat_file(url, middle, middle + 5000) == BIG[middle : middle + 5000]
    assert fs.cat_file(url, -10) == BIG[-10:]
    assert fs.cat_file(url, 5, -5) == BIG[5:-5]
    assert fs.cat_file(url) == BIG
    assert fs.cat(["p/n@1.0.0/data/t.csv"]) == {"p/n@1.0.0/data/t.csv": CSV.encode()}
    with fs.open("p/n@1.0.0/data/t.csv", "r") as text:
        assert text.readline() == "x,y\n"
    with fsspec.open("deltaset://p/n/big.bin", "rb") as file:
        file.seek(len(BIG) - 100)
        assert file.read() == BIG[-100:]
        assert file.size == len(BIG)


def test_pandas_and_pyarrow_read_versions_in_place(tables: Dataset, fs: DeltasetFileSystem) -> None:
    assert pd.read_csv("deltaset://p/n@1.0.0/data/t.csv").to_dict("list") == {
        "x": [1, 2],
        "y": ["a", "b"],
    }
    expected = pd.concat([table(0), table(10), table(20)], ignore_index=True)
    one = pd.read_parquet("deltaset://p/n@1.0.0/parts/part-1.parquet")
    pd.testing.assert_frame_equal(one, table(10))
    folder = pd.read_parquet(f"deltaset://id={tables.id}/parts")
    pd.testing.assert_frame_equal(folder.sort_values("n", ignore_index=True), expected)
    found = pa_dataset.dataset("p/n@1.0.0/parts", filesystem=fs, format="parquet")
    assert found.count_rows() == 6
    assert sorted(found.to_table().column("n").to_pylist()) == [0, 1, 10, 11, 20, 21]
    read = pq.read_table("p/n/parts/part-2.parquet", filesystem=fs).to_pandas()
    pd.testing.assert_frame_equal(read, table(20))


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_cache_file_is_never_served(
    tables: Dataset, fs: DeltasetFileSystem, damage: str
) -> None:
    tables.get_local_copy()
    manifest = final_manifest(default_context(), tables.record)
    for path in ("data/t.csv", "big.bin"):
        DAMAGE[damage](cached_blob(manifest[path].blob_id))
    url = f"deltaset://id={tables.id}"
    assert fs.cat_file(f"{url}/data/t.csv") == CSV.encode()
    assert fs.cat_file(f"{url}/big.bin", start=100, end=-100) == BIG[100:-100]
    with fs.open(f"{url}/big.bin") as file:
        assert file.read() == BIG


def test_without_a_version_the_highest_final_one_is_read(
    tmp_path: Path, fs: DeltasetFileSystem
) -> None:
    first = version_of(tmp_path, {"a.txt": "first"})
    assert fs.cat_file("deltaset://p/n/a.txt") == b"first"
    version_of(tmp_path, {"a.txt": "second"}, parents=[first.id])
    draft = Dataset.create(dataset_name="n", dataset_project="p", parent_datasets=[first.id])
    assert draft.version == "1.0.2"
    assert fs.cat_file("deltaset://p/n/a.txt") == b"first"  # kept for version_ttl seconds
    fs.invalidate_cache()
    assert fs.cat_file("deltaset://p/n/a.txt") == b"second"  # the draft is not final
    assert fs.cat_file("deltaset://p/n@latest/a.txt") == b"second"
    assert fs.cat_file("deltaset://p/n@1.0.0/a.txt") == b"first"
    with pytest.raises(StateError, match="still a draft"):
        fs.cat_file("deltaset://p/n@1.0.2/a.txt")
    with pytest.raises(StateError, match="still a draft"):
        fs.ls(f"deltaset://id={draft.id}")


def test_sub_projects_are_named_up_to_the_version(tmp_path: Path, fs: DeltasetFileSystem) -> None:
    version_of(tmp_path, {"deep/a.csv": CSV}, project="vision/pets", name="cats")
    assert fs.ls("deltaset://vision/pets/cats@1.0.0/deep", detail=False) == [
        "vision/pets/cats@1.0.0/deep/a.csv"
    ]
    assert pd.read_csv("deltaset://vision/pets/cats@latest/deep/a.csv")["x"].tolist() == [1, 2]


def test_missing_things_are_file_not_found_and_writes_are_refused(
    tables: Dataset, fs: DeltasetFileSystem
) -> None:
    for missing in ("p/n@1.0.0/nothing.csv", "p/other@1.0.0/a", "p/n@9.9.9/a", "id=0123/a"):
        with pytest.raises(FileNotFoundError):
            fs.info(missing)
        with pytest.raises(FileNotFoundError):
            fs.open(missing)
    with pytest.raises(FileNotFoundError, match="has no file or folder nothing"):
        fs.ls("p/n@1.0.0/nothing")
    with pytest.raises(IsADirectoryError):
        fs.cat_file("p/n@1.0.0")
    with pytest.raises(PermissionError, match="read-only"):
        fs.pipe_file("p/n@1.0.0/new.txt", b"x")
    with pytest.raises(PermissionError, match="read-only"):
        fs.open("p/n@1.0.0/data/t.csv", "wb")
    with pytest.raises(PermissionError, match="read-only"):
        fs.rm("p/n@1.0.0/data/t.csv")
    with pytest.raises(PermissionError, match="read-only"):
        fs.mkdir("p/n@1.0.0/new")
    with pytest.raises(PermissionError, match="read-only"):
        pd.DataFrame({"a": [1]}).to_csv("deltaset://p/n@1.0.0/out.csv")
