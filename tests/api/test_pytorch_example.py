"""The torch-free part of ``examples/pytorch_dataset.py``: listing and reading samples."""

from __future__ import annotations

import importlib.util
import pickle
import sys
from pathlib import Path
from types import ModuleType

import pytest

from deltaset import Dataset

EXAMPLE = Path(__file__).parents[2] / "examples" / "pytorch_dataset.py"


def load_example(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    spec = importlib.util.spec_from_file_location("pytorch_dataset_example", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # pickle finds classes by module
    spec.loader.exec_module(module)
    return module


def test_samples_are_listed_and_read_in_place_without_torch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    example = load_example(monkeypatch)
    already = "torch" in sys.modules
    dataset_id = example.make_demo_version(tmp_path / "samples")
    assert ("torch" in sys.modules) == already  # nothing so far needed torch
    samples = example.VersionSamples(dataset_id)
    assert len(samples) == 64
    assert samples.classes == ["class0", "class1"]
    folder = Path(Dataset.get(dataset_id=dataset_id).get_local_copy())
    data, label = samples[40]
    assert label == 1
    assert data == (folder / samples.paths[40]).read_bytes()
    assert min(data) >= 128
    chosen = example.VersionSamples(dataset_id, "class0")
    assert len(chosen) == 32
    copy = pickle.loads(pickle.dumps(samples))  # as a DataLoader worker receives it
    assert copy[3] == samples[3]
