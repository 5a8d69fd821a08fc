from deltaset.ui.charts import BARS_SHOWN, PLOT_W, TOP_LEVEL, bar_chart, summary_charts


def test_bars_are_largest_first_and_scaled_to_the_largest() -> None:
    chart = bar_chart("Files", [("a", 1), ("b", 4), ("c", 2)])
    assert [b.label for b in chart.bars] == ["b", "c", "a"]
    assert [b.width for b in chart.bars] == [PLOT_W, PLOT_W / 2, PLOT_W / 4]
    assert [b.shown for b in chart.bars] == ["4", "2", "1"]


def test_bars_past_the_first_few_are_summed_into_one() -> None:
    rows = [(f"k{i}", i + 1) for i in range(BARS_SHOWN + 3)]
    chart = bar_chart("Files", rows)
    assert len(chart.bars) == BARS_SHOWN + 1
    assert chart.bars[-1].label == "3 others"
    assert chart.bars[-1].shown == "6"  # 1 + 2 + 3


def test_no_rows_and_zero_values_draw_no_width() -> None:
    assert bar_chart("Files", []).bars == []
    assert bar_chart("Files", [("a", 0)]).bars[0].width == 0


def test_summary_groups_become_files_and_bytes_charts_with_top_level_named() -> None:
    groups = {"by_folder": [(".", 1, 5), ("images", 2, 50)], "by_extension": [(".txt", 3, 55)]}
    (files, size, what, rows), (ext_files, _, ext_what, _) = summary_charts(groups)
    assert (what, ext_what) == ("Top-level folder", "Extension")
    assert rows == [("images", 2, 50), (TOP_LEVEL, 1, 5)]
    assert [b.label for b in size.bars] == ["images", TOP_LEVEL]
    assert [b.shown for b in size.bars] == ["50 B", "5 B"]
    assert files.title == "Files by top-level folder"
    assert ext_files.bars[0].label == ".txt"
