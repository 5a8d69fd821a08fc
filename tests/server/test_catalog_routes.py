"""What the catalog routes refuse whatever a client sends: manifests with paths staging would
refuse, metadata JSON cannot hold, a final version's deletion without an admin token, and
any write asked by a read-only token."""

from __future__ import annotations

import base64
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from deltaset.catalog.base import DraftChange, NewVersion
from deltaset.core.hashing import blob_id_of
from deltaset.core.manifest import Entry, Manifest
from tests.server.inprocess import served

BLOB = "0" * 64


@pytest.fixture
def clients(tmp_path: Path) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    """(read-write, admin) clients of a fresh server with tokens on."""
    with served(tmp_path / "server", auth=True) as (url, parts):
        writer, _ = parts.tokens.create("rw", False, False)
        admin, _ = parts.tokens.create("admin", False, True)
        with (
            httpx.Client(base_url=url + "/api/v1", headers=_bearer(writer)) as http,
            httpx.Client(base_url=url + "/api/v1", headers=_bearer(admin)) as as_admin,
        ):
            yield http, as_admin


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _draft(http: httpx.Client, name: str = "n") -> dict[str, object]:
    made = http.post("/versions", json={"project": "p", "name": name})
    assert made.status_code == 201, made.text
    record: dict[str, object] = made.json()
    return record


def _final_body(record: dict[str, object], paths: list[str]) -> dict[str, object]:
    manifest = Manifest({path: Entry(1, BLOB) for path in paths}).to_bytes()
    return {
        "record": {**record, "state": "final"},
        "manifest": base64.b64encode(manifest).decode(),
    }


@pytest.mark.parametrize("bad", ["../x.txt", "..\\..\\x.txt", "C:\\evil.txt", "./a.txt", "a//b"])
def test_a_manifest_with_a_path_staging_refuses_is_not_finalized_or_imported(
    clients: tuple[httpx.Client, httpx.Client], bad: str
) -> None:
    http, _ = clients
    record = _draft(http)
    body = _final_body(record, ["ok.txt", bad])
    refused = http.post(f"/versions/{record['id']}/finalize", json=body)
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"].startswith("The manifest holds a path staging refuses: ")
    assert http.get(f"/versions/{record['id']}").json()["state"] == "draft"
    imported = {**record, "id": "f" * 32, "version": "2.0.0"}
    refused = http.post("/versions/import", json=_final_body(imported, [bad]))
    assert refused.status_code == 400, refused.text
    assert http.get(f"/versions/{'f' * 32}").status_code == 404
    assert http.post(f"/versions/{record['id']}/finalize", json=_final_body(record, ["ok.txt"]))


def test_a_manifest_that_cannot_be_read_is_refused(
    clients: tuple[httpx.Client, httpx.Client],
) -> None:
    http, _ = clients
    record = _draft(http)
    body = {**_final_body(record, []), "manifest": base64.b64encode(b"junk").decode()}
    refused = http.post(f"/versions/{record['id']}/finalize", json=body)
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"].startswith("The manifest cannot be read: ")


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (b'{"loss": NaN}', "NaN, which is not JSON"),
        (b"[Infinity]", "Infinity, which is not JSON"),
        (b"[" * 300 + b"]" * 300, "nests deeper than 200 levels"),
        (b"[" * 100_000 + b"]" * 100_000, "nests deeper than 200 levels"),
        (b"{not json", "is not JSON"),
    ],
    ids=["nan", "infinity", "300-levels", "100000-levels", "not-json"],
)
def test_metadata_json_cannot_hold_is_refused_and_kept_nowhere(
    clients: tuple[httpx.Client, httpx.Client], value: bytes, fragment: str
) -> None:
    http, _ = clients
    version_id = _draft(http)["id"]
    path = f"/versions/{version_id}/metadata/stats"
    refused = http.put(path, params={"kind": "json"}, content=value)
    assert refused.status_code == 400, refused.text
    assert fragment in refused.json()["error"]
    assert http.get(f"/versions/{version_id}/metadata").json() == []
    kept = http.put(path, params={"kind": "json"}, content=json.dumps({"n": 1}).encode())
    assert kept.status_code == 204


def test_only_an_admin_token_deletes_a_final_version_from_the_catalog(
    clients: tuple[httpx.Client, httpx.Client],
) -> None:
    http, as_admin = clients
    draft = _draft(http, "draft")
    assert http.delete(f"/versions/{draft['id']}").status_code == 204  # a draft: any writer
    record = _draft(http)
    finalized = http.post(f"/versions/{record['id']}/finalize", json=_final_body(record, ["a"]))
    assert finalized.status_code == 204, finalized.text
    refused = http.delete(f"/versions/{record['id']}")
    assert refused.status_code == 403
    assert refused.json()["error"].startswith(
        f"Only an admin token may delete the final version {record['id']}"
    )
    assert http.get(f"/versions/{record['id']}").json()["state"] == "final"
    assert as_admin.delete(f"/versions/{record['id']}").status_code == 204
    assert http.get(f"/versions/{record['id']}").status_code == 404


def test_a_read_only_token_cannot_make_the_server_fill_a_drafts_lookup_of_sources(
    tmp_path: Path,
) -> None:
    """Only an upload of the draft asks where its files were staged from, and answering fills
    the lookup the catalog keeps of them: a write, which a read-only token is refused."""
    blob = blob_id_of(b"a")
    with served(tmp_path / "server", auth=True) as (url, parts):
        draft = parts.catalog.create_version(NewVersion("p", "n", None, (), (), "", "", ""))
        parts.catalog.stage(draft.id, [DraftChange("a", size=1, blob_id=blob, source="/src/a")])
        read_only, _ = parts.tokens.create("ro", read_only=True)
        writer, _ = parts.tokens.create("rw", False, False)
        path = f"{url}/api/v1/versions/{draft.id}/staged-sources"
        body = {"blob_ids": [blob]}

        refused = httpx.post(path, json=body, headers=_bearer(read_only))
        assert refused.status_code == 403, refused.text
        assert "read-only" in refused.json()["error"]
        assert _lookup_rows(tmp_path / "server" / "server.db") == 0
        answered = httpx.post(path, json=body, headers=_bearer(writer))
        assert (answered.status_code, answered.json()) == (200, {blob: "/src/a"})
        assert _lookup_rows(tmp_path / "server" / "server.db") == 1


def _lookup_rows(database: Path) -> int:
    with sqlite3.connect(database) as db:
        return int(db.execute("SELECT COUNT(*) FROM staged_sources").fetchone()[0])
