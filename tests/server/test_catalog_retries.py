"""The catalog client through a network that fails requests: reads and writes that set a value
are tried again (after 502, 503, 504 or an answer cut off halfway) and end right; requests that
make something new are sent once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from deltaset.catalog.base import DraftChange, NewVersion, Query
from deltaset.catalog.http import HttpCatalog
from deltaset.errors import CatalogError
from tests.faulty_proxy import Faults, FaultyProxy
from tests.server.inprocess import served

CHANGES = [DraftChange(f"f{n:05d}.txt", size=n, blob_id=f"{n:064x}") for n in range(3000)]


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("deltaset.storage.retry.FIRST_WAIT_S", 0.001)


@pytest.fixture
def upstream(tmp_path: Path) -> Iterator[str]:
    with served(tmp_path / "server") as (url, _):
        yield url


def through(upstream: str, faults: Faults) -> Iterator[HttpCatalog]:
    proxy = FaultyProxy(upstream, faults)
    catalog = HttpCatalog(proxy.endpoint)
    try:
        yield catalog
    finally:
        catalog.close()
        proxy.stop()


def new_version(upstream: str) -> str:
    catalog = HttpCatalog(upstream)
    try:
        made = catalog.create_version(NewVersion("p", "n", None, (), (), "", "", "u"))
    finally:
        catalog.close()
    return made.id


@pytest.mark.parametrize("status", [502, 503, 504])
def test_reads_are_tried_again_after_a_failed_or_cut_answer(upstream: str, status: int) -> None:
    version_id = new_version(upstream)
    faults = Faults(fail_share=0.2, cut_share=0.1, status=status, only=("GET", "/api/v1/"))
    for catalog in through(upstream, faults):
        catalog.stage(version_id, CHANGES)
        for _ in range(6):
            assert catalog.get(version_id).id == version_id
            assert list(catalog.staged(version_id)) == CHANGES  # a stream, cut or not
            assert [r.id for r in catalog.search(Query())] == [version_id]
    assert faults.counts["failed"] > 0
    assert faults.counts["cut"] > 0


def test_writes_that_set_a_value_are_sent_again_whole(upstream: str) -> None:
    version_id = new_version(upstream)
    for method in ("PUT", "POST"):
        faults = Faults(fail_share=0.2, cut_share=0.1, status=503, only=(method, "/api/v1/"))
        for catalog in through(upstream, faults):
            for n in range(8):
                value = json.dumps({"n": n, "method": method}).encode()
                catalog.set_metadata(version_id, f"m{n}", "json", value)
                catalog.stage(version_id, CHANGES[n * 100 : (n + 1) * 100])
                catalog.edit_tags(version_id, add=[f"t{n}"])
        assert faults.counts["failed"] + faults.counts["cut"] > 0
    catalog = HttpCatalog(upstream)
    try:
        assert catalog.get_metadata(version_id, "m7") == ("json", b'{"n": 7, "method": "POST"}')
        assert list(catalog.staged(version_id)) == CHANGES[:800]
        assert catalog.get(version_id).tags == tuple(f"t{n}" for n in range(8))
    finally:
        catalog.close()


def test_a_request_that_makes_something_new_is_sent_once(upstream: str) -> None:
    faults = Faults(fail_share=1.0, status=503, only=("POST", "/api/v1/versions"))
    for catalog in through(upstream, faults):
        with pytest.raises(CatalogError):
            catalog.create_version(NewVersion("p", "n", None, (), (), "", "", "u"))
    assert faults.counts["failed"] == 1
