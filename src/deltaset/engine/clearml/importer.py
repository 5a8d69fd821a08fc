"""Making deltaset versions of ClearML dataset versions, parents first.

Each ClearML version becomes one deltaset version with the same parents (as imported), name,
project, tags, description and metadata, and exactly the files and links of ClearML's state.
Its own files are read from its chunks and checked against ClearML's SHA-256 before anything
is created; the existing upload stores only the bytes the storage lacks. The ClearML id is
kept as the metadata ``clearml-import``: a version found with it is not imported again, and a
draft found with it (an interrupted import) is finished. A version that cannot be imported
whole is named and skipped, with every version that descends from it.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from deltaset.catalog.base import DraftChange, Query
from deltaset.core.hashing import external_id
from deltaset.core.manifest import Entry
from deltaset.core.records import VersionRecord
from deltaset.engine import metadata as metadata_op
from deltaset.engine.add import stage_files
from deltaset.engine.clearml.chunks import check_own_files, dataset_path, total
from deltaset.engine.clearml.layout import (
    ClearMLVersion,
    DamagedVersion,
    LinkItem,
    Unreadable,
    apply_task,
    find_versions,
    ordered,
)
from deltaset.engine.context import Context, cpu_workers
from deltaset.engine.create import create
from deltaset.engine.finalize import finalize
from deltaset.engine.remove import remove_paths
from deltaset.engine.upload import UploadOptions
from deltaset.engine.views import current_view, final_manifest
from deltaset.errors import InvalidInputError, NotFoundError, StorageError
from deltaset.faults import failpoint
from deltaset.storage import external
from deltaset.storage.registry import canonical_url, open_storage

log = logging.getLogger("deltaset")
MARK = "clearml-import"  # the metadata naming the ClearML version a version was made from
# A tag a draft is created with (in the same step), so that a draft an interruption left
# before its MARK was written is still known as this import's; removed once MARK is written.
PENDING = "clearml-import:"
TASK_FILE = "task.json"  # an offline session's Task


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one ClearML version."""

    clearml_id: str
    project: str
    name: str
    status: str  # imported, present (imported before) or skipped
    id: str | None = None
    reason: str = ""


@dataclass
class ImportReport:
    source: str
    outcomes: list[Outcome] = field(default_factory=list)
    files_checked: int = 0
    bytes_checked: int = 0
    stored_bytes: int = 0

    def of(self, status: str) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == status]

    def to_dict(self) -> dict[str, Any]:
        def rows(status: str) -> list[dict[str, Any]]:
            return [{k: v for k, v in asdict(o).items() if k != "status"} for o in self.of(status)]

        return {
            "source": self.source,
            "imported": rows("imported"),
            "present": rows("present"),
            "skipped": rows("skipped"),
            "files_checked": self.files_checked,
            "bytes_checked": self.bytes_checked,
            "stored_bytes": self.stored_bytes,
        }


Notify = Callable[[Outcome], None]
Found = tuple[list[ClearMLVersion], list[Unreadable]]


def import_clearml(
    ctx: Context,
    source: str,
    project: str | None = None,
    storage: str | None = None,
    max_workers: int | None = None,
    notify: Notify | None = None,
) -> ImportReport:
    """Import every ClearML dataset version under ``source`` (a storage location, an offline
    session folder or a zip of one), into ``project`` if given, each version's own project
    otherwise, storing its files in ``storage`` (default: where its parent's are, else the
    configured storage)."""
    with _opened(source) as (versions, broken):
        report = ImportReport(source)
        done = _imported(ctx, versions)
        run = _Run(ctx, report, done, project, storage, max_workers, notify or (lambda o: None))
        for bad in broken:
            run.note(Outcome(bad.id, bad.project, bad.name, "skipped", reason=bad.reason))
        for version in ordered(versions):
            run.one(version)
        return report


@contextmanager
def _opened(source: str) -> Iterator[Found]:
    """The versions under ``source``; an offline session zip is unpacked for the while."""
    local = Path(source).expanduser()
    if "://" not in source and local.is_file():
        with tempfile.TemporaryDirectory(prefix="deltaset-clearml-") as folder:
            try:
                with zipfile.ZipFile(local) as zipped:
                    zipped.extractall(folder)  # zipfile keeps every member inside the folder
            except (zipfile.BadZipFile, OSError) as exc:
                raise InvalidInputError(
                    f"{source} is not a ClearML offline session zip ({exc})."
                ) from exc
            yield _session_or_storage(_session_root(Path(folder)).as_uri(), source)
        return
    yield _session_or_storage(source, source)


def _session_root(folder: Path) -> Path:
    """The session folder in an unpacked zip: the zip's root, or the one folder in it."""
    if (folder / TASK_FILE).is_file():
        return folder
    inner = [p for p in folder.iterdir() if (p / TASK_FILE).is_file()]
    return inner[0] if len(inner) == 1 else folder


def _session_or_storage(url: str, shown: str) -> Found:
    storage = open_storage(url)
    task: dict[str, Any] | None = None
    if storage.exists(TASK_FILE):
        data = storage.get_bytes(TASK_FILE)  # outside the try: its errors are not bad JSON
        try:
            task = json.loads(data)
        except ValueError as exc:
            raise InvalidInputError(f"The offline session's {TASK_FILE} is not JSON.") from exc
        storage = open_storage(canonical_url(url) + "/data")
    default_project = canonical_url(url).rstrip("/").rsplit("/", 1)[-1]
    versions, broken = find_versions(storage, default_project)
    if not versions and not broken:
        raise NotFoundError(
            f"No ClearML dataset is under {shown} (looked for "
            "<project>/.datasets/<name>/<name>.<id>/artifacts/state/state.json)."
        )
    if task is not None:
        for version in versions:
            if version.id == task.get("id"):
                apply_task(version, task)
    return versions, broken


def _imported(ctx: Context, versions: list[ClearMLVersion]) -> dict[str, VersionRecord]:
    """The deltaset versions (final, or drafts left by an interruption) already made of
    ClearML versions named in ``versions``, by ClearML id: looked for by dataset name in every
    project, so one imported into another project (or moved since) is found too."""
    found: dict[str, VersionRecord] = {}
    for name in sorted({v.name for v in versions}):
        for record in ctx.catalog.search(Query(name=name)):
            clearml_id = _marked_id(ctx, record)
            if clearml_id and (clearml_id not in found or record.state.is_final):
                found[clearml_id] = record
    return found


def _marked_id(ctx: Context, record: VersionRecord) -> str | None:
    """The ClearML id ``record`` was made from, by its MARK or else its PENDING tag."""
    mark = ctx.catalog.get_metadata(record.id, MARK)
    if mark is not None:
        return str(json.loads(mark[1]).get("id") or "") or None
    if record.state.is_final:
        return None
    pending = [t[len(PENDING) :] for t in record.tags if t.startswith(PENDING)]
    return pending[0] if pending else None


class _Run:
    def __init__(
        self,
        ctx: Context,
        report: ImportReport,
        done: dict[str, VersionRecord],
        project: str | None,
        storage: str | None,
        max_workers: int | None,
        notify: Notify,
    ) -> None:
        self.ctx = ctx
        self.report = report
        self.done = done
        self.project = project
        self.storage = storage
        self.max_workers = max_workers
        self.notify = notify
        self.skipped: set[str] = set()

    def note(self, outcome: Outcome) -> None:
        if outcome.status == "skipped":
            self.skipped.add(outcome.clearml_id)  # the report and ``notify`` name it
        self.report.outcomes.append(outcome)
        self.notify(outcome)

    def one(self, version: ClearMLVersion) -> None:
        def outcome(status: str, record: VersionRecord | None = None, why: str = "") -> None:
            made = record.id if record else None
            self.note(Outcome(version.id, version.project, version.name, status, made, why))

        record = self.done.get(version.id)
        if record is not None and record.state.is_final:
            outcome("present", record)
            return
        reason = self._unready_parent(version)
        if reason:
            outcome("skipped", why=reason)
            return
        try:
            final = self._import(version, record)
        except DamagedVersion as exc:
            outcome("skipped", why=str(exc))
            return
        self.done[version.id] = final
        failpoint("clearml.after_version")
        outcome("imported", final)

    def _unready_parent(self, version: ClearMLVersion) -> str:
        for parent in version.parents:
            if parent in self.skipped:
                return f"its parent {parent} was skipped."
            if parent not in self.done:
                return f"its parent {parent} is not under {self.report.source}."
        return ""

    def _import(self, version: ClearMLVersion, draft: VersionRecord | None) -> VersionRecord:
        ctx = self.ctx
        work = ctx.settings.home / "import-clearml" / _folder_name(version.id)
        wanted = {dataset_path(f.path) for f in version.files}  # any path that escapes: skip
        links = {dataset_path(link.path): link for link in version.links}
        inherited = self._inherited(version)
        count, size = total(version.own_files)
        ctx.progress.start(f"checking {version.name} {version.id}", count, size)
        try:
            checked = check_own_files(version, work, cpu_workers(self.max_workers), _advance(ctx))
        except DamagedVersion:
            shutil.rmtree(work, ignore_errors=True)
            raise
        finally:
            ctx.progress.finish()
        self.report.files_checked += count
        self.report.bytes_checked += size
        record = draft or self._create(version)
        self._describe(version, record)
        record = ctx.catalog.get(record.id)  # its tags as they now are
        stage_files(ctx, record, checked)
        self._stage_links(record, links, version.id)
        self._stage_inherited(record, inherited)
        view = current_view(ctx, record)
        remove_paths(ctx, record, [p for p in view if p not in wanted and p not in links])
        failpoint("clearml.after_stage")
        final = finalize(ctx, record, UploadOptions(max_workers=self.max_workers))
        self.report.stored_bytes += final.stats.stored_bytes
        shutil.rmtree(work, ignore_errors=True)
        return final

    def _create(self, version: ClearMLVersion) -> VersionRecord:
        try:
            record = create(
                self.ctx,
                name=version.name,
                project=self.project or version.project or version.name,
                parents=[self.done[p].id for p in version.parents],
                tags=[*version.tags, PENDING + version.id],
                version=version.version,
                storage=self.storage,
                description=version.description,
            )
        except InvalidInputError as exc:
            raise DamagedVersion(str(exc)) from exc
        failpoint("clearml.after_create")
        return record

    def _describe(self, version: ClearMLVersion, record: VersionRecord) -> None:
        """Write the MARK and ClearML's metadata, then drop the PENDING tag (again, on a draft
        an interruption left: each step may be repeated)."""
        mark = {"id": version.id, "project": version.project, "name": version.name}
        metadata_op.set_metadata(self.ctx, record, MARK, mark)
        self._metadata(version, record)
        self.ctx.catalog.edit_tags(record.id, remove=[PENDING + version.id])

    def _metadata(self, version: ClearMLVersion, record: VersionRecord) -> None:
        """ClearML's metadata artifacts that are JSON, under their names; others are named."""
        for name, key in sorted(version.metadata.items()):
            if not key.endswith(".json") or not metadata_op.NAME.match(name) or name == MARK:
                log.warning("left out the ClearML metadata %r of %s (%s)", name, version.id, key)
                continue
            try:
                value = metadata_op.parse_json(version.storage.get_bytes(key), "ClearML metadata")
                metadata_op.set_metadata(self.ctx, record, name, value)
            except InvalidInputError as exc:
                log.warning("left out the ClearML metadata %r of %s: %s", name, version.id, exc)

    def _stage_links(
        self, record: VersionRecord, links: dict[str, LinkItem], record_owner: str
    ) -> None:
        """Link entries as deltaset's external files: by URL, size and etag as found now (a
        link that cannot be reached keeps ClearML's size and no etag)."""
        view = current_view(self.ctx, record)
        changes = []
        for path, link in sorted(links.items()):
            if link.owner != record_owner:
                continue  # inherited: as the ancestor's import keeps it
            try:
                found = external.stat(link.url, self.ctx.settings.s3)
                size, etag = found.size, found.etag
            except (StorageError, InvalidInputError) as exc:
                log.warning("the ClearML link %s cannot be reached (%s)", link.url, exc)
                size, etag = link.size, ""
            blob_id = external_id(link.url, size, etag)
            if path in view and view[path].blob_id == blob_id:
                continue
            changes.append(DraftChange(path, size=size, blob_id=blob_id, link=link.url, etag=etag))
        if changes:
            self.ctx.catalog.stage(record.id, changes)

    def _inherited(self, version: ClearMLVersion) -> dict[str, Entry]:
        """The files ``version`` inherits, as its ancestors' imports stored them (checked
        before anything is made: an ancestor that lacks one makes the version damaged)."""
        by_owner: dict[str, list[str]] = {}
        entries = [(f.owner, f.path) for f in version.files]
        for owner, path in entries + [(link.owner, link.path) for link in version.links]:
            if owner != version.id:
                by_owner.setdefault(owner, []).append(dataset_path(path))
        found: dict[str, Entry] = {}
        for owner, owned in sorted(by_owner.items()):  # each ancestor's manifest read once
            ancestor = self.done.get(owner)
            if ancestor is None:
                raise DamagedVersion(f"its file {owned[0]!r} is held by {owner}, not found.")
            manifest = final_manifest(self.ctx, ancestor)
            for path in owned:
                entry = manifest.get(path)
                if entry is None:
                    raise DamagedVersion(f"its file {path!r} is not in {owner}.")
                found[path] = entry
        return found

    def _stage_inherited(self, record: VersionRecord, inherited: dict[str, Entry]) -> None:
        """Inherited files whose content the merged parents' view does not give (ClearML
        merged them otherwise): staged by the blob the ancestor's import stored."""
        view = current_view(self.ctx, record)
        changes = [
            DraftChange(
                path, size=entry.size, blob_id=entry.blob_id, link=entry.link, etag=entry.etag
            )
            for path, entry in inherited.items()
            if path not in view or view[path].blob_id != entry.blob_id
        ]
        if changes:
            self.ctx.catalog.stage(record.id, changes)


def _folder_name(version_id: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in version_id)


def _advance(ctx: Context) -> Callable[[int, int], None]:
    return ctx.progress.advance
