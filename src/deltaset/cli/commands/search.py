"""``deltaset search``: versions by project, (partial) name, tags or ids."""

from __future__ import annotations

import argparse
from typing import Any

from deltaset.cli import options
from deltaset.cli.app import App
from deltaset.cli.versions import version_doc
from deltaset.core.records import VersionRecord
from deltaset.engine import query
from deltaset.engine.context import default_context


def register(sub: Any) -> None:
    parser = sub.add_parser("search", help="search dataset versions")
    parser.add_argument(
        "--ids", nargs="*", metavar="ID", help="only these version ids (or starts of ids)"
    )
    parser.add_argument("--project", help="project (and its sub-projects)")
    parser.add_argument("--name", help="name or partial name (a regular expression)")
    parser.add_argument("--tags", nargs="*", metavar="TAG", help="versions with any of these tags")
    parser.add_argument(
        "--not-only-completed",
        action="store_true",
        help="include drafts (without it, a last line says how many drafts were left out)",
    )
    parser.add_argument(
        "--non-recursive-project-search", action="store_true", help="do not include sub-projects"
    )
    options.add_output(parser, json=True)
    parser.set_defaults(handler=run)


def _search(args: argparse.Namespace, only_completed: bool) -> list[VersionRecord]:
    return query.search(
        default_context(),
        project=args.project,
        partial_name=args.name,
        tags=args.tags or (),
        ids=args.ids or (),
        only_completed=only_completed,
        recursive_project_search=not args.non_recursive_project_search,
    )


def run(app: App, args: argparse.Namespace) -> None:
    found = _search(args, only_completed=not args.not_only_completed)
    if app.as_json:
        app.data([version_doc(r) for r in found])
        return
    app.table(
        ["project", "name", "version", "tags", "state", "created", "id"],
        [
            [r.project, r.name, r.version, ", ".join(r.tags), str(r.state), r.created, r.id]
            for r in found
        ],
    )
    if not args.not_only_completed:
        _say_drafts_left_out(app, args, len(found))


def _say_drafts_left_out(app: App, args: argparse.Namespace, shown: int) -> None:
    left_out = len(_search(args, only_completed=False)) - shown
    if left_out:
        drafts = "1 draft" if left_out == 1 else f"{left_out} drafts"
        app.say(f"{drafts} not shown; --not-only-completed includes them.")
