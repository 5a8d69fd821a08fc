"""``deltaset list``: the files of a version, or only its changes with ``--modified``."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from typing import Any

from deltaset.api.dataset import Dataset, FileEntry
from deltaset.cli import options
from deltaset.cli.app import App
from deltaset.cli.commands.common import human_size, selected
from deltaset.core import paths
from deltaset.core.names import to_text


def register(sub: Any) -> None:
    parser = sub.add_parser("list", help="list the files of a dataset version")
    options.add_selector(parser)
    parser.add_argument(
        "--filter",
        nargs="*",
        metavar="PATTERN",
        type=options.dataset_path,
        help="only paths matching these folders or wildcards",
    )
    parser.add_argument(
        "--modified",
        action="store_true",
        help="only this version's changes (added, modified, removed)",
    )
    options.add_output(parser, json=True)
    parser.set_defaults(handler=run)


def _changes(dataset: Dataset) -> dict[str, str]:
    marks = dict.fromkeys(dataset.list_added_files(), "added")
    marks.update(dict.fromkeys(dataset.list_modified_files(), "modified"))
    marks.update(dict.fromkeys(dataset.list_removed_files(), "removed"))
    return marks


def run(app: App, args: argparse.Namespace) -> None:
    for pattern in args.filter or []:
        paths.check_pattern(paths.relative(pattern))
    dataset = selected(app, args)
    if args.modified:
        _run_modified(app, args, dataset)
        return
    chosen = (
        e
        for e in dataset.iter_file_entries()
        if not args.filter or any(paths.matches(e.relative_path, f) for f in args.filter)
    )
    if app.as_json:
        app.data_list(_as_dict(e.relative_path, e, "", False) for e in chosen)
        return
    count = total = 0

    def rows() -> Iterator[list[str]]:
        nonlocal count, total
        for entry in chosen:
            count, total = count + 1, total + entry.size
            yield [entry.relative_path, human_size(entry.size), entry.hash[:16]]

    app.table(["path", "size", "hash"], rows())
    app.say(f"{count} files, {human_size(total)} in {dataset.id}")
    app.clearml_line(f"Total {count} files, {total} bytes")


def _run_modified(app: App, args: argparse.Namespace, dataset: Dataset) -> None:
    entries = {e.relative_path: e for e in dataset.iter_file_entries()}
    marks = _changes(dataset)
    chosen = [
        p for p in sorted(marks) if not args.filter or any(paths.matches(p, f) for f in args.filter)
    ]
    if app.as_json:
        app.data_list(_as_dict(p, entries.get(p), marks[p], True) for p in chosen)
        return
    rows = []
    for path in chosen:
        entry = entries.get(path)
        size = human_size(entry.size) if entry else "-"
        rows.append([marks[path], path, size, entry.hash[:16] if entry else "-"])
    app.table(["change", "path", "size", "hash"], rows)
    total = sum(entries[p].size for p in chosen if p in entries)
    app.say(f"{len(chosen)} files, {human_size(total)} in {dataset.id}")
    app.clearml_line(f"Total {len(chosen)} files, {total} bytes")


def _as_dict(path: str, entry: FileEntry | None, mark: str, modified: bool) -> dict[str, Any]:
    row: dict[str, Any] = {
        "path": to_text(path),
        "size": entry.size if entry else None,
        "hash": entry.hash if entry else None,
    }
    if entry and entry.link:
        row["link"] = entry.link
    if modified:
        row["change"] = mark
    return row
