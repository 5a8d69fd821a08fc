"""Setting aside the files of a folder that are as its last add or sync saw them.

See :mod:`deltaset.cache.folders`: a file whose path, stat and the draft's content at that path
all match a line saved for its folder needs no hash-cache query, no hashing and no staging.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator

from deltaset.cache.folders import MAX_FILES, state_line
from deltaset.core.manifest import Manifest
from deltaset.engine.context import Context
from deltaset.engine.scan import RACY_SECONDS, Found, HashedFile, LocalFile


class FolderPass:
    """One add or sync over ``folder``: sets aside the files found as they were (:meth:`sift`),
    notes the new state as the rest are hashed (:meth:`recording`), saves it (:meth:`save`)."""

    def __init__(self, ctx: Context, folder: str | None, view: Manifest) -> None:
        """``folder`` is None when the files are not all of one folder (nothing is skipped)."""
        self._ctx = ctx
        self._folder = folder
        self._view = view
        self._lines: list[str] = []
        self.unchanged: list[str] = []  # the dataset paths of the files set aside

    def sift(self, found: Iterable[Found]) -> list[LocalFile]:
        """The files of ``found`` to hash: all but those whose path, stat and content in the
        view match a line of the folder's state. Their paths go to :attr:`unchanged`."""
        known = self._ctx.folder_states.load(self._folder) if self._folder else set()
        if not known:
            files = [LocalFile(*f) for f in found]
        else:
            files = self._sift(found, known, self._view.ids_by_path().get)
        if len(files) + len(self.unchanged) > MAX_FILES:
            self._folder = None  # above this, the batch-by-batch hash cache keeps memory bounded
        return files

    def _sift(
        self, found: Iterable[Found], known: set[str], content: Callable[[str, str], str]
    ) -> list[LocalFile]:
        files: list[LocalFile] = []
        lines, unchanged = self._lines, self.unchanged
        # One loop, no object for a file set aside: this runs for every file of the folder.
        for source, landing, stat in found:
            path = landing.prefix + source[landing.cut :]
            line = state_line(
                path, stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, content(path, "")
            )
            if line in known:
                lines.append(line)
                unchanged.append(path)
            else:
                files.append(LocalFile(source, landing, stat))
        return files

    def recording(self, hashed: Iterable[HashedFile]) -> Iterator[HashedFile]:
        """``hashed``, noting each file for the new state; not one changed too recently to
        be sure a later change moves its mtime (as for the hash cache)."""
        settled_before = time.time() - RACY_SECONDS
        for item in hashed:
            if self._folder and item.key[3] / 1e9 < settled_before:
                self._lines.append(state_line(item.path, *item.key, item.blob_id))
            yield item

    def save(self) -> None:
        if self._folder:
            self._ctx.folder_states.save(self._folder, self._lines)
