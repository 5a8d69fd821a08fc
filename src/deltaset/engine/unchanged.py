"""Setting aside the files of a folder that are as its last add or sync saw them.

See :mod:`deltaset.cache.folders`: a file whose path, stat and the draft's content at that path
all match a line saved for its folder needs no hash-cache query, no hashing and no staging.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator

from deltaset.cache.folders import MAX_FILES, state_line
from deltaset.core.manifest import Manifest
from deltaset.engine.context import Context
from deltaset.engine.scan import RACY_SECONDS, HashedFile, LocalFile


class FolderPass:
    """One add or sync over ``folder``: the files to hash (``todo``), and the folder's new
    state, saved by :meth:`save` once they are staged."""

    def __init__(
        self,
        ctx: Context,
        folder: str | None,
        files: list[LocalFile],
        view: Manifest,
        paths: list[str] | None = None,
    ) -> None:
        """``folder`` is None when the files are not all of one folder (nothing is skipped);
        ``paths`` are the files' dataset paths, when the caller has them already."""
        self._ctx = ctx
        self._folder = folder if len(files) <= MAX_FILES else None
        self._lines: list[str] = []
        self.todo = files
        known = ctx.folder_states.load(self._folder) if self._folder else set()
        if not known:
            return
        content = view.ids_by_path().get
        found = paths if paths is not None else [f.path for f in files]
        lines = [
            state_line(path, f.key, content(path, "")) for f, path in zip(files, found, strict=True)
        ]
        self._lines = [line for line in lines if line in known]
        self.todo = [f for f, line in zip(files, lines, strict=True) if line not in known]

    def recording(self, hashed: Iterable[HashedFile]) -> Iterator[HashedFile]:
        """``hashed``, noting each file for the new state; not one changed too recently to
        be sure a later change moves its mtime (as for the hash cache)."""
        settled_before = time.time() - RACY_SECONDS
        for item in hashed:
            if self._folder and item.key[3] / 1e9 < settled_before:
                self._lines.append(state_line(item.path, item.key, item.blob_id))
            yield item

    def save(self) -> None:
        if self._folder:
            self._ctx.folder_states.save(self._folder, self._lines)
