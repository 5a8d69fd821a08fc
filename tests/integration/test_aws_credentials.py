"""Every way the AWS CLI logs in works for s3:// storage: the AWS SDK's credential chain,
tried against a moto server on 127.0.0.1 (its S3 and its STS)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from deltaset.storage import open_storage
from deltaset.storage.aws import s3_config
from tests import servers
from tests.conftest import Result, make_files, read_tree

ROLE = "arn:aws:iam::123456789012:role/datasets"


def ok(result: Result) -> Result:
    assert result.exit_code == 0, result.stderr
    return result


def credential_process(tmp_path: Path, key: str = "AKIDFROMPROCESS") -> str:
    """A ``credential_process`` command that prints keys and leaves a mark that it ran."""
    script = tmp_path / "print_keys.py"
    mark = tmp_path / "process-ran"
    answer = {"Version": 1, "AccessKeyId": key, "SecretAccessKey": "s3cr3t-from-process"}
    script.write_text(
        "import json, pathlib\n"
        f"pathlib.Path({str(mark)!r}).touch()\n"
        f"print(json.dumps({answer!r}))\n"
    )
    return f"{sys.executable} {script}"


@pytest.fixture
def aws_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Empty AWS config and credentials files of this test, and no key in the environment."""
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    (tmp_path / "config").write_text("")
    (tmp_path / "credentials").write_text("")
    return tmp_path / "config"


def roundtrip(cli: Callable[..., Result], url: str, tmp_path: Path) -> None:
    work = make_files(tmp_path / "work", {"a.txt": "through the chain"})
    ok(cli("create", "--project", "p", "--name", "n", "--storage", url))
    ok(cli("add", "--files", str(work)))
    ok(cli("close"))
    found = json.loads(ok(cli("search", "--project", "p", "--json")).stdout)
    pulled = Path(ok(cli("get", "--id", found[-1]["id"])).stdout.strip().splitlines()[-1])
    assert read_tree(pulled) == {"a.txt": b"through the chain"}
    assert any(key.startswith("versions/") for key in open_storage(url).list("versions/"))


def test_a_credential_process_profile_named_by_aws_profile_is_used(
    cli: Callable[..., Result],
    s3_server: servers.Server,
    aws_files: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    aws_files.write_text(
        "[default]\nregion = us-east-1\n"
        "[profile team]\n"
        f"credential_process = {credential_process(tmp_path)}\n"
        f"endpoint_url = {s3_server.endpoint}\n"
    )
    monkeypatch.setenv("AWS_PROFILE", "team")
    roundtrip(cli, f"s3://{servers.new_bucket(s3_server.endpoint)}/data", tmp_path)
    assert (tmp_path / "process-ran").exists()


def test_keys_from_a_credential_process_reach_the_service(
    cli: Callable[..., Result], aws_files: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server that checks keys refuses the process's keys, which it never issued: so they
    were sent (and are never shown)."""
    server = servers.start_moto(checking_credentials=True)
    try:
        aws_files.write_text(f"[default]\ncredential_process = {credential_process(tmp_path)}\n")
        monkeypatch.setenv("AWS_ENDPOINT_URL", server.endpoint)
        refused = cli("create", "--project", "p", "--name", "n", "--storage", "s3://bucket/x")
    finally:
        server.stop()
    assert refused.exit_code != 0
    assert "s3://bucket/x: access denied; check the credentials." in refused.stderr
    assert "s3cr3t-from-process" not in refused.stderr + refused.stdout


def test_a_role_profile_assumes_its_role_through_sts(
    cli: Callable[..., Result],
    s3_server: servers.Server,
    aws_files: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (tmp_path / "credentials").write_text(
        "[base]\naws_access_key_id = AKIDBASE\naws_secret_access_key = base-secret\n"
    )
    aws_files.write_text(
        f"[profile ml]\nrole_arn = {ROLE}\nsource_profile = base\nregion = eu-west-1\n"
    )
    monkeypatch.setenv("AWS_PROFILE", "ml")
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server.endpoint)  # S3 and STS: moto serves both
    keys = s3_config(None, None)["credential_provider"]()
    assert keys["access_key_id"] != "AKIDBASE"  # temporary keys of the role
    assert keys["token"]
    roundtrip(cli, f"s3://{servers.new_bucket(s3_server.endpoint)}/data", tmp_path)


def test_web_identity_from_the_environment_assumes_its_role(
    cli: Callable[..., Result],
    s3_server: servers.Server,
    aws_files: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    token = tmp_path / "token"
    token.write_text("a-web-identity-token")
    monkeypatch.setenv("AWS_ROLE_ARN", ROLE)
    monkeypatch.setenv("AWS_WEB_IDENTITY_TOKEN_FILE", str(token))
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server.endpoint)
    assert s3_config(None, None)["credential_provider"]()["token"]
    roundtrip(cli, f"s3://{servers.new_bucket(s3_server.endpoint)}/data", tmp_path)


def test_deltaset_settings_then_variables_then_profile_give_endpoint_and_region(
    aws_files: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    aws_files.write_text(
        "[default]\naws_access_key_id = AKID\naws_secret_access_key = secret\n"
        "region = eu-west-1\nendpoint_url = http://127.0.0.1:1\n"
    )
    from_profile = s3_config(None, None)
    assert (from_profile["endpoint"], from_profile["region"]) == ("http://127.0.0.1:1", "eu-west-1")
    assert from_profile["client_options"] == {"allow_http": True}
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:2")
    monkeypatch.setenv("AWS_REGION", "ap-south-1")
    from_variables = s3_config(None, None)
    assert (from_variables["endpoint"], from_variables["region"]) == (
        "http://127.0.0.1:2",
        "ap-south-1",
    )
    own = s3_config("https://s3.example.org", "us-west-2")
    assert (own["endpoint"], own["region"]) == ("https://s3.example.org", "us-west-2")
    assert "client_options" not in own


@pytest.mark.parametrize(
    ("config", "profile", "complaint"),
    [
        ("", "nobody", "No AWS profile 'nobody' in the AWS config."),
        ("[default]\ncredential_process = false\n", None, "Cannot get the AWS credentials: "),
        ("", None, "No AWS credentials: set AWS_ACCESS_KEY_ID"),
    ],
)
def test_aws_login_problems_are_one_sentence(
    config: str,
    profile: str | None,
    complaint: str,
    cli: Callable[..., Result],
    aws_files: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    aws_files.write_text(config)
    if profile:
        monkeypatch.setenv("AWS_PROFILE", profile)
    result = cli("create", "--project", "p", "--name", "n", "--storage", "s3://bucket/x")
    assert result.exit_code != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"error: {complaint}")
