"""One real Chromium for the session (Debian's, driven by Playwright: never a browser Playwright
downloads), and catalogs for it to look at through ``deltaset ui`` and ``deltaset server``."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests import servers

ROOT = Path(__file__).parents[2]
SCREENSHOTS_ENV = "DELTASET_SCREENSHOTS"  # a folder to keep the screenshots in (docs/screenshots)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("Debian's chromium is not installed: scripts/bootstrap --dev installs it.")
    with sync_playwright() as playwright:
        found = playwright.chromium.launch(executable_path=chromium)
        yield found
        found.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser context (no cookies) and a page in it; a script's dialog fails the
    test, and so does an error in the pages' own scripts or anything the Content-Security-
    Policy refused (a chart or a button that silently stopped working)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    dialogs: list[str] = []
    opened.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    failures: list[str] = []
    opened.on("pageerror", lambda error: failures.append(str(error)))
    opened.on("console", lambda message: _note_refusal(message.text, failures))
    yield opened
    context.close()
    assert not dialogs, f"a script ran and opened a dialog: {dialogs}"
    assert not failures, f"a page's script failed or was refused: {failures}"


def _note_refusal(text: str, failures: list[str]) -> None:
    if "Content Security Policy" in text:
        failures.append(text)


def screenshot(page: Page, name: str, tmp_path: Path) -> Path:
    """The page as a PNG, kept under $DELTASET_SCREENSHOTS if set (for the README)."""
    folder = Path(os.environ.get(SCREENSHOTS_ENV) or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 0
    return path


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DELTASET_")}
    return {**env, "DELTASET_HOME": str(home), "NO_COLOR": "1", **extra}


@pytest.fixture(scope="module")
def catalog_scripts() -> list[str]:
    """The modules run to fill a UI's catalog; a test module may override it to add its own."""
    return ["tests.ui.make_catalog"]


def make_catalog(
    folder: Path, env: dict[str, str], scripts: tuple[str, ...] = ("tests.ui.make_catalog",)
) -> dict[str, str]:
    ids: dict[str, str] = {}
    for script in scripts:
        done = subprocess.run(
            [sys.executable, "-m", script, str(folder / script.rpartition(".")[2])],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        ids |= json.loads(done.stdout.strip().splitlines()[-1])
    return ids


@dataclass(frozen=True)
class LocalUi:
    url: str  # with its one-time secret
    ids: dict[str, str]

    @property
    def base(self) -> str:
        return self.url.split("/?", 1)[0]


@pytest.fixture(scope="module")
def local_ui(
    tmp_path_factory: pytest.TempPathFactory, catalog_scripts: list[str]
) -> Iterator[LocalUi]:
    """A real ``deltaset ui`` process over an embedded catalog holding the test datasets."""
    home = tmp_path_factory.mktemp("ui-home")
    env = _env(home)
    ids = make_catalog(home / "files", env, tuple(catalog_scripts))
    argv = [sys.executable, "-m", "deltaset", "ui", "--no-browser"]
    argv += ["--port", str(servers.free_port())]
    proc = subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=home
    )
    try:
        url = _printed_url(proc)
        yield LocalUi(url, ids)
    finally:
        proc.terminate()
        proc.wait(10)
        assert proc.stdout is not None
        proc.stdout.close()


def _printed_url(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:  # the URL is printed before the server starts listening
        seen.append(line)
        if re.match(r"http://127\.0\.0\.1:\d+/\?token=\S+$", line.strip()):
            url = line.strip()
            _wait_until_listening(int(url.split(":")[2].split("/")[0]))
            return url
    raise AssertionError(f"deltaset ui printed no URL: {''.join(seen)}")


def _wait_until_listening(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"deltaset ui did not listen on {port}")


@dataclass(frozen=True)
class TeamUi:
    base: str
    read_only: str
    read_write: str
    ids: dict[str, str]


@pytest.fixture(scope="module")
def team_ui(
    tmp_path_factory: pytest.TempPathFactory, catalog_scripts: list[str]
) -> Iterator[TeamUi]:
    """A real ``deltaset server`` with tokens, holding the test datasets."""
    home = tmp_path_factory.mktemp("server-home")
    server = servers.start_deltaset_server(home)
    try:
        writer = servers.create_token(home)
        reader = servers.create_token(home, read_only=True)
        client = tmp_path_factory.mktemp("client-home")
        env = _env(client, DELTASET_API_URL=server.endpoint, DELTASET_API_TOKEN=writer)
        ids = make_catalog(client / "files", env, tuple(catalog_scripts))
        yield TeamUi(server.endpoint, reader, writer, ids)
    finally:
        server.stop()
