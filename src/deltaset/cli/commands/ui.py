"""``deltaset ui``: this machine's catalog in a web browser, behind a one-time secret."""

from __future__ import annotations

import argparse
import socket
import threading
import time
import webbrowser
from typing import Any

from deltaset.cli.app import App
from deltaset.errors import InvalidInputError
from deltaset.extras import needs
from deltaset.listening import check_port, is_loopback

DEFAULT_PORT = 8765
BROWSER_WAIT_S = 10.0  # how long the browser waits for the server to listen


def register(sub: Any) -> None:
    parser = sub.add_parser("ui", help="browse this machine's datasets in a web browser")
    parser.add_argument(
        "--host", default="127.0.0.1", help="loopback address to listen on (only this machine)"
    )
    parser.add_argument(
        "--port",
        type=int,
        help=f"port to listen on (default: {DEFAULT_PORT}, or a free one if that is taken)",
    )
    parser.add_argument(
        "--no-browser", action="store_true", help="print the URL without opening a browser"
    )
    parser.set_defaults(handler=run)


def run(app: App, args: argparse.Namespace) -> None:
    if not is_loopback(args.host):
        raise InvalidInputError(
            f"deltaset ui listens only on this machine (127.0.0.1, ::1 or localhost), not on "
            f"{args.host}; a team shares its datasets with 'deltaset server'."
        )
    if args.port is not None and not 0 < args.port < 65536:
        raise InvalidInputError(f"The port {args.port} is not a TCP port (1 to 65535).")
    port = args.port if args.port is not None else _default_port(args.host)
    check_port(args.host, port)
    try:
        import uvicorn

        from deltaset.engine.context import default_context
        from deltaset.ui.web import local_app
    except ImportError as exc:
        raise needs("ui", exc.name) from exc
    web, access = local_app(default_context)
    host = f"[{args.host}]" if ":" in args.host else args.host
    url = f"http://{host}:{port}/?token={access.secret}"
    app.say("deltaset ui: open this link once (it works for one browser); Ctrl-C stops it")
    print(url, flush=True)
    if not args.no_browser:
        threading.Thread(target=_open_when_up, args=(args.host, port, url), daemon=True).start()
    uvicorn.run(web, host=args.host, port=port, log_level="warning", access_log=False)


def _default_port(host: str) -> int:
    """DEFAULT_PORT if free, else one the system picks."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        try:
            probe.bind((host, DEFAULT_PORT))
        except OSError:
            probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _open_when_up(host: str, port: int, url: str) -> None:
    deadline = time.monotonic() + BROWSER_WAIT_S
    while time.monotonic() < deadline:
        try:
            socket.create_connection((host, port), timeout=0.5).close()
        except OSError:
            time.sleep(0.1)
            continue
        webbrowser.open(url)
        return
