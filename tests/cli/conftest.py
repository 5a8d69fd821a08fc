"""Fixtures of the CLI end-to-end tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cli.helpers import DATA, Flow
from tests.conftest import Result, make_files


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """A local folder holding :data:`DATA`."""
    return make_files(tmp_path / "data", DATA)


@pytest.fixture
def flow(cli: Callable[..., Result], tmp_path: Path) -> Flow:
    return Flow(cli, tmp_path / "sources")
