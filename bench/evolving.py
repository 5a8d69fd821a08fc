"""Corpora of evolving data (issue 19): the histories delta storage is measured on.

``table``: a CSV and a JSON Lines file of a growing table: each version gains about 2% rows,
revises about 0.5% of the old ones, and once (half way) every row gains a column.
``dumps``: a folder gaining one JSON and one CSV dump a version, each 90-98% identical to the
previous dump of its kind but under a new name.
``long-table``: the same growing table over 120 versions, from 30,000 rows (5.5 MB) to 324,000
(63 MB): how chains, the index and each close grow with a long history.
``source``: the unpacked sdists of consecutive releases of a pure-Python package (``pip
download``), or, where no package index answers, a synthetic source tree history.

Each corpus is a list of version folders ``OUT/<corpus>/vNN`` (deterministic for a seed):

    python3 bench/evolving.py --out /tmp/evolving --corpus table dumps source
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

WORDS = [
    "alpha",
    "beta",
    "gamma",
    "delta",
    "epsilon",
    "zeta",
    "eta",
    "theta",
    "iota",
    "kappa",
    "lambda",
    "mu",
    "nu",
    "xi",
    "omicron",
    "pi",
    "rho",
    "sigma",
    "tau",
    "upsilon",
    "phi",
    "chi",
    "psi",
    "omega",
    "cat",
    "dog",
    "bird",
    "fish",
    "tree",
    "rock",
    "river",
    "cloud",
    "stone",
    "leaf",
]
CATEGORIES = ["train", "valid", "test", "holdout", "noise", "review"]
# Consecutive releases of a pure-Python package, each with an sdist on the package index.
SOURCE_PACKAGE = "requests"
SOURCE_RELEASES = [
    "2.22.0",
    "2.23.0",
    "2.24.0",
    "2.25.0",
    "2.25.1",
    "2.26.0",
    "2.27.0",
    "2.27.1",
    "2.28.0",
    "2.28.1",
    "2.28.2",
    "2.29.0",
    "2.30.0",
    "2.31.0",
    "2.32.0",
    "2.32.3",
]


def _comment(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 6)))


def _row(rng: random.Random, row_id: int) -> dict[str, object]:
    return {
        "id": row_id,
        "date": f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        "user": f"user{rng.randint(0, 50_000)}",
        "category": rng.choice(CATEGORIES),
        "amount": round(rng.uniform(0, 1000), 2),
        "comment": _comment(rng),
    }


def _write_table(folder: Path, rows: list[dict[str, object]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    columns = list(rows[0])
    with open(folder / "table.csv", "w", encoding="utf-8") as csv:
        csv.write(",".join(columns) + "\n")
        csv.writelines(",".join(str(r[c]) for c in columns) + "\n" for r in rows)
    with open(folder / "table.jsonl", "w", encoding="utf-8") as lines:
        lines.writelines(json.dumps(r) + "\n" for r in rows)


def table(out: Path, seed: int, rows: int = 300_000, versions: int = 20) -> list[Path]:
    """The growing table, one folder a version."""
    rng = random.Random(seed)
    data = [_row(rng, i) for i in range(rows)]
    folders = []
    for version in range(versions):
        if version:
            for at in rng.sample(range(len(data)), len(data) // 200):  # revise 0.5%
                data[at] = {**data[at], "amount": round(rng.uniform(0, 1000), 2)}
                data[at]["comment"] = _comment(rng)
            start = len(data)
            data += [_row(rng, start + i) for i in range(len(data) // 50)]  # grow 2%
            if "score" in data[0]:
                for row in data[start:]:
                    row["score"] = rng.randint(0, 100)
            if version == versions // 2:  # once, every row gains a column
                for row in data:
                    row["score"] = rng.randint(0, 100)
        folder = out / f"v{version:02d}"
        _write_table(folder, data)
        folders.append(folder)
    return folders


def dumps(out: Path, seed: int, rows: int = 20_000, versions: int = 30) -> list[Path]:
    """The daily dumps: version N holds the dumps of days 0..N."""
    rng = random.Random(seed)
    data = [_row(rng, i) for i in range(rows)]
    folders = []
    previous: Path | None = None
    for day in range(versions):
        if day:
            share = rng.uniform(0.02, 0.10)  # 90-98% identical to the day before
            for at in rng.sample(range(len(data)), int(len(data) * share)):
                data[at] = _row(rng, data[at]["id"])  # type: ignore[arg-type]
        folder = out / f"v{day:02d}"
        if previous is not None:
            shutil.copytree(previous, folder)
        folder.mkdir(parents=True, exist_ok=True)
        name = f"dump-2024-{1 + day // 28:02d}-{1 + day % 28:02d}"
        (folder / f"{name}.json").write_text(json.dumps(data, indent=1))
        columns = list(data[0])
        (folder / f"{name}.csv").write_text(
            ",".join(columns)
            + "\n"
            + "".join(",".join(str(r[c]) for c in columns) + "\n" for r in data)
        )
        folders.append(folder)
        previous = folder
    return folders


def _download_sdists(into: Path) -> list[Path] | None:
    """The unpacked sdists of :data:`SOURCE_RELEASES`, or None when pip cannot fetch them."""
    into.mkdir(parents=True, exist_ok=True)
    folders = []
    for number, release in enumerate(SOURCE_RELEASES):
        folder = into / f"v{number:02d}"
        if not folder.exists():
            with tempfile.TemporaryDirectory() as tmp:
                spec = f"{SOURCE_PACKAGE}=={release}"
                done = subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "pip",
                        "download",
                        "--no-deps",
                        "--no-binary",
                        ":all:",
                        "-q",
                        "-d",
                        tmp,
                        spec,
                    ],
                    capture_output=True,
                    timeout=300,
                )
                archives = list(Path(tmp).glob("*.tar.gz"))
                if done.returncode or not archives:
                    return None
                with tarfile.open(archives[0]) as tar:
                    tar.extractall(folder / "tmp", filter="data")
                (inner,) = (folder / "tmp").iterdir()
                inner.rename(folder / "src")
                (folder / "tmp").rmdir()
        folders.append(folder)
    return folders


def _synthetic_source(out: Path, seed: int, versions: int = 16) -> list[Path]:
    """A source tree of ~80 modules edited a little each release (when pip cannot fetch)."""
    rng = random.Random(seed)
    modules = {
        f"pkg/mod{i:02d}.py": [
            f"def f{i}_{j}(x):\n    return x * {j} + {rng.randint(0, 99)}\n"
            for j in range(rng.randint(20, 120))
        ]
        for i in range(80)
    }
    folders = []
    for version in range(versions):
        for name in rng.sample(sorted(modules), 12):
            body = modules[name]
            for _ in range(rng.randint(1, 5)):
                body[rng.randrange(len(body))] = f"def g{rng.randint(0, 10**6)}(y):\n    return y\n"
            body.append(f"def h{version}_{rng.randint(0, 999)}(z):\n    return -z\n")
        folder = out / f"v{version:02d}"
        for name, body in modules.items():
            path = folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("".join(body))
        folders.append(folder)
    return folders


def source(out: Path, seed: int) -> tuple[list[Path], str]:
    found = _download_sdists(out)
    if found is not None:
        return found, f"sdists of {SOURCE_PACKAGE} {SOURCE_RELEASES[0]}..{SOURCE_RELEASES[-1]}"
    shutil.rmtree(out, ignore_errors=True)
    return _synthetic_source(out, seed), "synthetic source tree (no package index reachable)"


def corpus(name: str, out: Path, seed: int, scale: float = 1.0) -> tuple[list[Path], str]:
    """The version folders of corpus ``name`` under ``out/name`` (made once), and a label."""
    where = out / name
    done = where / "done.json"
    if done.exists():
        info = json.loads(done.read_text())
        return [Path(p) for p in info["folders"]], str(info["label"])
    shutil.rmtree(where, ignore_errors=True)
    if name == "table":
        folders, label = table(where, seed, int(300_000 * scale)), "growing table (CSV + JSONL)"
    elif name == "long-table":  # a longer history: how chains, index and closes grow with it
        rows = int(30_000 * scale)
        folders, label = table(where, seed, rows, versions=120), "growing table, 120 versions"
    elif name == "dumps":
        folders, label = dumps(where, seed, int(20_000 * scale)), "daily dumps (JSON + CSV)"
    else:
        folders, label = source(where, seed)
    done.write_text(json.dumps({"folders": [str(p) for p in folders], "label": label}))
    return folders, label


def _versions(paths: list[Path]) -> Iterator[str]:
    for path in paths:
        size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
        yield f"{path.name}: {size / 1e6:.1f} MB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/evolving"))
    parser.add_argument("--corpus", nargs="+", default=["table", "dumps", "source"])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--scale", type=float, default=1.0)
    args = parser.parse_args()
    for name in args.corpus:
        folders, label = corpus(name, args.out, args.seed, args.scale)
        print(name, label, *_versions(folders[-1:]))


if __name__ == "__main__":
    main()
