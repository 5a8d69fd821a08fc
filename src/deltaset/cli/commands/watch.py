"""``deltaset watch``: note the changes in a folder as they happen, so that syncs need not walk
it."""

from __future__ import annotations

import argparse
import signal
import threading
from typing import Any

from deltaset.cli import options
from deltaset.cli.app import App
from deltaset.engine import watch
from deltaset.engine.context import default_context


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "watch",
        help="note the changes in a folder as they happen, so that syncs need not walk it",
        description="Run until stopped (Ctrl-C or SIGTERM), noting every path that changes "
        "in --folder, as git's fsmonitor does. A sync (or an add of the whole folder) then "
        "looks only at those paths instead of walking the folder, once a first sync after "
        "the watcher started walked it. Whenever the watcher could have missed a change (it "
        "was not running, it was killed, the system's event queue overflowed, a new folder "
        "could not be watched) the next sync walks the whole folder as without a watcher. "
        "A sync drops and removes a cookie file in the folder's .deltaset folder to learn "
        "that the watcher has seen every change made before it. One watcher per folder; on "
        "Linux each subfolder takes one of fs.inotify.max_user_watches.",
    )
    parser.add_argument("--folder", required=True, help="the local folder to watch")
    options.add_output(parser, json=False)
    parser.set_defaults(handler=run)


def run(app: App, args: argparse.Namespace) -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    folder = args.folder

    def ready() -> None:
        app.say(f"Watching {folder}; the next sync walks it once, later ones need not.")

    def changed(count: int) -> None:
        if not app.quiet:
            app.say(f"{count} path{'' if count == 1 else 's'} changed")

    watch.watch_folder(default_context(), folder, stop, on_change=changed, on_ready=ready)
    app.say("Stopped watching.")
