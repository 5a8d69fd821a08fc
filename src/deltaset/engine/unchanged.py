"""Setting aside the files of a folder that are as its last add or sync saw them.

See :mod:`deltaset.cache.folders`: a file whose path, stat and the draft's content at that path
all match a line saved for its folder needs no hash-cache query, no hashing and no staging.

When a ``deltaset watch`` vouches for the folder (:mod:`deltaset.engine.watched`) since the
state was saved, the folder is not walked at all: only the paths its journal names are looked
at, every other line of the state stands as it is. When moreover the draft holds what the last
add or sync left under the folder's dataset path, nothing needs looking at.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from itertools import islice

from deltaset.cache.folders import RACY, FolderState, Meta, state_line
from deltaset.core.manifest import Manifest
from deltaset.engine import scan, watched
from deltaset.engine.context import Context
from deltaset.engine.found import FoundFiles
from deltaset.engine.scan import RACY_SECONDS, Found, HashedFile

log = logging.getLogger("deltaset")
STRETCH = 4096  # files walked between two tellings of ``walked`` (see FolderPass)


class FolderPass:
    """One add or sync over ``folder``: finds the files to hash, setting aside those found as
    they were (:meth:`find`, :meth:`sift`), notes the new state as the rest are hashed
    (:meth:`recording`), saves it (:meth:`save`)."""

    def __init__(
        self,
        ctx: Context,
        folder: str | None,
        view: Manifest,
        prefix: str = "",
        policy: scan.ReadPolicy = scan.STRICT,
        walked: Callable[[FoundFiles], object] | None = None,
    ) -> None:
        """``folder`` is None when the files are not all of one folder (nothing is skipped);
        ``prefix``: the dataset path its files land under; ``walked`` is told the files to
        hash found so far after every stretch of the walk (to start hashing them early)."""
        self._ctx = ctx
        self._walked = walked
        self._folder = folder
        self._view = view
        self._prefix = prefix
        self._policy = policy
        self._lines: list[str] = []
        self._links: list[str] = []
        self._shared = policy.copy_unsafe_links  # a file may change under another path
        self._position: watched.Position | None = None
        self.unchanged: list[str] = []  # the dataset paths of the files set aside
        self.walked = True  # whether the whole folder was walked
        self.nothing_changed = False  # found without looking at a file (see find)
        self._to_hash = 0  # files handed out to hash, and of them, recorded hashed:
        self._hashed = 0  # a file left unhashed (unreadable, skipped) is in no line

    def find(self, allow_nothing: bool = False) -> FoundFiles:
        """The files of the folder to hash; with ``allow_nothing``, none, with
        :attr:`nothing_changed` set, when the watcher saw no change since the state was saved
        and the draft holds what the folder held then (the caller must check it)."""
        assert self._folder is not None
        state = self._ctx.folder_states.load_state(self._folder)
        self._position = watched.position(self._ctx, self._folder)
        changed = self._changed_since(state.meta)
        if changed is None or "" in changed:
            return self.sift(self._walk(), state)
        self.walked = False
        if allow_nothing and not changed and state.meta.digest == self._digest(self._view):
            self.nothing_changed = True
            return FoundFiles()
        log.info(
            "%s: the watcher saw %d paths change; the rest stands.", self._folder, len(changed)
        )
        return self._from_journal(state, changed)

    def _walk(self) -> Iterator[Found]:
        assert self._folder is not None
        self.walked = True
        return scan.find(self._folder, None, None, self._prefix, True, self._policy, self._links)

    def _changed_since(self, meta: Meta) -> set[str] | None:
        """The paths the watcher saw change since ``meta``'s walk; None if it cannot tell."""
        at = self._position
        if at is None or at.session != meta.session or not meta.watchable:
            return None
        if meta.prefix != self._prefix or meta.seq < 0:
            return None
        return at.changed_since(meta.seq)

    def sift(self, found: Iterable[Found], state: FolderState | None = None) -> FoundFiles:
        """The files of ``found`` to hash: all but those whose path, stat and content in the
        view match a line of the folder's state. Their paths go to :attr:`unchanged`."""
        if state is None:
            state = self._ctx.folder_states.load_state(self._folder) if self._folder else None
        known = (state.lines() if state is not None else None) or set()
        if not known:
            return self._handed_out(self._new_files(found))
        return self._handed_out(self._sift(found, known, self._view.ids_by_path().get))

    def _handed_out(self, files: FoundFiles) -> FoundFiles:
        self._to_hash = len(files)
        return files

    def _new_files(self, found: Iterable[Found]) -> FoundFiles:
        files, shared = FoundFiles(), False
        add = files.add
        for stretch in self._stretches(found, files):
            for source, landing, stat in stretch:
                shared = shared or stat.st_nlink > 1
                add(source, landing, stat)
        self._shared = self._shared or shared
        return files

    def _stretches(self, found: Iterable[Found], files: FoundFiles) -> Iterator[Iterable[Found]]:
        """``found`` a stretch at a time, ``walked`` told ``files`` after each (when there is
        one to tell: else the whole walk as one stretch)."""
        walked = self._walked
        if walked is None:
            yield found
            return
        found = iter(found)
        while stretch := list(islice(found, STRETCH)):
            yield stretch
            walked(files)

    def _sift(
        self, found: Iterable[Found], known: set[str], content: Callable[[str, str], str]
    ) -> FoundFiles:
        files = FoundFiles()
        lines, unchanged = self._lines, self.unchanged
        shared = False
        # One loop, no object for a file set aside: this runs for every file of the folder.
        # A line matched leaves ``known`` as its twin joins ``lines``: one copy stays in memory.
        for stretch in self._stretches(found, files):
            for source, landing, stat in stretch:
                path = landing.prefix + source[landing.cut :]
                line = state_line(
                    path,
                    stat.st_dev,
                    stat.st_ino,
                    stat.st_size,
                    stat.st_mtime_ns,
                    content(path, ""),
                )
                shared = shared or stat.st_nlink > 1
                if line in known:
                    known.discard(line)
                    lines.append(line)
                    unchanged.append(path)
                else:
                    files.add(source, landing, stat)
        self._shared = self._shared or shared
        return files

    def _from_journal(self, state: FolderState, changed: set[str]) -> FoundFiles:
        """The files to hash when only the paths ``changed`` may differ from ``state``: each
        other line stands (the view holding its content), the rest are looked at."""
        known = state.lines()
        if known is None:  # damaged since its meta was read: nothing but a walk is safe
            return self.sift(self._walk(), state)
        # The draft holding what the last sync left, every line's content is the view's: only
        # the few files looked at need a lookup, not a dict of every path.
        same_view = bool(state.meta.digest) and state.meta.digest == self._digest(self._view)
        content = _searching(self._view) if same_view else self._view.ids_by_path().get
        covered = self._covered(changed)
        lines, unchanged = self._lines, self.unchanged
        cut = len(self._prefix) + 1 if self._prefix else 0
        recheck = set(changed)
        # One loop over every line of the folder: kept lean, as the walk's.
        for line in known:
            if covered(line):
                continue
            path = line[: line.index("\0")]
            if same_view or content(path, "") == line[line.rindex("\0") + 1 :].lstrip(RACY):
                lines.append(line)
                unchanged.append(path)
            else:
                recheck.add(path[cut:])  # the draft holds something else there
        assert self._folder is not None
        found = scan.find_changed(self._folder, recheck, self._prefix, self._policy, self._links)
        return self._handed_out(self._sift(found, known, content))

    def _covered(self, changed: set[str]) -> Callable[[str], bool]:
        """Whether a line is of a path in ``changed`` or under one."""
        lead = f"{self._prefix}/" if self._prefix else ""
        if len(changed) <= 64:  # one C-level test a line
            starts = tuple(f"{lead}{rel}{end}" for rel in changed for end in ("\0", "/"))
            return lambda line: line.startswith(starts)
        cut = len(lead)
        return lambda line: _under(line[cut : line.index("\0")], changed)

    def recording(self, hashed: Iterable[HashedFile]) -> Iterator[HashedFile]:
        """``hashed``, noting each file for the new state; one changed too recently to be sure
        a later change moves its mtime (as for the hash cache) is noted as such."""
        settled_before = time.time() - RACY_SECONDS
        for item in hashed:
            if self._folder:
                racy = item.key[3] / 1e9 >= settled_before
                blob_id = RACY + item.blob_id if racy else item.blob_id
                self._lines.append(state_line(item.path, *item.key, blob_id))
                self._hashed += 1
            yield item

    def save(self, view_after: Callable[[], Manifest] | None = None) -> None:
        """Save the state; ``view_after`` gives the draft's files once they were staged (asked
        for only when a watcher vouches for the folder, to let the next sync find nothing)."""
        if not self._folder or self.nothing_changed:
            return  # (nothing changed: the saved state stands, and its lines were not read)
        at = self._position
        meta = Meta(
            session=at.session if at else "",
            seq=at.seq if at else -1,
            prefix=self._prefix,
            digest=self._digest(view_after()) if at and view_after else "",
            # A file not in the lines (left unhashed) or a change that may show under another
            # path (a link) would escape a journal: the next sync walks.
            watchable=not (self._shared or self._links) and self._hashed == self._to_hash,
        )
        self._ctx.folder_states.save(self._folder, self._lines, meta)

    def _digest(self, view: Manifest) -> str:
        return view.digest(self._prefix)


def _searching(view: Manifest) -> Callable[[str, str], str]:
    """The content id ``view`` holds at a path (or a default), by binary search."""

    def content(path: str, default: str) -> str:
        at = view.position(path)
        return default if at is None else view.raw_id_at(at).hex()

    return content


def _under(rel: str, changed: set[str]) -> bool:
    """Whether ``rel`` or a folder above it is in ``changed``."""
    while True:
        if rel in changed:
            return True
        cut = rel.rfind("/")
        if cut < 0:
            return False
        rel = rel[:cut]
