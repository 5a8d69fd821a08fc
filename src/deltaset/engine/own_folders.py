"""The folders deltaset keeps its own things in, which a writable copy must never write into
or replace: its home, cache and catalog, and every folder storage it knows of."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlparse

from deltaset.engine.context import Context
from deltaset.errors import InvalidInputError


def refuse_own_folder(ctx: Context, target: Path) -> None:
    """Refuse ``target`` when it is, holds or lies inside one of deltaset's own folders,
    naming the closest one."""
    wanted = target.resolve()
    found: list[tuple[int, int, str, str, Path]] = []
    for what, folder in own_folders(ctx):
        mine = folder.resolve()
        if wanted == mine:
            found.append((0, 0, "is", what, folder))
        elif mine in wanted.parents:
            found.append((1, -len(mine.parts), "lies inside", what, folder))
        elif wanted in mine.parents:
            found.append((2, 0, "holds", what, folder))
    if found:
        _, _, relation, what, folder = min(found, key=lambda match: match[:2])
        raise InvalidInputError(
            f"The folder {target} {relation} deltaset's {what} {folder}; "
            "copy into a folder outside it."
        )


def own_folders(ctx: Context) -> Iterator[tuple[str, Path]]:
    """What each of deltaset's own folders (and its catalog file) is, and where."""
    settings = ctx.settings
    yield "home", settings.home
    yield "cache", settings.cache_dir
    yield "catalog", settings.catalog_path
    for url in sorted({settings.default_storage, *ctx.catalog.storages()}):
        folder = local_folder(url)
        if folder is not None:
            yield "storage", folder


def local_folder(url: str) -> Path | None:
    """The folder a storage URL names on this machine; None for any other storage."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if len(parsed.scheme) <= 1:  # a plain path (a drive letter on Windows)
        return Path(url).expanduser()
    return None
