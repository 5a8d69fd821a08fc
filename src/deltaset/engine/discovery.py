"""Seeing the versions other machines wrote to a shared storage, without rebuilding the catalog.

A final version's record is in its storage (``versions/<id>.json``), so a storage shared by a
team (a bucket, a network folder) is a catalog of its own. The embedded catalog looks there
when a command looks versions up: one listing of the records (no record it knows is read),
then the unknown ones imported with their manifests and metadata. It looks at most once every
``discover-interval`` seconds per storage (the time of the last look is kept in the home, so
it holds across commands), and always when a version asked for by id is not known.

The storages looked at are those the catalog's versions live in, and the default storage.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from contextlib import suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from deltaset.catalog.sqlite import SqliteCatalog
from deltaset.engine.context import Context
from deltaset.engine.rebuild import SkippedVersion, import_read_version, read_stored_version
from deltaset.errors import DeltasetError, StateError
from deltaset.storage.layout import version_id_of_record_key

log = logging.getLogger("deltaset")


@dataclass
class DiscoveryReport:
    """What one look at a storage found: the versions imported, and those it could not."""

    storage: str
    imported: list[str] = field(default_factory=list)
    skipped: list[SkippedVersion] = field(default_factory=list)
    error: str | None = None  # the storage could not be listed

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def known_storages(ctx: Context) -> list[str]:
    """The storages whose new versions the embedded catalog picks up: those its versions
    live in, and the default storage. None for a server's catalog, which is the team's."""
    catalog = ctx.catalog
    if not isinstance(catalog, SqliteCatalog):
        return []
    default = ctx.storage_url(None)
    return list(dict.fromkeys([default, *catalog.storages()]))


def discover(ctx: Context, storage_url: str | None = None) -> list[DiscoveryReport]:
    """Look now at ``storage_url`` (or every known storage) and import the final versions the
    catalog does not know; a storage that cannot be read is reported, not raised."""
    if not isinstance(ctx.catalog, SqliteCatalog):
        raise StateError(
            "This machine's catalog is a deltaset server's, which every version made through "
            "it is in already; refresh is for the embedded catalog."
        )
    urls = [ctx.storage_url(storage_url)] if storage_url else known_storages(ctx)
    reports = [_look(ctx, url) for url in urls]
    _remember(ctx, {r.storage for r in reports if r.error is None})
    return reports


def on_lookup(ctx: Context, missing: bool) -> None:
    """The catalog's lookup hook: look at the storages not looked at for the interval (all of
    them when a version asked for is ``missing``, once per process); never fails the lookup."""
    interval = ctx.settings.discover_interval
    if interval is None and not missing:
        return
    state = ctx.discovery
    if state.running:
        return  # the imports of a look search the catalog too
    state.running = True
    try:
        urls = _due(ctx, interval or 0.0, missing)
        if urls:
            reports = [_look(ctx, url) for url in urls]
            _warn(reports)
            # A storage that could not be read counts as looked at too: offline, or gone, it
            # must not slow every lookup down; it is tried again after the interval.
            _remember(ctx, {r.storage for r in reports})
    finally:
        state.running = False


def _due(ctx: Context, interval: float, missing: bool) -> list[str]:
    state = ctx.discovery
    if missing:
        urls = [u for u in known_storages(ctx) if u not in state.forced]
        state.forced.update(urls)
        return urls
    now = time.time()
    if now - state.checked < interval:
        return []  # this process checked every storage less than an interval ago
    state.checked = now
    seen = {**_read_times(ctx.settings.discovery_path), **state.looked}
    return [u for u in known_storages(ctx) if now - seen.get(u, 0.0) >= interval]


def _look(ctx: Context, url: str) -> DiscoveryReport:
    report = DiscoveryReport(url)
    catalog = ctx.catalog
    assert isinstance(catalog, SqliteCatalog)  # known_storages names none otherwise
    ctx.discovery.looked[url] = time.time()
    try:
        listed = [version_id_of_record_key(k) for k in ctx.storage(url).list("versions/")]
    except DeltasetError as exc:
        report.error = exc.message
        return report
    for version_id in catalog.unknown_ids(i for i in listed if i is not None):
        try:
            record, manifest = read_stored_version(ctx, url, version_id)
            if import_read_version(ctx, url, record, manifest):
                report.imported.append(version_id)
        except DeltasetError as exc:  # damaged, a number taken here, deleted since listed
            report.skipped.append(SkippedVersion(version_id, exc.message))
    return report


def _warn(reports: list[DiscoveryReport]) -> None:
    for report in reports:
        if report.error is not None:
            log.warning("could not look for new versions in %s: %s", report.storage, report.error)
        for skipped in report.skipped:
            log.warning(
                "the version %s in %s was not imported: %s",
                skipped.id,
                report.storage,
                skipped.reason,
            )


def _read_times(path: Path) -> dict[str, float]:
    try:
        found = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}  # never looked, or a damaged file: look again
    if not isinstance(found, dict):
        return {}
    return {str(k): float(v) for k, v in found.items() if isinstance(v, int | float)}


def _remember(ctx: Context, urls: set[str]) -> None:
    """Keep the time of the last look at ``urls`` for the next commands; a home that cannot
    be written only means the next command looks again."""
    if not urls:
        return
    path = ctx.settings.discovery_path
    times = _read_times(path) | {u: ctx.discovery.looked.get(u, time.time()) for u in urls}
    temporary = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".discovery-")
        with os.fdopen(handle, "w") as out:
            json.dump(times, out)
        os.replace(temporary, path)
    except OSError as exc:
        log.debug("cannot keep the discovery times in %s: %s", path, exc)
        if temporary is not None:
            with suppress(OSError):
                os.unlink(temporary)
