"""ClearML's last Dataset members: entry dicts, change counts, upload's result, the logger and
the content summary."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import numpy
import pandas
import pytest

from deltaset import Dataset
from deltaset.core.content import summarize
from deltaset.errors import InvalidInputError
from tests.api.helpers import version_of
from tests.conftest import make_files


def test_entries_name_the_version_that_brought_each_content(tmp_path: Path) -> None:
    base = version_of(tmp_path, {"a.txt": "a", "b.txt": "b"})
    source = make_files(tmp_path / "more", {"b.txt": "B", "c.txt": "c", "far/x.csv": "x"})
    child = Dataset.create(dataset_name="n", dataset_project="p", parent_datasets=[base.id])
    child.add_files(str(source / "b.txt"))
    child.add_files(str(source / "c.txt"))
    child.add_external_files(str(source / "far" / "x.csv"), dataset_path="far")

    pending = child.file_entries_dict
    assert sorted(pending) == ["a.txt", "b.txt", "c.txt"]
    assert pending["a.txt"].parent_dataset_id == base.id
    assert pending["a.txt"].local_path is None
    assert pending["c.txt"].parent_dataset_id == child.id
    assert pending["c.txt"].local_path == str(source / "c.txt")
    assert pending["c.txt"].as_dict() == {
        "relative_path": "c.txt",
        "hash": pending["c.txt"].hash,
        "parent_dataset_id": child.id,
        "size": 1,
        "artifact_name": None,
        "local_path": str(source / "c.txt"),
    }
    [link] = child.link_entries
    assert child.link_entries_dict == {"far/x.csv": link}
    assert (link.link, link.relative_path, link.parent_dataset_id, link.size) == (
        (source / "far" / "x.csv").as_uri(),
        "far/x.csv",
        child.id,
        1,
    )

    child.finalize(auto_upload=True)
    grandchild = version_of(
        tmp_path, {"a.txt": "a", "b.txt": "B", "c.txt": "c"}, parents=[child.id]
    )
    done = grandchild.file_entries_dict
    assert {p: e.parent_dataset_id for p, e in done.items()} == {
        "a.txt": base.id,
        "b.txt": child.id,
        "c.txt": child.id,
    }
    assert all(e.local_path is None for e in done.values())
    assert grandchild.link_entries == []  # the sync removed the external file


def test_update_changed_files_adds_to_the_reported_counts(tmp_path: Path) -> None:
    base = version_of(tmp_path, {"a.txt": "a", "b.txt": "b"})
    child = Dataset.create(dataset_name="n", dataset_project="p", parent_datasets=[base.id])
    child.add_files(str(make_files(tmp_path / "new", {"a.txt": "A", "c.txt": "c"})))
    child.remove_files("b.txt")
    assert child.changed_files == {"files added": 1, "files modified": 1, "files removed": 1}
    child.update_changed_files(num_files_added=2, num_files_modified=1)
    child.update_changed_files(num_files_removed=3)
    assert child.changed_files == {"files added": 3, "files modified": 2, "files removed": 4}


def test_upload_returns_true_only_when_nothing_was_pending(tmp_path: Path) -> None:
    ds = Dataset.create(dataset_name="n", dataset_project="p")
    ds.add_files(str(make_files(tmp_path / "src", {"a.txt": "a"})))
    assert ds.upload() is None
    assert ds.upload() is True


def test_the_content_summary_counts_files_by_extension_and_folder(tmp_path: Path) -> None:
    files: dict[str, bytes | str] = {f"train/{i:02}.jpg": b"x" * 10 for i in range(30)}
    files |= {"val/a.JPG": b"y" * 5, "val/labels.csv": "l\n", "README": "r"}
    ds = Dataset.create(dataset_name="n", dataset_project="p")
    ds.add_files(str(make_files(tmp_path / "src", files)))
    ds.upload(preview=False)
    assert "dataset-content" not in ds.list_metadata()
    ds.upload()
    assert ds.get_content_summary()["files"] == 33
    ds.remove_files("README")
    ds.finalize()
    summary = Dataset.get(dataset_id=ds.id).get_metadata("dataset-content")
    assert summary == ds.get_content_summary()
    assert (summary["files"], summary["bytes"]) == (32, 307)
    assert summary["by_extension"] == {
        ".jpg": {"files": 31, "bytes": 305},
        ".csv": {"files": 1, "bytes": 2},
    }
    assert summary["by_folder"] == {
        "train": {"files": 30, "bytes": 300},
        "val": {"files": 2, "bytes": 7},
    }
    assert len(summary["sample"]) == 20
    assert summary["sample"][0] == "train/00.jpg"
    assert "val/a.JPG" in summary["sample"]


def test_logger_reports_are_kept_as_metadata(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ds = version_of(tmp_path, {"a.txt": "a"})
    logger = ds.get_logger()
    logger.report_text("checked 1 file", level=logging.WARNING)
    logger.report_text("quiet", print_console=False)
    assert capsys.readouterr().out == "checked 1 file\n"
    logger.report_scalar(title="size", series="bytes", value=1, iteration=0)
    logger.report_scalar(title="size", series="bytes", value=2.5, iteration=1)
    logger.report_histogram("labels", "count", values=[3, 4], xlabels=["cat", "dog"])
    table = pandas.DataFrame({"label": ["cat"], "count": [3]})
    logger.report_table("Label counts", "train/all", iteration=0, table_plot=table)
    logger.report_table("rows", "s", table_plot=[["a", "b"], [1, 2]])
    clip = tmp_path / "clip.wav"
    clip.write_bytes(b"RIFF")
    logger.report_media("audio", "one", local_path=str(clip), delete_after_upload=True)
    logger.report_media("page", "html", stream=io.StringIO("<p>hi</p>"), file_extension=".html")
    logger.report_image("sample", "first", image=numpy.zeros((2, 3), dtype=numpy.uint8))

    again = Dataset.get(dataset_id=ds.id)
    assert again.get_metadata("report.text") == [
        {"level": "WARNING", "msg": "checked 1 file"},
        {"level": "INFO", "msg": "quiet"},
    ]
    assert again.get_metadata("report.scalars") == {"size": {"bytes": [[0, 1], [1, 2.5]]}}
    histogram = again.get_metadata("report.histogram.labels.count")
    assert (histogram["values"], histogram["xlabels"]) == ([3, 4], ["cat", "dog"])
    pandas.testing.assert_frame_equal(
        again.get_metadata("report.table.Label_counts.train_all"), table
    )
    assert again.get_metadata("report.table.rows.s")["rows"] == [["a", "b"], [1, 2]]
    audio = again.get_metadata("report.media.audio.one")
    assert (audio["data_base64"], audio["file_extension"], audio["size"]) == ("UklGRg==", ".wav", 4)
    assert not clip.exists()
    assert again.get_metadata("report.media.page.html")["size"] == 9
    image = again.get_metadata("report.image.sample.first")
    assert (image["file_extension"], json.dumps(image["data_base64"])[1:5]) == (".png", "iVBO")


def test_logger_refuses_what_it_cannot_report(tmp_path: Path) -> None:
    logger = version_of(tmp_path, {"a.txt": "a"}).get_logger()
    with pytest.raises(InvalidInputError, match="takes one of table_plot, csv or url"):
        logger.report_table("t", "s")
    with pytest.raises(InvalidInputError, match="Give one of local_path, stream or url"):
        logger.report_media("m", "s")
    with pytest.raises(InvalidInputError, match="a number, not 'many'"):
        logger.report_scalar("t", "s", value="many", iteration=0)  # type: ignore[arg-type]


def _whole_summary(ds: Dataset) -> dict[str, object]:
    return summarize((path, entry.size) for path, entry in sorted(ds.file_entries_dict.items()))


@pytest.mark.parametrize("parent_summary", ["kept", "replaced", "table"])
def test_a_child_closes_with_the_summary_of_all_its_files(
    tmp_path: Path, parent_summary: str
) -> None:
    """Worked out from its parent's summary and its changes when the parent's is its own, else
    over all its files: the same summary either way."""
    files: dict[str, bytes | str] = {f"d{i % 3}/f{i:02}.txt": "x" * i for i in range(30)}
    base = version_of(tmp_path, files | {"gone/only.bin": "b", "top": "t"})
    if parent_summary == "replaced":
        base.set_metadata({"files": 1}, "dataset-content")
    elif parent_summary == "table":
        base.set_metadata(pandas.DataFrame({"files": [1]}), "dataset-content")
    changed = files | {"d0/f00.txt": "changed", "new/deep/er/x.JSON": "{}", "moved/top": "t"}
    del changed["d1/f01.txt"]
    child = version_of(tmp_path, changed, parents=[base.id])
    summary = json.loads(json.dumps(child.get_content_summary()))
    assert summary == json.loads(json.dumps(_whole_summary(child), sort_keys=True))
    assert "gone" not in summary["by_folder"]
    assert ".bin" not in summary["by_extension"]
    assert summary["by_folder"]["new"] == {"files": 1, "bytes": 2}
