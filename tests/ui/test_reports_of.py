"""What the version page shows of ``get_logger()``'s reports, and the images it serves: only
bytes that are a PNG, JPEG or GIF, whatever the report says they are."""

from __future__ import annotations

import io
from pathlib import Path

import pandas
import pytest

from deltaset import Dataset
from deltaset.engine.context import default_context
from deltaset.errors import InvalidInputError, NotFoundError
from deltaset.ui import reports

SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'


def _reported(tmp_path: Path) -> Dataset:
    ds = Dataset.create(dataset_name="r", dataset_project="p")
    ds.finalize(auto_upload=True)
    logger = ds.get_logger()
    (tmp_path / "x.svg").write_bytes(SVG)
    logger.report_image("drawing", "svg", local_path=str(tmp_path / "x.svg"))
    logger.report_image("link", "only", url="https://example.com/a.png")
    logger.report_table("frame", "all", table_plot=pandas.DataFrame({"n": range(50)}))
    logger.report_histogram("labels", "count", values=[3, 4])
    logger.report_media("page", "html", stream=io.StringIO("<p>hi</p>"), file_extension=".html")
    return ds


def test_an_image_that_is_not_a_png_jpeg_or_gif_is_not_served(tmp_path: Path) -> None:
    ds = _reported(tmp_path)
    ctx = default_context()
    record = ctx.catalog.get(ds.id)
    with pytest.raises(InvalidInputError, match="is not a PNG, JPEG or GIF image"):
        reports.image(ctx, record, "report.image.drawing.svg")
    with pytest.raises(NotFoundError, match="holds no image, only where it was"):
        reports.image(ctx, record, "report.image.link.only")
    with pytest.raises(NotFoundError, match="not the name of a reported image"):
        reports.image(ctx, record, "report.table.frame.all")


def test_a_parquet_table_shows_its_first_rows_and_others_are_named(tmp_path: Path) -> None:
    ds = _reported(tmp_path)
    ctx = default_context()
    found = reports.reports_of(ctx, ctx.catalog.get(ds.id))
    (table,) = found.tables
    assert (table.header, table.count, len(table.rows)) == (["n"], 50, reports.ROWS_SHOWN)
    assert table.rows[:2] == [["0"], ["1"]]
    assert [i.url for i in found.images] == [None, "https://example.com/a.png"]
    assert found.others == ["report.media.page.html"]
    (histogram,) = found.histograms
    assert [(b.label, b.shown) for b in histogram.chart.bars] == [("0", "3"), ("1", "4")]


def test_a_histogram_draws_its_first_bars_and_a_plot_lines_up_its_series() -> None:
    ds = Dataset.create(dataset_name="r", dataset_project="p")
    ds.finalize(auto_upload=True)
    logger = ds.get_logger()
    logger.report_histogram("wide", "all", values=[-1, *range(1, 80)])
    for iteration, value in enumerate((1.0, 0.5, 0.25)):
        logger.report_scalar("loss", "train", value, iteration * 2)
    logger.report_scalar("loss", "val", 0.75, 1)
    ctx = default_context()
    found = reports.reports_of(ctx, ctx.catalog.get(ds.id))
    (histogram,) = found.histograms
    assert (histogram.count, len(histogram.chart.bars)) == (80, reports.HISTOGRAM_BARS)
    first, second = histogram.chart.bars[:2]
    assert (first.shown, first.width, second.shown) == ("-1", 0.0, "1")
    (plot,) = found.plots
    assert plot == {
        "title": "loss",
        "xs": [0, 1, 2, 4],
        "series": [
            {"label": "train", "ys": [1.0, None, 0.5, 0.25]},
            {"label": "val", "ys": [None, 0.75, None, None]},
        ],
    }
