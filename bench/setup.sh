#!/usr/bin/env bash
# Prepare the benchmark: DVC in its own virtual environment (bench/.venv-dvc) and the
# commands the harness shells out to. Safe to run again: it only adds what is missing.
# With PEERS=1 it also installs the peers bench/million.sh and bench/evolving_bench.py measure
# beside DVC: borg (Debian's borgbackup; PyPI has no wheel of it), restic and xdelta3 (Debian)
# and Oxen (`oxenai` from PyPI, in bench/.venv-oxen).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv-dvc"
python="${PYTHON:-python3.11}"
command -v "$python" >/dev/null || python=python3

missing=()
for cmd in rsync zstd tar du diff; do
    command -v "$cmd" >/dev/null || missing+=("$cmd")
done
[ -x /usr/bin/time ] || missing+=(time)
if [ "${#missing[@]}" -gt 0 ]; then
    pkgs=()
    for cmd in "${missing[@]}"; do
        case "$cmd" in
            du) pkgs+=(coreutils) ;;
            diff) pkgs+=(diffutils) ;;
            *) pkgs+=("$cmd") ;;
        esac
    done
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
        echo "installing ${pkgs[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >/dev/null
    else
        echo "please install: ${pkgs[*]}" >&2
        [[ " ${missing[*]} " == *" time "* && "${#missing[@]}" -eq 1 ]] || exit 1
    fi
fi

if [ ! -x "$venv/bin/dvc" ]; then
    echo "creating $venv"
    "$python" -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "dvc>=3,<4"
fi
# DVC's S3 remote, for run.py --remote s3
"$venv/bin/python" -c "import dvc_s3" 2>/dev/null \
    || "$venv/bin/pip" install --quiet --disable-pip-version-check "dvc-s3>=3,<4"
DVC_NO_ANALYTICS=1 "$venv/bin/dvc" --version | sed 's/^/dvc /'

if [ "${PEERS:-0}" = 1 ]; then
    # Debian package by command: borg and restic (bench/million.sh, bench/evolving_bench.py),
    # xdelta3 (bench/evolving_bench.py).
    peer_pkgs=()
    command -v borg >/dev/null || peer_pkgs+=(borgbackup)
    command -v restic >/dev/null || peer_pkgs+=(restic)
    command -v xdelta3 >/dev/null || peer_pkgs+=(xdelta3)
    if [ "${#peer_pkgs[@]}" -gt 0 ]; then
        if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
            echo "installing ${peer_pkgs[*]}"
            apt-get update -qq
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${peer_pkgs[@]}" >/dev/null
        else
            echo "please install ${peer_pkgs[*]} to measure them beside deltaset" >&2
        fi
    fi
    command -v borg >/dev/null && borg --version
    command -v restic >/dev/null && restic version
    command -v xdelta3 >/dev/null && xdelta3 -V 2>&1 | head -1
    oxen_venv="$here/.venv-oxen"
    if ! "$oxen_venv/bin/python" -c "import oxen" 2>/dev/null; then
        echo "creating $oxen_venv"
        "$python" -m venv "$oxen_venv"
        "$oxen_venv/bin/pip" install --quiet --disable-pip-version-check "oxenai>=0.65,<0.66"
    fi
    "$oxen_venv/bin/python" -c "import importlib.metadata as m; print('oxenai', m.version('oxenai'))"
fi
