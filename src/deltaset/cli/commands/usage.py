"""``deltaset usage``: which processes and runs read a version, or which versions a run read."""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from typing import Any

from deltaset.api import runs
from deltaset.catalog.base import Use
from deltaset.cli import options
from deltaset.cli.app import App
from deltaset.cli.commands.common import selected
from deltaset.errors import InvalidInputError


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "usage", help="show the uses of a dataset version, or the versions a run used"
    )
    options.add_selector(parser)
    parser.add_argument(
        "--run",
        metavar="RUN",
        help="the versions this run used (its name or id: DELTASET_RUN, deltaset.run, or an "
        "MLflow, W&B or ClearML run)",
    )
    options.add_output(parser, json=True)
    parser.set_defaults(handler=run)


def run(app: App, args: argparse.Namespace) -> None:
    if args.run is not None:
        if args.id or args.project or args.name:
            raise InvalidInputError("Give either --run or a version (--id, --project/--name).")
        found = runs.run_uses(args.run)
    else:
        found = runs.version_uses(selected(app, args).id)
    if app.as_json:
        app.data([use_doc(u) for u in found])
        return
    if not found:
        app.say("no recorded use")
        return
    app.table(["used", "version", "alias", "by", "run", "commit"], rows(found))


def use_doc(use: Use) -> dict[str, Any]:
    return use.to_dict()


def run_label(use: Use) -> str:
    if not use.run_kind:
        return ""
    name = use.run_name if use.run_name and use.run_name != use.run_id else ""
    return f"{use.run_kind}:{use.run_id}" + (f" ({name})" if name else "")


def commit_label(use: Use) -> str:
    return use.git_commit[:12] + ("+dirty" if use.git_dirty else "") if use.git_commit else ""


def rows(found: Iterable[Use]) -> Iterable[list[str]]:
    for use in found:
        yield [
            use.used[:19].replace("T", " "),
            use.version_id,
            use.alias,
            f"{use.user}@{use.host}",
            run_label(use),
            commit_label(use),
        ]
