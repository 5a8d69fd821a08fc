"""``deltaset.run``: name the run of an experiment whose reads of versions are kept as uses."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from deltaset.engine.runs import explicit_run
from deltaset.errors import InvalidInputError


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
