"""A version's content summary: files and bytes by extension and by top-level folder, and a
sample of its paths (what ClearML shows as a dataset's "Dataset Content" table and file-type
histogram)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from posixpath import splitext
from typing import Any

from deltaset.core.manifest import Manifest

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


def summarize_change(
    before: Mapping[str, Any],
    base: Manifest,
    files: Manifest,
    removed: Iterable[str],
    view: Manifest,
) -> dict[str, Any] | None:
    """The summary of ``view`` worked out from ``before``, the summary of ``base``, and the
    changes that make ``view`` of it (``files`` put, ``removed`` taken away), in time that
    grows with the changes only; exactly what :func:`summarize` gives of ``view``. None when
    ``before`` is not a summary of ``base`` (metadata anyone may set; written by an older
    release), so the caller summarizes ``view`` whole."""
    by_extension = _totals(before.get("by_extension"))
    by_folder = _totals(before.get("by_folder"))
    if (
        by_extension is None
        or by_folder is None
        or not _describes(before, base, by_folder)
        or _totals_of(by_extension) != _totals_of(by_folder)
    ):
        return None
    for path in removed:
        _count(by_extension, by_folder, path, -1, -base.size_at(_at(base, path)))
    for at, path in enumerate(files):
        known = base.position(path)
        if known is not None:
            _count(by_extension, by_folder, path, -1, -base.size_at(known))
        _count(by_extension, by_folder, path, 1, files.size_at(at))
    return {
        "files": len(view),
        "bytes": _total(by_folder),
        "by_extension": _ordered({k: v for k, v in by_extension.items() if v[0]}),
        "by_folder": _ordered({k: v for k, v in by_folder.items() if v[0]}),
        "sample": sample_of(view),
    }


def sample_of(manifest: Manifest) -> list[str]:
    """The ``sample`` of a manifest's summary: its paths are sorted already."""
    count = len(manifest)
    if count <= SAMPLE:
        return list(manifest)
    step = count / SAMPLE
    return [manifest.path_at(int(i * step)) for i in range(SAMPLE)]


def _totals(found: object) -> dict[str, list[int]] | None:
    if not isinstance(found, dict):
        return None
    totals: dict[str, list[int]] = {}
    for key, pair in found.items():
        if not isinstance(pair, dict):
            return None
        files, size = pair.get("files"), pair.get("bytes")
        if type(files) is not int or type(size) is not int or files <= 0:
            return None
        totals[key] = [files, size]
    return totals


def _describes(before: Mapping[str, Any], base: Manifest, by_folder: dict[str, list[int]]) -> bool:
    """Whether ``before`` agrees with ``base`` on what can be checked without a walk."""
    counted = _totals_of(by_folder)
    return (before.get("files"), before.get("bytes")) == (
        len(base),
        base.total_size,
    ) == counted and before.get("sample") == sample_of(base)


def _totals_of(totals: dict[str, list[int]]) -> tuple[int, int]:
    return sum(files for files, _ in totals.values()), _total(totals)


def _at(manifest: Manifest, path: str) -> int:
    found = manifest.position(path)
    if found is None:
        raise ValueError(f"{path!r} is not in the manifest it is removed from")
    return found


def _count(
    by_extension: dict[str, list[int]],
    by_folder: dict[str, list[int]],
    path: str,
    files: int,
    size: int,
) -> None:
    slash = path.find("/")
    folder = path[:slash] if slash >= 0 else ROOT
    for totals, key in ((by_extension, _extension(path)), (by_folder, folder)):
        pair = totals.setdefault(key, [0, 0])
        pair[0] += files
        pair[1] += size


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
