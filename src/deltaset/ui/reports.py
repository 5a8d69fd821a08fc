"""What ``Dataset.get_logger()`` reported about a version (its ``report.*`` metadata), in the
shape the version page shows: text, scalars, the first rows of tables and images."""

from __future__ import annotations

import base64
import binascii
import io
from dataclasses import dataclass, field
from typing import Any

from deltaset import extras
from deltaset.api.logger import SCALARS, TEXT
from deltaset.core.records import VersionRecord
from deltaset.engine import metadata
from deltaset.engine.context import Context
from deltaset.errors import DeltasetError, InvalidInputError, NotFoundError, shown
from deltaset.ui.charts import BarChart, in_order

TEXT_SHOWN = 200  # lines of reported text
POINTS_SHOWN = 20  # points of each scalar series listed
ROWS_SHOWN = 20  # rows of a reported table
CELL_SHOWN = 200  # characters of a table cell
PLOT_POINTS = 5000  # iterations of a scalar plot drawn
HISTOGRAM_BARS = 50  # bars of a histogram drawn
IMAGE = "report.image."
HISTOGRAM = "report.histogram."
TABLE = "report.table."
# Only formats a browser shows as a picture and never runs (no SVG): sniffed, not trusted.
IMAGE_TYPES = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


@dataclass(frozen=True, slots=True)
class Series:
    title: str
    series: str
    points: list[tuple[int, float]]  # the first POINTS_SHOWN
    count: int
    last: float


@dataclass(frozen=True, slots=True)
class Histogram:
    title: str
    chart: BarChart
    count: int  # bars reported (the first HISTOGRAM_BARS are drawn)


@dataclass(frozen=True, slots=True)
class Table:
    title: str
    header: list[str]
    rows: list[list[str]]
    count: int  # rows in all
    note: str = ""  # why no rows are shown


@dataclass(frozen=True, slots=True)
class Image:
    name: str
    title: str
    url: str | None  # where it was, when only its URL was reported


@dataclass
class Reports:
    text: list[tuple[str, str]] = field(default_factory=list)
    text_count: int = 0
    scalars: list[Series] = field(default_factory=list)
    plots: list[dict[str, Any]] = field(default_factory=list)  # each scalar title, to draw
    histograms: list[Histogram] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    images: list[Image] = field(default_factory=list)
    others: list[str] = field(default_factory=list)  # media, by name

    def __bool__(self) -> bool:
        return bool(
            self.text
            or self.scalars
            or self.histograms
            or self.tables
            or self.images
            or self.others
        )


def reports_of(ctx: Context, record: VersionRecord) -> Reports:
    found = Reports()
    for name in ctx.catalog.metadata_names(record.id):
        if name.startswith("report."):
            try:
                _add(found, name, *_read(ctx, record, name))
            except (DeltasetError, TypeError, ValueError, KeyError):
                found.others.append(name)  # a report of a shape this page cannot show
    return found


def _read(ctx: Context, record: VersionRecord, name: str) -> tuple[str, bytes]:
    stored = ctx.catalog.get_metadata(record.id, name)
    if stored is None:
        raise NotFoundError(f"The version {record.id} has no report {shown(name)}.")
    return stored


def _add(found: Reports, name: str, kind: str, data: bytes) -> None:
    if name == TEXT:
        lines = metadata.decode(kind, data)
        found.text = [(str(e["level"]), str(e["msg"])) for e in lines[:TEXT_SHOWN]]
        found.text_count = len(lines)
    elif name == SCALARS:
        value = metadata.decode(kind, data)
        found.scalars = _scalars(value)
        found.plots = _plots(value)
    elif name.startswith(HISTOGRAM):
        found.histograms.append(_histogram(metadata.decode(kind, data)))
    elif name.startswith(TABLE):
        found.tables.append(_table(name, kind, data))
    elif name.startswith(IMAGE):
        report = metadata.decode(kind, data)
        title = f"{report['title']} / {report['series']}"
        found.images.append(Image(name, title, None if report["data_base64"] else report["url"]))
    else:
        found.others.append(name)


def _scalars(value: dict[str, dict[str, list[list[float]]]]) -> list[Series]:
    return [
        Series(
            title,
            series,
            [(int(x), y) for x, y in points[:POINTS_SHOWN]],
            len(points),
            points[-1][1],
        )
        for title, by_series in value.items()
        for series, points in by_series.items()
        if points
    ]


def _plots(value: dict[str, dict[str, list[list[float]]]]) -> list[dict[str, Any]]:
    """Each scalar plot as the chart script draws it: the iterations of all its series, and
    each series' values at them (None where a series has no point; a value is never NaN,
    the logger refuses what JSON cannot hold)."""
    plots = []
    for title, by_series in value.items():
        series = {name: {int(x): y for x, y in points} for name, points in by_series.items()}
        xs = sorted({x for points in series.values() for x in points})[:PLOT_POINTS]
        plots.append(
            {
                "title": title,
                "xs": xs,
                "series": [
                    {"label": name, "ys": [points.get(x) for x in xs]}
                    for name, points in series.items()
                ],
            }
        )
    return plots


def _histogram(report: dict[str, Any]) -> Histogram:
    values = [float(v) for v in report["values"]]
    names = [str(n) for n in report.get("xlabels") or []]
    rows = [(names[i] if i < len(names) else str(i), v) for i, v in enumerate(values)]
    title = f"{report['title']} / {report['series']}"
    chart = in_order(title, rows[:HISTOGRAM_BARS], _number)
    return Histogram(title, chart, len(rows))


def _number(value: float) -> str:
    return f"{value:g}"


def _table(name: str, kind: str, data: bytes) -> Table:
    title = name[len(TABLE) :].replace(".", " / ", 1)
    if kind == "parquet":
        return _parquet_table(title, data)
    report = metadata.decode(kind, data)
    title = f"{report['title']} / {report['series']}"
    rows = report.get("rows") or []
    if not rows:
        return Table(title, [], [], 0, f"Reported as the URL {report.get('url')}.")
    header, body = [_cell(c) for c in rows[0]], rows[1:]
    return Table(title, header, [[_cell(c) for c in row] for row in body[:ROWS_SHOWN]], len(body))


def _parquet_table(title: str, data: bytes) -> Table:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        return Table(title, [], [], 0, extras.needs("tables", "pyarrow").message)
    table = pq.ParquetFile(io.BytesIO(data))
    first = next(table.iter_batches(batch_size=ROWS_SHOWN), None)
    columns = [str(n) for n in table.schema_arrow.names if not str(n).startswith("__index_level")]
    rows = (
        [] if first is None else [[_cell(row.get(c)) for c in columns] for row in first.to_pylist()]
    )
    return Table(title, columns, rows, table.metadata.num_rows)


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= CELL_SHOWN else text[:CELL_SHOWN] + "…"


def image(ctx: Context, record: VersionRecord, name: str) -> tuple[bytes, str]:
    """The bytes and content type of the reported image ``name``: only a PNG, JPEG or GIF."""
    if not name.startswith(IMAGE):
        raise NotFoundError(f"{shown(name)} is not the name of a reported image.")
    report = metadata.decode(*_read(ctx, record, name))
    if not report.get("data_base64"):
        raise NotFoundError(f"The report {shown(name)} holds no image, only where it was.")
    try:
        data = base64.b64decode(report["data_base64"], validate=True)
    except (binascii.Error, AttributeError) as exc:
        raise InvalidInputError(f"The report {shown(name)} holds no readable image.") from exc
    for magic, content_type in IMAGE_TYPES:
        if data.startswith(magic):
            return data, content_type
    raise InvalidInputError(f"The report {shown(name)} is not a PNG, JPEG or GIF image.")
