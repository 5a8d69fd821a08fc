"""ClearML's dataset examples run unchanged but for their import and their download URLs.

Each script (see ``clearml_examples/README.md``) runs in its own process, as a user runs it,
against small stand-ins for the files it downloads, served on 127.0.0.1.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from deltaset import Dataset
from tests.api import web

EXAMPLES = Path(__file__).parent / "clearml_examples"
SRC = Path(__file__).parents[2] / "src"
PLACEHOLDER = "127.0.0.1:8999"

CIFAR = {
    "cifar-10-batches-py/data_batch_1": b"\x01" * 64,
    "cifar-10-batches-py/test_batch": b"\x02" * 64,
    "cifar-10-batches-py/batches.meta": b"meta",
}
MNIST = {
    "TRAIN/0/1.png": b"train zero",
    "TRAIN/1/2.png": b"train one",
    "TEST/0/3.png": b"test zero",
}


def tar_gz(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def zipped(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.fixture
def site(tmp_path: Path) -> Iterator[web.WebFolder]:
    with web.served(tmp_path / "www") as served:
        datasets = served.folder / "datasets"
        datasets.mkdir()
        (datasets / "Iris_Species.csv").write_text("Id,SepalLengthCm,Species\n1,5.1,setosa\n")
        (datasets / "cifar-10-python.tar.gz").write_bytes(tar_gz(CIFAR))
        (datasets / "MNIST.zip").write_bytes(zipped(MNIST))
        yield served


def run_example(name: str, site: web.WebFolder, workdir: Path) -> str:
    """Run ClearML's script ``name`` with its URLs on ``site``; returns what it printed."""
    script = workdir / f"{name}.py"
    workdir.mkdir(parents=True, exist_ok=True)
    text = (EXAMPLES / f"{name}.py").read_text()
    script.write_text(text.replace(PLACEHOLDER, site.url.removeprefix("http://")))
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    done = subprocess.run(
        [sys.executable, str(script)], cwd=workdir, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def files_of(project: str, name: str) -> list[str]:
    return sorted(Dataset.get(dataset_project=project, dataset_name=name).list_files())


def test_csv_dataset_creation(site: web.WebFolder, tmp_path: Path) -> None:
    printed = run_example("csv_dataset_creation", site, tmp_path / "run")
    assert "We are done" in printed
    assert files_of("dataset_examples", "CSV_Dataset") == ["Iris_Species.csv"]


def test_dataset_creation(site: web.WebFolder, tmp_path: Path) -> None:
    run_example("dataset_creation", site, tmp_path / "run")
    assert files_of("dataset_examples", "cifar_dataset") == sorted(CIFAR)
    assert site.gets == ["/datasets/cifar-10-python.tar.gz"]


def test_dataset_folder_syncing(site: web.WebFolder, tmp_path: Path) -> None:
    run_example("dataset_folder_syncing", site, tmp_path / "run")
    found = files_of("dataset_examples", "MNIST Complete Dataset (Syncing Example)")
    train = sorted(n for n in MNIST if n.startswith("TRAIN/"))
    # The script fills TEST with the TRAIN images (as ClearML's own copy does).
    assert found == sorted(train + [n.replace("TRAIN/", "TEST/") for n in train])


def test_single_and_multi_parent_child_datasets_share_one_download(
    site: web.WebFolder, tmp_path: Path
) -> None:
    run_example("single_parent_child_dataset", site, tmp_path / "single")
    assert files_of("dataset_examples", "MNIST Complete Dataset") == sorted(MNIST)
    run_example("multi_parent_child_dataset", site, tmp_path / "multi")
    assert files_of("dataset_examples/MNIST", "MNIST Complete Dataset") == sorted(MNIST)
    assert site.gets == ["/datasets/MNIST.zip"]  # the second script found it in the cache
