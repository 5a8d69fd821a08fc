"""Hugging Face ``datasets`` reads a version through ``deltaset://`` URLs, offline."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.api.helpers import version_of

CSV = "text,label\nfine,1\nawful,0\nso-so,1\n"


def test_load_dataset_reads_csv_files_of_a_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    import datasets  # here: its import takes a second, which other tests need not pay

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
