"""``deltaset://``: an fsspec filesystem over final dataset versions, read in place.

pandas, PyArrow, Dask, Hugging Face ``datasets`` and anything else that takes an fsspec URL
read a version's files straight from storage, fetching only the byte ranges they read.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any, NoReturn

from fsspec import AbstractFileSystem

from deltaset.core.manifest import Entry, Manifest
from deltaset.core.records import VersionRecord
from deltaset.engine import ids as version_ids
from deltaset.engine import reading, uses
from deltaset.engine.context import Context, default_context
from deltaset.engine.views import final_manifest, find, require_final
from deltaset.errors import InvalidInputError, NotFoundError

PROTOCOL = "deltaset"
LATEST = "latest"
MANIFESTS_KEPT = 4  # decoded manifests one filesystem keeps: each can be large


@dataclass(frozen=True, slots=True)
class VersionRef:
    """The version a URL names: by id, by project/name and version, or the highest version
    (``version`` empty). ``prefix`` is how the URL spelled it, kept in the paths returned."""

    prefix: str
    dataset_id: str = ""
    project: str = ""
    name: str = ""
    version: str = ""


def parse_url(url: str) -> tuple[VersionRef, str]:
    """The version a ``deltaset://`` URL (or a path without the protocol) names, and the path
    inside it (empty for the version's root); see :class:`DeltasetFileSystem` for the forms."""
    text = url.removeprefix(f"{PROTOCOL}://").strip("/")
    segments = [s for s in text.split("/") if s not in ("", ".")]
    if segments and segments[0].startswith("id="):
        ref, used = VersionRef(segments[0], dataset_id=segments[0][3:]), 1
    else:
        ref, used = _named_ref(segments, url)
    if ref.dataset_id == "" and not (ref.project and ref.name):
        raise InvalidInputError(_usage(url))
    return ref, "/".join(segments[used:])


def _named_ref(segments: list[str], url: str) -> tuple[VersionRef, int]:
    """``project/name@version``, where the first segment holding ``@`` ends the project (which
    may have sub-projects), or else ``project/name`` with a one-segment project."""
    marked = next((at for at, s in enumerate(segments) if "@" in s), None)
    if marked is None:
        if len(segments) < 2:
            raise InvalidInputError(_usage(url))
        return VersionRef("/".join(segments[:2]), project=segments[0], name=segments[1]), 2
    name, _, version = segments[marked].rpartition("@")
    prefix = "/".join(segments[: marked + 1])
    project = "/".join(segments[:marked])
    if version in ("", LATEST):
        version = ""
    return VersionRef(prefix, project=project, name=name, version=version), marked + 1


def _usage(url: str) -> str:
    return (
        f"The URL {url!r} names no dataset version: use deltaset://PROJECT/NAME@VERSION/PATH, "
        "deltaset://PROJECT/NAME/PATH (the highest version) or deltaset://id=ID/PATH."
    )


class DeltasetFileSystem(AbstractFileSystem):  # type: ignore[misc]  # fsspec has no types
    """Read-only fsspec filesystem over final dataset versions (protocol ``deltaset``).

    URL forms (the dataset part, then the path of a file or folder inside the version)::

        deltaset://PROJECT/NAME@VERSION/PATH   a version: 1.2.0, or "latest" for the highest
        deltaset://PROJECT/NAME/PATH           the highest final version (one-segment project)
        deltaset://id=ID/PATH                  a version by id

    The first segment holding ``@`` ends the dataset part, so a project may have sub-projects:
    ``deltaset://vision/pets/cats@1.0.0/train/0.jpg`` is dataset ``cats`` of project
    ``vision/pets``. Without ``@`` the project is the first segment and the name the second;
    sub-projects there need ``NAME@latest``. A name holding ``@`` needs an explicit version
    (the last ``@`` of the segment separates it) or the id form; a project holding ``@`` needs
    the id form.

    Reads fetch only the byte ranges asked for, through the local cache (see
    :meth:`deltaset.Dataset.open`). Folders are derived from the files' paths. Which version
    ``NAME`` and ``NAME@latest`` stand for is looked up again after ``version_ttl`` seconds (or
    on :meth:`invalidate_cache`); a version named by number or id never changes once final.
    Writes raise ``PermissionError``: a final version never changes.
    """

    protocol = PROTOCOL
    root_marker = ""

    def __init__(self, version_ttl: float = 10.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.version_ttl = version_ttl
        self._ctx: Context | None = None
        # URL prefix -> its version, and until when (monotonic) that holds; None: for good.
        self._records: dict[str, tuple[VersionRecord, float | None]] = {}
        self._manifests: OrderedDict[str, Manifest] = OrderedDict()

    # -- resolving URLs ---------------------------------------------------------------------

    def _context(self) -> Context:
        """This process's context; what was kept under another one (another home) is dropped."""
        ctx = default_context()
        if ctx is not self._ctx:
            self._ctx = ctx
            self.invalidate_cache()
        return ctx

    def _record(self, ctx: Context, ref: VersionRef) -> VersionRecord:
        kept = self._records.get(ref.prefix)
        if kept is not None and (kept[1] is None or time.monotonic() < kept[1]):
            return kept[0]
        if ref.dataset_id:
            record = ctx.catalog.get(version_ids.resolve(ctx.catalog, ref.dataset_id))
        else:
            # The highest version is the highest final one; a version asked for by number
            # is found in any state, so a draft gets the error a pull gives.
            highest = not ref.version
            record = find(ctx, ref.project, ref.name, ref.version or None, only_completed=highest)
        require_final(record, "read its files")
        # A version named by number or id is final for good; "the highest" may move on.
        until = time.monotonic() + self.version_ttl if _is_highest(ref) else None
        self._records[ref.prefix] = (record, until)
        return record

    def _resolve(self, path: str) -> tuple[Context, VersionRecord, Manifest, str, str]:
        """The context, version, its manifest, the URL's dataset prefix and the inner path."""
        ref, inner = parse_url(self._strip_protocol(path))
        ctx = self._context()
        record = self._record(ctx, ref)
        manifest = self._manifests.get(record.id)
        if manifest is None:
            manifest = final_manifest(ctx, record)
            self._manifests[record.id] = manifest
            while len(self._manifests) > MANIFESTS_KEPT:
                self._manifests.popitem(last=False)
        else:
            self._manifests.move_to_end(record.id)
        return ctx, record, manifest, ref.prefix, inner

    def invalidate_cache(self, path: str | None = None) -> None:
        """Forget which versions URLs named and their manifests (all of them: they are few)."""
        self._records.clear()
        self._manifests.clear()
        super().invalidate_cache(path)

    # -- listing ----------------------------------------------------------------------------

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        with _as_file_not_found():
            _, record, manifest, prefix, inner = self._resolve(path)
        folder = inner + "/" if inner else ""
        if inner and inner in manifest:
            found = [self._file_info(prefix, inner, manifest, record)]
        else:
            found = self._children(prefix, folder, manifest, record)
            if inner and not found:
                raise FileNotFoundError(_missing(record, inner))
        return found if detail else [f["name"] for f in found]

    def _children(
        self, prefix: str, folder: str, manifest: Manifest, record: VersionRecord
    ) -> list[dict[str, Any]]:
        """The files and folders right inside ``folder`` (``""`` or ending with ``/``)."""
        found = []
        span = manifest.span(folder)
        at = span.start
        while at < span.stop:
            path = manifest.path_at(at)
            head, below, _ = path[len(folder) :].partition("/")
            if below:
                found.append(_folder_info(f"{prefix}/{folder}{head}"))
                at = manifest.span(f"{folder}{head}/").stop  # past everything in that folder
            else:
                found.append(self._file_info(prefix, path, manifest, record))
                at += 1
        return found

    def _file_info(
        self, prefix: str, path: str, manifest: Manifest, record: VersionRecord
    ) -> dict[str, Any]:
        entry = manifest[path]
        return {
            "name": f"{prefix}/{path}",
            "size": entry.size,
            "type": "file",
            "blob_id": entry.blob_id,
            "version_id": record.id,
        }

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        with _as_file_not_found():
            _, record, manifest, prefix, inner = self._resolve(path)
        if not inner:
            return _folder_info(prefix)
        if inner in manifest:
            return self._file_info(prefix, inner, manifest, record)
        if manifest.span(inner + "/"):
            return _folder_info(f"{prefix}/{inner}")
        raise FileNotFoundError(_missing(record, inner))

    def ukey(self, path: str) -> str:
        """The content id of a file: the same bytes, the same key, in any version."""
        return str(self.info(path)["blob_id"])

    # -- reading ----------------------------------------------------------------------------

    def _open(
        self,
        path: str,
        mode: str = "rb",
        block_size: int | None = None,
        autocommit: bool = True,
        cache_options: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> IO[bytes]:
        if mode != "rb":
            _refuse(path)
        ctx, record, clean, entry = self._entry(path)
        return reading.VersionFileReader(reading.open_entry(ctx, record, clean, entry))

    def cat_file(
        self, path: str, start: int | None = None, end: int | None = None, **kwargs: Any
    ) -> bytes:
        ctx, record, clean, entry = self._entry(path)
        return reading.read_range(
            ctx, record, clean, entry, start or 0, entry.size if end is None else end
        )

    def _entry(self, path: str) -> tuple[Context, VersionRecord, str, Entry]:
        with _as_file_not_found():
            ctx, record, manifest, _, inner = self._resolve(path)
            if not inner:
                raise IsADirectoryError(f"{path} is a dataset version, not a file.")
            clean, entry = reading.file_entry(ctx, record, inner, manifest)
        uses.record(ctx, record)
        return ctx, record, clean, entry

    # -- writing: never ---------------------------------------------------------------------

    def mkdir(self, path: str, *args: Any, **kwargs: Any) -> NoReturn:
        _refuse(path)

    def makedirs(self, path: str, *args: Any, **kwargs: Any) -> NoReturn:
        _refuse(path)

    def rmdir(self, path: str) -> NoReturn:
        _refuse(path)

    def rm_file(self, path: str) -> NoReturn:
        _refuse(path)

    def _rm(self, path: str) -> NoReturn:
        _refuse(path)

    def rm(self, path: str, *args: Any, **kwargs: Any) -> NoReturn:
        _refuse(path)

    def cp_file(self, path1: str, path2: str, **kwargs: Any) -> NoReturn:
        _refuse(path2)

    def mv(self, path1: str, path2: str, *args: Any, **kwargs: Any) -> NoReturn:
        _refuse(path1)

    def pipe_file(self, path: str, *args: Any, **kwargs: Any) -> NoReturn:
        _refuse(path)

    def put_file(self, lpath: str, rpath: str, *args: Any, **kwargs: Any) -> NoReturn:
        _refuse(rpath)

    def touch(self, path: str, *args: Any, **kwargs: Any) -> NoReturn:
        _refuse(path)


def _is_highest(ref: VersionRef) -> bool:
    return not ref.dataset_id and not ref.version


def _folder_info(name: str) -> dict[str, Any]:
    return {"name": name, "size": 0, "type": "directory"}


def _missing(record: VersionRecord, path: str) -> str:
    return (
        f"The dataset version {record.id} ({record.project}/{record.name} {record.version}) "
        f"has no file or folder {path}."
    )


def _refuse(path: str) -> NoReturn:
    raise PermissionError(
        f"{PROTOCOL}://{path} is read-only: a final dataset version never changes; create a new "
        "version (Dataset.create with this one as a parent) to change its files."
    )


@contextmanager
def _as_file_not_found() -> Iterator[None]:
    """fsspec's callers (pyarrow, ``exists``) look for ``FileNotFoundError`` when a path, a
    dataset or a version is missing; deltaset's own sentence is kept as its message."""
    try:
        yield
    except NotFoundError as exc:
        raise FileNotFoundError(str(exc)) from exc
