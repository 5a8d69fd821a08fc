"""Flags that many commands share, so each means the same everywhere."""

from __future__ import annotations

import argparse


def local_path(text: str) -> str:
    """The ``type`` of an option naming a local file or folder, which may hold any bytes the
    system allows; every other argument must be text (see :func:`deltaset.core.paths.is_text`)."""
    return text


def dataset_path(text: str) -> str:
    """The ``type`` of an option naming files or folders in a dataset (a path or a wildcard),
    which hold any bytes a file name can, as local paths do."""
    return text


NAMES_OF_FILES = (local_path, dataset_path)  # the types whose arguments need not be text


def add_id(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--id",
        help="dataset version id, or any unique start of one (default: the one last created or "
        "given with --id)",
    )


def add_output(parser: argparse.ArgumentParser, json: bool = True) -> None:
    parser.add_argument("--verbose", action="store_true", help="report each file")
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="print nothing but errors (and --json data)"
    )
    if json:
        parser.add_argument(
            "--json", action="store_true", help="print JSON for scripts (see docs/json.md)"
        )


def add_storage(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--storage",
        "--output-uri",
        dest="storage",
        metavar="URI",
        help="storage for the files: a folder, s3://, gs://, azure:// or a deltaset server's "
        "http(s):// URL (default: the configured storage)",
    )


def add_transfer(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--chunk-size", type=int, metavar="MB", help="target size of stored packs, in MB"
    )
    parser.add_argument(
        "--max-workers",
        type=int,
        metavar="N",
        help="parallel file transfers (default: a few per core)",
    )


def add_selector(parser: argparse.ArgumentParser) -> None:
    """``--id`` or ``--project/--name/--version``."""
    add_id(parser)
    parser.add_argument("--project", help="dataset project (with --name, instead of --id)")
    parser.add_argument("--name", help="dataset name (with --project, instead of --id)")
    parser.add_argument("--version", dest="dataset_version", help="dataset version")


def add_read_policy(parser: argparse.ArgumentParser) -> None:
    """The options of what a folder walk does with what it cannot simply read."""
    parser.add_argument(
        "--ignore-failed-read",
        action="store_true",
        help="skip, with a warning naming each, files that cannot be read, vanish or keep "
        "changing while they are read (as tar's option); by default such a file fails the "
        "command and nothing is staged",
    )
    parser.add_argument(
        "--copy-unsafe-links",
        action="store_true",
        help="follow symbolic links that lead outside the folder added and add what they lead "
        "to (as rsync's option); by default they are skipped with a warning. Links to files "
        "inside it are followed; links to folders are never descended; loops and dangling "
        "links are skipped with a warning",
    )
