"""The chaos harness's ``deltaset server``: killed and started again, as a trial does, it leaves
nothing outside the trial's own folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import servers
from tests.chaos.remote import DeltasetServer

pytestmark = pytest.mark.chaos


def test_a_server_killed_and_started_again_keeps_its_logs_in_the_trial(tmp_path: Path) -> None:
    home = tmp_path / "server-1"
    home.mkdir()
    server = DeltasetServer(home, servers.free_port())
    server.start()
    server.kill()
    server.start()
    server.stop()
    # The killed start's log stays, beside the home, for the trial's end to remove.
    [killed] = [path for path in tmp_path.iterdir() if path != home]
    assert killed.name.startswith("server-1-log-")
    assert "deltaset server on" in (killed / "server.log").read_text()
