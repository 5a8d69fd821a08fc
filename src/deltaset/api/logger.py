"""``Dataset.get_logger()``: ClearML's ``Logger`` methods a dataset script calls, keeping each
report as metadata of the version, so ``deltaset metadata list/get`` and the web UI show it.

Names: ``report.table.<title>.<series>`` (a Parquet table for a DataFrame or CSV, else JSON),
``report.media.<title>.<series>`` and ``report.image.<title>.<series>`` (JSON with the bytes in
base64, or the URL), ``report.histogram.<title>.<series>``, and one ``report.scalars`` and one
``report.text`` for all scalars and all text. A report made again under the same title and
series replaces the previous one, but scalars and text accumulate, in order.
"""

from __future__ import annotations

import base64
import io
import logging
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from deltaset import extras
from deltaset.core.records import VersionRecord
from deltaset.engine import metadata
from deltaset.engine.context import Context
from deltaset.errors import InvalidInputError, NotFoundError

MAX_MEDIA_BYTES = 16 << 20  # a sample for the UI, not data: data belongs in the version
SCALARS = "report.scalars"
TEXT = "report.text"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class Logger:
    """Reports about one dataset version, with ClearML ``Logger``'s method names and
    parameters. Plot styling (``extra_layout``, ``extra_data``, ``data_args``) is kept with
    the report for a viewer to use; deltaset itself draws no plots."""

    def __init__(self, ctx: Context, record: Callable[[], VersionRecord]) -> None:
        self._ctx = ctx
        self._record = record

    def report_text(
        self, msg: str, level: int = logging.INFO, print_console: bool = True, *args: Any, **_: Any
    ) -> None:
        """Append ``msg`` to the version's ``report.text``; also print it when ``print_console``."""
        text = str(msg)
        if print_console:
            sys.stdout.write(text + "\n")  # ClearML prints reported text too
        entry = {"level": logging.getLevelName(level), "msg": text}
        self._append(TEXT, [], lambda value: [*value, entry])

    def report_scalar(self, title: str, series: str, value: float, iteration: int) -> None:
        """Add the point (iteration, value) to series ``series`` of plot ``title``."""
        point = [int(iteration), _number(value)]

        def add(scalars: dict[str, Any]) -> dict[str, Any]:
            scalars.setdefault(str(title), {}).setdefault(str(series), []).append(point)
            return scalars

        self._append(SCALARS, {}, add)

    def report_histogram(
        self,
        title: str,
        series: str,
        values: Sequence[int | float],
        iteration: int | None = None,
        labels: list[str] | None = None,
        xlabels: list[str] | None = None,
        xaxis: str | None = None,
        yaxis: str | None = None,
        mode: str | None = None,
        data_args: dict[str, Any] | None = None,
        extra_layout: dict[str, Any] | None = None,
    ) -> None:
        """A histogram (bar heights ``values``, with ``xlabels`` under the bars)."""
        self._put(
            "histogram",
            title,
            series,
            {
                "iteration": iteration,
                "values": [_number(v) for v in values],
                "labels": labels,
                "xlabels": xlabels,
                "xaxis": xaxis,
                "yaxis": yaxis,
                "mode": mode,
                "data_args": data_args,
                "extra_layout": extra_layout,
            },
        )

    def report_table(
        self,
        title: str,
        series: str,
        iteration: int | None = None,
        table_plot: Any = None,
        csv: str | None = None,
        url: str | None = None,
        extra_layout: dict[str, Any] | None = None,
        extra_data: dict[str, Any] | None = None,
    ) -> None:
        """A table: a pandas DataFrame (kept as Parquet), a list of rows (the first being the
        header, kept as JSON), a CSV file's path or URL (``csv``, read with pandas) or ``url``."""
        given = [x for x in (table_plot, csv, url) if x is not None]
        if len(given) != 1:
            raise InvalidInputError("report_table() takes one of table_plot, csv or url.")
        if csv is not None:
            table_plot = _read_csv(csv)
        if type(table_plot).__name__ == "DataFrame":
            metadata.set_metadata(
                self._ctx, self._record(), report_name("table", title, series), table_plot
            )
            return
        rows = [list(row) for row in table_plot] if table_plot is not None else None
        report = {"iteration": iteration, "rows": rows, "url": url}
        self._put("table", title, series, report | _styling(extra_layout, extra_data))

    def report_media(
        self,
        title: str,
        series: str,
        iteration: int | None = None,
        local_path: str | None = None,
        stream: io.BytesIO | io.StringIO | None = None,
        file_extension: str | None = None,
        max_history: int | None = None,
        delete_after_upload: bool = False,
        url: str | None = None,
    ) -> None:
        """A media file (audio, video, HTML...) from ``local_path``, ``stream`` or ``url``;
        the latest one per title and series is kept (``max_history`` is always 1)."""
        data = _read(local_path, stream, url)
        extension = file_extension or (Path(local_path).suffix if local_path else "")
        self._put("media", title, series, _media(iteration, data, extension, url))
        if delete_after_upload and local_path:
            Path(local_path).unlink(missing_ok=True)

    def report_image(
        self,
        title: str,
        series: str,
        iteration: int | None = None,
        local_path: str | None = None,
        image: Any = None,
        matrix: Any = None,
        max_image_history: int | None = None,
        delete_after_upload: bool = False,
        url: str | None = None,
    ) -> None:
        """An image from ``local_path``, ``url``, or a PIL image or numpy array (``image``,
        or the older ``matrix``), kept as PNG; the latest one per title and series is kept."""
        picture = image if image is not None else matrix
        if picture is not None:
            data: bytes | None = _png(picture)
            extension = ".png"
        else:
            data = _read(local_path, None, url)
            extension = Path(local_path).suffix if local_path else ""
        self._put("image", title, series, _media(iteration, data, extension, url))
        if delete_after_upload and local_path:
            Path(local_path).unlink(missing_ok=True)

    def flush(self, wait: bool = False) -> bool:
        """Reports are stored as they are made: nothing waits."""
        return True

    def _put(self, kind: str, title: str, series: str, report: dict[str, Any]) -> None:
        value = {"title": str(title), "series": str(series), **report}
        metadata.set_metadata(self._ctx, self._record(), report_name(kind, title, series), value)

    def _append(self, name: str, empty: Any, change: Callable[[Any], Any]) -> None:
        record = self._record()
        try:
            value = metadata.get_metadata(self._ctx, record, name)
        except NotFoundError:
            value = empty
        metadata.set_metadata(self._ctx, record, name, change(value))


def report_name(kind: str, title: str, series: str) -> str:
    """The metadata name of a report: unsafe characters become ``_``; at most 128 long."""
    parts = [_UNSAFE.sub("_", str(part)).strip("._-") or "_" for part in (title, series)]
    return f"report.{kind}.{parts[0]}.{parts[1]}"[:128]


def _number(value: Any) -> float | int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        try:
            return float(value)
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"A reported value is a number, not {value!r}.") from exc
    return value


def _styling(
    extra_layout: dict[str, Any] | None, extra_data: dict[str, Any] | None
) -> dict[str, Any]:
    return {"extra_layout": extra_layout, "extra_data": extra_data}


def _read(local_path: str | None, stream: Any, url: str | None) -> bytes | None:
    if sum(x is not None for x in (local_path, stream, url)) != 1:
        raise InvalidInputError("Give one of local_path, stream or url to report a file.")
    if local_path is not None:
        try:
            data = Path(local_path).read_bytes()
        except OSError as exc:
            raise InvalidInputError(f"Cannot read {local_path}: {exc.strerror}.") from exc
    elif stream is not None:
        read = stream.getvalue() if hasattr(stream, "getvalue") else stream.read()
        data = read.encode() if isinstance(read, str) else bytes(read)
    else:
        return None
    if len(data) > MAX_MEDIA_BYTES:
        raise InvalidInputError(
            f"A reported file is at most {MAX_MEDIA_BYTES >> 20} MB; add large files to the "
            "version itself."
        )
    return data


def _media(
    iteration: int | None, data: bytes | None, extension: str, url: str | None
) -> dict[str, Any]:
    return {
        "iteration": iteration,
        "file_extension": extension,
        "size": None if data is None else len(data),
        "data_base64": None if data is None else base64.b64encode(data).decode(),
        "url": url,
    }


def _png(picture: Any) -> bytes:
    try:
        from PIL import Image
    except ImportError as exc:
        raise InvalidInputError(
            "Reporting an image object needs Pillow: pip install pillow."
        ) from exc
    if not isinstance(picture, Image.Image):
        try:
            picture = Image.fromarray(picture)
        except (TypeError, ValueError, AttributeError) as exc:
            raise InvalidInputError(
                "image is a PIL image or a numpy array of pixels (height x width, "
                "optionally x 3 or 4 channels)."
            ) from exc
    out = io.BytesIO()
    picture.save(out, format="PNG")
    return out.getvalue()


def _read_csv(csv: str) -> Any:
    try:
        import pandas
    except ImportError as exc:
        raise extras.needs("tables", "pandas") from exc
    try:
        return pandas.read_csv(csv)
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"Cannot read the CSV table {csv}: {exc}.") from exc
