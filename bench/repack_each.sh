#!/usr/bin/env bash
# `gc --repack` run after every version from version FROM on, against one run after the last
# version, for each source tree: the bytes of the storage's files after each repack, the CPU of
# each repack, the blobs it rewrote, and a last repack with nothing new (which should rewrite
# nothing). The versions are the folders CORPUS/vNN of bench/evolving.py, synced in order.
#
#   FROM=10 bash bench/repack_each.sh /tmp/evolving/table OUT /tmp/old/src src
set -euo pipefail
corpus="$1" out="$2"
shift 2
py="${PYTHON:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../.venv/bin/python}"
from="${FROM:-10}"
unset PYTHONDONTWRITEBYTECODE # else every command compiles every module again

stored_bytes() { # of the files in storage (not of its folders, which a gc leaves empty)
    find "$DELTASET_HOME/storage" -type f -printf '%s\n' | awk '{ total += $1 } END { print total }'
}

repack() { # prints: CPU seconds, blobs rewritten, bytes stored after it
    local report
    report="$( (TIMEFORMAT=%U+%S; time "$py" -m deltaset gc --delete --repack --keep-recent 0 --json) 2>&1)"
    local cpu blobs
    cpu="$(echo "$report" | tail -1 | "$py" -c 'import sys; print(round(eval(sys.stdin.read()), 2))')"
    blobs="$(echo "$report" | "$py" -c 'import json,sys; s=sys.stdin.read(); print(json.loads(s[s.index("{"):s.rindex("}")+1])["rewritten_blobs"])')"
    echo "$cpu s, $blobs blobs, $(stored_bytes) bytes"
}

for src in "$@"; do
    for way in each once; do
        work="$out/$(echo "$src" | tr / _)-$way"
        rm -rf "$work"
        export PYTHONPATH="$(realpath "$src")" DELTASET_HOME="$work/home"
        parents=()
        n=0
        for folder in "$corpus"/v*; do
            json="$("$py" -m deltaset sync --folder "$folder" "${parents[@]}" --project evolving \
                --name history --json --quiet)"
            id="$(echo "$json" | "$py" -c 'import json,sys; s=sys.stdin.read(); d=json.loads(s[s.index("{"):]); print(d.get("id") or d["version"]["id"])')"
            parents=(--parents "$id")
            if [ "$way" = each ] && [ "$n" -ge "$from" ]; then
                echo "$src each: repack after v$n: $(repack)"
            fi
            n=$((n + 1))
        done
        [ "$way" = once ] && echo "$src once: repack after v$((n - 1)): $(repack)"
        echo "$src $way: again, nothing new: $(repack)"
        rm -rf "$work"
    done
done
