"""Metadata of versions: named JSON values, and small tables (pandas DataFrames) as Parquet.

Kept in the catalog for quick reads and in the version's storage (``metadata/<id>/<name>.<kind>``)
so a catalog rebuilt from storage has it too. In storage, JSON is kept zstd-compressed
(``<name>.json.zst``) when that is smaller: the content summary every close keeps is about 1 KB
of JSON, half of what a small version stores besides its files. Plain ``.json`` files, as
earlier releases write them, read all the same.
"""

from __future__ import annotations

import io
import json
import logging
import math
import re
from typing import Any

import zstandard

from deltaset import extras
from deltaset.core.records import VersionRecord
from deltaset.engine.context import Context
from deltaset.errors import InvalidInputError, NotFoundError, shown
from deltaset.storage.base import Storage

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
KINDS = ("json", "parquet")
MAX_DEPTH = 200  # levels of nested lists and dicts: far more than metadata needs, and readable
COMPRESSED = ".zst"  # the suffix of metadata stored compressed
_LEVEL = 19  # the files are small: the slowest level costs a millisecond
_MOST = 1 << 30  # a compressed file claiming more is damaged
log = logging.getLogger("deltaset")


def metadata_key(version_id: str, name: str, kind: str) -> str:
    return f"metadata/{version_id}/{name}.{kind}"


def put_stored(storage: Storage, version_id: str, name: str, kind: str, data: bytes) -> None:
    """Keep metadata ``name`` of a version in ``storage``: JSON compressed when that is
    smaller. The other form of the same name, if any, goes (it would say something older)."""
    key = metadata_key(version_id, name, kind)
    body = data
    if kind == "json":
        packed = zstandard.ZstdCompressor(level=_LEVEL, write_checksum=True).compress(data)
        if len(packed) < len(data):
            key, body = key + COMPRESSED, packed
    storage.put_bytes(key, body)
    other = key.removesuffix(COMPRESSED) if key.endswith(COMPRESSED) else key + COMPRESSED
    storage.delete(other)


def read_stored(storage: Storage, version_id: str) -> list[tuple[str, str, bytes]]:
    """The metadata a storage keeps of a version: (name, kind, bytes as set), plain or
    compressed (that form wins where both are left). A damaged compressed file is skipped
    with a warning: the version's files do not depend on it."""
    found: dict[tuple[str, str], bytes] = {}
    for key in sorted(storage.list(f"metadata/{version_id}/")):
        file = key.rsplit("/", 1)[-1]
        compressed = file.endswith(COMPRESSED)
        name, _, kind = file.removesuffix(COMPRESSED).rpartition(".")
        if kind not in KINDS or not NAME.match(name):
            continue
        if (name, kind) in found and not compressed:
            continue
        data = storage.get_bytes(key)
        if compressed:
            try:
                data = zstandard.ZstdDecompressor().decompress(data, max_output_size=_MOST)
            except (zstandard.ZstdError, MemoryError):
                log.warning("The stored metadata %s of %s is damaged: skipped.", key, storage.url)
                continue
        found[name, kind] = data
    return [(name, kind, data) for (name, kind), data in found.items()]


def encode(value: Any) -> tuple[str, bytes]:
    """A value as (kind, bytes): a pandas DataFrame as Parquet, anything JSON can hold as JSON."""
    if type(value).__name__ == "DataFrame" and hasattr(value, "to_parquet"):
        try:
            return "parquet", bytes(value.to_parquet())
        except ImportError as exc:
            raise extras.needs("tables", "pyarrow") from exc
    check_json_value(value)
    try:
        text = json.dumps(value, sort_keys=True, allow_nan=False, default=_numpy_value)
    except InvalidInputError:  # a numpy array's own refusal (NaN), already one sentence
        raise
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(
            "Metadata is a JSON value (dicts, lists, text, numbers, numpy arrays) or a pandas "
            f"DataFrame, not a {type(value).__name__}."
        ) from exc
    return "json", text.encode()


def _numpy_value(value: Any) -> Any:
    """A numpy array or number (ClearML's metadata takes arrays) as the lists and numbers it
    holds, kept as JSON: read back, it is a list. numpy is never imported: any of its
    objects knows ``tolist``."""
    if type(value).__module__.split(".")[0] != "numpy" or not hasattr(value, "tolist"):
        raise TypeError(f"{type(value).__name__} is not JSON")
    plain = value.tolist()
    check_json_value(plain)
    return plain


def check_json_value(value: Any, what: str = "Metadata") -> None:
    """Refuse what JSON cannot hold but Python's json would write anyway (NaN, infinities)
    or could not read back (nesting past the interpreter's recursion limit)."""
    seen: set[int] = set()
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            raise InvalidInputError(
                f"{what} holds the number {item}, which is not JSON; use null or a string."
            )
        children = item.values() if isinstance(item, dict) else item
        if not isinstance(item, (dict, list, tuple)) or id(item) in seen:
            continue  # a container met twice is checked once (json refuses a cycle)
        if depth > MAX_DEPTH:
            raise InvalidInputError(f"{what} nests deeper than {MAX_DEPTH} levels; flatten it.")
        seen.add(id(item))
        stack.extend((child, depth + 1) for child in children)


def parse_json(text: str | bytes, what: str = "Metadata") -> Any:
    """The value of JSON ``text``: refuses NaN and infinities (not JSON, though Python's json
    reads them) and nesting deeper than :data:`MAX_DEPTH`, in one sentence about ``what``."""

    def refuse(constant: str) -> Any:
        raise InvalidInputError(
            f"{what} holds {constant}, which is not JSON; use null or a string."
        )

    try:
        value = json.loads(text, parse_constant=refuse)
    except RecursionError as exc:
        raise InvalidInputError(
            f"{what} nests deeper than {MAX_DEPTH} levels; flatten it."
        ) from exc
    except ValueError as exc:
        raise InvalidInputError(f"{what} is not JSON: {exc}.") from exc
    check_json_value(value, what)
    return value


def decode(kind: str, data: bytes) -> Any:
    if kind == "parquet":
        try:
            import pandas

            return pandas.read_parquet(io.BytesIO(data))
        except ImportError as exc:  # pandas, or the pyarrow it reads Parquet with
            raise extras.needs("tables", "pandas and pyarrow") from exc
    try:
        return json.loads(data)  # NaN written by an earlier deltaset still reads
    except (RecursionError, ValueError) as exc:
        raise InvalidInputError(
            f"Stored metadata is not JSON this machine can read: {exc}."
        ) from exc


def set_metadata(ctx: Context, record: VersionRecord, name: str, value: Any) -> None:
    if not NAME.match(name):
        raise InvalidInputError(
            f"The metadata name {shown(name)} is not a name: letters, digits, '.', '_' or '-'."
        )
    kind, data = encode(value)
    put_stored(ctx.storage(record.storage), record.id, name, kind, data)
    ctx.catalog.set_metadata(record.id, name, kind, data)


def get_metadata(ctx: Context, record: VersionRecord, name: str) -> Any:
    found = ctx.catalog.get_metadata(record.id, name)
    if found is None:
        raise NotFoundError(f"The dataset version {record.id} has no metadata {shown(name)}.")
    return decode(*found)


def import_stored(ctx: Context, storage_url: str, version_id: str) -> int:
    """Bring the metadata a storage keeps of a version into the catalog; returns how many."""
    found = read_stored(ctx.storage(storage_url), version_id)
    for name, kind, data in found:
        ctx.catalog.set_metadata(version_id, name, kind, data)
    return len(found)


def delete_stored(ctx: Context, record: VersionRecord) -> None:
    storage = ctx.storage(record.storage)
    for key in list(storage.list(f"metadata/{record.id}/")):
        storage.delete(key)
