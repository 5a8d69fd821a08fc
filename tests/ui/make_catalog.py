"""Run as ``python -m tests.ui.make_catalog FOLDER``: the datasets the browser tests look at,
made in the catalog this process's environment names (embedded, or a server's); prints their
ids as JSON."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from PIL import Image

import deltaset
from deltaset import Dataset

EVIL = "<img src=x onerror=alert(1)>.txt"


def _files(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def closed_version(
    root: Path, project: str, name: str, parents: list[str], tags: list[str], remove: str = ""
) -> str:
    ds = Dataset.create(
        dataset_name=name, dataset_project=project, parent_datasets=parents, dataset_tags=tags
    )
    ds.add_files(str(root))
    if remove:
        ds.remove_files(remove)
    ds.upload(show_progress=False)
    ds.finalize()
    return ds.id


def _report(version_id: str) -> None:
    """What a dataset script reports through ``get_logger()``, for the version page to show."""
    logger = Dataset.get(dataset_id=version_id).get_logger()
    logger.report_text("labels checked by hand", print_console=False)
    for iteration, loss in enumerate((0.5, 0.25)):
        logger.report_scalar("loss", "train", loss, iteration)
    logger.report_scalar("loss", 'val "<i>"', 0.75, 1)  # a name is text, even in chart data
    logger.report_histogram("labels", "count", values=[3, 1], xlabels=["cat", "<b>dog</b>"])
    rows = [["label", "count"], ["cat", 2], ["<b>dog</b>", 0]]
    logger.report_table("classes", "counts", table_plot=rows)
    logger.report_image("samples", "first", image=Image.new("RGB", (16, 8), "orange"))


def main(folder: Path) -> None:
    first = _files(
        folder / "first",
        {
            EVIL: "a name to escape",
            "images/cats/c1.txt": "cat",
            "images/dogs/d1.txt": "dog",
            "labels.csv": "path,label\n",
        },
    )
    v1 = closed_version(first, "vision", "pets", [], ["raw"])
    Dataset.get(dataset_id=v1).set_metadata({"classes": ["cat", "dog"]}, "classes")
    second = _files(
        folder / "second", {"images/cats/c2.txt": "another cat", "labels.csv": "path,label,kind\n"}
    )
    v2 = closed_version(second, "vision", "pets", [v1], ["reviewed"], remove="images/dogs/d1.txt")
    _report(v2)
    with deltaset.run("train-<b>42</b>"):  # a run's name is text on the page, never markup
        Dataset.get(dataset_id=v2, alias="pets-train").get_local_copy()
    birds_folder = _files(folder / "birds", {"song.txt": "tweet"})
    birds = closed_version(birds_folder, "audio", "birds", [], ["raw"])
    draft = Dataset.create(dataset_name="birds", dataset_project="audio", parent_datasets=[birds])
    draft.add_files(str(_files(folder / "more-birds", {"calls/owl.txt": "hoot"})))
    print(json.dumps({"v1": v1, "v2": v2, "birds": birds, "draft": draft.id}))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
