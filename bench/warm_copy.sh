#!/usr/bin/env bash
# A warm `get --copy` (every blob cached by one `get` first) of the `many` corpus's v1, for
# source trees in turn, ROUNDS times, each copy into a new empty folder of the same disk
# (deleted only at the end, so no step pays for another's deletions). The version and its
# cache are made once in OUT/home with the first tree. Prints one line a copy: wall, user and
# system CPU, peak RSS, load average.
#
#   bash bench/warm_copy.sh CORPUS OUT ROUNDS SRC [SRC...]
set -euo pipefail
corpus="$1" out="$2" rounds="$3"
shift 3
py=${PYTHON:-/work/main/.venv/bin/python}
export DELTASET_HOME="$out/home"
ds() { PYTHONPATH="$1" "$py" -m deltaset "${@:2}"; }
if [ ! -f "$out/id" ]; then
    mkdir -p "$out"
    ds "$1" create --project bench --name warm --quiet >/dev/null
    ds "$1" add --files "$corpus/v1" --quiet
    ds "$1" close --quiet >/dev/null
    ds "$1" search --project bench --json |
        "$py" -c "import json,sys; print(json.load(sys.stdin)[-1]['id'])" >"$out/id"
    ds "$1" get --id "$(cat "$out/id")" --quiet >/dev/null
fi
id=$(cat "$out/id")
for round in $(seq "$rounds"); do
    for src in "$@"; do
        sync
        load="$(cut -d' ' -f1 /proc/loadavg)"
        PYTHONPATH="$src" /usr/bin/time -f "$src copy %e s (CPU %U + %S s) %M KB load $load" \
            "$py" -m deltaset get --id "$id" --quiet --copy "$out/copy-$round-$RANDOM" >/dev/null
    done
done
