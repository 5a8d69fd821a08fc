#!/usr/bin/env bash
# The million benchmark's "sync of v2 in place" step for source trees in turn, each in a home
# of its own: add + close v1, copy v1 (`cp -a`), rsync v2 over the copy, then time a `sync`
# of the copy with v1 as parent and an unchanged `sync` after it.
#
#   bash bench/sync_in_place.sh CORPUS OUT SRC [SRC...]
#   (CORPUS holds v1/ and v2/, e.g. the `many` corpus of make_corpus.py; each SRC a `src`
#    folder, e.g. from `git archive COMMIT src | tar -x -C DIR`)
set -euo pipefail
corpus="$1" out="$2"
shift 2
py=${PYTHON:-/work/main/.venv/bin/python}
for src in "$@"; do
    run="$out/run-$(basename "$(dirname "$src")")"
    rm -rf "$run" && mkdir -p "$run"
    ds() { DELTASET_HOME="$run/home" PYTHONPATH="$src" "$py" -m deltaset "$@"; }
    ds create --project bench --name many --quiet >/dev/null
    ds add --files "$corpus/v1" --quiet
    ds close --quiet >/dev/null
    v1=$(ds search --project bench --json | "$py" -c "import json,sys; print(json.load(sys.stdin)[-1]['id'])")
    cp -a "$corpus/v1" "$run/work"
    rsync -a --delete --checksum "$corpus/v2/" "$run/work/"
    sync && sleep 5
    /usr/bin/time -f "$src sync-v2 %e s (CPU %U + %S s) %M KB" \
        env DELTASET_HOME="$run/home" PYTHONPATH="$src" "$py" -m deltaset sync \
        --folder "$run/work" --project bench --name many --parents "$v1" --quiet >/dev/null
    /usr/bin/time -f "$src sync-unchanged %e s (CPU %U + %S s) %M KB" \
        env DELTASET_HOME="$run/home" PYTHONPATH="$src" "$py" -m deltaset sync \
        --folder "$run/work" --project bench --name many --quiet >/dev/null
    rm -rf "$run"
done
