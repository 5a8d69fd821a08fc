"""Importing ClearML datasets: every version ClearML Data stored, with its lineage.

ClearML Data keeps each version as a Task with artifacts, uploaded under its output URI as
``<project>/.datasets/<name>/<name>.<id>/artifacts/``: ``state/state.json`` (every file's
SHA-256, size and the ``artifact_name`` of the zip chunk holding it, the links, the dependency
graph) and the chunks ``data/…zip``, ``data_001/…zip``, … (files this version added or
changed; inherited ones live in their ancestor's chunks). An offline session (a folder with
``task.json``, or a zip of it) has the same tree under ``data/`` and the files themselves at
the paths the state names. :mod:`.layout` reads either, :mod:`.chunks` checks and unpacks a
version's own files, :mod:`.importer` makes the deltaset versions.
"""
