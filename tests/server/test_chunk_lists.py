"""A server keeps a chunk list only once its storage shows the chunks make the blob: a wrong
list from any write token cannot make a client close a version that cannot be pulled."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from deltaset.core.hashing import blob_id_of
from tests.conftest import Result, forget_context, make_files, read_tree
from tests.server.inprocess import served


def test_a_chunk_list_that_does_not_make_its_blob_is_refused(
    tmp_path: Path, cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = os.urandom(5 << 20), os.urandom(5 << 20)
    with served(tmp_path / "server") as (url, _), httpx.Client(base_url=url + "/api/v1") as http:
        monkeypatch.setenv("DELTASET_API_URL", url)
        forget_context()
        try:
            assert cli("create", "--project", "p", "--name", "a").exit_code == 0
            added = cli("add", "--files", str(make_files(tmp_path / "a", {"a": first})))
            assert added.exit_code == 0
            assert cli("close").exit_code == 0
            found = http.post("/chunk-lists/query", json={"blob_ids": [blob_id_of(first)]})
            chunks = found.json()[blob_id_of(first)]

            # Another blob said to be made of the first one's chunks, all of them stored.
            poison = {"lists": {blob_id_of(second): chunks}}
            refused = http.put("/chunk-lists", json=poison)
            assert refused.status_code == 422
            assert refused.json()["error"] == (
                f"The chunks listed for blob {blob_id_of(second)} do not make that blob: "
                "joined in order, their content has another hash."
            )
            unknown = {"lists": {blob_id_of(second): [blob_id_of(b"never stored")]}}
            refused = http.put("/chunk-lists", json=unknown)
            assert refused.status_code == 422
            assert "does not hold (first: " in refused.json()["error"]
            asked = http.post("/chunk-lists/query", json={"blob_ids": [blob_id_of(second)]})
            assert asked.json() == {}  # nothing kept
            own = {"lists": {blob_id_of(first): chunks}}
            assert http.put("/chunk-lists", json=own).status_code == 204  # the true one is

            # The content the poison was meant for closes and pulls as it should.
            work = make_files(tmp_path / "b", {"b": second})
            synced = cli("sync", "--folder", str(work), "--project", "p", "--name", "b")
            assert synced.exit_code == 0, synced.stderr
            copy = tmp_path / "copy"
            got = cli("get", "--project", "p", "--name", "b", "--copy", str(copy))
            assert got.exit_code == 0, got.stderr
            assert read_tree(copy) == {"b": second}
        finally:
            forget_context()
