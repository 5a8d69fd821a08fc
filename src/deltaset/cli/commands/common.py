"""Helpers shared by command handlers."""

from __future__ import annotations

from argparse import Namespace

from deltaset.api.dataset import Dataset
from deltaset.cli.app import App
from deltaset.core.sizes import human_size as human_size  # the one size format of every command


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
