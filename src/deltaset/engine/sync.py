"""Making a draft mirror a local folder: additions, modifications and removals."""

from __future__ import annotations

from pathlib import Path

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


def sync_folder(
    ctx: Context,
    record: VersionRecord,
    local_path: str,
    dataset_path: str | None = None,
    max_workers: int | None = None,
) -> tuple[int, int, int]:
    """Returns (removed, added, modified)."""
    require_mutable(ctx, record)
    folder = Path(local_path).expanduser()
    if not folder.exists():
        raise NotFoundError(f"The folder {local_path} does not exist.")
    if not folder.is_dir():
        raise InvalidInputError(f"{local_path} is a file; sync needs a folder.")
    prefix = paths.normalize_folder(dataset_path)
    view = current_view(ctx, record)
    folder_pass = FolderPass(ctx, str(folder), view)
    files = folder_pass.sift(scan.find(str(folder), None, None, prefix, recursive=True))
    gone = _gone(view, prefix, {f.path for f in files}.union(folder_pass.unchanged))
    with staging.packing(ctx, record, view) as keep:
        hashed = scan.hash_files(ctx, files, max_workers, keep)
        added, modified = stage_files(ctx, record, folder_pass.recording(hashed), view)
    remove_paths(ctx, record, gone)
    folder_pass.save()
    return len(gone), added, modified


def _gone(view: Manifest, prefix: str, present: set[str]) -> list[str]:
    """The paths of ``view`` under ``prefix`` that the folder no longer holds."""
    return [p for p in view if (not prefix or p.startswith(prefix + "/")) and p not in present]
