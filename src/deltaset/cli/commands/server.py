"""``deltaset server``: run the deltaset server, and manage its API tokens."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from deltaset.cli import options
from deltaset.cli.app import App
from deltaset.errors import InvalidInputError

if TYPE_CHECKING:
    from deltaset.server.tokens import TokenInfo

DEFAULT_PORT = 8080


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "server", help="run the deltaset server (catalog and storage for a team)"
    )
    _add_database(parser)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port to listen on")
    parser.add_argument(
        "--storage",
        metavar="URI",
        help="where the server keeps the bytes: a folder (default: $DELTASET_HOME/server/"
        "storage) or s3://, gs://, azure://",
    )
    parser.add_argument(
        "--public-url",
        metavar="URL",
        help="the URL clients reach this server by (default: http://HOST:PORT)",
    )
    parser.add_argument(
        "--max-upload-mb",
        type=int,
        default=1024,
        metavar="MB",
        help="the largest body one request may send: an object, a part of an upload or a "
        "batch of staged changes (clients send parts of 128 MB)",
    )
    parser.add_argument(
        "--no-auth",
        action="store_true",
        help="serve without tokens: for one person on one machine only (refused on an address "
        "other machines reach, unless with --no-auth-open-to-the-network)",
    )
    parser.add_argument(
        "--no-auth-open-to-the-network",
        action="store_true",
        help="with --no-auth and a --host other machines reach: let anyone who reaches it read, "
        "change and delete every dataset",
    )
    parser.set_defaults(handler=run_server)
    tokens = parser.add_subparsers(dest="server_command", metavar="COMMAND")
    token = tokens.add_parser("token", help="create, list or revoke API tokens")
    actions = token.add_subparsers(dest="token_command", metavar="ACTION", required=True)
    create = actions.add_parser("create", help="create a token (printed once)")
    access = create.add_mutually_exclusive_group()
    access.add_argument("--read-only", action="store_true", help="a token that cannot write")
    access.add_argument(
        "--admin",
        action="store_true",
        help="a token that may also delete and replace what final versions are made of "
        "(packs, indexes, manifests, records): for gc and for deleting final versions",
    )
    create.add_argument("--name", default="", help="what the token is for")
    listing = actions.add_parser("list", help="list tokens (never the tokens themselves)")
    revoke = actions.add_parser("revoke", help="revoke a token by its id")
    revoke.add_argument("token_id", metavar="ID")
    for action in (create, listing, revoke):
        _add_database(action)
        options.add_output(action)
        action.set_defaults(handler=run_token)


def _add_database(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        metavar="URL",
        help="catalog database: sqlite:///PATH (default: $DELTASET_HOME/server/catalog.db) "
        "or postgresql://USER@HOST/DB",
    )


def _database(app: App, args: argparse.Namespace) -> str:
    from deltaset.server.run import default_db

    url: str = args.db or default_db(app.settings.home)
    if url.startswith("postgresql://"):  # the driver deltaset installs
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def run_server(app: App, args: argparse.Namespace) -> None:
    from deltaset.server.limits import MIB, BodyLimits
    from deltaset.server.run import check_port, default_storage, open_server, serve

    if not 0 < args.port < 65536:
        raise InvalidInputError(f"The port {args.port} is not a TCP port (1 to 65535).")
    if args.max_upload_mb < 1:
        raise InvalidInputError(f"--max-upload-mb {args.max_upload_mb} is not a size (1 or more).")
    _check_open(app, args)
    check_port(args.host, args.port)
    public = args.public_url or f"http://{args.host}:{args.port}"
    server = open_server(
        _database(app, args),
        args.storage or default_storage(app.settings.home),
        public,
        auth=not args.no_auth,
        s3=app.settings.s3,
        limits=BodyLimits(upload=args.max_upload_mb * MIB),
    )
    app.say(f"deltaset server on {public} (catalog {args.db or 'SQLite'}); Ctrl-C stops it")
    serve(server, args.host, args.port)


def _check_open(app: App, args: argparse.Namespace) -> None:
    """Refuse to serve without tokens where other machines can reach the server, unless told so
    by its own flag; then say loudly what that means."""
    from deltaset.server.run import is_loopback

    if not args.no_auth or is_loopback(args.host):
        return
    if not args.no_auth_open_to_the_network:
        raise InvalidInputError(
            f"--no-auth on {args.host} would let anyone who reaches it change and delete every "
            "dataset; listen on 127.0.0.1, or create tokens ('deltaset server token create'), "
            "or add --no-auth-open-to-the-network if that is really meant."
        )
    app.err.print(
        f"WARNING: this server listens on {args.host} WITHOUT TOKENS: anyone who reaches it can "
        "read, change and delete every dataset.",
        style="bold red",
        markup=False,
    )


def run_token(app: App, args: argparse.Namespace) -> None:
    from deltaset.catalog.sql import SqlCatalog
    from deltaset.server.tokens import Tokens

    catalog = SqlCatalog(_database(app, args))
    tokens = Tokens(catalog.engine)
    try:
        if args.token_command == "create":
            token, info = tokens.create(args.name, args.read_only, args.admin)
            if app.as_json:
                app.data({"token": token, **asdict(info)})
            else:
                kind = _access(info)
                app.say(f"Created a {kind} token (id {info.id}); it is shown only this once:")
                print(token)
        elif args.token_command == "list":
            found = tokens.list()
            if app.as_json:
                app.data([asdict(t) for t in found])
            else:
                rows = [[t.id, t.name, _access(t), t.created] for t in found]
                app.table(["id", "name", "access", "created"], rows)
        else:
            tokens.revoke(args.token_id)
            if app.as_json:
                app.data({"revoked": args.token_id})
            app.say(f"Revoked the token {args.token_id}")
    finally:
        catalog.close()


def _access(info: TokenInfo) -> str:
    return "admin" if info.admin else "read-only" if info.read_only else "read-write"
