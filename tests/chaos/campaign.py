"""Runs trials: one by its seed and number (as the tests and a reproduction do), or a whole
seeded campaign spread over a few worker threads (each trial waits on its processes)."""

from __future__ import annotations

import shutil
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.chaos.harness import Broken, Figures, Services, Trial

TrialFn = Callable[[Trial], None]


def all_trials() -> dict[str, TrialFn]:
    from tests.chaos.attacks import ATTACK_TRIALS
    from tests.chaos.concurrency import CONCURRENCY_TRIALS
    from tests.chaos.damage import DAMAGE_TRIALS
    from tests.chaos.faults import FAULT_TRIALS
    from tests.chaos.kills import KILL_TRIALS
    from tests.chaos.remote import REMOTE_TRIALS
    from tests.chaos.server_attacks import SERVER_ATTACK_TRIALS

    return {
        **KILL_TRIALS,
        **REMOTE_TRIALS,
        **CONCURRENCY_TRIALS,
        **FAULT_TRIALS,
        **DAMAGE_TRIALS,
        **ATTACK_TRIALS,
        **SERVER_ATTACK_TRIALS,
    }


def kind_of(number: int, kinds: Sequence[str]) -> str:
    return kinds[number % len(kinds)]


def run_trial(kind: str, seed: int, number: int, root: Path, services: Services) -> Figures:
    """Run one trial in ``root``; every failed invariant lands in ``figures.failures``."""
    trial = Trial(kind, seed, number, root, services)
    trial.figures.trials[kind] += 1
    try:
        all_trials()[kind](trial)
    except Broken as exc:
        trial.figures.failures.append(f"{trial.label}: [{exc.category}] {exc}")
        trial.figures.failed_kinds[kind] += 1
    except Exception:  # noqa: BLE001  # a trial's own bug: reported with its traceback
        trial.figures.failures.append(f"{trial.label}: [harness] {traceback.format_exc()}")
        trial.figures.failed_kinds[kind] += 1
    return trial.figures


def campaign(
    seed: int,
    trials: int,
    kinds: Sequence[str],
    workers: int = 2,
    only: Sequence[int] = (),
    progress: Callable[[int, str, Figures], None] = lambda *_: None,
) -> tuple[Figures, float]:
    """Trials ``0..trials-1`` (or just ``only``), kind by number; returns the sum and seconds."""
    numbers = list(only) or list(range(trials))
    services = Services()
    total = Figures()
    start = time.monotonic()

    def one(number: int) -> Figures:
        root = Path(tempfile.mkdtemp(prefix=f"deltaset-chaos-{number}-"))
        try:
            figures = run_trial(kind_of(number, kinds), seed, number, root, services)
        finally:
            shutil.rmtree(root, ignore_errors=True)
        progress(number, kind_of(number, kinds), figures)
        return figures

    try:
        with ThreadPoolExecutor(workers) as pool:
            for figures in pool.map(one, numbers):
                total.merge(figures)
    finally:
        services.stop()
    return total, time.monotonic() - start
