"""The cache's own share of a cold `get`, without reading packs: each batch of 16,384 files
looks up what the cache lacks, stages, stores and (before 669e075) accounts for its blobs,
then the folder is published. Prints user and system CPU and wall clock.

    python bench/cache_build.py SRC CACHE FILES

SRC is a source tree (`git archive REV src`) to import deltaset from; CACHE an empty folder
to build in (removed first); FILES how many files of ~60 distinct bytes.
"""

from __future__ import annotations

import inspect
import itertools
import resource
import shutil
import sys
import time
from pathlib import Path

src, root, count = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
sys.path.insert(0, src)

import blake3  # noqa: E402

from deltaset.cache.blobs import BlobCache  # noqa: E402
from deltaset.cache.links import LinkMode  # noqa: E402
from deltaset.core.manifest import Entry, Manifest  # noqa: E402

content: dict[str, bytes] = {}
files: dict[str, Entry] = {}
for i in range(count):
    data = f"content {i} ".encode() * 6
    blob_id = blake3.blake3(data).hexdigest()
    content[blob_id] = data
    files[f"d{i % 97}/s{i % 13}/f{i:07d}.txt"] = Entry(size=len(data), blob_id=blob_id)
manifest = Manifest(files)
shutil.rmtree(root, ignore_errors=True)

before, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
cache = BlobCache(root)
new_api = "manifest" in inspect.signature(cache.tree_build).parameters
given, later = ((manifest,), ()) if new_api else ((), (manifest,))  # where the manifest goes
with cache.tree_build("key", LinkMode.HARDLINK, *given) as build:  # type: ignore[arg-type]
    items, first = manifest.items(), 0
    while batch := list(itertools.islice(items, 16384)):
        fetched = set(cache.missing({e.blob_id: e for _, e in batch}))
        build.stage(batch, first, fetched)
        for blob_id in fetched:
            build.store(blob_id, content[blob_id])
        if not new_api:  # the batch's rows, written by the pull then
            cache.remember([(b, len(content[b])) for b in fetched], stats=False)
        first += len(batch)
    build.publish(*later)  # type: ignore[call-arg]
after = resource.getrusage(resource.RUSAGE_SELF)
user, system = after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime
print(f"{src} user {user:.2f} s sys {system:.2f} s wall {time.perf_counter() - start:.2f} s")
