"""Server time of the web catalog's pages on a 1,000,000-file version (issue bar: under 300 ms
of server time for each page's HTML).

    PYTHONPATH=$PWD/src python bench/ui_pages.py [--files 1000000] [--repeat 5]

Builds a throwaway embedded catalog by itself: a small real version (a CSV and a PNG, uploaded
and closed) and two final versions of ``--files`` files registered with synthetic manifests
(see bench/browse.py) holding those two real files as well, so their previews read real
bytes; the second changes three files of the first. Each page is asked for through the routes
``deltaset ui`` serves:

- first: the very first request for the page, in a fresh app and Context, right after the
  versions were closed: nothing decoded in memory, no file fetched into the cache yet, only
  the indexes a close keeps on disk;
- cold: the first request of a fresh app and Context again (as the first page after a
  server restarts: the files a preview read are in the cache now), repeated ``--repeat``
  times, each in a fresh app;
- warm: the same page asked again ``--repeat`` times in one app.

Medians are printed (of one request for "first"), as a Markdown table; then how long keeping
the pages' indexes adds to closing each version, the time of the page a version closed
elsewhere shows while it is indexed, and how long that indexing takes in the background.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlencode

from starlette.testclient import TestClient

sys.path.insert(0, str(Path(__file__).parent))

from browse import registered, synthetic

from deltaset import Dataset
from deltaset.core.manifest import Entry, Manifest
from deltaset.core.records import VersionRecord
from deltaset.engine import page_indexes
from deltaset.engine.browse import index_path
from deltaset.engine.context import Context
from deltaset.engine.views import final_manifest
from deltaset.ui.web import local_app

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201e5273de00000000049454e44ae426082"
)


def real_files(folder: Path) -> dict[str, Entry]:
    """The entries of a closed version holding a CSV and a PNG (so their bytes are stored)."""
    folder.mkdir()
    (folder / "table.csv").write_text("a,b\n" + "".join(f"{i},{i * i}\n" for i in range(500)))
    (folder / "picture.png").write_bytes(PNG)
    ds = Dataset.create(dataset_name="real", dataset_project="bench")
    ds.add_files(str(folder))
    ds.upload(show_progress=False)
    ds.finalize()
    ctx = Context()
    manifest = final_manifest(ctx, ctx.catalog.get(ds.id))
    found = {manifest.path_at(at): manifest.entry_at(at) for at in range(len(manifest))}
    ctx.close()
    return found


def client() -> TestClient:
    ctx = Context()
    app, access = local_app(lambda: ctx)
    web = TestClient(app)
    web.get("/?token=" + access.secret)
    return web


def seconds(web: TestClient, url: str) -> float:
    start = time.perf_counter()
    response = web.get(url)
    spent = time.perf_counter() - start
    response.raise_for_status()
    return spent


def median_ms(times: list[float]) -> str:
    return f"{statistics.median(times) * 1000:,.1f} ms"


def timed_once(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def kept_at_close(record: VersionRecord, view: Manifest, base: Manifest) -> float:
    """How long a close takes to keep what the pages read (the change lists it holds)."""
    ctx = Context()
    files, removed = view.changes_since(base)
    start = time.process_time()
    spent = timed_once(lambda: page_indexes.keep(ctx, record, view, base, files, removed))
    print(f"(keeping the indexes of {record.id}: {time.process_time() - start:.2f} s of CPU)")
    ctx.close()
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--files", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        os.environ["DELTASET_HOME"] = home
        real = real_files(Path(home) / "real")
        one = synthetic(args.files).changed(real, [])
        two = one.changed(
            {
                "d00000/s05/new.jpg": Entry(5, "ab" * 32),
                "d00000/s01/f0001.jpg": Entry(9, "cd" * 32),
            },
            ["d00000/s02/f0002.jpg"],
        )
        v1 = registered(one, [])
        v2 = registered(two, [v1.id])
        close_adds = [kept_at_close(v1, one, Manifest()), kept_at_close(v2, two, one)]
        del one, two
        compare = "/compare?" + urlencode({"source": v1.id, "target": v2.id})
        pages = {
            "home": "/",
            "dataset": "/dataset?" + urlencode({"project": "bench", "name": "many"}),
            "version": f"/versions/{v2.id}",
            "folder page (d00000/s05, page 1)": f"/versions/{v2.id}?folder=d00000/s05",
            "top folder, page 5": f"/versions/{v2.id}?page=5",
            "file preview (CSV)": f"/versions/{v2.id}/file?path=table.csv",
            "file preview (PNG)": f"/versions/{v2.id}/file?path=picture.png",
            "compare": compare,
            "compare, one modified CSV shown": compare + "&path=table.csv",
        }
        print(f"| page, {args.files:,} files | first | cold | warm |\n|---|---|---|---|")
        for name, url in pages.items():
            first = seconds(client(), url)
            cold = [seconds(client(), url) for _ in range(args.repeat)]
            web = client()
            seconds(web, url)
            warm = [seconds(web, url) for _ in range(args.repeat)]
            print(f"| {name} | {median_ms([first])} | {median_ms(cold)} | {median_ms(warm)} |")
        print(
            "\nkeeping the pages' indexes at close: "
            f"first version {median_ms(close_adds[:1])}, its child {median_ms(close_adds[1:])}"
        )
        shutil.rmtree(index_path(Context(), v2.id).parent)
        shutil.rmtree(page_indexes.shown_changes_path(Context(), v2.id).parent)
        fresh = Context()
        app, access = local_app(lambda: fresh)
        web = TestClient(app)
        web.get("/?token=" + access.secret)
        elsewhere = [seconds(web, f"/versions/{v2.id}") for _ in range(args.repeat)]
        print(f"version page of a version closed elsewhere, while indexed: {median_ms(elsewhere)}")
        built = timed_once(app.state.indexer.wait)
        print(f"its indexes built in the background in {built:.1f} s more")


if __name__ == "__main__":
    main()
