"""Every API test runs on the embedded catalog and against a deltaset server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import backends


@pytest.fixture(params=backends.BACKENDS, autouse=True)
def backend(
    request: pytest.FixtureRequest, isolation: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[backends.Backend]:
    yield from backends.backend(request, isolation, tmp_path, monkeypatch)
