"""Importing ClearML datasets: versions and bytes per second of ``deltaset import-clearml``.

    PYTHONPATH=$PWD/src python bench/import_clearml.py [--versions 10] [--files 300]
        [--size 40000] [--changed 0.2] [--chunk-mb 8]

A chain of ``--versions`` ClearML versions is laid out in a throwaway folder by ClearML's own
code (``tests/clearml_layouts.py``: its FileEntry, sha256sum and ParallelZipper, as its upload
stores them): the first has ``--files`` files of ``--size`` random bytes, each next one changes
``--changed`` of them and adds as many. Then, each timed on its own:

- deltaset: ``import_clearml`` of the folder into a fresh home (every file read out of its
  zip, checked against ClearML's SHA-256, hashed, packed and stored), then the no-op re-run;
- ClearML: what its ``Dataset.get_local_copy`` does for each chunk, which runs offline:
  ``StorageManager.get_local_copy(chunk, extract_archive=True)`` of every chunk once (the
  download to its cache and the extraction; it does not check the SHA-256 then). A pull of
  each version also copies its ancestors' files into one folder; that is left out, so the
  ClearML figure is a lower bound of pulling every version through ClearML.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def build(root: Path, args: argparse.Namespace) -> tuple[list[str], int]:
    """The chain of versions; returns their ids and the bytes of all the files they add."""
    from tests.clearml_layouts import ClearMLStore

    rng = random.Random(7)
    store = ClearMLStore(root / "clearml", root / "clearml-work")
    names = [f"f{i:05d}.bin" for i in range(args.files)]
    files = {n: rng.randbytes(args.size) for n in names}
    ids = [store.version("bench", "chain", files, chunk_mb=args.chunk_mb)]
    added = len(files) * args.size
    step = max(1, int(args.files * args.changed))
    for number in range(1, args.versions):
        changes = {n: rng.randbytes(args.size) for n in rng.sample(names, step)}
        changes |= {f"v{number:03d}/n{i:05d}.bin": rng.randbytes(args.size) for i in range(step)}
        ids.append(
            store.version("bench", "chain", changes, parents=(ids[-1],), chunk_mb=args.chunk_mb)
        )
        added += len(changes) * args.size
    return ids, added


def clearml_extract(root: Path) -> float:
    from clearml import StorageManager

    chunks = sorted((root / "clearml").rglob("data*/*.zip"))
    start = time.perf_counter()
    for chunk in chunks:
        StorageManager.get_local_copy(str(chunk), extract_archive=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--versions", type=int, default=10)
    parser.add_argument("--files", type=int, default=300)
    parser.add_argument("--size", type=int, default=40_000)
    parser.add_argument("--changed", type=float, default=0.2)
    parser.add_argument("--chunk-mb", type=float, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="deltaset-bench-clearml-") as folder:
        root = Path(folder)
        os.environ["HOME"] = str(root / "home")  # ClearML's cache and config, thrown away
        (root / "home").mkdir()
        (root / "home" / "clearml.conf").write_text(
            "sdk { development { report_use_subprocess: false } }"
        )
        os.environ["DELTASET_HOME"] = str(root / "deltaset")
        sys.path.insert(0, str(ROOT))
        ids, added = build(root, args)
        import deltaset

        start = time.perf_counter()
        report = deltaset.import_clearml(str(root / "clearml"))
        took = time.perf_counter() - start
        assert len(report.of("imported")) == len(ids), report.to_dict()
        start = time.perf_counter()
        again = deltaset.import_clearml(str(root / "clearml"))
        rerun = time.perf_counter() - start
        assert len(again.of("present")) == len(ids)
        clearml = clearml_extract(root)
        mb = report.bytes_checked / 1e6
        print(f"{len(ids)} versions, {report.files_checked} files, {mb:.1f} MB in ClearML chunks")
        print(
            f"deltaset import-clearml: {took:.2f} s = {len(ids) / took:.1f} versions/s, "
            f"{mb / took:.1f} MB/s checked; {report.stored_bytes / 1e6:.1f} MB stored"
        )
        print(f"deltaset re-run (nothing to do): {rerun:.2f} s")
        print(f"ClearML extraction of every chunk once: {clearml:.2f} s = {mb / clearml:.1f} MB/s")
        assert added == report.bytes_checked


if __name__ == "__main__":
    main()
