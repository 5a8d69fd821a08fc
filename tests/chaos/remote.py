"""Kills of uploads and closes to S3 (a moto server) and to a ``deltaset server`` process, and of
that server itself while a client closes through it."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests import servers
from tests.chaos.checks import check_versions
from tests.chaos.harness import Broken, Machine, Trial, base_env, kill_group
from tests.chaos.kills import (
    CLOSE_POINTS,
    kill_close,
    kill_upload,
    parent_and_child,
    upload_options,
)


def s3_machine(trial: Trial) -> Machine:
    endpoint = trial.services.s3()
    bucket = servers.new_bucket(endpoint)
    return trial.machine(
        f"s3://{bucket}/datasets",
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
    )


@dataclass
class DeltasetServer:
    """A real ``deltaset server`` process keeping its state in ``home``; restartable on its port."""

    home: Path
    port: int
    server: servers.Server | None = None
    auth: bool = False  # with tokens (servers.create_token), or open to anyone on loopback
    db: str | None = None  # its catalog database (a SQLite file in ``home`` if None)
    storage: str | None = None  # its storage (a folder in ``home`` if None)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        argv = [sys.executable, "-m", "deltaset", "server", "--port", str(self.port)]
        argv += [] if self.auth else ["--no-auth"]
        argv += ["--db", self.db] if self.db else []
        argv += ["--storage", self.storage] if self.storage else []
        env = {**base_env(), "DELTASET_HOME": str(self.home)}
        deadline = time.monotonic() + 30
        while True:  # the port of a killed server may take a moment to be free again
            try:
                self.server = servers._start(argv, self.port, "chaos", env, self._log_folder())
                return
            except RuntimeError as exc:
                if "already in use" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def _log_folder(self) -> Path:
        """A new folder for the log of one start, beside ``home``: inside the trial's root, so
        that the log of a killed start, which no stop removes, goes with the trial."""
        return Path(tempfile.mkdtemp(dir=self.home.parent, prefix=f"{self.home.name}-log-"))

    def kill(self) -> None:
        assert self.server is not None
        kill_group(self.server.proc)  # type: ignore[arg-type]
        self.server.proc.wait()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()


@contextmanager
def deltaset_server(trial: Trial) -> Iterator[DeltasetServer]:
    server = DeltasetServer(trial.scratch("server"), servers.free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


def client_of(trial: Trial, server: DeltasetServer) -> Machine:
    return trial.machine(DELTASET_API_URL=server.url)


def kill_close_s3(trial: Trial) -> None:
    kill_close(trial, s3_machine(trial))


def kill_upload_s3(trial: Trial) -> None:
    kill_upload(trial, s3_machine(trial))


def kill_close_server(trial: Trial) -> None:
    with deltaset_server(trial) as server:
        kill_close(trial, client_of(trial, server))


def kill_upload_server(trial: Trial) -> None:
    with deltaset_server(trial) as server:
        kill_upload(trial, client_of(trial, server))


def kill_server_during_close(trial: Trial) -> None:
    """SIGKILL the server while a client closes through it, start it again at once: the close
    ends well or says one sentence, and its re-run ends well."""
    with deltaset_server(trial) as server:
        client = client_of(trial, server)
        finals, child, tree = parent_and_child(trial, client, big=True)
        args = ("close", "--id", child, *upload_options(trial))
        plan = trial.kill_plan([], longest=0.6)
        with client.popen(*args) as proc:
            try:
                proc.wait(plan.delay)
            except subprocess.TimeoutExpired:
                server.kill()
                trial.figures.count("kills")
                trial.figures.count("server kills")
                server.start()
            _, err = proc.communicate(timeout=300)
        if proc.returncode != 0:
            lines = err.strip().splitlines()
            if "Traceback" in err or not lines or not lines[-1].startswith("error: "):
                raise Broken("traceback", f"the close through a killed server: {err[-600:]!r}")
            trial.figures.count("closes through a killed server that failed with one sentence")
            trial.recover(client, *args)
        check_versions(client, {**finals, child: tree})


REMOTE_TRIALS: dict[str, Callable[[Trial], None]] = {
    "kill close to S3": kill_close_s3,
    "kill upload to S3": kill_upload_s3,
    "kill close to a server": kill_close_server,
    "kill upload to a server": kill_upload_server,
    "kill the server during a close": kill_server_during_close,
}
__all__ = ["CLOSE_POINTS", "REMOTE_TRIALS"]
