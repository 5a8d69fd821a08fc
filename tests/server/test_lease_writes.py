"""Leases under ``locks/`` through the server's objects API: only what deltaset writes, and a
gc lease only with an admin token; the CLI's own closes, deletes and gc still take theirs."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.conftest import Result, forget_context, make_files
from tests.server.inprocess import served


def lease_key(kind: str) -> str:
    return f"locks/{kind}-{uuid.uuid4().hex}.json"


def body(what: str, **more: object) -> bytes:
    doc = {"what": what, "host": "h", "pid": 7, "since": "2026-01-01T00:00:00+00:00", **more}
    return json.dumps(doc).encode()


CLOSE = body("close " + "a" * 32, parents=[])
GC = body("gc")


def test_only_leases_deltaset_writes_are_written_under_locks(tmp_path: Path) -> None:
    with served(tmp_path / "server", auth=True) as (url, parts):
        writer, _ = parts.tokens.create("rw", False, False)
        admin, _ = parts.tokens.create("admin", False, True)
        locks = Path(tmp_path / "server" / "storage" / "locks")
        with (
            httpx.Client(base_url=url + "/api/v1", headers=_bearer(writer)) as http,
            httpx.Client(base_url=url + "/api/v1", headers=_bearer(admin)) as as_admin,
        ):
            for key, sent in [
                ("locks/gc-evil.json", GC),  # not a lease's key
                ("locks/close.json", CLOSE),
                (lease_key("close"), b"{}"),
                (lease_key("close"), body("close x")),  # a close lease names its parents
                (lease_key("close"), GC),
                (lease_key("gc"), b"\xff not json"),
            ]:
                answer = as_admin.put(f"/objects/{key}", content=sent)
                assert answer.status_code == 400, (key, sent)
            assert http.put(f"/objects/{lease_key('close')}", content=CLOSE).status_code == 201
            gc_key = lease_key("gc")
            refused = http.put(f"/objects/{gc_key}", content=GC)
            assert refused.status_code == 403
            assert refused.json()["error"].startswith("Only an admin token may take or release")
            assert as_admin.put(f"/objects/{gc_key}", content=GC).status_code == 201
            assert as_admin.put(f"/objects/{lease_key('gc')}", content=b"").status_code == 201
            assert http.delete(f"/objects/{gc_key}").status_code == 403
            upload = http.post("/uploads").json()["id"]
            http.put(f"/uploads/{upload}/parts/0", content=CLOSE)
            commit = {"key": lease_key("close"), "parts": 1, "size": len(CLOSE)}
            assert http.post(f"/uploads/{upload}/commit", json=commit).status_code == 400
            assert as_admin.delete(f"/objects/{gc_key}").status_code == 204
        assert len(list(locks.iterdir())) == 2  # the writer's close lease, the admin's empty one


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_closes_and_deletes_with_a_read_write_token_and_gc_with_an_admin_one_still_work(
    tmp_path: Path,
    cli: Callable[..., Result],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with served(tmp_path / "server", auth=True) as (url, parts):
        writer, _ = parts.tokens.create("rw", False, False)
        admin, _ = parts.tokens.create("admin", False, True)
        monkeypatch.setenv("DELTASET_API_URL", url)
        monkeypatch.setenv("DELTASET_API_TOKEN", writer)
        forget_context()
        files = str(make_files(tmp_path / "d", {"a.txt": "a"}))
        final = _made(cli, "--project", "p", "--name", "n")
        assert cli("add", "--id", final, "--files", files).exit_code == 0
        closed = cli("close", "--id", final)
        assert (closed.exit_code, closed.stderr) == (0, "")
        draft = _made(cli, "--project", "p", "--name", "draft")
        assert cli("add", "--id", draft, "--files", str(make_files(tmp_path / "e", {"b": "b"})))
        assert cli("upload", "--id", draft).exit_code == 0
        deleted = cli("delete", "--id", draft)
        assert deleted.exit_code == 0, deleted.stderr
        kept = f"kept the stored bytes of {draft} for a later gc: Only an admin token may take"
        assert any(m.startswith(kept) for m in caplog.messages)
        monkeypatch.setenv("DELTASET_API_TOKEN", admin)
        forget_context()
        collected = cli("gc", "--delete", "--keep-recent", "0")
        assert collected.exit_code == 0, collected.stderr
        assert "Freed " in collected.stdout


def _made(cli: Callable[..., Result], *args: str) -> str:
    made = cli("create", *args, "--json")
    assert made.exit_code == 0, made.stderr
    return str(json.loads(made.stdout)["id"])
