#!/bin/bash
# An unchanged `deltaset sync` of FOLDER three ways, in turn, RUNS rounds: main's code (a walk;
# above 250,000 files without the saved folder state), this branch's without a watcher (a walk
# compared with the saved folder state) and this branch's with `deltaset watch` running.
# Each HOME must hold project bench, dataset many, added and closed from FOLDER once (with the
# code that will sync it). Prints one line per sync: way, round, wall s, user s, sys s, peak KB.
# usage: bench/unchanged_sync.sh FOLDER RUNS MAIN_SRC MAIN_HOME BRANCH_SRC STATE_HOME WATCH_HOME
set -euo pipefail
folder=$1 runs=$2 main_src=$3 main_home=$4 src=$5 state_home=$6 watch_home=$7
# shellcheck source=bench/sync_rounds.sh
source "$(dirname "$0")/sync_rounds.sh"

log=$(mktemp)
DELTASET_HOME=$watch_home PYTHONPATH=$src PYTHONUNBUFFERED=1 \
    "$py" -m deltaset watch --folder "$folder" >"$log" 2>&1 &
watcher=$!
trap 'kill $watcher 2>/dev/null; wait $watcher 2>/dev/null; rm -f "$log"' EXIT
until grep -q Watching "$log"; do sleep 0.2; kill -0 $watcher; done
one warm-up 0 "$src" "$watch_home" 2>&1  # walks once: fixes where the journal starts
for round in $(seq "$runs"); do
    one main "$round" "$main_src" "$main_home" 2>&1
    one state "$round" "$src" "$state_home" 2>&1
    one watch "$round" "$src" "$watch_home" 2>&1
done
