"""What the web catalog's pages read of a final version, kept in the cache folder so that no
page decodes a large manifest: its folder index (see :mod:`deltaset.engine.browse`), the
first paths of each kind of change against its parents, and, for a version with one parent,
its changes from that parent as the compare page reads them (see :mod:`deltaset.engine.diff`).

A close writes them from the lists it already holds in memory; a version closed elsewhere (on
another machine, or through a server) gets them the first time a page needs them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deltaset.core.changeset import Closed
from deltaset.core.manifest import Manifest
from deltaset.core.records import VersionRecord
from deltaset.engine import browse, diff
from deltaset.engine.compare import FileChange
from deltaset.engine.context import Context
from deltaset.engine.kept_indexes import write_whole
from deltaset.engine.views import current_view, parents_view

CHANGES_SHOWN = 50  # paths of each kind of change listed on a version's page
CLOSE_DIFF_MOST = 100_000  # changes a close keeps for the compare page; more wait to be asked
FORMAT = 1
log = logging.getLogger("deltaset")


@dataclass(frozen=True, slots=True)
class ShownChanges:
    """The first paths (and sizes) of each kind of change of a version against its parents,
    and how many there are of each kind."""

    added: list[tuple[str, int]]
    modified: list[tuple[str, int]]
    removed: list[str]
    counts: dict[str, int]


def shown_changes_path(ctx: Context, version_id: str) -> Path:
    return ctx.settings.cache_dir / "changes" / f"{version_id}.parents.v{FORMAT}.json"


def ready(ctx: Context, record: VersionRecord) -> bool:
    """Whether a page of the final ``record`` finds all it reads kept."""
    return (
        browse.index_path(ctx, record.id).exists() and shown_changes_path(ctx, record.id).exists()
    )


def shown_changes(ctx: Context, record: VersionRecord) -> ShownChanges:
    """The change-set of ``record`` against its parents, its first CHANGES_SHOWN paths of
    each kind: kept for a final version, else worked out from the manifests."""
    if record.state.is_final:
        kept = _read_shown(shown_changes_path(ctx, record.id))
        if kept is not None:
            return kept
    base = parents_view(ctx, record)
    files, removed = current_view(ctx, record).changes_since(base)
    found = first_changes(record, base, files, removed)
    if record.state.is_final:
        _write_shown(shown_changes_path(ctx, record.id), found)
    return found


def first_changes(
    record: VersionRecord, base: Manifest, files: Manifest, removed: tuple[str, ...]
) -> ShownChanges:
    """The first paths of each kind of ``files`` (changed from ``base``) and ``removed``; the
    counts are a final version's statistics, or counted over a draft's changes."""
    added: list[tuple[str, int]] = []
    modified: list[tuple[str, int]] = []
    counts = {"added": 0, "modified": 0, "removed": len(removed)}
    final, stats = record.state.is_final, record.stats
    for at in range(len(files)):
        if (
            final
            and len(added) >= min(CHANGES_SHOWN, stats.added)
            and len(modified) >= min(CHANGES_SHOWN, stats.modified)
        ):
            break  # a final version's counts are known: its first paths are enough
        path = files.path_at(at)
        kind, rows = ("modified", modified) if path in base else ("added", added)
        counts[kind] += 1
        if len(rows) < CHANGES_SHOWN:
            rows.append((path, files.size_at(at)))
    if final:
        counts = {"added": stats.added, "modified": stats.modified, "removed": stats.removed}
    return ShownChanges(added, modified, sorted(removed)[:CHANGES_SHOWN], counts)


def keep_at_close(ctx: Context, final: VersionRecord, closed: Closed) -> None:
    """Keep what the pages of the version just closed read, from the lists the close holds,
    so the web catalog's first page of it is quick; a cache that cannot take them costs that
    page some time, not the close."""
    try:
        keep(ctx, final, *closed)
    except (OSError, sqlite3.Error) as exc:
        log.debug("Could not keep the page indexes of %s: %s", final.id, exc)


def build(ctx: Context, record: VersionRecord, view: Manifest, base: Manifest) -> None:
    """Keep what the pages of the final ``record`` read, from its manifest ``view`` and the
    merge of its parents' ``base`` (for a version closed elsewhere)."""
    files, removed = view.changes_since(base)
    keep(ctx, record, view, base, files, removed)


def keep(
    ctx: Context,
    record: VersionRecord,
    view: Manifest,
    base: Manifest,
    files: Manifest,
    removed: tuple[str, ...],
) -> None:
    browse.keep_folder_index(ctx, record, view, (base, files, removed))
    _write_shown(shown_changes_path(ctx, record.id), first_changes(record, base, files, removed))
    if len(record.parents) == 1 and len(files) + len(removed) <= CLOSE_DIFF_MOST:
        diff.keep_changes(ctx, record.parents[0], record.id, _changes(base, files, removed))


def _changes(
    base: Manifest, files: Manifest, removed: tuple[str, ...]
) -> list[tuple[diff.ChangeKind, FileChange]]:
    found: list[tuple[diff.ChangeKind, FileChange]] = []
    for at in range(len(files)):
        path, size = files.path_at(at), files.size_at(at)
        before = base.position(path)
        if before is None:
            found.append(("added", FileChange(path, size, None)))
        else:
            found.append(("modified", FileChange(path, size, base.size_at(before))))
    found.extend(("removed", FileChange(path, None, base[path].size)) for path in removed)
    return found


def _read_shown(path: Path) -> ShownChanges | None:
    try:
        data: dict[str, Any] = json.loads(path.read_text())
        return ShownChanges(
            [(str(p), int(s)) for p, s in data["added"]],
            [(str(p), int(s)) for p, s in data["modified"]],
            [str(p) for p in data["removed"]],
            {str(k): int(v) for k, v in data["counts"].items()},
        )
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        with contextlib.suppress(OSError):
            path.unlink()  # damaged: worked out again
        return None


def _write_shown(path: Path, shown: ShownChanges) -> None:
    """Written whole or not at all; a cache that cannot take it only costs time."""
    data = {
        "added": shown.added,
        "modified": shown.modified,
        "removed": shown.removed,
        "counts": shown.counts,
    }
    with contextlib.suppress(OSError):
        write_whole(path, lambda partial: partial.write_text(json.dumps(data)))
