"""``deltaset config``: settings shown with their values (secrets masked) and set in the file."""

from __future__ import annotations

import json
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from deltaset.catalog.base import Query
from tests.backends import EMBEDDED_ONLY
from tests.cli.helpers import assert_error, ok
from tests.conftest import Result, forget_context
from tests.server.inprocess import served


@EMBEDDED_ONLY  # the settings of this machine, not of a server
def test_set_then_show_keeps_the_file_readable_and_the_token_secret(
    cli: Callable[..., Result], isolation: Path
) -> None:
    isolation.mkdir(parents=True, exist_ok=True)
    (isolation / "config.toml").write_text('# team settings\nstorage = "/srv/datasets"\n')
    ok(cli("config", "set", "api-token", "dst_abcdefghijklmnop"))
    ok(cli("config", "set", "s3.endpoint", "http://127.0.0.1:9000"))
    text = (isolation / "config.toml").read_text()
    assert text.startswith("# team settings\n")  # comments and layout are kept
    assert stat.S_IMODE((isolation / "config.toml").stat().st_mode) == 0o600
    shown = json.loads(ok(cli("config", "show", "--json")).stdout)
    assert shown["storage"] == {"value": "/srv/datasets", "source": "file"}
    assert shown["s3.endpoint"]["value"] == "http://127.0.0.1:9000"
    assert shown["api-token"]["value"] == "dst_abcd…"
    assert "dst_abcdefghijklmnop" not in ok(cli("config", "show")).stdout
    ok(cli("config", "set", "s3.endpoint", ""))
    shown = json.loads(ok(cli("config", "show", "--json")).stdout)
    assert shown["s3.endpoint"] == {"value": None, "source": "default"}


def test_an_unknown_setting_is_refused(cli: Callable[..., Result]) -> None:
    assert_error(cli("config", "set", "colour", "blue"), "'colour' is not a setting")


@EMBEDDED_ONLY
def test_the_cache_folder_and_limit_are_settings(
    cli: Callable[..., Result], isolation: Path, tmp_path: Path
) -> None:
    ok(cli("config", "set", "cache-dir", str(tmp_path / "elsewhere")))
    ok(cli("config", "set", "cache-limit", "2GB"))
    shown = json.loads(ok(cli("config", "show", "--json")).stdout)
    assert shown["cache-dir"]["value"] == str(tmp_path / "elsewhere")
    assert shown["cache-limit"] == {"value": 2 << 30, "source": "file"}
    before = (isolation / "config.toml").read_text()
    assert_error(cli("config", "set", "cache-limit", "12XB"), "'12XB' is not a size")
    assert (isolation / "config.toml").read_text() == before  # nothing written
    info = json.loads(ok(cli("cache", "info", "--json")).stdout)
    assert info["folder"] == str(tmp_path / "elsewhere")
    assert info["limit"] == 2 << 30


@EMBEDDED_ONLY
def test_a_configured_server_takes_the_catalog_and_the_storage(
    cli: Callable[..., Result], tmp_path: Path, isolation: Path
) -> None:
    with served(tmp_path / "server") as (url, parts):
        ok(cli("config", "set", "api-url", url))
        forget_context()
        ok(cli("create", "--project", "p", "--name", "n"))
        assert [r.name for r in parts.catalog.search(Query())] == ["n"]
        assert not (isolation / "catalog.db").exists()  # nothing in a local catalog


@EMBEDDED_ONLY
def test_recording_uses_is_a_setting(cli: Callable[..., Result], isolation: Path) -> None:
    assert json.loads(ok(cli("config", "show", "--json")).stdout)["record-uses"] == {
        "value": True,
        "source": "default",
    }
    assert_error(cli("config", "set", "record-uses", "sometimes"), "neither on")
    ok(cli("config", "set", "record-uses", "off"))
    shown = json.loads(ok(cli("config", "show", "--json")).stdout)
    assert shown["record-uses"] == {"value": False, "source": "file"}


@pytest.mark.parametrize("key", ["cache-on-close", "deltas-on-close"])
def test_what_a_close_does_is_a_setting(cli: Callable[..., Result], key: str) -> None:
    shown = json.loads(ok(cli("config", "show", "--json")).stdout)
    assert shown[key] == {"value": True, "source": "default"}
    assert_error(cli("config", "set", key, "sometimes"), "neither on")
    ok(cli("config", "set", key, "off"))
    shown = json.loads(ok(cli("config", "show", "--json")).stdout)
    assert shown[key] == {"value": False, "source": "file"}


def test_a_close_may_store_deltas_in_gits_direction(cli: Callable[..., Result]) -> None:
    ok(cli("config", "set", "deltas-on-close", "reverse"))
    shown = json.loads(ok(cli("config", "show", "--json")).stdout)
    assert shown["deltas-on-close"] == {"value": "reverse", "source": "file"}
    assert_error(cli("config", "set", "deltas-on-close", "backwards"), "nor reverse")
