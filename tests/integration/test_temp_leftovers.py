"""The tests that start third-party libraries (ClearML, wandb), a server at collection (the
fuzzing) or probe processes leave nothing in the temporary folder, even when their process ends
without running its exit handlers: pytest-xdist kills a worker that takes more than 10 seconds
to exit, so whatever ``atexit`` or a ``TemporaryDirectory`` finalizer was to remove stays."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# A plugin that ends the run's process at once when pytest is done, as the killed worker ends.
ABRUPT_EXIT = """
import os
import sys

import pytest

_status = 0


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    global _status
    _status = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(_status)
"""
TESTS = [
    "tests/server/test_fuzz.py::test_the_schema_documents_every_route",
    "tests/api/test_trackers.py::test_a_wandb_run_gets_the_use_and_the_version_in_its_config",
    "tests/api/test_trackers.py::test_a_clearml_task_gets_the_use_and_the_version_under_datasets",
    "tests/cli/test_allocator.py",
]


def test_a_run_ended_without_exit_handlers_leaves_nothing_in_the_temporary_folder(
    tmp_path: Path,
) -> None:
    (tmp_path / "plugin").mkdir()
    (tmp_path / "plugin" / "abrupt_exit.py").write_text(ABRUPT_EXIT)
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env |= {
        "TMPDIR": str(temp),
        "PYTHONPATH": os.pathsep.join([str(tmp_path / "plugin"), str(ROOT / "src")]),
    }
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "abrupt_exit"]
    command += ["--basetemp", str(tmp_path / "base"), *TESTS]
    done = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240, check=False
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "passed" in done.stdout
    left = sorted(path.name for path in temp.iterdir())
    assert left == [], f"left in the temporary folder: {left}"
