"""Hostile requests to a real ``deltaset server`` (the server holes of issue 14) as trials
with random variations: a name pattern built to backtrack, listing prefixes that climb out of
the storage, chunk lists that map a blob to chunks of other content, and a metadata body past
the server's limit sent without a declared length. After each, the
server still answers at once and every version pulls back right."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx

from tests import servers
from tests.chaos.checks import check_versions
from tests.chaos.harness import Broken, Trial
from tests.chaos.kills import final
from tests.chaos.remote import DeltasetServer, client_of, deltaset_server

ANSWER_WITHIN_S = 10.0  # far above an honest answer, far below a regex that backtracks


def backtracking_pattern(trial: Trial) -> tuple[str, dict[str, str]]:
    groups = ".*" * trial.rng.randint(4, 9)
    tail = trial.rng.choice(["Q", "!", "zz", "$x"])
    return "/api/v1/versions", {"partial_name": f"({groups})*{tail}"}


def climbing_prefix(trial: Trial) -> tuple[str, dict[str, str]]:
    climb = "../" * trial.rng.randint(1, 6)
    prefix = trial.rng.choice(["", "packs/", "index/", "./", "locks/"]) + climb
    return "/api/v1/objects", {"prefix": prefix + trial.rng.choice(["", "etc/", "root/"])}


def _get(server: DeltasetServer, path: str, params: dict[str, str]) -> httpx.Response:
    start = time.monotonic()
    try:
        answer = httpx.get(server.url + path, params=params, timeout=ANSWER_WITHIN_S)
    except httpx.TimeoutException as exc:
        raise Broken("hang", f"GET {path} {params} took over {ANSWER_WITHIN_S} s") from exc
    if time.monotonic() - start > ANSWER_WITHIN_S:
        raise Broken("hang", f"GET {path} {params} took over {ANSWER_WITHIN_S} s")
    return answer


def poisoned_chunk_list(trial: Trial, server: DeltasetServer) -> None:
    """A blob mapped to chunks that are stored but make other content: refused (422)."""
    stored = _get(server, "/api/v1/objects", {"prefix": "index/"}).json()
    if not stored:
        raise Broken("command failed", "the server's storage holds no index file")
    blob = trial.rng.randbytes(32).hex()
    lists = {blob: [trial.rng.randbytes(32).hex() for _ in range(trial.rng.randint(1, 4))]}
    answer = httpx.put(server.url + "/api/v1/chunk-lists", json={"lists": lists}, timeout=30)
    if answer.status_code != 422:
        raise Broken("poison kept", f"PUT /chunk-lists {lists} answered {answer.status_code}")
    kept = httpx.post(
        server.url + "/api/v1/chunk-lists/query", json={"blob_ids": [blob]}, timeout=30
    ).json()
    if kept:
        raise Broken("poison kept", f"the server keeps the refused list {kept}")


METADATA_LIMIT = 64 << 20  # the server's (server/limits.py)


def oversized_metadata(trial: Trial, server: DeltasetServer, version_id: str) -> None:
    """A body past the metadata limit, streamed with no declared length: refused (413) as it
    arrives, and nothing kept."""
    piece = trial.rng.randbytes(1 << 20)
    count = METADATA_LIMIT // len(piece) + trial.rng.randint(1, 8)
    url = f"{server.url}/api/v1/versions/{version_id}/metadata/huge"
    try:
        answer = httpx.put(url, params={"kind": "json"}, content=(piece for _ in range(count)))
        status = answer.status_code
    except httpx.HTTPError:
        status = 413  # the server may close the connection once it has refused
    if status != 413:
        raise Broken("body kept", f"{count} MiB of metadata answered {status}")
    names = httpx.get(f"{server.url}/api/v1/versions/{version_id}/metadata", timeout=30).json()
    if "huge" in names:
        raise Broken("body kept", "the refused metadata is kept")


REQUESTS: dict[str, Callable[[Trial], tuple[str, dict[str, str]]]] = {
    "backtracking name pattern": backtracking_pattern,
    "prefix climbing out of the storage": climbing_prefix,
}


def hostile_requests(trial: Trial) -> None:
    with deltaset_server(trial) as server:
        client = client_of(trial, server)
        folder, tree = trial.tree(big=False)
        version_id = final(client, "hostile", str(folder))
        kind = trial.rng.choice([*REQUESTS, "poisoned chunk list", "oversized metadata"])
        trial.figures.count(f"hostile requests: {kind}")
        if kind == "poisoned chunk list":
            poisoned_chunk_list(trial, server)
        elif kind == "oversized metadata":
            oversized_metadata(trial, server, version_id)
        else:
            path, params = REQUESTS[kind](trial)
            answer = _get(server, path, params)
            if kind.startswith("prefix") and answer.status_code != 400:
                raise Broken("host listed", f"GET {path} {params} answered {answer.status_code}")
            if answer.status_code not in (200, 400):
                raise Broken("command failed", f"GET {path} {params}: {answer.status_code}")
        _get(server, "/api/v1/versions", {})  # the server still answers at once
        check_versions(client, {version_id: tree})


def write_token_against_final_objects(trial: Trial) -> None:
    """A read-write token deletes or replaces what a final version is made of (a pack, an
    index file, its manifest or record, the storage's descriptor): refused (409), and the
    version pulls back whole."""
    server = DeltasetServer(trial.scratch("server"), servers.free_port(), auth=True)
    server.start()
    try:
        writer = servers.create_token(server.home)
        client = trial.machine(DELTASET_API_URL=server.url, DELTASET_API_TOKEN=writer)
        folder, tree = trial.tree(big=False)
        version_id = final(client, "protected", str(folder))
        storage = server.home / "server" / "storage"
        keys = [
            trial.rng.choice(sorted(storage.glob(f"{kind}/**/*.*"))).relative_to(storage)
            for kind in ("packs", "index")
        ]
        keys += [Path(f"manifests/{version_id}.zst"), Path(f"versions/{version_id}.json")]
        key = trial.rng.choice([*keys, Path("deltaset.json")]).as_posix()
        before = (storage / key).read_bytes()
        headers = {"Authorization": f"Bearer {writer}"}
        url = f"{server.url}/api/v1/objects/{key}"
        if trial.rng.random() < 0.5:
            answer = httpx.delete(url, headers=headers, timeout=30)
        else:
            answer = httpx.put(url, headers=headers, content=trial.rng.randbytes(64), timeout=30)
        trial.figures.count("final objects attacked with a write token")
        if answer.status_code != 409 or (storage / key).read_bytes() != before:
            raise Broken("final object changed", f"{answer.request.method} {key}: {answer}")
        check_versions(client, {version_id: tree})
    finally:
        server.stop()


SERVER_ATTACK_TRIALS: dict[str, Callable[[Trial], None]] = {
    "hostile requests to a server": hostile_requests,
    "write token against final objects": write_token_against_final_objects,
}
