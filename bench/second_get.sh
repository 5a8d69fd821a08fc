#!/usr/bin/env bash
# A cold `get` of v1, then a `get` of v2 (most of its blobs cached by the first), each round
# into a new empty cache, for source trees in turn. CORPUS holds v1/ and v2/ (the `many`
# corpus of make_corpus.py); both versions are made once in OUT/home with the first tree.
#
#   bash bench/second_get.sh CORPUS OUT ROUNDS SRC [SRC...]
set -euo pipefail
corpus="$1" out="$2" rounds="$3"
shift 3
py=${PYTHON:-/work/main/.venv/bin/python}
export DELTASET_HOME="$out/home"
ds() { PYTHONPATH="$1" "$py" -m deltaset "${@:2}"; }
if [ ! -f "$out/ids" ]; then
    mkdir -p "$out"
    ds "$1" create --project bench --name many --quiet >/dev/null
    ds "$1" add --files "$corpus/v1" --quiet
    ds "$1" close --quiet >/dev/null
    v1=$(ds "$1" search --project bench --json | "$py" -c "import json,sys; print(json.load(sys.stdin)[-1]['id'])")
    ds "$1" sync --folder "$corpus/v2" --project bench --name many --parents "$v1" --quiet >/dev/null
    ds "$1" search --project bench --json | "$py" -c "import json,sys; [print(r['id']) for r in json.load(sys.stdin)]" >"$out/ids"
fi
v1=$(sed -n 1p "$out/ids") v2=$(sed -n 2p "$out/ids")
for round in $(seq "$rounds"); do
    for src in "$@"; do
        export DELTASET_CACHE_DIR="$out/cache-$round-$RANDOM"  # (never deleted while timing)
        PYTHONPATH="$src" /usr/bin/time -f "$src get-v1 %e s (CPU %U + %S s) %M KB" \
            "$py" -m deltaset get --id "$v1" --quiet >/dev/null
        PYTHONPATH="$src" /usr/bin/time -f "$src get-v2 %e s (CPU %U + %S s) %M KB" \
            "$py" -m deltaset get --id "$v2" --quiet >/dev/null
    done
done
