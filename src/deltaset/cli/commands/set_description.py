"""``deltaset set-description``: change the description of a version."""

from __future__ import annotations

import argparse
from typing import Any

from deltaset.cli import options
from deltaset.cli.app import App
from deltaset.cli.commands.common import selected
from deltaset.cli.versions import version_doc


def register(sub: Any) -> None:
    parser = sub.add_parser("set-description", help="change a dataset version's description")
    options.add_selector(parser)
    parser.add_argument("--description", required=True, help="the new description")
    options.add_output(parser)
    parser.set_defaults(handler=run)


def run(app: App, args: argparse.Namespace) -> None:
    dataset = selected(app, args)
    dataset.set_description(args.description)
    if app.as_json:
        app.data(version_doc(dataset.record))
    app.say(f"Description of {dataset.id} set")
