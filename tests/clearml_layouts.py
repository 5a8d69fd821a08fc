"""ClearML dataset versions laid out as ClearML's upload stores them, made with its own code.

ClearML needs its server to make a version with parents (``Dataset.create`` reads each
parent through it), so these versions are made as ``Dataset.create``, ``add_files``,
``remove_files``, ``add_external_files`` and ``upload`` would make them, with ClearML's
pieces: its ``FileEntry``/``LinkEntry`` (whose ``as_dict`` is the state's form), its
``sha256sum``, its ``ParallelZipper`` (the zip chunks, at the chunk size asked) and the
state dict ``Dataset._serialize`` writes. Each lands under
``<root>/<project>/.datasets/<name>/<name>.<id>/artifacts/`` as ``state/state.json`` and
``data/dataset.<id>.*.zip``, ``data_001/...``, where ClearML's artifact upload puts them.
"""

from __future__ import annotations

import json
import shutil
import uuid
from copy import deepcopy
from pathlib import Path
from typing import Any

from clearml.datasets.dataset import FileEntry, LinkEntry
from clearml.storage.util import sha256sum
from clearml.utilities.parallel import ParallelZipper


class ClearMLStore:
    """A ClearML output URI (a folder) that versions are uploaded to."""

    def __init__(self, root: Path, work: Path) -> None:
        self.root = root
        self.work = work
        self.states: dict[str, dict[str, Any]] = {}
        self.folders: dict[str, Path] = {}

    def version(
        self,
        project: str,
        name: str,
        files: dict[str, bytes] | None = None,
        removed: tuple[str, ...] = (),
        links: dict[str, str] | None = None,
        parents: tuple[str, ...] = (),
        chunk_mb: float = 512,
        metadata: dict[str, Any] | None = None,
    ) -> str:
        """Make a version as ClearML would; returns its id."""
        version_id = uuid.uuid4().hex
        entries: dict[str, FileEntry] = {}
        link_entries: dict[str, LinkEntry] = {}
        graph: dict[str, list[str]] = {}
        for parent in parents:  # Dataset.create: merge the parents in order
            state = self.states[parent]
            entries.update(
                {e["relative_path"]: FileEntry(**e) for e in state["dataset_file_entries"]}
            )
            link_entries.update(
                {e["relative_path"]: LinkEntry(**e) for e in state["dataset_link_entries"]}
            )
            graph.update(deepcopy(state["dependency_graph"]))
        graph[version_id] = list(parents)
        self._add(version_id, entries, files or {})
        for path in removed:  # Dataset.remove_files
            entries.pop(path, None)
            link_entries.pop(path, None)
        for path, url in (links or {}).items():  # Dataset.add_external_files
            entries.pop(path, None)
            link_entries[path] = LinkEntry(
                link=url, relative_path=path, parent_dataset_id=version_id, size=0
            )
        folder = self.root / project / ".datasets" / name / f"{name}.{version_id}" / "artifacts"
        self._upload(version_id, entries, folder, chunk_mb)
        state = {  # Dataset._serialize
            "file_count": len(entries) + len(link_entries),
            "total_size": sum(e.size for e in entries.values()),
            "dataset_file_entries": [e.as_dict() for e in entries.values()],
            "dataset_link_entries": [e.as_dict() for e in link_entries.values()],
            "dependency_graph": graph,
            "id": version_id,
            "dirty": False,
        }
        (folder / "state").mkdir(parents=True, exist_ok=True)
        (folder / "state" / "state.json").write_text(json.dumps(state, indent=4, sort_keys=True))
        for key, value in (metadata or {}).items():  # Dataset.set_metadata of a dict
            (folder / key).mkdir(parents=True, exist_ok=True)
            (folder / key / f"{key}.json").write_text(json.dumps(value))
        self.states[version_id] = state
        self.folders[version_id] = folder
        return version_id

    def _add(self, version_id: str, entries: dict[str, FileEntry], files: dict[str, bytes]) -> None:
        """Dataset._add_files: a file equal to the inherited one stays the parent's."""
        source = self.work / version_id
        for path, data in files.items():
            local = source / path
            local.parent.mkdir(parents=True, exist_ok=True)
            local.write_bytes(data)
            digest, _ = sha256sum(str(local))
            old = entries.get(path)
            if old is not None and old.hash == digest:
                continue
            entries[path] = FileEntry(
                relative_path=path,
                hash=digest,
                parent_dataset_id=version_id,
                size=len(data),
                local_path=local.as_posix(),
            )

    def _upload(
        self, version_id: str, entries: dict[str, FileEntry], folder: Path, chunk_mb: float
    ) -> None:
        """Dataset.upload: zip the new files in chunks named data, data_001, ..."""
        pending = [e for e in entries.values() if e.local_path]
        zipper = ParallelZipper(chunk_mb, 1, zip_prefix=f"dataset.{version_id}.", zip_suffix=".zip")
        arcnames = {e.local_path: e.relative_path for e in pending}
        zips = zipper.zip_iter([e.local_path for e in pending], arcnames=arcnames)
        for number, zipped in enumerate(zips):
            artifact = "data" if number == 0 else f"data_{number:03d}"
            target = folder / artifact / Path(zipped.zip_path).name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(zipped.zip_path, target)
            for entry in pending:
                if entry.local_path in zipped.files_zipped:
                    entry.artifact_name = artifact
                    entry.local_path = None

    def chunks(self, version_id: str) -> list[Path]:
        return sorted(self.folders[version_id].glob("data*/*.zip"))
