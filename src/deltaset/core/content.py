"""A version's content summary: files and bytes by extension and by top-level folder, and a
sample of its paths (what ClearML shows as a dataset's "Dataset Content" table and file-type
histogram)."""

from __future__ import annotations

from collections.abc import Iterable
from posixpath import splitext
from typing import Any

SAMPLE = 20  # paths in the sample, spread over the sorted list so every part shows
NO_EXTENSION = "(none)"
ROOT = "."  # the files directly at the top of the version


def summarize(files: Iterable[tuple[str, int]]) -> dict[str, Any]:
    """The summary of ``(path, size)`` pairs: ``files``, ``bytes``, ``by_extension`` and
    ``by_folder`` (each ``{key: {"files", "bytes"}}``, largest first) and ``sample``."""
    by_extension: dict[str, list[int]] = {}
    by_folder: dict[str, list[int]] = {}
    paths: list[str] = []
    # One loop without a call per file for the usual path: it runs for every file of a version.
    for path, size in files:
        paths.append(path)
        slash = path.rfind("/")
        dot = path.rfind(".")
        if dot > slash + 1 and path[slash + 1] != ".":
            extension = path[dot:].lower()
        else:
            extension = _extension(path)
        pair = by_extension.get(extension)
        if pair is None:
            pair = by_extension[extension] = [0, 0]
        pair[0] += 1
        pair[1] += size
        folder = path[: path.find("/")] if slash >= 0 else ROOT
        pair = by_folder.get(folder)
        if pair is None:
            pair = by_folder[folder] = [0, 0]
        pair[0] += 1
        pair[1] += size
    return {
        "files": len(paths),
        "bytes": _total(by_folder),
        "by_extension": _ordered(by_extension),
        "by_folder": _ordered(by_folder),
        "sample": _sample(sorted(paths)),
    }


def _extension(path: str) -> str:
    extension = splitext(path.rsplit("/", 1)[-1])[1].lower()
    return extension or NO_EXTENSION


def _total(totals: dict[str, list[int]]) -> int:
    return sum(size for _, size in totals.values())


def _ordered(totals: dict[str, list[int]]) -> dict[str, dict[str, int]]:
    ranked = sorted(totals.items(), key=lambda item: (-item[1][1], -item[1][0], item[0]))
    return {key: {"files": files, "bytes": size} for key, (files, size) in ranked}


def _sample(paths: list[str]) -> list[str]:
    if len(paths) <= SAMPLE:
        return paths
    step = len(paths) / SAMPLE
    return [paths[int(i * step)] for i in range(SAMPLE)]
