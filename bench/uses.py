"""What recording a use costs a read: the first use of a process (it runs ``git status``
once), each further new use (one catalog write), a use already recorded (a set lookup), and a
warm ``get_local_copy()`` with recording on and off; on the embedded catalog and on a deltaset
server on this machine.

    .venv/bin/python bench/uses.py --versions 200
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "src")]

from deltaset import Dataset  # noqa: E402
from deltaset.engine import context, uses  # noqa: E402
from deltaset.engine.context import default_context  # noqa: E402


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def versions(folder: Path, count: int) -> list[Dataset]:
    source = folder / "src"
    source.mkdir()
    (source / "a.txt").write_text("alpha")
    made = []
    for _ in range(count):
        ds = Dataset.create(dataset_name="bench", dataset_project="uses")
        ds.add_files(str(source))
        ds.finalize(auto_upload=True)
        made.append(ds)
    return made


@contextmanager
def home(folder: Path, server: bool) -> Iterator[None]:
    os.environ["DELTASET_HOME"] = str(folder / "home")
    os.environ.pop("DELTASET_API_URL", None)
    if not server:
        yield
        return
    from tests.server.inprocess import served

    with served(folder / "server") as (url, _):
        os.environ["DELTASET_API_URL"] = url
        yield


def fresh_process() -> None:
    context._default = None
    uses.forget()


def measure(count: int, server: bool) -> dict[str, str]:
    with tempfile.TemporaryDirectory() as tmp, home(Path(tmp), server):
        made = versions(Path(tmp), count)
        fresh_process()
        ctx = default_context()
        records = [ctx.catalog.get(ds.id) for ds in made]
        git_alone = timed(lambda: uses.git_state(os.getcwd()))
        uses.git_state.cache_clear()
        first = timed(lambda: uses.record(ctx, records[0], "train"))
        each = [timed(lambda r=r: uses.record(ctx, r, "train")) for r in records[1:]]  # type: ignore[misc]
        again = [timed(lambda r=r: uses.record(ctx, r, "train")) for r in records]  # type: ignore[misc]
        assert len(ctx.catalog.uses(run=None)) == count
        got = Dataset.get(dataset_id=made[0].id)
        got.get_local_copy()  # warm the cache
        warm_on = [timed(got.get_local_copy) for _ in range(50)]
        os.environ["DELTASET_RECORD_USES"] = "off"
        fresh_process()
        got = Dataset.get(dataset_id=made[0].id)
        warm_off = [timed(got.get_local_copy) for _ in range(50)]
        del os.environ["DELTASET_RECORD_USES"]
        default_context().close()
    return {
        "catalog": "server (HTTP, same machine)" if server else "embedded SQLite",
        "git status alone": ms(git_alone),
        "first use of the process (git status + write)": ms(first),
        "each further new use, median": ms(statistics.median(each)),
        "each further new use, 95th percentile": ms(statistics.quantiles(each, n=20)[-1]),
        "a use already recorded, median": ms(statistics.median(again)),
        "warm get_local_copy, recording on / off": (
            f"{ms(statistics.median(warm_on))} / {ms(statistics.median(warm_off))}"
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--versions", type=int, default=200)
    args = parser.parse_args()
    for server in (False, True):
        for key, value in measure(args.versions, server).items():
            print(f"{key}: {value}")
        print()


if __name__ == "__main__":
    main()
