"""Where a folder's watcher journal stands now, for a sync that would rather not walk.

A sync drops a cookie file into the folder's own ``.deltaset`` folder and waits for the
watcher (:mod:`deltaset.engine.watch`) to note it in the journal: the watcher sees changes in
the order they happened, so every change made before the cookie is in the journal before it.
No watcher, a watcher of another folder at this path, or no answer in time: no position, and
the sync walks the folder as it always did.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from dataclasses import dataclass

from deltaset.cache.journal import CHANGED, COOKIE, Journal
from deltaset.core import paths
from deltaset.engine.context import Context

log = logging.getLogger("deltaset")

COOKIE_PREFIX = "watch-cookie-"
WAIT_SECONDS = 5.0  # for the watcher to note a cookie; a busy machine can take a while


@dataclass(frozen=True)
class Position:
    """A journal's ``session`` and the sequence number of a sync's cookie in it; ``changed``:
    every path noted in the session with its sequence number."""

    session: str
    seq: int
    changed: list[tuple[int, str]]

    def changed_since(self, seq: int) -> set[str]:
        return {path for at, path in self.changed if at > seq}


def journal_of(ctx: Context, folder: str) -> Journal:
    states = ctx.folder_states
    return Journal(states.directory, states.name(folder))


def position(ctx: Context, folder: str) -> Position | None:
    """Where the watcher of ``folder`` stands once it saw every change made before now; None
    when no watcher vouches for the folder."""
    journal = journal_of(ctx, folder)
    if not journal.watched():
        return None
    contents = journal.read()
    try:
        here = os.stat(folder)
    except OSError:
        return None
    if contents is None or (contents.header.dev, contents.header.ino) != (here.st_dev, here.st_ino):
        return None  # not the folder the watcher watches (moved or replaced since)
    token = os.urandom(8).hex()  # (secrets imports hmac and hashlib: 4 ms)
    own = os.path.join(folder, paths.OWN_FOLDER)
    cookie = os.path.join(own, COOKIE_PREFIX + token)
    try:
        if not os.path.isdir(own):
            # The watcher made it when it started. Made now, it may not be watched yet when
            # the cookie lands in it: this sync walks, the next one finds it watched.
            os.mkdir(own)
            return None
        with open(cookie, "wb"):
            pass
    except OSError as exc:
        log.debug("No cookie for the watcher of %s: %s", folder, exc)
        return None
    try:
        return _answer(journal, token)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(cookie)


def _answer(journal: Journal, token: str) -> Position | None:
    """The position of the cookie ``token`` once the watcher noted it."""
    deadline, pause = time.monotonic() + WAIT_SECONDS, 0.002
    while time.monotonic() < deadline:
        contents = journal.read()
        if contents is None or not journal.watched():
            return None
        for entry in contents.entries:
            if entry.kind == COOKIE and entry.path == token:
                changed = [(e.seq, e.path) for e in contents.entries if e.kind == CHANGED]
                return Position(contents.header.session, entry.seq, changed)
        time.sleep(pause)
        pause = min(pause * 2, 0.05)
    log.warning("The watcher of this folder did not answer in time: the folder is walked.")
    return None
