# The peers' steps of bench/million.sh (`PEERS=1`), on the same v1 and v2 files in the same run,
# after deltaset's steps: DVC (a local-folder remote), borg and Oxen (a local repository), each
# step's wall clock and peak memory printed by million.sh's `step`. Sourced by million.sh, which
# defines run, corpus, here and step. PEER_TOOLS picks the peers (default: "dvc borg oxen");
# one that is not installed is skipped with a note (`PEERS=1 bash bench/setup.sh` installs them).
#
# The counterparts of deltaset's steps:
#   add + close v1      DVC `add` + `push`; borg `create`; Oxen `add` + `commit`
#   cold get            DVC `pull` in a fresh workspace and cache holding only data.dvc;
#                       borg `extract` into an empty folder; Oxen `restore` in a fresh working
#                       folder holding only a copy of the repository's .oxen
#   sync v2 in place    the v1 steps again after rsync of v2 over the working copy
#   unchanged sync      DVC `status` and `add`; borg `create`; Oxen `status` and `add`

dvc="$here/.venv-dvc/bin/dvc"
oxen_python="$here/.venv-oxen/bin/python"
files_v1="$(find "$corpus/v1" -type f | wc -l)"
export DVC_NO_ANALYTICS=1 DVC_SITE_CACHE_DIR="$run/dvc-site-cache" \
    DVC_GLOBAL_CONFIG_DIR="$run/dvc-conf/global" DVC_SYSTEM_CONFIG_DIR="$run/dvc-conf/system"
export BORG_BASE_DIR="$run/borg-home" BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes \
    BORG_RELOCATED_REPO_ACCESS_IS_OK=yes

load() {
    echo "# $1, load average $(cut -d' ' -f1-3 /proc/loadavg)"
}
# A restore that left out files would time as a fast one: count them (not timed).
same_count() {
    local got
    got="$(find "$2" -type f -not -path '*/.dvc/*' -not -path '*/.oxen/*' -not -name '*.dvc' \
        -not -name .dvcignore | wc -l)"
    [ "$got" -eq "$files_v1" ] || { echo "$1 restored $got files of $files_v1" >&2; exit 1; }
}
stored() {
    echo "$1 stored $(du -sk "$2" | cut -f1) KB on disk"
}

dvc_workspace() {
    mkdir -p "$1"
    (
        cd "$1"
        "$dvc" init --no-scm -q
        "$dvc" config core.analytics false
        "$dvc" config core.check_update false
        "$dvc" remote add -d local "$run/dvc-remote" >/dev/null 2>&1
    )
}
peer_dvc() {
    local ws="$run/dvc-ws" clone="$run/dvc-clone"
    dvc_workspace "$ws"
    cp -a "$corpus/v1" "$ws/data"
    load "DVC $("$dvc" --version)"
    step "DVC add v1" env -C "$ws" "$dvc" add -q data
    step "DVC push v1" env -C "$ws" "$dvc" push -q
    dvc_workspace "$clone"
    cp "$ws/data.dvc" "$clone/"
    step "DVC pull (cold cache)" env -C "$clone" "$dvc" pull -q
    same_count "DVC pull" "$clone/data"
    rsync -a --delete --checksum "$corpus/v2/" "$ws/data/"
    step "DVC add v2" env -C "$ws" "$dvc" add -q data
    step "DVC push v2" env -C "$ws" "$dvc" push -q
    step "DVC status (unchanged)" env -C "$ws" "$dvc" status -q
    step "DVC add (unchanged)" env -C "$ws" "$dvc" add -q data
    stored "DVC v1+v2" "$run/dvc-remote"
}

peer_borg() {
    local data="$run/borg-data" repo="$run/borg-repo"
    borg init --encryption=none "$repo" >/dev/null 2>&1
    cp -a "$corpus/v1" "$data"
    mkdir "$run/borg-extract"
    load "$(borg --version)"
    step "borg create v1" env -C "$data" borg create --compression lz4 "$repo::v1" .
    step "borg extract (cold)" env -C "$run/borg-extract" borg extract "$repo::v1"
    same_count "borg extract" "$run/borg-extract"
    rsync -a --delete --checksum "$corpus/v2/" "$data/"
    step "borg create v2" env -C "$data" borg create --compression lz4 "$repo::v2" .
    step "borg create (unchanged)" env -C "$data" borg create --compression lz4 "$repo::v3" .
    stored "borg v1+v2" "$repo"
}

peer_oxen() {
    local ws="$run/oxen-ws" clone="$run/oxen-clone"
    # a command each step times: Oxen's Python bindings, with the statement given after it
    local oxen=(env HOME="$run/oxen-home" "$oxen_python" -c)
    local repo='import oxen, sys; repo = oxen.Repo(sys.argv[1]);'
    mkdir -p "$ws" "$clone"
    "${oxen[@]}" "$repo oxen.user.config_user('bench', 'bench@localhost'); repo.init()" "$ws" \
        >/dev/null
    cp -a "$corpus/v1" "$ws/data"
    load "oxenai $("$oxen_python" -c "import importlib.metadata as m; print(m.version('oxenai'))")"
    step "Oxen add v1" "${oxen[@]}" "$repo repo.add(sys.argv[2])" "$ws" "$ws/data"
    step "Oxen commit v1" "${oxen[@]}" "$repo repo.commit('v1')" "$ws"
    cp -a "$ws/.oxen" "$clone/"
    step "Oxen restore (cold)" "${oxen[@]}" "$repo repo.restore('data')" "$clone"
    same_count "Oxen restore" "$clone/data"
    rsync -a --delete --checksum "$corpus/v2/" "$ws/data/"
    step "Oxen add v2" "${oxen[@]}" "$repo repo.add(sys.argv[2])" "$ws" "$ws/data"
    step "Oxen commit v2" "${oxen[@]}" "$repo repo.commit('v2')" "$ws"
    step "Oxen status (unchanged)" "${oxen[@]}" "$repo print(repo.status())" "$ws"
    step "Oxen add (unchanged)" "${oxen[@]}" "$repo repo.add(sys.argv[2])" "$ws" "$ws/data"
    stored "Oxen v1+v2" "$ws/.oxen"
}

installed() {
    case "$1" in
        dvc) [ -x "$dvc" ] ;;
        borg) command -v borg >/dev/null ;;
        oxen) "$oxen_python" -c "import oxen" 2>/dev/null ;;
        *) echo "unknown peer $1 (PEER_TOOLS: dvc borg oxen)" >&2; exit 1 ;;
    esac
}

stored "deltaset v1+v2" "$DELTASET_HOME/storage"
for peer in ${PEER_TOOLS:-dvc borg oxen}; do
    if installed "$peer"; then
        "peer_$peer"
    else
        echo "# $peer skipped: not installed (PEERS=1 bash bench/setup.sh)"
    fi
done
