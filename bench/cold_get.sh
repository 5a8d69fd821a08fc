#!/usr/bin/env bash
# Cold `deltaset get` (the cached read-only folder) against cold `get --copy`, for one or more
# source trees, on one folder of files: the folder is added and closed once into a folder
# storage, then every run pulls it once per source tree (`get`) and once more with the last
# tree (`get --copy`), each into its own empty cache, in an order that rotates from run to run
# (each step comes first once every as many runs as there are steps).
# The previous run's folders are deleted, then synced, GAP seconds before a run starts; on
# ext4, files created soon after many were deleted still cost more (the kernel skips the freed
# inodes), so each run first makes an untimed copy of the folder (`cp -r`, kept until the run
# ends) that pays for them: no timed step is the first to create files after the deletions.
# WARMUP=0 leaves it out. With KEEP=1 no run deletes anything: every run's folders stay until
# the end (a million inodes a run at 200,000 files), so no step pays for another's deletions;
# on a disk shared with other work, where deleting a run's folders took 7-10 minutes, it is
# also the quicker way.
# Prints one line per step: wall seconds, user and system CPU, peak RSS, then the bytes of its
# cache's index and of its write-ahead log, if any (left behind by a process that ends
# without closing the index).
# With TAR=1, each run also extracts the folder from a `tar | zstd -1` archive made once
# (`zstd -dc | tar -x`, timed as one step in the same rotation): the floor a cold pull is
# measured against.
#
#   bash bench/cold_get.sh FOLDER RUNS GAP SRC [SRC...]
#   TAR=1 bash bench/cold_get.sh FOLDER RUNS GAP SRC [SRC...]
#   bash bench/cold_get.sh /tmp/deltaset-bench/corpus-scale0.2-seed7/many/v1 3 70 /tmp/main/src src
set -euo pipefail

folder="$1" runs="$2" gap="$3"
shift 3
srcs=("$@")
python="${PYTHON:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../.venv/bin/python}"
work="$(mktemp -d "${TMPDIR:-/tmp}/cold-get-XXXX")"
trap 'rm -rf "$work"' EXIT
export DELTASET_HOME="$work/home"
ds() { PYTHONPATH="$(realpath "$1")" "$python" -c "from deltaset.cli.main import main; main()" "${@:2}"; }

ds "${srcs[0]}" create --project bench --name cold --quiet >/dev/null
ds "${srcs[0]}" add --files "$folder" --quiet >/dev/null
ds "${srcs[0]}" close --quiet >/dev/null
id="$(ds "${srcs[0]}" search --project bench --json | "$python" -c "import json,sys; print(json.load(sys.stdin)[-1]['id'])")"

steps=()
for i in "${!srcs[@]}"; do steps+=("get:$i"); done
steps+=("copy:$((${#srcs[@]} - 1))")
if [ "${TAR:-0}" = 1 ]; then
    tar -cf - -C "$folder" . | zstd -q -1 -T0 >"$work/folder.tar.zst"
    steps+=("tar:0")
fi
for run in $(seq "$runs"); do
    pulls="$work/run$run"
    mkdir -p "$pulls"
    sync
    sleep "$gap"
    if [ "${WARMUP:-1}" = 1 ]; then
        cp -r "$folder" "$pulls/warmup"
        sync
    fi
    for k in "${!steps[@]}"; do
        step="${steps[$(((k + run) % ${#steps[@]}))]}"
        kind="${step%%:*}" src="${srcs[${step##*:}]}"
        cache="$pulls/cache-$kind-${step##*:}"
        if [ "$kind" = tar ]; then
            mkdir "$pulls/tar"
            /usr/bin/time -f "run $run tar - %e s U%U S%S %M KB" \
                bash -c 'zstd -dc "$1" | tar -x -C "$2"' - "$work/folder.tar.zst" "$pulls/tar"
            sync
            continue
        fi
        args=(get --id "$id" --quiet)
        [ "$kind" = copy ] && args+=(--copy "$pulls/copy")
        DELTASET_CACHE_DIR="$cache" /usr/bin/time -f "run $run $kind $src %e s U%U S%S %M KB" \
            env PYTHONPATH="$(realpath "$src")" "$python" -c \
            "from deltaset.cli.main import main; main()" "${args[@]}" >/dev/null
        echo "run $run $kind $src index $(stat -c %s "$cache/index.db") bytes," \
            "log $(stat -c %s "$cache/index.db-wal" 2>/dev/null || echo 0) bytes"
        sync
    done
    echo "load $(cut -d' ' -f1-3 /proc/loadavg)"
    if [ "${KEEP:-0}" != 1 ]; then
        rm -rf "$pulls"
        sync
    fi
done
