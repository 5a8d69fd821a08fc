"""``deltaset.run``: name the run of an experiment whose reads of versions are kept as uses;
and the uses kept, by version or by run."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from deltaset.api.dataset import Dataset
from deltaset.catalog.base import Use
from deltaset.engine import ids as version_ids
from deltaset.engine.context import default_context
from deltaset.engine.runs import explicit_run
from deltaset.errors import InvalidInputError, NotFoundError, StateError


@contextmanager
def run(name: str) -> Iterator[str]:
    """Every version read inside the block is recorded as used by the run ``name``
    (``deltaset usage --run NAME``, ``deltaset get --run NAME --copy DIR``), as with
    ``DELTASET_RUN=NAME`` in the environment. Runs of MLflow, W&B and ClearML are found
    without it."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidInputError("A run needs a name, such as 'resnet-lr0.1'.")
    token = explicit_run.set(name)
    try:
        yield name
    finally:
        explicit_run.reset(token)


def version_uses(dataset_id: str) -> list[Use]:
    """Every recorded use of a version (by id or a unique start of one), oldest first."""
    ctx = default_context()
    return ctx.catalog.uses(version_ids.resolve(ctx.catalog, dataset_id))


def run_uses(name: str) -> list[Use]:
    """Every recorded use made under a run (its id or name), oldest first."""
    return default_context().catalog.uses(run=name)


def copy_run(
    name: str, target_folder: str, overwrite: bool = False, max_workers: int | None = None
) -> list[tuple[str, Dataset, str]]:
    """A writable copy of every version the run ``name`` used, each in
    ``target_folder/<alias>``: the data of a past experiment, back. Returns (alias, version,
    folder) for each."""
    chosen = _by_alias(name, run_uses(name))
    copies = []
    for alias, version_id in chosen.items():
        dataset = Dataset.get(dataset_id=version_id, alias=alias)
        folder = dataset.get_mutable_local_copy(
            str(Path(target_folder) / alias), overwrite=overwrite, max_workers=max_workers
        )
        copies.append((alias, dataset, str(folder)))
    return copies


def _by_alias(name: str, found: list[Use]) -> dict[str, str]:
    if not found:
        raise NotFoundError(f"No use of a dataset version was recorded for the run {name!r}.")
    chosen: dict[str, str] = {}
    for use in found:
        _check_alias(use.alias)
        if chosen.setdefault(use.alias, use.version_id) != use.version_id:
            raise StateError(
                f"The run {name!r} used two versions as {use.alias!r} ({chosen[use.alias]} and "
                f"{use.version_id}); copy each with 'deltaset get --id ID --copy DIR'."
            )
    return chosen


def _check_alias(alias: str) -> None:
    if alias in ("", ".", "..") or any(c in alias for c in "/\\\0"):
        raise InvalidInputError(
            f"The alias {alias!r} cannot name a folder; copy that version with "
            "'deltaset get --id ID --copy DIR'."
        )
