#!/usr/bin/env bash
# Cold `get` and `get --copy` of one folder by two source trees (OLD, NEW), beside
# `zstd -dc | tar -x` of the same folder, each into its own empty cache and folder, in an order
# that rotates from run to run; nothing is deleted until the end (KEEP=1 keeps it all), so no
# step pays for another's deletions. STEPS picks and orders the steps, FIRST the first run's
# number (the rotation's start). Prints one line a step: wall, user and system CPU (helpers
# included), peak RSS, load average.
#
#   OLD=/tmp/x-main/src NEW=src bash bench/cold_pull_ab.sh FOLDER RUNS OUT
#   STEPS="tar copy:new get:new" FIRST=3 OLD=... NEW=... bash bench/cold_pull_ab.sh FOLDER 3 OUT
set -u
folder="$1" runs="$2" out="$3"
old="$(realpath "$OLD")" new="$(realpath "$NEW")"
mkdir -p "$out"
export DELTASET_HOME="$out/home"
py="${PYTHON:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../.venv/bin/python}"
ds() { PYTHONPATH="$1" "$py" -c "from deltaset.cli.main import main; main()" "${@:2}"; }
if [ ! -f "$out/id" ]; then
    ds "$old" create --project bench --name cold --quiet >/dev/null
    ds "$old" add --files "$folder" --quiet >/dev/null
    ds "$old" close --quiet >/dev/null
    ds "$old" search --project bench --json |
        "$py" -c "import json,sys; print(json.load(sys.stdin)[-1]['id'])" >"$out/id"
    tar -cf - -C "$folder" . | zstd -q -1 -T0 >"$out/folder.tar.zst"
fi
id="$(cat "$out/id")"
read -r -a steps <<<"${STEPS:-tar get:old get:new copy:old copy:new}"
for run in $(seq "${FIRST:-1}" "$runs"); do
    d="$out/run$run"
    mkdir -p "$d"
    for k in "${!steps[@]}"; do
        step="${steps[$(((k + run) % ${#steps[@]}))]}"
        kind="${step%%:*}" which="${step##*:}"
        src="$old"
        [ "$which" = new ] && src="$new"
        sync
        load="$(cut -d' ' -f1 /proc/loadavg)"
        if [ "$kind" = tar ]; then
            mkdir "$d/tar"
            /usr/bin/time -f "run $run tar %e s U%U S%S %M KB load $load" \
                bash -c 'zstd -dc "$1" | tar -x -C "$2"' - "$out/folder.tar.zst" "$d/tar"
            continue
        fi
        args=(get --id "$id" --quiet)
        [ "$kind" = copy ] && args+=(--copy "$d/copy-$which")
        DELTASET_CACHE_DIR="$d/cache-$kind-$which" \
            /usr/bin/time -f "run $run $kind $which %e s U%U S%S %M KB load $load" \
            env PYTHONPATH="$src" "$py" -c "from deltaset.cli.main import main; main()" \
            "${args[@]}" >/dev/null
    done
done
[ "${KEEP:-0}" = 1 ] || rm -rf "$out"
