"""Helpers shared by command handlers."""

from __future__ import annotations

from argparse import Namespace

from deltaset.api.dataset import Dataset
from deltaset.cli.app import App


def selected(app: App, args: Namespace) -> Dataset:
    """The dataset named by ``--project/--name[/--version]``, else by ``--id`` or memory."""
    by_name = getattr(args, "project", None) or getattr(args, "name", None)
    if by_name and not getattr(args, "id", None):
        return Dataset.get(
            dataset_project=args.project,
            dataset_name=args.name,
            dataset_version=getattr(args, "dataset_version", None),
        )
    return Dataset.get(dataset_id=app.dataset_id())


def human_size(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size} B"
