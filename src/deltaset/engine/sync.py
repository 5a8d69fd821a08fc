"""Making a draft mirror a local folder (additions, modifications and removals), or take the
changes a writable copy holds since the version it was copied from."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Iterator
from pathlib import Path

import blake3

from deltaset.core import paths
from deltaset.core.manifest import Manifest
from deltaset.core.records import VersionRecord
from deltaset.engine import origins, scan, staging, sync_base
from deltaset.engine.add import stage_files
from deltaset.engine.context import Context
from deltaset.engine.remove import remove_paths
from deltaset.engine.unchanged import FolderPass
from deltaset.engine.views import current_view, parents_view, require_mutable
from deltaset.errors import InvalidInputError, NotFoundError
from deltaset.storage.layout import record_key
from deltaset.storage.local import write_best_effort

SYNCS = "syncs"  # under the home: the draft each unfinished run of a sync left


def sync_folder(
    ctx: Context,
    record: VersionRecord,
    local_path: str,
    dataset_path: str | None = None,
    max_workers: int | None = None,
    policy: scan.ReadPolicy = scan.STRICT,
    rebase: bool = False,
) -> tuple[int, int, int]:
    """Returns (removed, added, modified). A file ``policy`` skips as unreadable is neither
    added nor removed: the draft keeps what it had at its path.

    A folder without an origin (see :mod:`~deltaset.engine.origins`) is mirrored: the draft
    becomes what it holds. A writable copy's changes are those since the version it was
    copied from (the part copied), applied to the draft: what its parents changed since, and
    what lies outside a partial copy, stay. A draft whose parents hold changes made since that
    version (a newer version of it, or a sibling) is refused unless ``rebase``."""
    require_mutable(ctx, record)
    folder = Path(local_path).expanduser()
    if not folder.exists():
        raise NotFoundError(f"The folder {local_path} does not exist.")
    if not folder.is_dir():
        raise InvalidInputError(f"{local_path} is a file; sync needs a folder.")
    prefix = paths.normalize_folder(dataset_path)
    base = None if prefix else sync_base.folder_base(ctx, record, folder, rebase)
    if base is None:
        return _mirror(ctx, record, folder, prefix, max_workers, policy)
    counts = _apply_changes(ctx, record, folder, base.files, max_workers, policy)
    if base.origin.version_id in record.parents and base.origin.num_parts is None:
        origins.synced_into(folder, base.origin, record)  # the draft is what the folder holds
    return counts


def _mirror(
    ctx: Context,
    record: VersionRecord,
    folder: Path,
    prefix: str,
    max_workers: int | None,
    policy: scan.ReadPolicy,
) -> tuple[int, int, int]:
    view = current_view(ctx, record)
    folder_pass = FolderPass(ctx, str(folder), view, prefix, policy)
    files = folder_pass.find(allow_nothing=True)
    if folder_pass.nothing_changed:
        return 0, 0, 0  # the watcher saw no change, and the draft holds what the folder holds
    gone = _gone(view, prefix, {*files.paths(), *folder_pass.unchanged})
    with (
        staging.packing(ctx, record, view) as keep,
        contextlib.closing(scan.hash_files(ctx, files, max_workers, keep, policy)) as hashed,
    ):
        added, modified = stage_files(ctx, record, folder_pass.recording(hashed), view)
    remove_paths(ctx, record, gone)
    changed = bool(gone or added or modified)
    folder_pass.save(lambda: current_view(ctx, record) if changed else view)
    return len(gone), added, modified


def _gone(view: Manifest, prefix: str, present: set[str]) -> list[str]:
    """The paths of ``view`` under ``prefix`` that the folder no longer holds."""
    return [p for p in view if (not prefix or p.startswith(prefix + "/")) and p not in present]


def _apply_changes(
    ctx: Context,
    record: VersionRecord,
    folder: Path,
    base: Manifest,
    max_workers: int | None,
    policy: scan.ReadPolicy,
) -> tuple[int, int, int]:
    """Apply the folder's changes since ``base`` to the draft; a path the folder holds as in
    ``base`` gets (back) what the parents hold there."""
    view, parents = current_view(ctx, record), parents_view(ctx, record)
    had_changes = next(iter(ctx.catalog.staged(record.id)), None) is not None
    folder_pass = FolderPass(ctx, str(folder), base, "", policy)
    files = folder_pass.find()
    present = {*files.paths(), *folder_pass.unchanged}
    untouched = list(folder_pass.unchanged)
    with (
        staging.packing(ctx, record, view) as keep,
        contextlib.closing(scan.hash_files(ctx, files, max_workers, keep, policy)) as found,
    ):
        hashed = folder_pass.recording(found)
        added, modified = stage_files(ctx, record, _changed(hashed, base, untouched), view)
    if had_changes:  # an earlier run's change to a path the folder now holds as it was
        ctx.catalog.unstage(record.id, [p for p in untouched if not _same(view, parents, p)])
    gone = [p for p in view if p not in present and (p in base or not _same(view, parents, p))]
    remove_paths(ctx, record, gone)
    folder_pass.save()
    return len(gone), added, modified


def _changed(
    hashed: Iterable[scan.HashedFile], base: Manifest, untouched: list[str]
) -> Iterator[scan.HashedFile]:
    """The files of ``hashed`` whose content ``base`` lacks; the others go to ``untouched``."""
    for item in hashed:
        at = base.position(item.path)
        if at is not None and base.raw_id_at(at) == bytes.fromhex(item.blob_id):
            untouched.append(item.path)
        else:
            yield item


def _same(first: Manifest, second: Manifest, path: str) -> bool:
    """Whether both manifests hold the same content at ``path`` (or both lack it)."""
    at, other = first.position(path), second.position(path)
    if at is None or other is None:
        return at is other
    return first.raw_id_at(at) == second.raw_id_at(other)


# A sync that creates its version and is killed before the close leaves a draft, which took
# the next version number. Each such run marks its draft under a key made of its arguments,
# so that the same sync run again continues that draft instead of leaving it behind.


def run_key(*arguments: object) -> str:
    """The key of a sync run made with ``arguments`` (any JSON-encodable values)."""
    encoded = json.dumps(arguments, sort_keys=True, default=str).encode()
    return blake3.blake3(encoded).hexdigest(16)


def unfinished_draft(ctx: Context, key: str) -> VersionRecord | None:
    """The draft a run of the same sync left unfinished, if it is still a draft."""
    marker = ctx.settings.home / SYNCS / key
    try:
        version_id = marker.read_text().strip()
        record: VersionRecord | None = ctx.catalog.get(version_id)
    except (OSError, UnicodeDecodeError, NotFoundError, InvalidInputError):
        record = None
    if record is None or record.state.is_final:
        forget_run(ctx, key)
        return None
    return record


def was_closing(ctx: Context, record: VersionRecord) -> bool:
    """Whether the draft's close was interrupted once its record was stored: then it can only
    be closed (see views.require_mutable)."""
    return ctx.storage(record.storage).exists(record_key(record.id))


def mark_run(ctx: Context, key: str, version_id: str) -> None:
    write_best_effort(ctx.settings.home / SYNCS / key, version_id.encode())


def forget_run(ctx: Context, key: str) -> None:
    with contextlib.suppress(OSError):
        (ctx.settings.home / SYNCS / key).unlink(missing_ok=True)
