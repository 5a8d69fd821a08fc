#!/bin/bash
# `deltaset sync` of FOLDER after one file of it changed, main's code and this branch's in turn,
# RUNS rounds (the order alternates each round). Each HOME must hold project bench, dataset
# many, created, added (`add --files FOLDER`, which saves the folder state) and closed once
# with the code that syncs it. Each round adds a line to one file of FOLDER (a different
# one each round), so each sync closes a version that changes one file of its parent.
# Prints one line per sync: way, round, wall s, user s, sys s, peak KB.
# usage: bench/small_change_sync.sh FOLDER RUNS MAIN_SRC MAIN_HOME BRANCH_SRC BRANCH_HOME
set -euo pipefail
folder=$1 runs=$2 main_src=$3 main_home=$4 src=$5 home=$6
# shellcheck source=bench/sync_rounds.sh
source "$(dirname "$0")/sync_rounds.sh"

for round in $(seq "$runs"); do
    sub=$(find "$folder" -mindepth 1 -maxdepth 1 -type d ! -name ".*" | sort | sed -n "${round}p")
    changed=$(find "$sub" -type f | sort | sed -n 1p)
    echo "round $round changes $changed" >&2
    # A new file renamed over the old one: the folder may be a hard-linked copy (`cp -al`) of a
    # corpus that must not change.
    { cat "$changed"; echo "changed in round $round"; } >"$changed.new"
    mv "$changed.new" "$changed"
    if ((round % 2)); then
        one main "$round" "$main_src" "$main_home" 2>&1
        one branch "$round" "$src" "$home" 2>&1
    else
        one branch "$round" "$src" "$home" 2>&1
        one main "$round" "$main_src" "$main_home" 2>&1
    fi
done
