"""``deltaset tag``: add and remove a version's tags, or show them."""

from __future__ import annotations

import argparse
from typing import Any

from deltaset.cli import options
from deltaset.cli.app import App
from deltaset.cli.commands.common import selected


def register(sub: Any) -> None:
    parser = sub.add_parser("tag", help="add or remove a dataset version's tags (or show them)")
    options.add_selector(parser)
    parser.add_argument("--add", nargs="+", default=[], metavar="TAG", help="tags to add")
    parser.add_argument("--remove", nargs="+", default=[], metavar="TAG", help="tags to remove")
    options.add_output(parser, json=True)
    parser.set_defaults(handler=run)


def run(app: App, args: argparse.Namespace) -> None:
    dataset = selected(app, args)
    if args.add:
        dataset.add_tags(args.add)
    if args.remove:
        dataset.remove_tags(args.remove)
    tags = dataset.tags
    if app.as_json:
        app.data({"id": dataset.id, "tags": tags})
        return
    app.say(f"Tags of {dataset.id}: {', '.join(tags) if tags else '(none)'}")
