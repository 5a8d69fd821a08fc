"""The whole CLI workflow on object stores: S3 (a moto server), Google Cloud Storage
(fake-gcs-server) and Azure Blob (Azurite)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from deltaset.engine import context as context_module
from deltaset.storage import open_storage, registry
from tests import servers
from tests.conftest import Result, make_files, read_tree, run_cli
from tests.faulty_proxy import Faults, FaultyProxy

SCHEMES = ["s3_url", "gcs_url", "azure_url"]
V1 = {
    "train/a.csv": "".join(f"{i},{i * 3}\n" for i in range(3000)),
    "train/b.bin": os.urandom(50_000),
    "big.bin": os.urandom(5 << 20),  # chunked, and over one multipart part
    "readme.txt": "version one",
}


def ok(result: Result) -> Result:
    assert result.exit_code == 0, result.stderr
    return result


def version_id(cli: Callable[..., Result]) -> str:
    found = json.loads(ok(cli("search", "--project", "p", "--json")).stdout)
    return str(found[-1]["id"])


@pytest.mark.parametrize("scheme", SCHEMES)
def test_create_add_close_pull_sync_on_an_object_store(
    scheme: str,
    request: pytest.FixtureRequest,
    cli: Callable[..., Result],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = request.getfixturevalue(scheme)
    work = make_files(tmp_path / "work", V1)
    ok(cli("create", "--project", "p", "--name", "n", "--storage", url))
    ok(cli("add", "--files", str(work)))
    ok(cli("close"))
    v1 = version_id(cli)
    stored = list(open_storage(url).list(""))
    assert any(k.startswith("packs/") for k in stored)
    assert f"versions/{v1}.json" in stored

    (work / "readme.txt").write_text("version two")
    (work / "train" / "b.bin").unlink()
    (work / "new.txt").write_text("added in v2")
    ok(cli("sync", "--folder", str(work), "--project", "p", "--name", "n", "--storage", url))
    v2 = version_id(cli)
    assert v2 != v1

    # Another machine: its own home and cache, only the storage in common.
    monkeypatch.setenv("DELTASET_HOME", str(tmp_path / "other-home"))
    context_module._default = None
    ok(cli("rebuild-catalog", "--storage", url))
    pulled = Path(ok(cli("get", "--id", v2)).stdout.strip().splitlines()[-1])
    expected = {p: v.encode() if isinstance(v, str) else v for p, v in V1.items()}
    expected |= {"readme.txt": b"version two", "new.txt": b"added in v2"}
    del expected["train/b.bin"]
    assert read_tree(pulled) == expected
    part = Path(ok(cli("get", "--id", v1, "--files", "train/*")).stdout.strip().splitlines()[-1])
    assert read_tree(part) == {
        "train/a.csv": V1["train/a.csv"].encode(),
        "train/b.bin": V1["train/b.bin"],
    }
    copy = tmp_path / "copy"
    ok(cli("get", "--id", v1, "--copy", str(copy)))
    assert read_tree(copy) == {p: v.encode() if isinstance(v, str) else v for p, v in V1.items()}
    checked = json.loads(ok(cli("verify", "--id", v2, "--json")).stdout)
    assert checked["stored_bytes_checked"] > 0


@pytest.mark.parametrize("scheme", SCHEMES)
def test_a_missing_bucket_is_one_clear_sentence(
    scheme: str, request: pytest.FixtureRequest, cli: Callable[..., Result]
) -> None:
    url = request.getfixturevalue(scheme)
    bucket = url.split("/")[2]
    missing = url.replace(bucket, bucket + "-missing")
    result = cli("create", "--project", "p", "--name", "n", "--storage", missing)
    assert result.exit_code != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: ")
    assert f"the bucket {bucket}-missing does not exist" in lines[0]


def test_wrong_s3_credentials_are_named_and_never_shown(
    cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    server = servers.start_moto(checking_credentials=True)
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL", server.endpoint)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDNOTISSUED")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "a-secret-that-must-not-leak")
        result = cli("create", "--project", "p", "--name", "n", "--storage", "s3://bucket/x")
    finally:
        server.stop()
    assert result.exit_code != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert "s3://bucket/x: access denied; check the credentials." in lines[0]
    assert "a-secret-that-must-not-leak" not in result.stderr + result.stdout
    assert "a-secret-that-must-not-leak" not in "".join(
        p.read_text(errors="replace") for p in tmp_path.rglob("*") if p.is_file()
    )


def test_azure_without_an_account_is_one_sentence(cli: Callable[..., Result]) -> None:
    result = cli("create", "--project", "p", "--name", "n", "--storage", "azure://box/x")
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "error: No Azure account: set AZURE_STORAGE_CONNECTION_STRING, or "
        "AZURE_STORAGE_ACCOUNT_NAME with AZURE_STORAGE_ACCOUNT_KEY."
    )


@pytest.mark.parametrize("scheme", ["s3", "gcs", "azure"])
def test_uploads_and_pulls_survive_failed_and_cut_requests(
    scheme: str,
    request: pytest.FixtureRequest,
    cli: Callable[..., Result],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A proxy fails 20 % of the requests (503) and cuts 10 % of the answers halfway."""
    url = request.getfixturevalue(f"{scheme}_url")
    server = request.getfixturevalue(
        {"s3": "s3_server", "gcs": "gcs_server", "azure": "azurite_server"}[scheme]
    )
    raw_url = url.rsplit("/", 1)[0] + "/raw"  # external files, beside the dataset storage
    external = {"x.bin": os.urandom(300_000), "y/z.txt": b"zzz"}
    for key, data in external.items():
        open_storage(raw_url).put_bytes(key, data)
    faults = Faults(fail_share=0.2, cut_share=0.1)
    proxy = FaultyProxy(server.endpoint, faults)
    try:
        _point_at(scheme, proxy.endpoint, monkeypatch)
        work = make_files(tmp_path / "work", V1)
        ok(cli("create", "--project", "p", "--name", "n", "--storage", url))
        ok(cli("add", "--files", str(work)))
        ok(cli("add", "--links", raw_url, "--dataset-folder", "raw"))
        ok(cli("close"))
        v1 = version_id(cli)
        monkeypatch.setenv("DELTASET_HOME", str(tmp_path / "other-home"))
        context_module._default = None
        ok(cli("rebuild-catalog", "--storage", url))
        copy = tmp_path / "copy"
        ok(cli("get", "--id", v1, "--copy", str(copy)))
    finally:
        proxy.stop()
    expected = {p: v.encode() if isinstance(v, str) else v for p, v in V1.items()}
    assert read_tree(copy) == expected | {f"raw/{k}": v for k, v in external.items()}
    assert faults.counts["failed"] > 0
    assert faults.counts["cut"] > 0


def _point_at(scheme: str, endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Send the client's requests for ``scheme`` to ``endpoint`` instead of the server."""
    if scheme == "s3":
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    elif scheme == "gcs":
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", endpoint)
    else:
        monkeypatch.setenv(
            "AZURE_STORAGE_CONNECTION_STRING", servers.azure_connection_string(endpoint)
        )
    registry._open.clear()


@pytest.mark.parametrize(
    ("url", "module", "extra"),
    [
        ("s3://bucket/x", "obstore", "deltaset[s3]"),
        ("azure://container/x", "obstore", "deltaset[azure]"),
        ("gs://bucket/x", "google.cloud.storage", "deltaset[gcs]"),
    ],
)
def test_a_missing_client_library_names_the_extra_to_install(
    url: str, module: str, extra: str, cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # import fails as if it were not installed
    result = cli("create", "--project", "p", "--name", "n", "--storage", url)
    assert result.exit_code != 0
    assert result.stderr.startswith("error: ")
    assert f"pip install '{extra}'" in result.stderr


def test_s3_keys_region_and_endpoint_come_from_an_aws_profile(
    cli: Callable[..., Result], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No AWS_* keys in the environment: the named profile of the AWS CLI's files is used."""
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_PROFILE", "team")
    missing = cli("create", "--project", "p", "--name", "n", "--storage", "s3://bucket/x")
    assert missing.exit_code != 0
    assert "No AWS profile 'team'" in missing.stderr  # and no request to a metadata service
    server = servers.start_moto(checking_credentials=True)
    try:
        (tmp_path / "credentials").write_text(
            "[team]\naws_access_key_id = AKIDNOTISSUED\naws_secret_access_key = s3cr3t-in-file\n"
        )
        (tmp_path / "config").write_text(
            f"[profile team]\nregion = eu-west-1\nendpoint_url = {server.endpoint}\n"
        )
        refused = cli("create", "--project", "p", "--name", "n", "--storage", "s3://bucket/x")
    finally:
        server.stop()
    # The profile's endpoint answered, and refused the profile's keys, which it did not issue.
    assert refused.exit_code != 0
    assert "s3://bucket/x: access denied; check the credentials." in refused.stderr
    assert "s3cr3t-in-file" not in refused.stderr + refused.stdout


@pytest.mark.parametrize("point", ["upload.after_staged_pack", "upload.after_blob"])
def test_a_close_killed_mid_upload_to_s3_resumes_sending_only_what_is_missing(
    point: str, s3_url: str, tmp_path: Path
) -> None:
    work = make_files(tmp_path / "work", V1)
    assert run_cli("create", "--project", "p", "--name", "n", "--storage", s3_url).returncode == 0
    assert run_cli("add", "--files", str(work)).returncode == 0
    sizes = ["--chunk-size", "1", "--max-workers", "1"] if point == "upload.after_blob" else []
    killed = run_cli("close", *sizes, env={"DELTASET_FAILPOINT": point})
    assert killed.returncode == -9, killed.stderr
    storage = open_storage(s3_url)
    before = {k for k in storage.list("packs/")}
    assert before  # something reached the bucket before the kill
    done = run_cli("close")
    assert done.returncode == 0, done.stderr
    after = set(storage.list("packs/"))
    assert before <= after  # what was sent stays, and is indexed rather than sent again
    pulled = run_cli(
        "get", "--id", json.loads(run_cli("search", "--project", "p", "--json").stdout)[-1]["id"]
    )
    assert pulled.returncode == 0, pulled.stderr
    expected = {p: v.encode() if isinstance(v, str) else v for p, v in V1.items()}
    assert read_tree(Path(pulled.stdout.strip().splitlines()[-1])) == expected


def test_default_storage_and_s3_endpoint_come_from_the_config_file(
    s3_url: str,
    s3_server: servers.Server,
    isolation: Path,
    cli: Callable[..., Result],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # wrong: the file's wins
    isolation.mkdir(parents=True, exist_ok=True)
    (isolation / "config.toml").write_text(
        f'storage = "{s3_url}"\n[s3]\nendpoint = "{s3_server.endpoint}"\nregion = "eu-west-1"\n'
    )
    work = make_files(tmp_path / "work", {"a.txt": "from the config file"})
    ok(cli("create", "--project", "p", "--name", "n"))  # no --storage: the file's default
    ok(cli("add", "--files", str(work)))
    ok(cli("close"))
    assert any(k.startswith("versions/") for k in open_storage(s3_url).list("versions/"))
    monkeypatch.setenv("DELTASET_S3_ENDPOINT", "http://127.0.0.1:9")  # the variable beats it
    registry._open.clear()
    context_module._default = None
    refused = cli("create", "--project", "p", "--name", "m")
    assert refused.exit_code != 0
    assert refused.stderr.startswith("error: ")


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("storage = [\n", "is not valid TOML"),
        ('storage = "s3://b/x"\ncolour = "blue"\n', "does not know: colour"),
        ("[s3]\nendpoint = 9000\n", "values that are not text"),
        ("api-url = 8080\n", "values that are not text"),
    ],
)
def test_a_bad_config_file_is_one_sentence(
    text: str, complaint: str, isolation: Path, cli: Callable[..., Result]
) -> None:
    isolation.mkdir(parents=True, exist_ok=True)
    (isolation / "config.toml").write_text(text)
    result = cli("search")
    assert result.exit_code != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert complaint in lines[0]
