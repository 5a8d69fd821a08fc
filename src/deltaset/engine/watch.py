"""``deltaset watch``: note every change in a folder, so that a sync need not walk it.

The watcher runs ``watchfiles`` (Rust ``notify``: inotify, FSEvents, ReadDirectoryChangesW)
over the folder and appends each path that changed to the folder's journal
(:mod:`deltaset.cache.journal`), with sequence numbers, never clocks. A sync trusts the journal
only back to a position its own cookie fixed (:mod:`deltaset.engine.watched`), in the same
session, while the watcher lives: anything that may have cost an event starts a new session,
and the next sync walks the folder as it did without a watcher. That is:

- the watcher's start: its session begins once every watch is in place, so a sync fixes its
  position (and walks, its state being of no session) only after;
- a queue overflow or any error of the Rust watcher, which ``watchfiles`` does not pass on but
  does print in its debug output (read here from a pipe put in place of standard error);
- a folder created inside that got no watch (inotify's ``max_user_watches`` reached, which
  ``notify`` ignores): checked against the watches this process holds, it ends the watcher;
- a watcher killed, even with ``-9``: the kernel drops its lock, and no sync trusts a journal
  without one.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import stat
import tempfile
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from deltaset.cache.journal import CHANGED, COOKIE, Entry, Header, Journal, new_session
from deltaset.core import paths
from deltaset.engine import watched
from deltaset.engine.context import Context
from deltaset.errors import InvalidInputError, NotFoundError, StateError

log = logging.getLogger("deltaset")

SESSION_LIMIT = 1_000_000  # entries; past this a new session keeps the journal small
_RAW = (b"raw-event=", b"raw-error=")  # watchfiles' debug report of each raw event or error
_CHATTER = (b"watcher: ", b"stop event set")  # the rest of its debug output
_WATCH_INODE = re.compile(r"inotify wd:\S+ ino:([0-9a-f]+)")


def watch_folder(
    ctx: Context,
    folder: str,
    stop: threading.Event,
    on_change: Callable[[int], None] | None = None,
    on_ready: Callable[[], None] | None = None,
) -> None:
    """Watch ``folder`` until ``stop`` is set; ``on_ready`` once syncs can rely on the
    journal, ``on_change`` with the number of paths of each batch of changes noted."""
    root = os.path.abspath(os.path.expanduser(folder))
    if not os.path.isdir(root):
        raise (InvalidInputError if os.path.exists(root) else NotFoundError)(
            f"{folder} is not a folder; deltaset watch watches a folder."
        )
    journal = watched.journal_of(ctx, root)
    with contextlib.suppress(OSError):  # where syncs drop their cookies (see watched.position)
        os.makedirs(os.path.join(root, paths.OWN_FOLDER), exist_ok=True)
    with journal.watching() as mine:
        if not mine:
            raise StateError(f"Another deltaset watch already watches {root}.")
        try:
            with _RawEvents() as raw:
                _Watcher(root, journal, raw).run(stop, on_change, on_ready)
        finally:
            journal.end()


class _Watcher:
    def __init__(self, root: str, journal: Journal, raw: _RawEvents) -> None:
        self._root = root
        self._real = os.path.realpath(root) + os.sep  # as some systems report paths
        self._journal = journal
        self._raw = raw
        here = os.stat(root)
        self._identity = (here.st_dev, here.st_ino)
        self._seq = 0

    def run(
        self,
        stop: threading.Event,
        on_change: Callable[[int], None] | None,
        on_ready: Callable[[], None] | None,
    ) -> None:
        import watchfiles  # only for this command

        batches = watchfiles.watch(
            self._root,
            watch_filter=None,
            debounce=50,
            step=20,
            rust_timeout=200,
            yield_on_timeout=True,
            debug=True,
            raise_interrupt=False,
            stop_event=stop,
            force_polling=False,
        )
        started = False
        try:
            for changes in batches:
                lost = self._raw.lost()
                if self._raw.polling:
                    raise StateError(f"This system gives no file events for {self._root}.")
                if not started or lost or self._seq > SESSION_LIMIT:
                    if started:
                        log.warning(
                            "Events may have been missed: the next sync walks %s.", self._root
                        )
                    self._start()
                    if not started and on_ready is not None:
                        on_ready()
                    started = True
                noted = self._note(changes)
                if noted and on_change is not None:
                    on_change(noted)
        except (RuntimeError, OSError) as exc:  # the Rust watcher failed: nothing is trusted
            raise StateError(f"Cannot watch {self._root}: {exc}") from None

    def _start(self) -> None:
        """A new session: nothing noted before it is trusted by a later sync."""
        dev, ino = self._identity
        self._journal.start(Header(new_session(), os.getpid(), self._root, dev, ino))
        self._seq = 0

    def _note(self, changes: Iterable[tuple[Any, str]]) -> int:
        """Append ``changes`` to the journal; the number of paths (cookies aside).

        Cookies first: a change noted in the same batch as a cookie may have come after it,
        and must then count as after it (noted before, it would count as seen by the sync)."""
        cookies, changed = [], set()
        for _, path in changes:
            rel = os.path.relpath(path, self._real if path.startswith(self._real) else self._root)
            parts = rel.split(os.sep)
            if rel == "." or parts[0] == os.pardir:
                rel, parts = "", []
            if parts[:1] == [paths.OWN_FOLDER] and len(parts) == 2:
                if parts[1].startswith(watched.COOKIE_PREFIX):
                    cookies.append(parts[1][len(watched.COOKIE_PREFIX) :])
                continue
            if paths.OWN_FOLDER in parts:
                continue  # deltaset's own, never walked
            changed.add(_without_line_breaks("/".join(parts)))
        self._check_watched(changed)
        entries = [Entry(self._next(), COOKIE, token) for token in cookies]
        entries += [Entry(self._next(), CHANGED, rel) for rel in sorted(changed)]
        self._journal.append(entries)
        return len(changed)

    def _next(self) -> int:
        self._seq += 1
        return self._seq

    def _check_watched(self, changed: set[str]) -> None:
        """Raise if a folder among ``changed`` lacks a watch (Linux only: elsewhere, none has
        a limit); ``notify`` ignores a failure to watch a new folder."""
        folders = [f for rel in changed if (f := self._folder(rel)) is not None]
        if not folders:
            return
        inodes = _inotify_inodes()
        if inodes is None:
            return
        for top in folders:
            for found, names, _ in os.walk(top):
                names[:] = [n for n in names if n != paths.OWN_FOLDER]
                try:
                    inode = os.lstat(found).st_ino
                except OSError:
                    continue
                if inode not in inodes and os.path.isdir(found):
                    raise StateError(
                        f"{found} could not be watched: the limit of watched folders is "
                        f"reached (fs.inotify.max_user_watches = {_watch_limit()}); raise it, "
                        "e.g. sudo sysctl fs.inotify.max_user_watches=1048576."
                    )

    def _folder(self, rel: str) -> str | None:
        path = os.path.join(self._root, rel)
        try:
            return path if stat.S_ISDIR(os.lstat(path).st_mode) else None
        except OSError:
            return None


def _without_line_breaks(rel: str) -> str:
    """``rel``, or the closest folder above it whose path has no line break (a journal line
    cannot hold one; a change there makes the sync look at that whole folder)."""
    while "\n" in rel:
        rel = rel.rpartition("/")[0]
    return rel


def _inotify_inodes() -> set[int] | None:
    """The inodes this process's inotify instances watch; None where there is no such list."""
    try:
        fds = os.listdir("/proc/self/fd")
    except OSError:
        return None
    inodes: set[int] = set()
    for fd in fds:
        try:
            if os.readlink(f"/proc/self/fd/{fd}") != "anon_inode:inotify":
                continue
            text = Path(f"/proc/self/fdinfo/{fd}").read_text()
        except OSError:
            continue
        inodes.update(int(found, 16) for found in _WATCH_INODE.findall(text))
    return inodes


def _watch_limit() -> str:
    try:
        return Path("/proc/sys/fs/inotify/max_user_watches").read_text().strip()
    except OSError:
        return "unknown"


class _RawEvents:
    """What the Rust watcher reports of each raw event it gets, on standard error when asked
    for debug output: the only place where a queue overflow, a rescan or an error it handled
    itself shows. Standard error is an unlinked file while watching, never a pipe: a full pipe
    would stop the Rust thread mid-write, and with it everything waiting on it while holding
    the interpreter's lock. Each :meth:`lost` puts a fresh file in its place and reads the
    previous one: every report written before the call is in it (or in an earlier one)."""

    def __init__(self) -> None:
        self._tail = b""  # a line cut by the last swap, ended in the next file
        self.polling = False  # the Rust watcher fell back to polling: no events to rely on

    def __enter__(self) -> _RawEvents:
        self._saved = os.dup(2)
        self._current = _unlinked_file()
        os.dup2(self._current, 2)
        return self

    def __exit__(self, *exc: object) -> None:
        os.dup2(self._saved, 2)
        self.lost()
        os.close(self._saved)
        os.close(self._current)

    def lost(self) -> bool:
        """Whether an event may have been missed since the last call."""
        previous, self._current = self._current, _unlinked_file()
        os.dup2(self._current, 2)
        os.lseek(previous, 0, os.SEEK_SET)
        with os.fdopen(previous, "rb") as written:
            *lines, self._tail = (self._tail + written.read()).split(b"\n")
        lost = False
        for line in lines:
            lost = self._take(line) or lost
        return lost

    def _take(self, line: bytes) -> bool:
        if not line.startswith(_RAW):
            if b"PollWatcher" in line:  # no native events here: polling can miss a change
                self.polling = True
            if not line.startswith(_CHATTER):
                os.write(self._saved, line + b"\n")
            return self.polling
        return line.startswith(b"raw-error=") or b"Rescan" in line or b"no paths found" in line


def _unlinked_file() -> int:
    handle, name = tempfile.mkstemp(prefix="deltaset-watch-")
    os.unlink(name)
    return handle
