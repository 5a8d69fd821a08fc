"""``deltaset cache``: what this machine's cache holds, emptying it, and its size limit."""

from __future__ import annotations

import argparse
import datetime
from typing import Any

from deltaset import config
from deltaset.api.dataset import Dataset
from deltaset.api.storage_manager import kept_downloads
from deltaset.cli import options
from deltaset.cli.app import App
from deltaset.cli.commands import config as config_command
from deltaset.cli.commands.common import human_size
from deltaset.engine.context import default_context
from deltaset.errors import NotFoundError


def register(sub: Any) -> None:
    parser = sub.add_parser("cache", help="show, empty or limit the local cache of pulled versions")
    parser.add_argument(
        "--limit",
        metavar="SIZE",
        help="keep the cache under SIZE (e.g. 50GB; 0 for no limit), least recently used "
        "files going first; saved in the config file",
    )
    options.add_output(parser, json=True)
    actions = parser.add_subparsers(dest="cache_command", metavar="ACTION")
    info = actions.add_parser("info", help="size, files and cached versions (the default)")
    options.add_output(info, json=True)
    purge = actions.add_parser(
        "purge", help="delete every cached file no running process is reading"
    )
    options.add_output(purge, json=True)
    parser.set_defaults(handler=run)


def run(app: App, args: argparse.Namespace) -> None:
    if args.limit is not None:
        _set_limit(app, args.limit)
    elif args.cache_command == "purge":
        _purge(app)
    else:
        _info(app)


def _info(app: App) -> None:
    settings = app.settings
    usage = default_context().cache.usage()
    downloads = kept_downloads()
    fetched_bytes, fetched_files = (downloads.usage(), downloads.entries()) if downloads else (0, 0)
    folders: list[dict[str, str | None]] = [
        {
            "key": key,
            "version": key.split("-", 1)[0],
            "dataset": _dataset_of(key.split("-", 1)[0]),
            "last_used": _when(used),
        }
        for key, used in usage.folders
    ]
    shown = {
        "folder": str(settings.cache_dir),
        "limit": settings.cache_limit or None,
        "bytes": usage.total_bytes,
        "files": usage.blob_count,
        "versions": folders,
        "downloads": {"bytes": fetched_bytes, "files": fetched_files},
    }
    if app.as_json:
        app.data(shown)
        return
    limit = human_size(settings.cache_limit) if settings.cache_limit else "none"
    app.say(f"cache folder  {settings.cache_dir}")
    app.say(f"size          {human_size(usage.total_bytes)} (limit: {limit})")
    app.say(f"files         {usage.blob_count}")
    fetched = f"{fetched_files} files, {human_size(fetched_bytes)}"
    app.say(f"downloads     {fetched} (StorageManager)")
    if folders:
        app.table(
            ["dataset", "version id", "folder", "last used"],
            [
                [str(f[k] or "(deleted)") for k in ("dataset", "version", "key", "last_used")]
                for f in folders
            ],
        )


def _purge(app: App) -> None:
    cache = default_context().cache
    before = cache.usage()
    downloads = kept_downloads()
    downloaded = downloads.usage() if downloads else 0
    freed_downloads = downloads.purge() if downloads else 0
    freed = cache.shrink(0) + freed_downloads
    after = cache.usage()
    kept_bytes = after.total_bytes + downloaded - freed_downloads
    if app.as_json:
        app.data({"freed": freed, "bytes": kept_bytes, "files": after.blob_count})
        return
    kept = f"; {human_size(kept_bytes)} in use by running processes kept" if kept_bytes else ""
    app.say(f"Freed {human_size(freed)} of {human_size(before.total_bytes + downloaded)}{kept}")


def _set_limit(app: App, text: str) -> None:
    limit = config.parse_size(text)
    config_command.write_setting(app, "cache-limit", text if limit else "")
    cache = default_context().cache
    freed = cache.shrink(limit) if limit else 0
    if app.as_json:
        app.data({"limit": limit or None, "freed": freed, "bytes": cache.usage().total_bytes})
        return
    shown = human_size(limit) if limit else "none"
    app.say(f"Cache limit: {shown}; freed {human_size(freed)}")


def _dataset_of(version_id: str) -> str | None:
    """``project/name version`` of a cached version, or None when the catalog lost it."""
    try:
        found = Dataset.get(dataset_id=version_id)
    except NotFoundError:
        return None
    return f"{found.project}/{found.name} {found.version}"


def _when(timestamp: float) -> str:
    moment = datetime.datetime.fromtimestamp(timestamp, tz=datetime.UTC)
    return moment.isoformat(timespec="seconds")
