"""``deltaset push`` and ``deltaset pull``: copy final versions with their ancestors between
this machine's catalog and a deltaset server or another storage."""

from __future__ import annotations

import argparse
from typing import Any, Protocol

from deltaset.api import sharing
from deltaset.cli import options
from deltaset.cli.app import App
from deltaset.cli.commands.common import human_size
from deltaset.engine.transfer import TransferReport

WHERE = (
    "a deltaset server's http(s):// URL (its catalog and storage, with this machine's "
    "api-token), or a folder, s3://, gs:// or azure:// storage"
)


def register(sub: Any) -> None:
    push = sub.add_parser(
        "push",
        help="copy final versions and their ancestors to a server or another storage",
        description="Copy final versions, with the ancestors the target lacks, from this "
        "machine's catalog to a deltaset server or a storage, keeping their ids and lineage; "
        "only the bytes the target lacks are sent. Run again, it finishes an interrupted "
        "copy and changes nothing after a complete one. Example: deltaset push --id ID "
        "--to https://deltaset.example.com",
    )
    _add_ids(push)
    push.add_argument("--to", required=True, metavar="URL", help=f"where to copy: {WHERE}")
    _add_common(push)
    push.set_defaults(handler=run_push)
    pull = sub.add_parser(
        "pull",
        help="copy final versions and their ancestors from a server or storage into this "
        "machine's catalog",
        description="Copy final versions, with the ancestors this machine's catalog lacks, "
        "from a deltaset server or a storage into this machine's catalog and storage (the "
        "default one, or --storage), keeping their ids and lineage. Example: deltaset pull "
        "--id ID --from https://deltaset.example.com",
    )
    _add_ids(pull)
    pull.add_argument(
        "--from", dest="source", required=True, metavar="URL", help=f"where from: {WHERE}"
    )
    options.add_storage(pull)
    _add_common(pull)
    pull.set_defaults(handler=run_pull)


def _add_ids(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--id",
        nargs="+",
        metavar="ID",
        help="ids of the versions to copy (default: the one last created)",
    )


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--max-workers", type=int, metavar="N", help="parallel transfers (default: a few per core)"
    )
    options.add_output(parser, json=True)


def run_push(app: App, args: argparse.Namespace) -> None:
    ids = args.id or [app.dataset_id()]
    _show(app, sharing.push(ids, args.to, args.max_workers))


def run_pull(app: App, args: argparse.Namespace) -> None:
    ids = args.id or [app.dataset_id()]
    _show(app, sharing.pull(ids, args.source, args.storage, args.max_workers))


def _show(app: App, report: TransferReport) -> None:
    if app.as_json:
        app.data(report.to_dict())
        return
    say_copies(app, report, "copied", "to", origin=f"from {report.source} ")


class Copies(Protocol):
    """What a copy of versions reports (a push's, a pull's or an offline import's)."""

    target: str
    copied: list[str]
    present: list[str]
    stored_bytes: int


def say_copies(app: App, report: Copies, verb: str, to: str, origin: str = "") -> None:
    """A line per version ``verb`` (copied, imported) ``to`` the target or found there, then
    how many and the bytes sent."""
    for version_id in report.copied:
        app.say(f"{verb} {version_id} {to} {report.target}")
    for version_id in report.present:
        app.say(f"{version_id} is in {report.target} already")
    count = len(report.copied)
    app.say(
        f"{count} version{'' if count == 1 else 's'} {verb} {origin}{to} {report.target}, "
        f"{human_size(report.stored_bytes)} of packs sent"
    )
