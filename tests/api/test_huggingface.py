"""Hugging Face ``datasets`` reads a version through ``deltaset://`` URLs, offline."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from tests.api.helpers import version_of

CSV = "text,label\nfine,1\nawful,0\nso-so,1\n"


PETS = "deltaset://vision/pets@latest"


@pytest.fixture
def hf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The ``datasets`` module, its caches in ``tmp_path``."""
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    import datasets  # here: its import takes a second, which other tests need not pay

    return datasets


def png(colour: str) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (4, 4), colour).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
def pets(tmp_path: Path) -> None:
    """An image folder version: splits, then one folder per label."""
    files: dict[str, bytes | str] = {
        f"{split}/{label}/{i}.png": png(colour)
        for split in ("train", "test")
        for label, colour in (("cat", "red"), ("dog", "blue"))
        for i in range(2)
    }
    version_of(tmp_path, files, name="pets", project="vision")


def test_load_dataset_reads_csv_files_of_a_version(hf: Any, tmp_path: Path) -> None:
    datasets = hf

    version_of(tmp_path, {"train/a.csv": CSV, "test/b.csv": CSV.replace("fine", "good")})
    loaded = datasets.load_dataset(
        "csv",
        data_files={
            "train": "deltaset://p/n@latest/train/*.csv",
            "test": "deltaset://p/n/test/b.csv",
        },
        cache_dir=str(tmp_path / "hf-cache"),
    )
    assert loaded["train"]["text"] == ["fine", "awful", "so-so"]
    assert loaded["train"]["label"] == [1, 0, 1]
    assert loaded["test"]["text"][0] == "good"


def test_an_imagefolder_version_loads_with_its_splits_and_labels(
    hf: Any, pets: None, tmp_path: Path
) -> None:
    """What ``data_dir`` would find, from the same split patterns, as ``data_files``."""
    from datasets.data_files import get_data_patterns

    found = get_data_patterns(PETS)  # globs the version through deltaset://
    files = {split: [f"{PETS}/{p}" for p in patterns] for split, patterns in found.items()}
    loaded = hf.load_dataset("imagefolder", data_files=files, cache_dir=str(tmp_path / "c"))
    assert sorted(loaded) == ["test", "train"]
    assert loaded["train"].features["label"].names == ["cat", "dog"]
    assert sorted(loaded["test"]["label"]) == [0, 0, 1, 1]
    assert loaded["train"][0]["image"].size == (4, 4)


@pytest.mark.xfail(
    raises=FileNotFoundError,  # datasets' EmptyDatasetError
    reason="datasets 5 resolves data_dir as a local folder (Path(data_dir).resolve()) for "
    "every fsspec URL, deltaset:// as s3://: use data_files (see the test above)",
)
def test_data_dir_names_a_version(hf: Any, pets: None, tmp_path: Path) -> None:
    loaded = hf.load_dataset("imagefolder", data_dir=PETS, cache_dir=str(tmp_path / "c"))
    assert sorted(loaded) == ["test", "train"]
