"""``deltaset publish``: mark a final version published."""

from __future__ import annotations

import argparse
from typing import Any

from deltaset.cli import options
from deltaset.cli.app import App
from deltaset.cli.commands.common import selected
from deltaset.cli.versions import version_doc


def register(sub: Any) -> None:
    parser = sub.add_parser("publish", help="mark a final dataset version published")
    options.add_selector(parser)
    options.add_output(parser)
    parser.set_defaults(handler=run)


def run(app: App, args: argparse.Namespace) -> None:
    dataset = selected(app, args)
    dataset.publish()
    app.remember(None)  # as ClearML's CLI forgets the id after publish
    if app.as_json:
        app.data(version_doc(dataset.record))
    app.say(
        f"Published {dataset.project}/{dataset.name} version {dataset.version}: id={dataset.id}"
    )
    app.clearml_line("Dataset published")
