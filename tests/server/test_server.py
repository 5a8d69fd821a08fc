"""The deltaset server as a team uses it: the real server process, the CLI pointed at it,
tokens that gate every route, and two replicas on one PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from deltaset.catalog.base import NewVersion
from deltaset.server.app import create_app
from deltaset.server.limits import BodyLimits
from deltaset.storage import registry
from tests import postgres, servers
from tests.conftest import Result, as_client, forget_context, make_files, read_tree
from tests.server.inprocess import served

FILES = {"a.csv": "x,y\n1,2\n", "img/1.jpg": os.urandom(3000), "big.bin": os.urandom(5 << 20)}


def ok(result: Result) -> Result:
    assert result.exit_code == 0, result.stderr
    return result


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[servers.Server, Path]]:
    """A real ``deltaset server`` process with tokens on, and the folder of its state."""
    home = tmp_path / "server-home"
    process = servers.start_deltaset_server(home)
    yield process, home
    process.stop()


def test_two_machines_share_datasets_through_the_server(
    server: tuple[servers.Server, Path],
    tmp_path: Path,
    cli: Callable[..., Result],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    process, home = server
    token = servers.create_token(home)
    data = make_files(tmp_path / "data", FILES)
    as_client(monkeypatch, tmp_path / "laptop", process.endpoint, token)
    ok(cli("create", "--project", "vision", "--name", "pets"))
    ok(cli("add", "--files", str(data)))
    ok(cli("close"))
    (data / "a.csv").write_text("x,y\n1,2\n3,4\n")
    ok(cli("sync", "--folder", str(data), "--project", "vision", "--name", "pets"))

    as_client(monkeypatch, tmp_path / "workstation", process.endpoint, token)
    found = json.loads(ok(cli("search", "--project", "vision", "--json")).stdout)
    assert [v["version"] for v in found] == ["1.0.0", "1.0.1"]
    copy = tmp_path / "copy"
    ok(cli("get", "--project", "vision", "--name", "pets", "--copy", str(copy)))
    expected = {k: v.encode() if isinstance(v, str) else v for k, v in FILES.items()}
    assert read_tree(copy) == expected | {"a.csv": b"x,y\n1,2\n3,4\n"}
    listed = json.loads(ok(cli("list", "--project", "vision", "--name", "pets", "--json")).stdout)
    assert sorted(row["path"] for row in listed) == sorted(FILES)
    # The server keeps the bytes, not the laptop.
    assert list((home / "server" / "storage" / "packs").rglob("*.pack"))


def test_tokens_gate_the_cli(
    server: tuple[servers.Server, Path],
    tmp_path: Path,
    cli: Callable[..., Result],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    process, home = server
    writer = servers.create_token(home)
    reader = servers.create_token(home, read_only=True)
    as_client(monkeypatch, tmp_path / "writer", process.endpoint, writer)
    ok(cli("create", "--project", "p", "--name", "n"))
    ok(cli("add", "--files", str(make_files(tmp_path / "d", {"a.txt": "a"}))))
    ok(cli("close"))

    as_client(monkeypatch, tmp_path / "reader", process.endpoint, reader)
    assert ok(cli("get", "--project", "p", "--name", "n")).stdout.strip()
    refused = cli("create", "--project", "p", "--name", "n")
    assert refused.exit_code == 1
    assert refused.stderr.strip() == (
        "error: This token is read-only; writing needs a read-write token."
    )

    as_client(monkeypatch, tmp_path / "anonymous", process.endpoint, None)
    refused = cli("search", "--project", "p")
    assert refused.exit_code == 1
    assert "needs a token: set DELTASET_API_TOKEN" in refused.stderr

    as_client(monkeypatch, tmp_path / "guesser", process.endpoint, "dst_not-a-token")
    refused = cli("search", "--project", "p")
    assert "not known to this deltaset server" in refused.stderr


def test_tokens_are_listed_revoked_and_kept_only_as_hashes(tmp_path: Path) -> None:
    home = tmp_path / "server-home"
    token = servers.create_token(home)
    env = {**os.environ, "DELTASET_HOME": str(home)}
    deltaset = [sys.executable, "-m", "deltaset", "server", "token"]
    listed = json.loads(
        subprocess.run(
            [*deltaset, "list", "--json"], env=env, capture_output=True, check=True
        ).stdout
    )
    assert len(listed) == 1
    assert "token" not in listed[0]
    database = (home / "server" / "catalog.db").read_bytes()
    assert token.encode() not in database  # only its hash is stored
    subprocess.run([*deltaset, "revoke", listed[0]["id"]], env=env, check=True)
    gone = subprocess.run([*deltaset, "revoke", listed[0]["id"]], env=env, capture_output=True)
    assert gone.returncode == 1
    assert b"No token has the id" in gone.stderr


# -- every route ----------------------------------------------------------------------------------


def test_every_route_refuses_a_missing_token_and_writes_refuse_a_read_only_one(
    tmp_path: Path,
) -> None:
    with served(tmp_path, auth=True) as (url, parts):
        read_only, _ = parts.tokens.create("ro", read_only=True)
        schema = create_app(parts).openapi()["paths"]
        routes = [
            (method.upper(), path.replace("{version_id}", "v").replace("{key}", "packs/x"))
            for path, methods in schema.items()
            for method in methods
        ]
        assert len(routes) > 15
        with httpx.Client(base_url=url) as http:
            for method, path in routes:
                answer = http.request(method, path)
                assert answer.status_code == 401, (method, path)
                if method != "HEAD":
                    assert "needs a token" in answer.json()["error"]
                if method in ("POST", "PUT", "DELETE") and not path.endswith("/query"):
                    headers = {"Authorization": f"Bearer {read_only}"}
                    refused = http.request(method, path, headers=headers)
                    assert refused.status_code == 403, (method, path)


# -- replicas -------------------------------------------------------------------------------------


def test_two_replicas_on_one_postgresql_lose_and_duplicate_nothing(
    postgres_server: servers.Server, tmp_path: Path
) -> None:
    db = postgres.new_database(postgres_server)
    storage = str(tmp_path / "shared-storage")
    homes = [tmp_path / "replica-a", tmp_path / "replica-b"]
    replicas = [servers.start_deltaset_server(h, db=db, storage=storage) for h in homes]
    try:
        token = servers.create_token(homes[0], db=db)

        def client(i: int) -> list[str]:
            """One client machine making three versions through one of the replicas."""
            replica = replicas[i % 2]
            env = {
                **os.environ,
                "DELTASET_HOME": str(tmp_path / f"client-{i}"),
                "DELTASET_API_URL": replica.endpoint,
                "DELTASET_API_TOKEN": token,
            }
            made = []
            for n in range(3):
                data = make_files(tmp_path / f"data-{i}-{n}", {f"c{i}/{n}.txt": f"{i}-{n}"})
                run = [sys.executable, "-m", "deltaset"]
                created = subprocess.run(
                    [*run, "create", "--project", "team", "--name", "shared", "--json"],
                    env=env, capture_output=True, text=True, check=True,
                )  # fmt: skip
                version_id = json.loads(created.stdout)["id"]
                subprocess.run(
                    [*run, "add", "--id", version_id, "--files", str(data)], env=env, check=True
                )
                subprocess.run([*run, "close", "--id", version_id], env=env, check=True)
                made.append(version_id)
            return made

        with ThreadPoolExecutor(4) as pool:
            made = [v for found in pool.map(client, range(4)) for v in found]
        with httpx.Client(
            base_url=replicas[1].endpoint, headers={"Authorization": f"Bearer {token}"}
        ) as http:
            versions = http.get("/api/v1/versions", params={"project": "team"}).json()
        assert sorted(v["id"] for v in versions) == sorted(made)  # nothing lost
        numbers = [v["version"] for v in versions]
        assert len(set(numbers)) == 12  # nothing duplicated
        assert all(v["state"] == "final" for v in versions)
    finally:
        for replica in replicas:
            replica.stop()


def test_clients_with_their_own_credentials_reach_the_object_store_directly(
    s3_url: str,
    tmp_path: Path,
    cli: Callable[..., Result],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Bytes go straight between a client and the server's bucket when the client's own
    credentials open it; a client without them goes through the server, to the same bytes."""
    home = tmp_path / "server-home"
    process = servers.start_deltaset_server(home, storage=s3_url)  # inherits the AWS settings
    try:
        token = servers.create_token(home)
        data = make_files(tmp_path / "data", FILES)
        as_client(monkeypatch, tmp_path / "with-keys", process.endpoint, token)
        ok(cli("create", "--project", "p", "--name", "n"))
        ok(cli("add", "--files", str(data)))
        ok(cli("close"))
        direct = registry.open_storage(process.endpoint)
        assert direct.url == s3_url  # the bucket itself, not the server
        assert any(k.startswith("packs/") for k in direct.list("packs/"))

        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL"):
            monkeypatch.delenv(name)
        as_client(monkeypatch, tmp_path / "without-keys", process.endpoint, token)
        copy = tmp_path / "copy"
        ok(cli("get", "--project", "p", "--name", "n", "--copy", str(copy)))
        assert registry.open_storage(process.endpoint).url == process.endpoint  # via the server
        assert read_tree(copy) == {
            k: v.encode() if isinstance(v, str) else v for k, v in FILES.items()
        }
    finally:
        process.stop()


def test_a_server_that_cannot_start_says_why_in_one_sentence(
    cli: Callable[..., Result], tmp_path: Path
) -> None:
    busy = servers.start_deltaset_server(tmp_path / "first", auth=False)
    try:
        port = busy.endpoint.rsplit(":", 1)[1]
        taken = cli("server", "--port", port)
        assert taken.exit_code == 1
        assert (
            taken.stderr.strip()
            == f"error: Cannot listen on 127.0.0.1:{port}: Address already in use."
        )
    finally:
        busy.stop()
    unreachable = cli("server", "--db", f"postgresql://u:pw@127.0.0.1:{servers.free_port()}/x")
    assert unreachable.exit_code == 1
    assert "cannot be used" in unreachable.stderr
    assert ":pw@" not in unreachable.stderr  # the password never shows


def test_uploads_and_reads_through_a_failing_network_complete_with_the_right_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A proxy fails 20 % of the requests and cuts 10 % of the answers: each part of a large
    object is sent again on its own, and what comes back is what was sent."""
    from deltaset.storage.server import ServerStorage
    from tests.faulty_proxy import Faults, FaultyProxy

    monkeypatch.setattr("deltaset.storage.server.PART_SIZE", 8 << 20)  # four parts
    data = os.urandom(30 << 20)
    with served(tmp_path / "server") as (url, _):
        faults = Faults(fail_share=0.2, cut_share=0.1)
        proxy = FaultyProxy(url, faults)
        try:
            storage = ServerStorage(proxy.endpoint)
            with storage.writer("packs/cd/large.pack") as handle:
                handle.write(data)
            assert storage.get_bytes("packs/cd/large.pack") == data
            for offset in range(0, 30 << 20, 1 << 20):  # enough requests for faults to hit
                piece = storage.read_range("packs/cd/large.pack", offset, 4096)
                assert piece == data[offset : offset + 4096]
            storage.close()
        finally:
            proxy.stop()
    assert faults.counts["failed"] + faults.counts["cut"] > 0


def test_a_commit_of_an_incomplete_upload_is_refused(tmp_path: Path) -> None:
    with served(tmp_path / "server") as (url, _), httpx.Client(base_url=url + "/api/v1") as http:
        upload = http.post("/uploads").json()["id"]
        assert http.put(f"/uploads/{upload}/parts/0", content=b"abc").status_code == 204
        assert http.get(f"/uploads/{upload}").json() == {"parts": {"0": 3}}
        body = {"key": "packs/x.pack", "parts": 2, "size": 6}
        refused = http.post(f"/uploads/{upload}/commit", json=body)
        assert refused.status_code == 400
        assert refused.json()["error"] == f"The upload {upload} lacks 1 parts (first: 1)."
        wrong = http.post(f"/uploads/{upload}/commit", json={**body, "parts": 1})
        assert wrong.json()["error"] == f"The parts of the upload {upload} hold 3 bytes, not 6."
        assert http.head("/objects/packs/x.pack").status_code == 404  # nothing published


def test_the_lineage_route_gives_every_ancestor(
    tmp_path: Path, cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    with served(tmp_path / "server") as (url, _):
        as_client(monkeypatch, tmp_path / "client", url)
        ids = []
        for parents in ([], ["0"], ["1"]):
            args = ["--parents", *(ids[int(p)] for p in parents)] if parents else []
            made = json.loads(
                ok(cli("create", "--project", "p", "--name", "n", "--json", *args)).stdout
            )
            ok(
                cli(
                    "add",
                    "--files",
                    str(make_files(tmp_path / f"d{len(ids)}", {"a": str(len(ids))})),
                )
            )
            ok(cli("close"))
            ids.append(made["id"])
        with httpx.Client(base_url=url) as http:
            graph = http.get(f"/api/v1/versions/{ids[2]}/lineage").json()
            missing = http.get("/api/v1/versions/unknown/lineage")
        assert graph == {ids[2]: [ids[1]], ids[1]: [ids[0]], ids[0]: []}
        assert missing.status_code == 404
        forget_context()


def test_an_upload_cut_off_halfway_publishes_nothing(tmp_path: Path) -> None:
    import socket

    with served(tmp_path / "server") as (url, _):
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port))) as raw:
            raw.sendall(
                b"PUT /api/v1/objects/packs/cut.pack HTTP/1.1\r\nHost: x\r\n"
                b"Content-Type: application/octet-stream\r\nContent-Length: 1000000\r\n\r\n"
                + b"x"
                * 1000
            )  # then the connection drops
        time.sleep(0.5)
        with httpx.Client(base_url=url) as http:
            assert http.head("/api/v1/objects/packs/cut.pack").status_code == 404
        assert not list((tmp_path / "server" / "storage").rglob("cut.pack"))
        assert not list((tmp_path / "server" / "storage" / "tmp").glob("*"))  # nothing half-made


def test_the_server_sweeps_the_parts_of_abandoned_uploads(tmp_path: Path) -> None:
    home = tmp_path / "server-home"
    storage = home / "server" / "storage"
    old = time.time() - 3 * 24 * 3600
    abandoned = storage / "uploads" / ("a" * 32) / "00000"
    recent = storage / "uploads" / ("b" * 32) / "00000"
    for part in (abandoned, recent):
        part.parent.mkdir(parents=True)
        part.write_bytes(b"part")
    os.utime(abandoned, (old, old))
    process = servers.start_deltaset_server(home)
    try:
        deadline = time.monotonic() + 30
        while abandoned.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not abandoned.exists()  # swept at start
        assert recent.exists()  # an upload in progress keeps its parts
    finally:
        process.stop()


# -- hostile requests ---------------------------------------------------------------------------


def test_a_listing_prefix_that_climbs_out_of_a_folder_storage_is_refused(tmp_path: Path) -> None:
    with served(tmp_path / "server", auth=True) as (url, parts):
        read_only, _ = parts.tokens.create("ro", read_only=True)
        headers = {"Authorization": f"Bearer {read_only}"}
        with httpx.Client(base_url=url + "/api/v1", headers=headers) as http:
            for prefix in ("../../../../etc/", "packs/../../", "..", "/etc/"):
                refused = http.get("/objects", params={"prefix": prefix})
                assert refused.status_code == 400, prefix
                assert refused.json() == {
                    "error": f"{prefix!r} is not a prefix of keys of a deltaset storage."
                }
            listed = http.get("/objects", params={"prefix": "deltas"}).json()
            assert [o["key"] for o in listed] == ["deltaset.json"]


@pytest.mark.timeout(120)  # before RE2, the first request spun for minutes and never returned
def test_a_read_only_token_cannot_stall_the_server_with_a_name_pattern(tmp_path: Path) -> None:
    with served(tmp_path / "server", auth=True) as (url, parts):
        for name in ("train-set-of-september", "test-set-of-october"):
            parts.catalog.create_version(NewVersion("p", name, None, (), (), "", "file:///s", ""))
        read_only, _ = parts.tokens.create("ro", read_only=True)
        headers = {"Authorization": f"Bearer {read_only}"}
        with httpx.Client(base_url=url + "/api/v1", headers=headers, timeout=60) as http:
            found = http.get("/versions", params={"partial_name": "(.*.*.*.*.*.*.*)*Q"})
            assert (found.status_code, found.json()) == (200, [])
            refused = http.get("/versions", params={"partial_name": "(?=t)"})
            assert refused.status_code == 400
            assert refused.json()["error"].startswith(
                "The name pattern '(?=t)' is not a regular expression deltaset can search with"
            )
            found = http.get("/versions", params={"partial_name": "^t.*-of-oct"})
            assert [v["name"] for v in found.json()] == ["test-set-of-october"]


def test_bodies_larger_than_the_server_takes_are_refused_as_they_arrive(tmp_path: Path) -> None:
    """Each route's limit holds whether the body declares its length or not (chunked): the
    server answers 413 with a sentence and keeps nothing of it."""
    mib = 1 << 20
    limits = BodyLimits(upload=mib, json=mib, metadata=mib)

    def chunked() -> Iterator[bytes]:
        for _ in range(3):
            yield b"x" * mib

    folder = tmp_path / "server"
    with (
        served(folder, limits=limits) as (url, parts),
        httpx.Client(base_url=url + "/api/v1") as http,
    ):
        draft = parts.catalog.create_version(
            NewVersion("p", "n", None, (), (), "", "file:///s", "")
        )
        upload = http.post("/uploads").json()["id"]
        for method, path, sentence in [
            ("PUT", "/objects/packs/big.pack", "for one object, part of an upload or batch"),
            ("PUT", f"/uploads/{upload}/parts/0", "for one object, part of an upload or batch"),
            ("POST", f"/versions/{draft.id}/staged", "for one object, part of an upload or batch"),
            ("PUT", f"/versions/{draft.id}/metadata/m?kind=json", "Metadata is kept up to 1 MiB"),
            ("POST", "/versions/import", "The body is larger than the 1 MiB this server takes."),
        ]:
            for body in (b"x" * (2 * mib), chunked()):
                refused = http.request(method, path, content=body)
                assert refused.status_code == 413, (method, path)
                assert sentence in refused.json()["error"]
        assert http.put("/objects/packs/small.pack", content=b"x" * 1000).status_code == 201
        assert http.head("/objects/packs/big.pack").status_code == 404
        assert http.get(f"/uploads/{upload}").json() == {"parts": {}}
        assert list(parts.catalog.staged(draft.id)) == []
        assert parts.catalog.metadata_names(draft.id) == []
    assert not list((folder / "storage" / "tmp").glob("*"))  # nothing half-written kept


def test_no_auth_on_an_address_other_machines_reach_needs_its_own_loud_flag(
    cli: Callable[..., Result], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DELTASET_HOME", str(tmp_path / "home"))
    port = str(servers.free_port())
    refused = cli("server", "--no-auth", "--host", "0.0.0.0", "--port", port)
    assert refused.exit_code == 1
    assert refused.stderr.startswith(
        "error: --no-auth on 0.0.0.0 would let anyone who reaches it change and delete every "
        "dataset;"
    )
    assert not (tmp_path / "home" / "server").exists()  # refused before opening anything
    argv = [sys.executable, "-m", "deltaset", "server", "--no-auth", "--host", "0.0.0.0"]
    argv += ["--port", port, "--no-auth-open-to-the-network"]
    env = {**os.environ, "DELTASET_HOME": str(tmp_path / "home"), "COLUMNS": "200"}
    with subprocess.Popen(argv, env=env, stderr=subprocess.PIPE, text=True) as process:
        try:
            assert process.stderr is not None
            warning = process.stderr.readline()
        finally:
            process.kill()
    assert warning.startswith("WARNING: this server listens on 0.0.0.0 WITHOUT TOKENS")


def test_only_an_admin_token_deletes_or_changes_what_final_versions_are_made_of(
    server: tuple[servers.Server, Path],
    tmp_path: Path,
    cli: Callable[..., Result],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    process, home = server
    writer, admin = servers.create_token(home), servers.create_token(home, admin=True)
    as_client(monkeypatch, tmp_path / "writer", process.endpoint, writer)
    made = json.loads(ok(cli("create", "--project", "p", "--name", "n", "--json")).stdout)
    ok(cli("add", "--files", str(make_files(tmp_path / "d", {"a.txt": "alpha", "b.txt": "b"}))))
    ok(cli("close"))
    version = made["id"]
    storage = home / "server" / "storage"
    pack = next(storage.glob("packs/**/*.pack")).relative_to(storage).as_posix()
    index = next(storage.glob("index/**/*")).relative_to(storage).as_posix()
    record_key = f"versions/{version}.json"
    record = json.loads((storage / record_key).read_text())
    refused = "is part of what final versions are made of: only an admin token may delete"
    with httpx.Client(
        base_url=process.endpoint + "/api/v1", headers={"Authorization": f"Bearer {writer}"}
    ) as http:
        for key in (pack, index, f"manifests/{version}.zst", record_key, "deltaset.json"):
            answer = http.delete(f"/objects/{key}")
            assert answer.status_code == 409, key
            assert refused in answer.json()["error"]
        same = (storage / pack).read_bytes()
        assert http.put(f"/objects/{pack}", content=same).status_code == 201  # a retry
        assert http.put(f"/objects/{pack}", content=b"other bytes").status_code == 409
        upload = http.post("/uploads").json()["id"]
        http.put(f"/uploads/{upload}/parts/0", content=b"other bytes")
        body = {"key": pack, "parts": 1, "size": 11}
        assert http.post(f"/uploads/{upload}/commit", json=body).status_code == 409
        forged = json.dumps({**record, "parents": ["0" * 32]}).encode()
        assert http.put(f"/objects/{record_key}", content=forged).status_code == 409
        assert (storage / pack).read_bytes() == same
    ok(cli("tag", "--id", version, "--add", "checked"))  # a record's own edits still work
    assert json.loads((storage / record_key).read_text())["tags"] == ["checked"]
    refused_delete = cli("delete", "--id", version)  # refused at its gc lease, the first write
    assert refused_delete.exit_code == 1
    assert "Only an admin token may take or release a gc lease" in refused_delete.stderr
    assert ok(cli("verify", "--id", version))

    as_client(monkeypatch, tmp_path / "admin", process.endpoint, admin)
    ok(cli("delete", "--id", version))
    ok(cli("gc", "--delete", "--keep-recent", "0"))
    assert not list(storage.glob("packs/**/*.pack"))  # the admin's gc freed the bytes


@pytest.mark.parametrize("bad", ["../x.txt", "..\\..\\x.txt", "C:\\evil.txt", "./a.txt", "a//b"])
def test_staging_refuses_a_path_a_pull_would_not_write_as_named(tmp_path: Path, bad: str) -> None:
    with served(tmp_path / "server") as (url, _), httpx.Client(base_url=url + "/api/v1") as http:
        draft = http.post("/versions", json={"project": "p", "name": "n"}).json()["id"]
        lines = [{"path": "ok.txt", "size": 1, "blob_id": "0" * 64}, {"path": bad, "size": 1}]
        body = "".join(json.dumps(line) + "\n" for line in lines)
        refused = http.post(f"/versions/{draft}/staged", content=body)
        assert refused.status_code == 400, refused.text
        assert refused.json()["error"].startswith("Line 2 of the staged changes: ")
        assert http.get(f"/versions/{draft}/staged").text == ""  # all or nothing
        removal = json.dumps({"path": bad, "removed": True}) + "\n"
        assert http.post(f"/versions/{draft}/staged", content=removal).status_code == 204
