"""Tables in a version, read in place with pyarrow (the ``tables`` extra): a page of rows with
the column names and types, and a table's shape (rows and schema) for a comparison.

Parquet and Arrow files are read through a seekable file over the version's file, so only
their footer and the row groups (record batches) holding the rows asked for are fetched.
CSV, TSV and JSON Lines are read from their start up to the last row asked for.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any

from deltaset.core.filekinds import HEAD_BYTES, table_format
from deltaset.core.records import VersionRecord
from deltaset.engine import reading
from deltaset.engine.context import Context
from deltaset.errors import DeltasetError, InvalidInputError
from deltaset.extras import needs

MAX_ROWS = 1000  # rows one page holds at most
CSV_BLOCK = 64 * 1024  # what the CSV reader reads at a time
SHAPE_BYTES = 256 << 20  # CSV and JSON Lines larger than this are not counted for a shape
Column = tuple[str, str]  # name, type


@dataclass(frozen=True, slots=True)
class TablePage:
    """Rows ``offset`` to ``offset + len(rows)`` of a table with ``columns`` (name, type);
    ``total_rows`` when known without reading the whole file; ``more`` when rows follow."""

    path: str
    format: str
    columns: tuple[Column, ...]
    rows: tuple[tuple[Any, ...], ...]
    offset: int
    total_rows: int | None
    more: bool


@dataclass(frozen=True, slots=True)
class TableShape:
    """A table's row count (None when too large to count) and columns."""

    rows: int | None
    columns: tuple[Column, ...]


def _pyarrow() -> Any:
    try:
        import pyarrow
    except ImportError as exc:
        raise needs("tables", "pyarrow") from exc
    return pyarrow


def table_page(
    ctx: Context, record: VersionRecord, path: str, offset: int = 0, limit: int = 50
) -> TablePage:
    """Rows ``offset`` to ``offset + limit`` of the table at ``path``, with its column types."""
    if offset < 0 or not 1 <= limit <= MAX_ROWS:
        raise InvalidInputError(
            f"A page of rows starts at an offset of 0 or more and holds 1 to {MAX_ROWS} rows."
        )
    pa = _pyarrow()
    with _open_table(ctx, record, path) as (clean, kind, file):
        table, total = _READERS[kind](pa, file, offset, limit + 1)
    more = table.num_rows > limit
    table = table.slice(0, limit)
    rows = tuple(tuple(_cell(v) for v in row.values()) for row in table.to_pylist())
    return TablePage(clean, kind, _columns(table.schema), rows, offset, total, more)


def table_shape(ctx: Context, record: VersionRecord, path: str) -> TableShape:
    """The row count and columns of the table at ``path`` (from the footer for Parquet and
    Arrow files; by reading CSV and JSON Lines files up to :data:`SHAPE_BYTES`)."""
    pa = _pyarrow()
    with _open_table(ctx, record, path) as (_, kind, file):
        if kind == "parquet":
            import pyarrow.parquet as pq

            meta = pq.ParquetFile(file).metadata
            return TableShape(meta.num_rows, _columns(meta.schema.to_arrow_schema()))
        if kind == "arrow":
            reader = pa.ipc.open_file(file)
            rows = sum(
                reader.get_record_batch(i).num_rows for i in range(reader.num_record_batches)
            )
            return TableShape(rows, _columns(reader.schema))
        if file.size > SHAPE_BYTES:
            head, _ = _READERS[kind](pa, file, 0, 1)
            return TableShape(None, _columns(head.schema))
        table, _ = _READERS[kind](pa, file, 0, None)
        return TableShape(table.num_rows, _columns(table.schema))


@contextmanager
def _open_table(
    ctx: Context, record: VersionRecord, path: str
) -> Iterator[tuple[str, str, reading.VersionFileReader]]:
    clean, entry = reading.file_entry(ctx, record, path)
    file = reading.VersionFileReader(reading.open_entry(ctx, record, clean, entry))
    with file:
        kind = table_format(clean, file.peek(HEAD_BYTES)[:HEAD_BYTES])
        if kind is None:
            raise InvalidInputError(
                f"{clean} is not a table deltaset previews "
                "(CSV, TSV, Parquet, JSON Lines or Arrow)."
            )
        try:
            yield clean, kind, file
        except DeltasetError:
            raise
        except (ValueError, OSError) as exc:  # pyarrow's and json's errors derive from these
            raise InvalidInputError(f"{clean} cannot be read as a {kind} table: {exc}") from exc


def _parquet(pa: Any, file: IO[bytes], offset: int, limit: int | None) -> tuple[Any, int | None]:
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(file)
    meta = parquet.metadata
    wanted: list[int] = []
    start, skip = 0, 0
    for group in range(meta.num_row_groups):
        rows = meta.row_group(group).num_rows
        if start + rows > offset and (limit is None or start < offset + limit):
            if not wanted:
                skip = offset - start
            wanted.append(group)
        start += rows
    if not wanted:
        return parquet.schema_arrow.empty_table(), meta.num_rows
    table = parquet.read_row_groups(wanted)
    return table.slice(skip, limit), meta.num_rows


def _arrow_file(pa: Any, file: IO[bytes], offset: int, limit: int | None) -> tuple[Any, int | None]:
    reader = pa.ipc.open_file(file)
    batches, start = [], 0
    for at in range(reader.num_record_batches):
        batch = reader.get_record_batch(at)
        if start + batch.num_rows > offset:
            batches.append(batch.slice(max(0, offset - start)))
        start += batch.num_rows
        if limit is not None and sum(b.num_rows for b in batches) >= limit:
            break
    return _first(pa, reader.schema, batches, limit), None


def _arrow_stream(pa: Any, file: IO[bytes], offset: int, limit: int | None) -> tuple[Any, None]:
    reader = pa.ipc.open_stream(file)
    return _skip_take(pa, reader.schema, iter(reader), offset, limit), None


def _csv(pa: Any, file: IO[bytes], offset: int, limit: int | None, sep: str = ",") -> Any:
    import pyarrow.csv as csv

    reader = csv.open_csv(
        file,
        read_options=csv.ReadOptions(block_size=CSV_BLOCK),
        parse_options=csv.ParseOptions(delimiter=sep),
    )
    return _skip_take(pa, reader.schema, iter(reader), offset, limit), None


def _tsv(pa: Any, file: IO[bytes], offset: int, limit: int | None) -> Any:
    return _csv(pa, file, offset, limit, "\t")


def _jsonl(pa: Any, file: IO[bytes], offset: int, limit: int | None) -> tuple[Any, None]:
    rows, seen = [], 0
    for line in io.TextIOWrapper(file, encoding="utf-8", errors="replace"):
        if not line.strip():
            continue
        if seen >= offset:
            rows.append(json.loads(line))
            if limit is not None and len(rows) >= limit:
                break
        seen += 1
    return pa.Table.from_pylist(rows), None


def _skip_take(pa: Any, schema: Any, batches: Iterator[Any], offset: int, limit: int | None) -> Any:
    kept, start = [], 0
    for batch in batches:
        if start + batch.num_rows > offset:
            kept.append(batch.slice(max(0, offset - start)))
        start += batch.num_rows
        if limit is not None and sum(b.num_rows for b in kept) >= limit:
            break
    return _first(pa, schema, kept, limit)


def _first(pa: Any, schema: Any, batches: list[Any], limit: int | None) -> Any:
    table = pa.Table.from_batches(batches, schema=schema)
    return table if limit is None else table.slice(0, limit)


_READERS: dict[str, Any] = {
    "parquet": _parquet,
    "arrow": _arrow_file,
    "arrow-stream": _arrow_stream,
    "csv": _csv,
    "tsv": _tsv,
    "jsonl": _jsonl,
}


def _columns(schema: Any) -> tuple[Column, ...]:
    return tuple((field.name, str(field.type)) for field in schema)


def _cell(value: Any) -> Any:
    """A value a page can hold as JSON: numbers, text, booleans and None as they are, the rest
    (dates, bytes, lists, structs) as text."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)
