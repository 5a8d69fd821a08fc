"""Fixtures of the CLI end-to-end tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests import backends
from tests.cli.helpers import DATA, Flow
from tests.conftest import Result, make_files


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """A local folder holding :data:`DATA`."""
    return make_files(tmp_path / "data", DATA)


@pytest.fixture
def flow(cli: Callable[..., Result], tmp_path: Path) -> Flow:
    return Flow(cli, tmp_path / "sources")


@pytest.fixture(params=backends.BACKENDS, autouse=True)
def backend(
    request: pytest.FixtureRequest, isolation: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[backends.Backend]:
    """Every CLI test runs on the embedded catalog and against a deltaset server."""
    yield from backends.backend(request, isolation, tmp_path, monkeypatch)
