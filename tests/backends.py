"""The catalog behind the end-to-end suites: the embedded one, and a deltaset server.

``tests/api`` and ``tests/cli`` run every test twice, once per backend, so every command and
API call is shown to work against a server exactly as on the embedded default.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import forget_context
from tests.server.inprocess import served

BACKENDS = ["embedded", "server"]
EMBEDDED_ONLY = pytest.mark.parametrize("backend", ["embedded"], indirect=True)


@dataclass(frozen=True)
class Backend:
    name: str
    storage: Path  # the folder holding the default storage's bytes, for tests that look inside


def backend(
    request: pytest.FixtureRequest, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Backend]:
    if request.param == "embedded":
        yield Backend("embedded", home / "storage")
        return
    folder = tmp_path / "deltaset-server"
    with served(folder) as (url, _):
        monkeypatch.setenv("DELTASET_API_URL", url)
        forget_context()
        yield Backend("server", folder / "storage")
        forget_context()  # its connections close before the server stops
