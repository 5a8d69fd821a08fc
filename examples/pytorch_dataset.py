"""A PyTorch dataset that reads its samples straight from a deltaset version, without a pull.

Each sample is read in place with ``Dataset.open`` when a DataLoader worker asks for it: only
its bytes are fetched (through the local cache, so a second epoch reads nothing from storage).
The same works through fsspec, e.g. ``fsspec.open(f"deltaset://id={dataset_id}/{path}")``.

Needs PyTorch (CPU is enough: ``pip install torch``), which the deltaset package does not
install. Run it on a version whose top folders are the classes of its samples::

    python examples/pytorch_dataset.py --id VERSION_ID [--files '*.bin']

or with no arguments to make a small demo version in a temporary deltaset home first. Only
:func:`torch_dataset` and :func:`main` use torch, and they import it when called, so the
sample listing and reading (:class:`VersionSamples`) work, and are tested, without it.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deltaset import Dataset

if TYPE_CHECKING:
    import torch
    from torch.utils.data import Dataset as TorchDataset

SAMPLE_BYTES = 64  # the demo's samples: this many bytes each, read as features in [0, 1]


class VersionSamples:
    """The samples of one final version: sample ``i`` is the content of its ``i``-th file
    (in path order, among those ``files`` selects) and the index of its class, the file's
    top folder. Picklable: each DataLoader worker opens the version once, itself."""

    def __init__(self, dataset_id: str, files: str | None = None) -> None:
        self.dataset_id = dataset_id
        self.paths = sorted(
            p for p in Dataset.get(dataset_id=dataset_id).list_files(files) if "/" in p
        )
        self.classes = sorted({p.split("/", 1)[0] for p in self.paths})
        self._version: Dataset | None = None

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[bytes, int]:
        path = self.paths[index]
        if self._version is None:
            self._version = Dataset.get(dataset_id=self.dataset_id)
        with self._version.open(path) as sample:
            data = sample.read()
        return data, self.classes.index(path.split("/", 1)[0])

    def __getstate__(self) -> dict[str, Any]:
        # A Dataset holds this process's catalog connection: a worker opens its own.
        return {**self.__dict__, "_version": None}


def torch_dataset(samples: VersionSamples) -> TorchDataset[tuple[torch.Tensor, int]]:
    """``samples`` as a ``torch.utils.data.Dataset`` of (float tensor in [0, 1], class)."""
    import torch
    from torch.utils.data import Dataset as TorchDataset

    class VersionTensors(TorchDataset[tuple[torch.Tensor, int]]):  # type: ignore[misc]
        def __len__(self) -> int:
            return len(samples)

        def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
            data, label = samples[index]
            return torch.frombuffer(bytearray(data), dtype=torch.uint8).float() / 255, label

    return VersionTensors()


def make_demo_version(root: Path) -> str:
    """A small version of two classes whose samples differ in their mean byte; returns its id."""
    rng = random.Random(0)
    for label, (low, high) in enumerate([(0, 127), (128, 255)]):
        folder = root / f"class{label}"
        folder.mkdir(parents=True)
        for at in range(32):
            sample = bytes(rng.randint(low, high) for _ in range(SAMPLE_BYTES))
            (folder / f"{at:03d}.bin").write_bytes(sample)
    ds = Dataset.create(dataset_name="samples", dataset_project="examples")
    ds.add_files(str(root))
    ds.finalize(auto_upload=True)
    return ds.id


def train(samples: VersionSamples, epochs: int = 3) -> float:
    """A linear classifier trained on ``samples`` for a few epochs; returns the last loss.

    Samples must all have the same size (as the demo's do). ``num_workers=0`` because the
    tensor dataset's class is made inside :func:`torch_dataset`, which worker processes started
    by "spawn" (macOS, Windows) cannot unpickle; :class:`VersionSamples` itself pickles, so a
    DataLoader can read it with workers anywhere."""
    import torch
    from torch.utils.data import DataLoader

    loader = DataLoader(torch_dataset(samples), batch_size=16, shuffle=True, num_workers=0)
    features = len(samples[0][0])
    model = torch.nn.Linear(features, len(samples.classes))
    optimiser = torch.optim.SGD(model.parameters(), lr=0.5)
    loss = torch.tensor(0.0)
    for epoch in range(epochs):
        for batch, labels in loader:
            optimiser.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(batch), labels)
            loss.backward()
            optimiser.step()
        print(f"epoch {epoch + 1}: loss {loss.item():.4f}")
    return float(loss.item())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--id", help="the version to read (default: make a demo version)")
    parser.add_argument("--files", help="a wildcard or folder selecting the samples")
    args = parser.parse_args()
    try:
        import torch  # noqa: F401  # checked first: the rest is pointless without it
    except ImportError:
        sys.exit("This example needs PyTorch: pip install torch (the CPU build is enough).")
    dataset_id = args.id
    if dataset_id is None:
        home = Path(tempfile.mkdtemp(prefix="deltaset-pytorch-"))
        os.environ["DELTASET_HOME"] = str(home / "home")
        dataset_id = make_demo_version(home / "samples")
        print(f"made the demo version {dataset_id} in {home}")
    samples = VersionSamples(dataset_id, args.files)
    print(f"{len(samples)} samples of {len(samples.classes)} classes: {samples.classes}")
    train(samples)


if __name__ == "__main__":
    main()
