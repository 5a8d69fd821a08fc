"""``deltaset get``: pull a version into the cache (or a writable copy) and print its folder."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from deltaset.api import runs
from deltaset.cli import options
from deltaset.cli.app import App
from deltaset.cli.commands.common import selected
from deltaset.cli.versions import version_doc
from deltaset.core import paths
from deltaset.errors import InvalidInputError
from deltaset.storage.errors import map_os_errors


def register(sub: Any) -> None:
    parser = sub.add_parser("get", help="pull a dataset version and print where it is")
    options.add_selector(parser)
    parser.add_argument(
        "--copy", metavar="DIR", type=options.local_path, help="write a writable copy into DIR"
    )
    parser.add_argument(
        "--run",
        metavar="RUN",
        help="with --copy: every version this recorded run used, each into DIR/ALIAS",
    )
    parser.add_argument(
        "--link",
        metavar="DIR",
        type=options.local_path,
        help="also make DIR a symbolic link to the cached folder",
    )
    parser.add_argument(
        "--part",
        type=int,
        help="pull only part N (0-based) of --num-parts (default: one part per chunk)",
    )
    parser.add_argument(
        "--num-parts",
        type=int,
        help="split the files into this many parts: disjoint, together the whole version, "
        "balanced by bytes and files, each with files of every folder, and the same on every "
        "machine for a version and a number of parts",
    )
    parser.add_argument(
        "--files",
        nargs="+",
        metavar="PATTERN",
        type=options.dataset_path,
        help="pull only paths matching these folders or wildcards; a pattern that matches no "
        "file of the version is named in a warning (the exit code stays 0)",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the contents of a non-empty --copy or --link target",
    )
    parser.add_argument(
        "--soft-links",
        action="store_true",
        help="cache folder of symbolic links instead of hard links",
    )
    parser.add_argument("--max-workers", type=int, metavar="N", help="parallel downloads")
    parser.add_argument(
        "--accept-changed-links",
        action="store_true",
        help="serve external files (--links) that changed since they were added as they are "
        "now, each named in a warning, instead of refusing them",
    )
    options.add_output(parser)
    parser.set_defaults(handler=run)


def run(app: App, args: argparse.Namespace) -> None:
    for pattern in args.files or []:
        paths.check_pattern(paths.relative(pattern))
    if args.run is not None:
        _copy_run(app, args)
        return
    dataset = selected(app, args)
    if args.copy:
        folder = dataset.get_mutable_local_copy(
            args.copy,
            overwrite=args.overwrite,
            part=args.part,
            num_parts=args.num_parts,
            max_workers=args.max_workers,
            files=args.files,
            accept_changed_links=args.accept_changed_links,
        )
    else:
        folder = dataset.get_local_copy(
            use_soft_links=args.soft_links,
            part=args.part,
            num_parts=args.num_parts,
            files=args.files,
            max_workers=args.max_workers,
            accept_changed_links=args.accept_changed_links,
        )
    if args.link:
        _link(Path(args.link), Path(str(folder)), args.overwrite)
    if app.as_json:  # a folder name's undecodable bytes are kept as \udcXX escapes
        app.data({"version": version_doc(dataset.record), "folder": str(folder)})
        return
    app.local_path(str(folder))


def _copy_run(app: App, args: argparse.Namespace) -> None:
    excluded = (args.id, args.project, args.name, args.link, args.part, args.files)
    if not args.copy or any(v is not None for v in excluded):
        raise InvalidInputError(
            "--run takes --copy DIR and no version, --link, --part or --files: each version "
            "the run used is copied into DIR/ALIAS."
        )
    copies = runs.copy_run(args.run, args.copy, args.overwrite, args.max_workers)
    if app.as_json:
        app.data(
            {
                "run": args.run,
                "copies": [
                    {"alias": alias, "version": version_doc(ds.record), "folder": folder}
                    for alias, ds, folder in copies
                ],
            }
        )
        return
    for _, _, folder in copies:
        app.local_path(folder)


def _link(link: Path, target: Path, overwrite: bool) -> None:
    if link.is_symlink() or link.exists():
        if not (overwrite and link.is_symlink()):
            raise InvalidInputError(f"{link} already exists; pass --overwrite to replace a link.")
        link.unlink()
    with map_os_errors(f"make the link {link}"):
        link.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, link)
