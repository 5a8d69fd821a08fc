"""A command that needs an extra that is not installed says which, in one sentence.

Each case runs ``deltaset`` in a process where the extra's module cannot be imported (its
``sys.modules`` entry set to None, as Python does for a module known to be absent), rather than
uninstalling it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.backends import EMBEDDED_ONLY
from tests.cli.helpers import assert_error
from tests.conftest import make_files

pytestmark = EMBEDDED_ONLY  # what is missing is on this machine, whatever the catalog

WITHOUT = (
    "import sys\n"
    "for name in sys.argv[1].split(','): sys.modules[name] = None\n"
    "from deltaset.cli.main import main\n"
    "main(sys.argv[2:])\n"
)


def without(modules: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``deltaset ARGS`` in a process that cannot import ``modules`` (comma-separated)."""
    return subprocess.run(
        [sys.executable, "-c", WITHOUT, modules, *args],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        cwd=cwd,
        timeout=60,
        check=False,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("missing", ["fastapi", "uvicorn", "sqlalchemy"])
def test_the_server_without_the_server_extra(missing: str, tmp_path: Path) -> None:
    port = str(free_port())
    done = without(missing, "server", "--port", port, "--no-auth", cwd=tmp_path)
    line = assert_error(done, "The deltaset server", "needs the 'server' extra", missing)
    assert line.endswith("pip install 'deltaset[server]'.")
    assert "internal error" not in done.stderr


def test_server_tokens_without_the_server_extra(tmp_path: Path) -> None:
    done = without("sqlalchemy", "server", "token", "list", cwd=tmp_path)
    assert_error(done, "needs the 'server' extra (sqlalchemy is not installed)")
    db = "postgresql://u@127.0.0.1:1/deltaset"
    done = without("psycopg", "server", "token", "list", "--db", db, cwd=tmp_path)
    assert_error(done, "needs the 'server' extra (psycopg is not installed)")


@pytest.mark.parametrize(
    ("scheme", "missing"),
    [("s3", "obstore"), ("azure", "obstore"), ("gs", "google.cloud.storage")],
)
def test_cloud_storage_without_its_extra(scheme: str, missing: str, tmp_path: Path) -> None:
    extra = "gcs" if scheme == "gs" else scheme
    done = without(
        missing,
        "create", "--project", "p", "--name", "n", "--storage", f"{scheme}://bucket/x",
        cwd=tmp_path,
    )  # fmt: skip
    assert_error(done, f"{scheme}:// storage needs the {extra!r} extra", f"deltaset[{extra}]")


def test_a_table_without_the_tables_extra(tmp_path: Path) -> None:
    table = make_files(tmp_path, {"t.csv": "a,b\n1,2\n"}) / "t.csv"
    assert (
        "error" not in without("", "create", "--project", "p", "--name", "n", cwd=tmp_path).stderr
    )
    for missing in ("pandas", "pyarrow"):
        done = without(missing, "metadata", "set", "--key", "t", "--csv", str(table), cwd=tmp_path)
        assert_error(done, "A table as metadata needs the 'tables' extra", "deltaset[tables]")
    added = without("", "metadata", "set", "--key", "t", "--csv", str(table), cwd=tmp_path)
    assert added.returncode == 0, added.stderr
    done = without("pyarrow", "metadata", "get", "--key", "t", cwd=tmp_path)
    assert_error(done, "needs the 'tables' extra", "deltaset[tables]")
