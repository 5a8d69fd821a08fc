# Shared by the scripts that time `deltaset sync` of one folder with two source trees in turn
# (source it after setting folder, main_src and src): the Python to run, each tree's modules
# compiled once before timing, and `one WAY ROUND SRC HOME`, printing way, round, wall s,
# user s, sys s and peak KB of one sync.
py=${PYTHON:-/work/main/.venv/bin/python}
unset PYTHONDONTWRITEBYTECODE  # as installed: compiled once, not at every start
for tree in "$main_src" "$src"; do PYTHONPATH=$tree "$py" -m deltaset --help >/dev/null; done

one() {  # way round src home
    DELTASET_HOME=$4 PYTHONPATH=$3 /usr/bin/time -f "$1 $2 %e %U %S %M" \
        "$py" -m deltaset sync --folder "$folder" --project bench --name many --quiet
}
