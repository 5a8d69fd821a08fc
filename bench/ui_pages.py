"""Server time of the web catalog's pages on a large version (issue bar: under 300 ms each).

    python bench/ui_pages.py --id VERSION_ID [--folder PATH] [--repeat 5]

Runs in the catalog $DELTASET_HOME names (bench/million.sh leaves one of 1,000,000 files when
told to keep it); each page is asked for ``--repeat`` times in this process, through the same
routes ``deltaset ui`` serves, and the first (cold: the manifest is decoded) and the best of
the others are printed.
"""

from __future__ import annotations

import argparse
import time
from urllib.parse import urlencode

from starlette.testclient import TestClient

from deltaset.engine.context import default_context
from deltaset.ui.web import local_app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--id", required=True, help="the version to open")
    parser.add_argument("--folder", default="", help="a folder of it to browse as well")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    app, access = local_app(default_context)
    client = TestClient(app)
    client.get("/?token=" + access.secret)
    record = default_context().catalog.get(args.id)
    pages = {
        "home": "/",
        "dataset": "/dataset?" + urlencode({"project": record.project, "name": record.name}),
        "version": f"/versions/{args.id}",
        "folder": f"/versions/{args.id}?" + urlencode({"folder": args.folder, "page": 2}),
    }
    for name, url in pages.items():
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            response = client.get(url)
            times.append(time.perf_counter() - start)
            response.raise_for_status()
        best = min(times[1:] or times)
        print(f"{name:8} cold {times[0] * 1000:7.1f} ms  warm {best * 1000:7.1f} ms")


if __name__ == "__main__":
    main()
