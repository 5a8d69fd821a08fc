"""Making a draft mirror a local folder: additions, modifications and removals."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import blake3

from deltaset.core import paths
from deltaset.core.manifest import Manifest
from deltaset.core.records import VersionRecord
from deltaset.engine import scan, staging
from deltaset.engine.add import stage_files
from deltaset.engine.context import Context
from deltaset.engine.remove import remove_paths
from deltaset.engine.unchanged import FolderPass
from deltaset.engine.views import current_view, require_mutable
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
) -> tuple[int, int, int]:
    """Returns (removed, added, modified). A file ``policy`` skips as unreadable is neither
    added nor removed: the draft keeps what it had at its path."""
    require_mutable(ctx, record)
    folder = Path(local_path).expanduser()
    if not folder.exists():
        raise NotFoundError(f"The folder {local_path} does not exist.")
    if not folder.is_dir():
        raise InvalidInputError(f"{local_path} is a file; sync needs a folder.")
    prefix = paths.normalize_folder(dataset_path)
    view = current_view(ctx, record)
    folder_pass = FolderPass(ctx, str(folder), view)
    files = folder_pass.sift(scan.find(str(folder), None, None, prefix, True, policy))
    gone = _gone(view, prefix, {f.path for f in files}.union(folder_pass.unchanged))
    with staging.packing(ctx, record, view) as keep:
        hashed = scan.hash_files(ctx, files, max_workers, keep, policy)
        added, modified = stage_files(ctx, record, folder_pass.recording(hashed), view)
    remove_paths(ctx, record, gone)
    folder_pass.save()
    return len(gone), added, modified


def _gone(view: Manifest, prefix: str, present: set[str]) -> list[str]:
    """The paths of ``view`` under ``prefix`` that the folder no longer holds."""
    return [p for p in view if (not prefix or p.startswith(prefix + "/")) and p not in present]


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
