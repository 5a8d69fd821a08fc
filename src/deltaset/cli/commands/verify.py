"""``deltaset verify``: check a version's stored bytes, or a local folder against it."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from deltaset.api.dataset import Dataset
from deltaset.cli import options
from deltaset.cli.app import App
from deltaset.cli.commands.common import human_size, selected
from deltaset.core.names import to_text
from deltaset.engine import verify as verify_op
from deltaset.engine.context import default_context
from deltaset.errors import IntegrityError

VERIFIED = "Dataset verification completed successfully, no errors found."  # ClearML's line


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "verify", help="check a version's stored bytes, or a local copy, against its hashes"
    )
    options.add_selector(parser)
    parser.add_argument(
        "--folder",
        metavar="DIR",
        type=options.local_path,
        help="check this local copy instead of the stored bytes: each file that differs, is "
        "missing or is extra (not in the version) is named, and any of them makes the exit "
        "code 1",
    )
    parser.add_argument(
        "--filesize", action="store_true", help="with --folder, compare sizes only (fast)"
    )
    parser.add_argument("--max-workers", type=int, metavar="N", help="parallel reads")
    options.add_output(parser, json=True)
    parser.set_defaults(handler=run)


def run(app: App, args: argparse.Namespace) -> None:
    dataset = selected(app, args)
    if args.folder:
        _verify_folder(app, args, dataset)
        return
    checked = dataset.verify_storage(args.max_workers)
    if app.as_json:  # the JSON alone: scripts parse the whole of stdout
        app.data({"id": dataset.id, "stored_bytes_checked": checked})
    else:
        app.say(f"Every stored byte of {dataset.id} matches its hash ({human_size(checked)} read)")
        app.clearml_line(VERIFIED)


def _verify_folder(app: App, args: argparse.Namespace, dataset: Dataset) -> None:
    report = verify_op.check_folder(
        default_context(), dataset.record, Path(args.folder), args.filesize, args.max_workers
    )
    if app.as_json:
        app.data(
            {
                "id": dataset.id,
                "folder": to_text(args.folder),
                "mismatched": [to_text(p) for p in sorted(report.differ + report.missing)],
                "differ": [to_text(p) for p in report.differ],
                "missing": [to_text(p) for p in report.missing],
                "extra": [to_text(p) for p in report.extra],
            }
        )
    else:  # every file named, even with --quiet: they are what was asked for
        app.lines(f"{kind}: {path}" for kind, paths in _kinds(report) for path in paths)
    if report:
        errors = len(report.differ) + len(report.missing) + len(report.extra)
        app.clearml_line(f"Dataset verification completed, {errors} errors found!")
        counts = ", ".join(f"{len(paths)} {kind}" for kind, paths in _kinds(report) if paths)
        raise IntegrityError(
            f"{args.folder} does not match dataset version {dataset.id} ({counts})."
        )
    if not app.as_json:
        app.say(f"{args.folder} matches dataset version {dataset.id}")
        app.clearml_line(VERIFIED)


def _kinds(report: verify_op.FolderReport) -> list[tuple[str, list[str]]]:
    return [("differs", report.differ), ("missing", report.missing), ("extra", report.extra)]
