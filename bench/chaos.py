"""The chaos campaign: seeded random trials of kills, concurrency, storage faults, damage and
hostile input against deltaset's command line, then a fuzzing of its parsers; writes the
figures to bench/RESULTS-reliability.md.

    .venv/bin/python bench/chaos.py --trials 300 --seed 1
    .venv/bin/python bench/chaos.py --seed 1 --trial 17          # reproduce one trial
    .venv/bin/python bench/chaos.py --kind "kill close" --trials 40

Trial N has kind number N modulo the number of kinds chosen, and draws everything from
``random.Random(f"{seed}:{N}")``. Needs the dev dependencies (moto, hypothesis, pytest).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "src")]

from tests.chaos.campaign import all_trials, campaign  # noqa: E402
from tests.chaos.harness import KNOWN_REFUSAL, Figures  # noqa: E402
from tests.chaos.test_chaos import KNOWN_BROKEN  # noqa: E402

SUMMARY = re.compile(r"<!-- summary -->.*?<!-- /summary -->", re.S)
HEADLINE = [
    ("kills", "kills (SIGKILL of a client command or of the server)"),
    ("faults injected", "faults injected by the network (refused, cut, slow)"),
    ("objects damaged", "stored objects damaged"),
    ("final versions checked", "final versions checked (verify, and a pull compared by hash)"),
    ("final versions unreadable", "final versions unreadable (must be 0)"),
    ("wrong bytes served", "wrong bytes served (must be 0)"),
    ("re-runs that did not finish", "re-runs that did not finish (must be 0)"),
    ("commands that hung", "commands that hung"),
    (KNOWN_REFUSAL, "close re-runs refused: killed once the version was final (must be 0)"),
]


def main() -> None:
    args = parse()
    kinds = args.kind or list(all_trials())
    started = time.time()

    def progress(number: int, kind: str, figures: Figures) -> None:
        state = "FAILED" if figures.failures else "ok"
        print(f"trial {number:4d} {kind:48s} {state}", flush=True)
        for failure in figures.failures:
            print(f"  {failure}", flush=True)

    figures, seconds = campaign(args.seed, args.trials, kinds, args.workers, args.trial, progress)
    fuzz = fuzz_parsers(args.fuzz) if args.fuzz else None
    report = render(args, kinds, figures, seconds, fuzz, started)
    print(report)
    if args.results and not args.trial:
        write(Path(args.results), report)
    sys.exit(1 if any(k not in KNOWN_BROKEN for k in figures.failed_kinds) else 0)


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=200, help="number of trials")
    parser.add_argument("--seed", type=int, default=1, help="seed of every random draw")
    parser.add_argument("--workers", type=int, default=2, help="trials run at once")
    parser.add_argument("--kind", action="append", help="only this kind of trial (repeatable)")
    parser.add_argument("--trial", type=int, action="append", default=[], help="only trial N")
    parser.add_argument("--fuzz", type=int, default=500, help="examples per parser test (0: none)")
    parser.add_argument("--results", default=str(REPO / "bench" / "RESULTS-reliability.md"))
    return parser.parse_args()


def fuzz_parsers(examples: int) -> tuple[bool, str]:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "tests/chaos/test_parsers.py"],
        cwd=REPO,
        env={**os.environ, "DELTASET_FUZZ_EXAMPLES": str(examples),
             "PYTHONPATH": str(REPO / "src")},
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    return done.returncode == 0, done.stdout.strip().splitlines()[-1]


def commit() -> str:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=REPO, capture_output=True, text=True, check=False
        ).stdout.strip()

    dirty = " (with uncommitted changes)" if git("status", "--porcelain", "src", "tests") else ""
    return git("rev-parse", "--short", "HEAD") + dirty


def render(
    args: argparse.Namespace,
    kinds: list[str],
    figures: Figures,
    seconds: float,
    fuzz: tuple[bool, str] | None,
    started: float,
) -> str:
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started))
    command = f"python bench/chaos.py --trials {args.trials} --seed {args.seed}"
    command += f" --workers {args.workers} --fuzz {args.fuzz}"
    command += "".join(f' --kind "{kind}"' for kind in args.kind or ())
    lines = [
        "# Reliability: the chaos campaign",
        "",
        f"`{command}` on deltaset {commit()}, {when}: {sum(figures.trials.values())} trials "
        f"in {seconds / 60:.1f} minutes. Every figure below comes from this one run.",
        "",
        "<!-- summary -->",
        "<!-- /summary -->",
        "",
        "## Figures",
        "",
        "| figure | value |",
        "|---|---|",
    ]
    lines += [f"| {label} | {figures.counts[key]} |" for key, label in HEADLINE]
    slow, where = figures.slowest_recovery
    lines += [f"| slowest recovery (the re-run after a kill or a fault) | {slow:.1f} s ({where}) |"]
    if fuzz is not None:
        lines += [f"| parser fuzzing ({args.fuzz} examples per test) | {fuzz[1]} |"]
    lines += [
        "",
        "## Trials per kind",
        "",
        "| kind | trials | failed | in CI |",
        "|---|---|---|---|",
    ]
    for kind in kinds:
        ci = "no: known broken" if kind in KNOWN_BROKEN else "yes"
        lines.append(f"| {kind} | {figures.trials[kind]} | {figures.failed_kinds[kind]} | {ci} |")
    lines += ["", "## Every count", "", "| count | value |", "|---|---|"]
    lines += [f"| {name} | {value} |" for name, value in sorted(figures.counts.items())]
    lines += ["", "## Failed invariants", ""]
    lines += failures(figures, args.seed, kinds)
    return "\n".join(lines) + "\n"


def failures(figures: Figures, seed: int, kinds: list[str]) -> list[str]:
    if not figures.failures:
        return ["None."]
    out = ["Each names its seed and trial; `python bench/chaos.py --seed S --trial N` "
           "(with the same `--kind` options) runs it again.", ""]  # fmt: skip
    shown: Counter[str] = Counter()
    for failure in sorted(figures.failures, key=lambda f: int(f.split()[3])):
        kind = failure.split("(", 1)[1].split(")", 1)[0]
        shown[kind] += 1
        if shown[kind] <= 3:  # the first few of each kind; the rest are counted above
            text = failure.replace("\n", " ")[:700]
            out.append(f"- {text}")
    return out


def write(path: Path, report: str) -> None:
    if path.exists() and (kept := SUMMARY.search(path.read_text())):
        report = SUMMARY.sub(lambda _: kept.group(0), report, count=1)
    path.write_text(report)


if __name__ == "__main__":
    main()
