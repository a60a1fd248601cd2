#!/usr/bin/env bash
# A/B of what issue #19 added to publish's path: key resolution (every key source read, the
# many-to-one map built, KB020–KB022) runs in both; B also writes the TypeScript declarations
# and conditional exports of package format 3, A is the same binary with --package-format 2
# (the layout before them). Both are timed against `tar czf` of the same folder, alternating
# A, B and tar in rotating order, each run into a fresh folder (nothing deleted until the end).
#
#   cargo build --release --bins && bench/keys-ab.sh      (BENCH_DOCS=20000 BENCH_RUNS=5 BENCH_SEED=1)
#
# Needs target/release/kbrel and kbrel-synth (`cargo build --release --bins`; KBREL_BIN and
# KBREL_SYNTH_BIN override them, e.g. debug builds for a smoke run:
# `KBREL_BIN=target/debug/kbrel KBREL_SYNTH_BIN=target/debug/kbrel-synth BENCH_DOCS=200
# BENCH_RUNS=2 bench/keys-ab.sh`). KBREL_A_BIN runs A with another binary in its default format
# instead (e.g. one built at `4889192^`, before issue #19, in a worktree of its own: then A/B is
# everything since, not only #19). Prints the table; BENCHMARKS.md's "Key resolution and
# declarations" section records a run.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KBREL=${KBREL_BIN:-$ROOT/target/release/kbrel}
SYNTH=${KBREL_SYNTH_BIN:-$ROOT/target/release/kbrel-synth}
A_BIN=${KBREL_A_BIN:-}
DOCS=${BENCH_DOCS:-20000}
RUNS=${BENCH_RUNS:-5}
SEED=${BENCH_SEED:-1}
OUT=$ROOT/bench/out/keys-ab
mkdir -p "$OUT"
[ -d "$ROOT/bench/out/.git" ] || git init -q "$ROOT/bench/out"
KB=$OUT/kb-$DOCS-s$SEED
if [ ! -f "$KB/kbrel.toml" ]; then
    rm -rf "$KB"
    "$SYNTH" --docs-per-lang $((DOCS / 2)) --seed "$SEED" --out "$KB" >/dev/null
fi
scratch=$OUT/scratch-$$
mkdir -p "$scratch"
n=0
now() { date +%s.%N; }
timed() { # timed <label> <command…>: appends "<label> <seconds>" to $scratch/times
    local t0 t1
    sync
    t0=$(now)
    "${@:2}" >/dev/null
    t1=$(now)
    echo "$1 $(echo "$t1 - $t0" | bc)" >>"$scratch/times"
}
tar_run() { n=$((n + 1)); timed tar tar czf "$scratch/out-$n.tgz" -C "$KB" content; }
pub_run() { # pub_run <label> [--package-format N]
    n=$((n + 1))
    local bin=$KBREL
    if [ "$1" = A ] && [ -n "$A_BIN" ]; then
        bin=$A_BIN
        set -- A
    fi
    timed "$1" "$bin" --config "$KB/kbrel.toml" --registry "$scratch/reg-$n" publish --no-tag 1.0.0 \
        --date 2026-11-25 --changelog "$scratch/CHANGELOG-$n.md" --quiet "${@:2}"
    echo "$1 $(stat -c %s "$scratch/reg-$n"/*.tgz)" >>"$scratch/sizes"
}
cat "$KB"/content/*/*.md >/dev/null 2>&1 || true # warm the page cache
pub_run warmup >/dev/null
: >"$scratch/times"
for ((i = 1; i <= RUNS; i++)); do
    case $((i % 3)) in
        1) tar_run; pub_run A --package-format 2; pub_run B ;;
        2) pub_run B; tar_run; pub_run A --package-format 2 ;;
        0) pub_run A --package-format 2; pub_run B; tar_run ;;
    esac
done
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
med() { awk -v l="$1" '$1 == l {print $2}' "$scratch/times" | median; }
all() { awk -v l="$1" '$1 == l {printf "%.2f ", $2}' "$scratch/times"; }
t=$(med tar)
a=$(med A)
b=$(med B)
printf '| | tar czf | A: format 2 | B: format 3 |\n|---|---:|---:|---:|\n'
printf '| median wall time (s) | %.2f | %.2f | %.2f |\n' "$t" "$a" "$b"
printf '| all runs (s) | %s| %s| %s|\n' "$(all tar)" "$(all A)" "$(all B)"
printf '| ratio to tar czf | | %.3f | %.3f |\n' "$(echo "$a / $t" | bc -l)" "$(echo "$b / $t" | bc -l)"
printf '| B / A | | | %.3f |\n' "$(echo "$b / $a" | bc -l)"
size() { awk -v l="$1" '$1 == l {print $2; exit}' "$scratch/sizes"; }
printf '| tarball (bytes) | | %s | %s |\n' "$(size A)" "$(size B)"
rm -rf "$scratch"
