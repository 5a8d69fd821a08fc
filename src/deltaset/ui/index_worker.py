"""``python -m deltaset.ui.index_worker``: builds what the pages of a large version read in a
process of its own, so that the pages' process keeps answering at full speed meanwhile (a
build is seconds of Python that would otherwise hold the interpreter lock).

It reads one pickled :class:`Job` on stdin (written by this package's own process) and
exits 0 once the indexes are kept in the cache folder it names.
"""

from __future__ import annotations

import dataclasses
import pickle
import sys
from dataclasses import dataclass
from pathlib import Path

from deltaset import config
from deltaset.core.changeset import merge_parents
from deltaset.core.manifest import Manifest
from deltaset.core.records import VersionRecord
from deltaset.engine import diff, page_indexes
from deltaset.engine.compare import compare_views
from deltaset.engine.context import Context


@dataclass(frozen=True, slots=True)
class Job:
    """The records and the encoded manifests of what to index: one version (``others``: its
    parents' manifests), or a comparison (``others``: the source's manifest)."""

    cache_dir: str
    record: dict[str, object]
    manifest: bytes
    others: list[bytes]
    source: dict[str, object] | None = None  # set for a comparison


def run(job: Job) -> None:
    settings = dataclasses.replace(config.load(), cache_dir=Path(job.cache_dir))
    ctx = Context(settings=settings)
    record = VersionRecord.from_dict(job.record)
    view = Manifest.from_bytes(job.manifest)
    if job.source is None:
        base = merge_parents([Manifest.from_bytes(b) for b in job.others])
        page_indexes.build(ctx, record, view, base)
        return
    source = VersionRecord.from_dict(job.source)
    before = Manifest.from_bytes(job.others[0])
    diff.keep_comparison(ctx, compare_views(source.id, record.id, before, view))


if __name__ == "__main__":
    run(pickle.load(sys.stdin.buffer))
