"""``deltaset metadata``: named values and small tables attached to a version."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Any

from deltaset import extras
from deltaset.cli import options
from deltaset.cli.app import App
from deltaset.cli.commands.common import selected
from deltaset.core import paths
from deltaset.engine import metadata as metadata_op
from deltaset.engine.context import default_context
from deltaset.errors import InvalidInputError

DEFAULT_KEY = "metadata"  # the name ClearML's set_metadata() gives a value by default
log = logging.getLogger("deltaset")


def register(sub: Any) -> None:
    parser = sub.add_parser("metadata", help="set, get or list a version's metadata")
    actions = parser.add_subparsers(dest="metadata_command", metavar="ACTION", required=True)
    change = actions.add_parser("set", help="attach a JSON value or a CSV table")
    show = actions.add_parser("get", help="print a value (JSON) or a table (CSV)")
    listing = actions.add_parser("list", help="the names of a version's metadata")
    change.add_argument(
        "--key",
        help="the metadata's name (default: 'metadata', with a warning that no name was given; "
        "the exit code is still 0)",
    )
    show.add_argument("--key", default="metadata", help="the metadata's name")
    source = change.add_mutually_exclusive_group(required=True)
    source.add_argument("--value", help="a JSON value, such as '{\"classes\": 10}'")
    source.add_argument(
        "--csv",
        metavar="FILE",
        type=options.local_path,
        help="a table, kept as Parquet (needs pandas)",
    )
    for action, handler in ((change, run_set), (show, run_get), (listing, run_list)):
        options.add_selector(action)
        options.add_output(action)
        action.set_defaults(handler=handler)


def run_set(app: App, args: argparse.Namespace) -> None:
    dataset = selected(app, args)
    value = _read_table(args.csv) if args.csv else metadata_op.parse_json(args.value, "--value")
    key = args.key or DEFAULT_KEY
    if not args.key:  # the API's default name; said, so a forgotten --key is not silent
        log.warning("No --key given: the value is stored under the name %r.", key)
    dataset.set_metadata(value, metadata_name=key)
    if app.as_json:
        app.data({"id": dataset.id, "key": key})
    app.say(f"Metadata {key!r} set on {dataset.id}")


def _read_table(path: str) -> Any:
    """The table in the CSV file ``path``, or one sentence saying why it is not one."""
    try:
        import pandas
    except ImportError as exc:
        raise extras.needs("tables", "pandas") from exc
    shown = paths.printable(path)
    try:
        return pandas.read_csv(path)
    except OSError as exc:
        raise InvalidInputError(f"Cannot read {shown}: {exc.strerror or exc}.") from exc
    except UnicodeDecodeError as exc:
        raise InvalidInputError(
            f"{shown} is not a CSV file: byte {exc.start} is not UTF-8 text."
        ) from exc
    except pandas.errors.EmptyDataError as exc:
        raise InvalidInputError(f"{shown} is empty: a table needs at least a header.") from exc
    except pandas.errors.ParserError as exc:
        reason = str(exc).strip().splitlines()[0].removeprefix("Error tokenizing data. ")
        raise InvalidInputError(f"{shown} is not a well-formed CSV file ({reason}).") from exc


def run_get(app: App, args: argparse.Namespace) -> None:
    dataset = selected(app, args)  # a missing key is an error here, not the API's None
    value = metadata_op.get_metadata(default_context(), dataset.record, args.key)
    if type(value).__name__ == "DataFrame":
        if app.as_json:  # a row per object, as pandas writes them: NaN as null, dates as text
            app.data(json.loads(value.to_json(orient="records", date_format="iso")))
            return
        value.to_csv(sys.stdout, index=False)
    else:
        app.data(value)


def run_list(app: App, args: argparse.Namespace) -> None:
    names = selected(app, args).list_metadata()
    if app.as_json:
        app.data(names)
    else:
        for name in names:
            app.say(name)
