#!/usr/bin/env bash
# add + close of one version of many tiny files by two source trees, interleaved, beside
# `tar | zstd -1` on the same files in the same run; prints one line per step with wall time,
# CPU (user + system) and peak memory (max RSS).
#
#   bash bench/add_close.sh CORPUS_V1 OLD_SRC NEW_SRC [RUNS]
#
# e.g. python3 /work/shared/bench/make_corpus.py /tmp/c --corpus many --scale 0.2 --seed 7
#      git archive main src | tar -x -C /tmp/main
#      bash bench/add_close.sh /tmp/c/many/v1 /tmp/main/src src 3
set -euo pipefail

corpus="$1"
old="$(cd "$2" && pwd)"
new="$(cd "$3" && pwd)"
runs="${4:-3}"
python="${PYTHON:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.venv/bin/python}"
work="$(mktemp -d /tmp/add-close-XXXX)"
trap 'rm -rf "$work"' EXIT
unset PYTHONDONTWRITEBYTECODE  # modules compiled once, as an installed package's are

timed() {
    local name="$1"
    shift
    /usr/bin/time -f "$name %e s wall, %U+%S s CPU, %M KB" "$@" >/dev/null 2>"$work/time" ||
        { cat "$work/time"; exit 1; }
    tail -1 "$work/time"
}

one() {  # label src
    local home="$work/home-$1"
    rm -rf "$home"
    DELTASET_HOME="$home" PYTHONPATH="$2" "$python" -m deltaset create --project bench \
        --name many --quiet >/dev/null
    DELTASET_HOME="$home" PYTHONPATH="$2" timed "$1 add" "$python" -m deltaset add \
        --files "$corpus" --quiet
    DELTASET_HOME="$home" PYTHONPATH="$2" timed "$1 close" "$python" -m deltaset close --quiet
    rm -rf "$home"
}

for src in "$old" "$new"; do  # compile each tree's modules before anything is timed
    DELTASET_HOME="$work/warm" PYTHONPATH="$src" "$python" -m deltaset --version >/dev/null
done
for run in $(seq "$runs"); do
    echo "run $run"
    timed "tar | zstd -1" bash -c "tar -cf - -C '$corpus' . | zstd -1 -T0 -q -o '$work/v1.tar.zst'"
    rm -f "$work/v1.tar.zst"
    one old "$old"
    one new "$new"
done
