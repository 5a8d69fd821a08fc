"""Flags that many commands share, so each means the same everywhere."""

from __future__ import annotations

import argparse


def local_path(text: str) -> str:
    """The ``type`` of an option naming a local file or folder, which may hold any bytes the
    system allows; every other argument must be text (see :func:`deltaset.core.paths.is_text`)."""
    return text


def add_id(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--id", help="dataset version id (default: the one last created)")


def add_output(parser: argparse.ArgumentParser, json: bool = False) -> None:
    parser.add_argument("--verbose", action="store_true", help="report each file")
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="print nothing but errors (and --json data)"
    )
    if json:
        parser.add_argument("--json", action="store_true", help="print JSON for scripts")


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
