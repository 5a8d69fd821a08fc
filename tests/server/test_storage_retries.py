"""Writes to a deltaset server's storage through a network that fails them: every retry sends
the whole body again, from its source."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from deltaset.errors import StorageError
from deltaset.storage.server import ServerStorage
from tests.conftest import Result, forget_context, make_files, read_tree
from tests.faulty_proxy import Faults, FaultyProxy
from tests.server.inprocess import served


@pytest.mark.parametrize("status", [502, 507])
def test_a_failed_object_put_is_sent_again_whole(tmp_path: Path, status: int) -> None:
    """A third of the PUTs fail: bytes, files and streamed writes all arrive whole on a retry."""
    source = tmp_path / "source.bin"
    source.write_bytes(os.urandom(300_000))
    with served(tmp_path / "server") as (url, _):
        faults = Faults(fail_share=0.3, status=status, only=("PUT", "/api/v1/objects/"))
        proxy = FaultyProxy(url, faults)
        try:
            storage = ServerStorage(proxy.endpoint)
            written = {}
            for n in range(6):
                data = os.urandom(1000 + n)
                storage.put_bytes(f"a/{n}", data)
                written[f"a/{n}"] = data
                assert storage.put_bytes(f"b/{n}", data, overwrite=False)
                written[f"b/{n}"] = data
                with storage.writer(f"c/{n}") as handle:
                    handle.write(data)
                written[f"c/{n}"] = data
            storage.put_file("d/file", source)
            written["d/file"] = source.read_bytes()
            assert {key: storage.get_bytes(key) for key in written} == written
            storage.close()
        finally:
            proxy.stop()
    assert faults.counts["failed"] > 0


def test_close_through_a_server_that_fails_object_puts_succeeds(
    tmp_path: Path, cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    files = {f"f{n}.txt": f"content {n}" for n in range(20)} | {"big.bin": os.urandom(5 << 20)}
    data = make_files(tmp_path / "data", files)
    with served(tmp_path / "server") as (url, _):
        faults = Faults(fail_share=0.25, status=502, only=("PUT", "/api/v1/objects/"))
        proxy = FaultyProxy(url, faults)
        try:
            monkeypatch.setenv("DELTASET_API_URL", proxy.endpoint)
            forget_context()
            assert cli("create", "--project", "p", "--name", "n").exit_code == 0
            assert cli("add", "--files", str(data)).exit_code == 0
            closed = cli("close")
            assert closed.exit_code == 0, closed.stderr
            copy = tmp_path / "copy"
            got = cli("get", "--project", "p", "--name", "n", "--copy", str(copy))
            assert got.exit_code == 0, got.stderr
        finally:
            forget_context()
            proxy.stop()
    assert read_tree(copy) == {k: v.encode() if isinstance(v, str) else v for k, v in files.items()}
    assert faults.counts["failed"] > 0


def test_a_dropped_connection_names_the_object(tmp_path: Path) -> None:
    """Every answer cut off halfway: the error names the object and the server, in one
    sentence."""
    with served(tmp_path / "server") as (url, _):
        direct = ServerStorage(url)
        direct.put_bytes("packs/ab/cd.pack", b"x" * 100_000)
        direct.close()
        faults = Faults(cut_share=1.0, only=("GET", "/api/v1/objects/"))
        proxy = FaultyProxy(url, faults)
        through = ServerStorage(proxy.endpoint)
        try:
            with pytest.raises(StorageError) as failed:
                through.get_bytes("packs/ab/cd.pack")
        finally:
            through.close()
            proxy.stop()
    message = str(failed.value)
    assert message.startswith("Cannot read packs/ab/cd.pack: cannot reach the deltaset server")
    assert proxy.endpoint in message
    assert faults.counts["cut"] > 1  # retried before giving up
