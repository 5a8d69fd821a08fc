"""Offline sessions: versions made without the team's server, imported into it later.

With offline mode on (``DELTASET_OFFLINE=1``, ``Dataset.set_offline(True)``), every command
works with the session folder of this machine, ``$DELTASET_HOME/offline``: its own embedded
catalog (``catalog.db``) and its own storage (``storage/``). Nothing is sent anywhere, and
nothing falls back to it on its own: a server that cannot be reached is an error that names
offline mode, so a team's history is never split without someone choosing to.

:func:`import_session` moves what a session made into the configured catalog (the server's)
or another place, through the copy every ``deltaset push`` makes (``engine.transfer``): ids,
parents, version numbers, tags and metadata kept, only the bytes the target lacks sent,
finished by running it again, a no-op the second time. Drafts are closed in the session first
when asked (``finalize``), as ClearML finalizes an imported session; otherwise they stay in the
session, named in the report. A session folder may be moved to another machine or zipped: the
note ``session.json`` says where its storage was, so its versions' records still find it.
"""

from __future__ import annotations

import json
import logging
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from deltaset.catalog.base import Query
from deltaset.core.records import VersionRecord
from deltaset.engine import finalize as finalize_op
from deltaset.engine.context import Context
from deltaset.engine.transfer import Place, copy_versions
from deltaset.engine.upload import UploadOptions
from deltaset.errors import InvalidInputError, NotFoundError, StateError
from deltaset.storage.base import Storage
from deltaset.storage.registry import canonical_url

log = logging.getLogger("deltaset")

CATALOG_FILE = "catalog.db"
STORAGE_FOLDER = "storage"
SESSION_FILE = "session.json"


def open_session(folder: Path, storage_url: str) -> Path:
    """The catalog file of the session in ``folder``; a new session notes where its storage is
    (``storage_url``) and says loudly where its versions go."""
    note = folder / SESSION_FILE
    if not note.exists():
        folder.mkdir(parents=True, exist_ok=True)
        part = note.with_name(note.name + ".part")
        part.write_text(json.dumps({"storage": canonical_url(storage_url)}) + "\n")
        part.replace(note)
        log.warning(
            "offline mode: dataset versions are kept in %s until you import them "
            "(deltaset import-offline, or Dataset.import_offline_session)",
            folder,
        )
    return folder / CATALOG_FILE


@dataclass
class SessionReport:
    """What an import did: ``id`` is the newest version imported (ClearML's return value);
    ``finalized`` the drafts closed first, ``drafts`` those left in the session; ``copied``,
    ``present`` and ``stored_bytes`` as a push reports them."""

    session: str
    target: str
    id: str
    versions: list[str] = field(default_factory=list)  # the session's final versions
    finalized: list[str] = field(default_factory=list)
    drafts: list[str] = field(default_factory=list)
    copied: list[str] = field(default_factory=list)
    present: list[str] = field(default_factory=list)
    stored_bytes: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def import_session(
    ctx: Context,
    location: Path,
    target: Place,
    upload: bool = True,
    finalize: bool = False,
    max_workers: int | None = None,
) -> SessionReport:
    """Copy the final versions of the session at ``location`` (its folder, or a zip of it) to
    ``target``, after closing its drafts if ``finalize``; with ``upload`` False nothing is
    sent (the drafts are still closed if asked)."""
    if ctx.settings.offline_session is not None:
        raise StateError(
            "Offline mode is on, so there is nothing to import into; turn it off "
            "(DELTASET_OFFLINE=0, deltaset config set offline off, or "
            "Dataset.set_offline(False)) and import again."
        )
    with _unpacked(location) as folder:
        session = _session_context(ctx, folder)
        try:
            source = Place(session.storage_url(None), session.catalog, _opener(ctx, folder))
            return _import(
                ctx, session, source, target, str(location), upload, finalize, max_workers
            )
        finally:
            session.close()


def _import(
    ctx: Context,
    session: Context,
    source: Place,
    target: Place,
    location: str,
    upload: bool,
    finalize: bool,
    max_workers: int | None,
) -> SessionReport:
    finalized = _close_drafts(session, source, location, max_workers) if finalize else []
    records = _versions(session)
    finals = [r for r in records if r.state.is_final]
    if not finals:
        raise StateError(_nothing_final(location, records))
    report = SessionReport(location, target.url, finals[-1].id, [r.id for r in finals])
    report.finalized = finalized
    report.drafts = [r.id for r in records if not r.state.is_final]
    if report.drafts:
        log.warning(
            "the offline session's drafts %s stay in it; close them, or import with "
            "finalize=True (--finalize)",
            ", ".join(report.drafts),
        )
    if upload:
        _refuse_taken_versions(target, finals)
        done = copy_versions(ctx, report.versions, source, target, max_workers)
        report.copied, report.present, report.stored_bytes = (
            done.copied,
            done.present,
            done.stored_bytes,
        )
    return report


def _close_drafts(
    session: Context, source: Place, location: str, max_workers: int | None
) -> list[str]:
    """Close the session's drafts, as ClearML's ``finalize=True`` does; returns their ids."""
    closed = []
    for draft in _versions(session):
        if not draft.state.is_final:
            _require_in_place(source, draft, location)
            finalize_op.finalize(session, draft, UploadOptions(max_workers=max_workers))
            closed.append(draft.id)
    return closed


def _versions(session: Context) -> list[VersionRecord]:
    """Every version of the session, oldest first."""
    return sorted(session.catalog.search(Query()), key=lambda r: (r.created, r.id))


def _nothing_final(location: str, records: list[VersionRecord]) -> str:
    if not records:
        return f"The offline session {location} holds no dataset version."
    return (
        f"The offline session {location} holds only drafts ({', '.join(r.id for r in records)});"
        " close them, or import with finalize=True (--finalize)."
    )


def _refuse_taken_versions(target: Place, finals: list[VersionRecord]) -> None:
    """Refuse, before anything is sent, a version number the target gave another version
    meanwhile: the team's history would otherwise hold two versions 1.0.3 of one dataset."""
    if target.catalog is None:
        return  # a storage alone keeps records by id, never by number
    for record in finals:
        query = Query(project=record.project, name=record.name, version=record.version)
        query = replace(query, recursive_project=False)
        taken = [r.id for r in target.catalog.search(query) if r.id != record.id]
        if taken:
            raise StateError(
                f"Version {record.version} of {record.project}/{record.name} was made offline "
                f"as {record.id}, but {target.url} already has it as {taken[0]}; rename the "
                "dataset in the session (DELTASET_OFFLINE=1 deltaset rename ...) and import "
                "again."
            )


def _session_context(ctx: Context, folder: Path) -> Context:
    """A context working with the session in ``folder``, as offline mode does."""
    settings = replace(
        ctx.settings,
        offline_session=folder,
        default_storage=str(folder / STORAGE_FOLDER),
        discover_interval=None,  # its catalog knows all it made
    )
    return Context(settings=settings, progress=ctx.progress)


def _opener(ctx: Context, folder: Path) -> Callable[[str], Storage]:
    """How the session's storages are opened: the one its note names is its folder's now."""
    here = canonical_url(str(folder / STORAGE_FOLDER))
    recorded = _recorded_storage(folder) or here

    def open_there(url: str) -> Storage:
        found = canonical_url(url)
        return ctx.storage(here if found == recorded else found)

    return open_there


def _recorded_storage(folder: Path) -> str | None:
    try:
        note = json.loads((folder / SESSION_FILE).read_text())
    except (OSError, ValueError):
        return None
    found = note.get("storage") if isinstance(note, dict) else None
    return canonical_url(found) if isinstance(found, str) else None


def _require_in_place(source: Place, draft: VersionRecord, location: str) -> None:
    """A draft is closed where it was made: its files are read from where they were added."""
    if canonical_url(draft.storage) != source.url:
        raise StateError(
            f"The draft {draft.id} of the offline session {location} was made in another "
            "place; close it on the machine that made it, then import."
        )


@contextmanager
def _unpacked(location: Path) -> Iterator[Path]:
    """The session folder at ``location``, or the one a zip there holds, unpacked."""
    if not location.exists():
        raise NotFoundError(
            f"No offline session is at {location}; offline mode (DELTASET_OFFLINE=1) makes one."
        )
    if location.is_dir():
        yield _session_root(location, location)
        return
    if not zipfile.is_zipfile(location):
        raise InvalidInputError(
            f"{location} is neither an offline session folder nor a zip of one."
        )
    with tempfile.TemporaryDirectory(prefix="deltaset-session-") as scratch:
        with zipfile.ZipFile(location) as archive:
            archive.extractall(scratch)  # names with .. or a leading / are made harmless
        yield _session_root(Path(scratch), location)


def _session_root(folder: Path, location: Path) -> Path:
    """``folder`` if it holds a session, else its one subfolder that does (a zip of the folder
    itself rather than of its contents)."""
    if (folder / CATALOG_FILE).is_file():
        return folder
    inside = [p for p in folder.iterdir() if (p / CATALOG_FILE).is_file()]
    if len(inside) == 1:
        return inside[0]
    raise NotFoundError(f"{location} holds no offline session (no {CATALOG_FILE}).")
