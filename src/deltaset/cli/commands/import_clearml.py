"""``deltaset import-clearml``: bring the datasets ClearML Data stored over, with their lineage."""

from __future__ import annotations

import argparse
from typing import Any

from deltaset.api.migration import ImportReport, Outcome, import_clearml
from deltaset.cli import options
from deltaset.cli.app import App
from deltaset.cli.commands.common import human_size
from deltaset.errors import IntegrityError


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "import-clearml",
        help="import every ClearML dataset version stored under a location, parents first",
        description="Find every ClearML dataset version under SOURCE (the output URI ClearML "
        "uploaded to: <project>/.datasets/<name>/<name>.<id>/artifacts/ with its state and "
        "zip chunks) or in a ClearML offline session (its folder or zip), and import each with "
        "its parents, name, project, tags, description and metadata. Every file is checked "
        "against ClearML's SHA-256 and only bytes the storage lacks are stored. A version whose "
        "chunks are missing or damaged is named and skipped with its descendants (exit code 1). "
        "Run again, it finishes an interrupted import and changes nothing after a complete one.",
    )
    parser.add_argument(
        "source",
        metavar="SOURCE",
        type=options.local_path,
        help="a folder, file://, s3://, gs:// or azure:// URL, or an offline session zip",
    )
    parser.add_argument(
        "--project", help="put every dataset in this project (default: its ClearML project)"
    )
    options.add_storage(parser)
    parser.add_argument("--max-workers", type=int, metavar="N", help="parallel reads and transfers")
    options.add_output(parser, json=True)
    parser.set_defaults(handler=run)


def run(app: App, args: argparse.Namespace) -> None:
    report = import_clearml(
        args.source, args.project, args.storage, args.max_workers, lambda o: _say(app, o)
    )
    if app.as_json:
        app.data(report.to_dict())
    else:
        app.say(_summary(report))
    skipped = report.of("skipped")
    if skipped:
        count = len(skipped)
        raise IntegrityError(
            f"{count} ClearML version{' was' if count == 1 else 's were'} skipped "
            f"(first: {skipped[0].clearml_id}, {skipped[0].reason.rstrip('.')})."
        )


def _say(app: App, outcome: Outcome) -> None:
    what = f"{outcome.project}/{outcome.name} {outcome.clearml_id}"
    if outcome.status == "imported":
        app.say(f"imported {what} as {outcome.id}")
    elif outcome.status == "present":
        app.say(f"{what} is imported already as {outcome.id}")
    elif not app.as_json:
        app.problem(f"skipped {what}: {outcome.reason}")


def _summary(report: ImportReport) -> str:
    count = len(report.of("imported"))
    return (
        f"{count} version{'' if count == 1 else 's'} imported from {report.source}, "
        f"{report.files_checked} file{'' if report.files_checked == 1 else 's'} "
        f"({human_size(report.bytes_checked)}) checked against "
        f"ClearML's SHA-256, {human_size(report.stored_bytes)} stored"
    )
