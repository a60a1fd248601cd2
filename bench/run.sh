#!/usr/bin/env bash
# kbrel benchmarks against the tools people would otherwise use.
#
#   bench/run.sh              run every available benchmark
#   bench/run.sh publish      kbrel publish vs tar czf on 20,000 documents (en + zh)
#   bench/run.sh scaling      kbrel publish at 2,000 / 20,000 / 100,000 documents
#   bench/run.sh list         list the benchmarks
#
# Environment:
#   BENCH_DOCS=20000    total documents (both languages) for `publish`
#   BENCH_RUNS=5        runs per tool (medians are reported; at least 5 recommended)
#   BENCH_SCALES="2000 20000 100000"   totals for `scaling`
#   BENCH_SEED=1        generator seed
#   BENCH_NO_BUILD=1    skip `cargo build --release --bins`
#   KBREL_BIN=path      kbrel binary to measure (default target/release/kbrel)
#   BENCH_NO_WRITE=1    do not update BENCHMARKS.md
#
# Generated knowledge bases, registries and scratch files live in bench/out/ (gitignored).
# Each benchmark is a function `bench_<name>`; add one and register it in BENCHES.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=$ROOT/bench/out
MD=$ROOT/BENCHMARKS.md
BENCH_DOCS=${BENCH_DOCS:-20000}
BENCH_RUNS=${BENCH_RUNS:-5}
BENCH_SEED=${BENCH_SEED:-1}
BENCH_SCALES=${BENCH_SCALES:-"2000 20000 100000"}
KBREL=${KBREL_BIN:-$ROOT/target/release/kbrel}
SYNTH=$ROOT/target/release/kbrel-synth
DATE_ARG=2026-11-25
TARGET_RATIO=1.0
TARGET_RSS_MB=300

# Registered benchmarks, in the order `bench/run.sh` runs them. Planned: diff (vs git diff /
# npm diff), sync (vs npm install), serve (vs nginx).
BENCHES=(publish scaling)

log() { printf '%s\n' "$*" >&2; }
die() { log "bench: error: $*"; exit 2; }

# --- helpers -------------------------------------------------------------------------------

build() {
    if [[ -n ${BENCH_NO_BUILD:-} ]]; then
        log "== skipping build (BENCH_NO_BUILD)"
    else
        log "== cargo build --release --bins"
        (cd "$ROOT" && cargo build --release --bins --quiet)
    fi
    [[ -x $KBREL ]] || die "no kbrel binary at $KBREL"
    [[ -x $SYNTH ]] || die "no kbrel-synth binary at $SYNTH"
}

HAVE_GNU_TIME=0
if [[ -x /usr/bin/time ]] && /usr/bin/time -f '%e %M' true 2>/dev/null; then
    HAVE_GNU_TIME=1
fi

now() { date +%s.%N; }

# measure <label> <cmd…>: runs the command; sets WALL (seconds) and RSS_KB (peak RSS of the
# command, 0 without GNU time). Output of the command goes to $OUT/last.log.
measure() {
    local tfile=$OUT/.time.$$ t0 t1
    shift
    t0=$(now)
    if ((HAVE_GNU_TIME)); then
        /usr/bin/time -f '%e %M' -o "$tfile" "$@" >"$OUT/last.log" 2>&1 ||
            { cat "$OUT/last.log" >&2; die "command failed: $*"; }
    else
        "$@" >"$OUT/last.log" 2>&1 || { cat "$OUT/last.log" >&2; die "command failed: $*"; }
    fi
    t1=$(now)
    WALL=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
    if ((HAVE_GNU_TIME)); then
        RSS_KB=$(awk '{ print $2 }' "$tfile")
        rm -f "$tfile"
    else
        RSS_KB=0
    fi
}

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else printf "%.3f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
maxof() { tr ' ' '\n' | grep -v '^$' | sort -g | tail -1; }
mb() { awk -v k="$1" 'BEGIN { printf "%.0f", k / 1024 }'; }
div() { awk -v a="$1" -v b="$2" -v f="${3:-%.2f}" 'BEGIN { printf f, a / b }'; }
passfail() { awk -v v="$1" -v t="$2" 'BEGIN { print (v <= t) ? "PASS" : "FAIL" }'; }

# kb_dir <total docs> [generation]: a generated knowledge base, cached by generator binary.
kb_dir() {
    local total=$1 gen=${2:-1}
    local per=$((total / 2))
    local dir=$OUT/kb-$total-s$BENCH_SEED-g$gen
    local stamp
    stamp="$(sha256sum "$SYNTH" | cut -c1-16) $per $BENCH_SEED $gen"
    if [[ ! -f $dir/.stamp || $(cat "$dir/.stamp") != "$stamp" ]]; then
        log "== generating $total documents ($per per language, generation $gen) in ${dir#"$ROOT"/}"
        rm -rf "$dir"
        "$SYNTH" --docs-per-lang "$per" --seed "$BENCH_SEED" --generation "$gen" --out "$dir" --quiet
        printf '%s' "$stamp" >"$dir/.stamp"
    fi
    printf '%s\n' "$dir"
}

# Read every file once so neither tool pays for a cold page cache.
warm() { find "$1/content" -type f -print0 | xargs -0 cat >/dev/null; }

git_rev() {
    local rev
    rev=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
    if [[ -n $(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null) ]]; then
        rev="$rev (+ uncommitted changes)"
    fi
    printf '%s' "$rev"
}

machine_md() {
    local cpu mem fs
    cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || echo unknown)
    mem=$(free -g | awk '/^Mem:/ { print $2 " GB total, " $7 " GB available" }')
    fs=$(df -T "$OUT" | awk 'NR == 2 { print $2 }')
    cat <<EOF
- machine: $(nproc) CPUs ($cpu), memory $mem (\`free -g\`), kernel $(uname -r), filesystem of bench/out: $fs
- kbrel: $("$KBREL" --version 2>/dev/null || echo kbrel), $(if [[ -n ${KBREL_BIN:-} ]]; then printf 'binary %s (KBREL_BIN; tree at git %s)' "$KBREL_BIN" "$(git_rev)"; else printf 'built from git %s' "$(git_rev)"; fi)
- $(tar --version | head -1); $(gzip --version | head -1)
- date of run: $(date -u +%Y-%m-%dT%H:%MZ)
EOF
}

# write_section <name> <file with markdown>: replace the section between markers in
# BENCHMARKS.md (appending it the first time).
write_section() {
    local name=$1 body=$2
    [[ -n ${BENCH_NO_WRITE:-} ]] && return 0
    local start="<!-- bench:$name:start -->" end="<!-- bench:$name:end -->"
    if [[ ! -f $MD ]]; then
        printf '# Benchmarks\n\nMeasured by `bench/run.sh` (see the script header for options). Each section is\nrewritten by the run that produced it.\n' >"$MD"
    fi
    local tmp=$MD.tmp.$$
    if grep -qF "$start" "$MD"; then
        awk -v s="$start" -v e="$end" -v f="$body" '
            $0 == s { print; while ((getline line < f) > 0) print line; skip = 1; next }
            $0 == e { skip = 0 }
            !skip { print }' "$MD" >"$tmp"
    else
        { cat "$MD"; printf '\n%s\n' "$start"; cat "$body"; printf '%s\n' "$end"; } >"$tmp"
    fi
    mv "$tmp" "$MD"
    log "== wrote section \"$name\" to ${MD#"$ROOT"/}"
}

# publish_once <kb dir>: one kbrel publish into a fresh registry; sets WALL and RSS_KB.
publish_once() {
    local kb=$1 scratch
    scratch=$(mktemp -d "$OUT/publish.XXXXXX")
    measure kbrel "$KBREL" --config "$kb/kbrel.toml" --registry "$scratch/registry" \
        publish 1.0.0 --date "$DATE_ARG" --changelog "$scratch/CHANGELOG.md" --quiet
    rm -rf "$scratch"
}

tar_once() {
    local kb=$1
    measure tar tar czf "$OUT/out.tgz" -C "$kb" content
    rm -f "$OUT/out.tgz"
}

# --- benchmarks ----------------------------------------------------------------------------

bench_publish() {
    local kb docs bytes i
    kb=$(kb_dir "$BENCH_DOCS")
    docs=$(find "$kb/content" -name '*.md' | wc -l)
    bytes=$(du -sb "$kb/content" | cut -f1)
    log "== publish vs tar czf: $docs documents, $(div "$bytes" 1000000 %.1f) MB, $BENCH_RUNS runs each, alternating"
    warm "$kb"
    local tar_t=() tar_r=() kb_t=() kb_r=()
    for ((i = 1; i <= BENCH_RUNS; i++)); do
        # Alternate which tool goes first so neither always runs right after the other.
        if ((i % 2)); then
            tar_once "$kb"; tar_t+=("$WALL"); tar_r+=("$RSS_KB")
            publish_once "$kb"; kb_t+=("$WALL"); kb_r+=("$RSS_KB")
        else
            publish_once "$kb"; kb_t+=("$WALL"); kb_r+=("$RSS_KB")
            tar_once "$kb"; tar_t+=("$WALL"); tar_r+=("$RSS_KB")
        fi
        log "   run $i: tar ${tar_t[-1]} s ($(mb "${tar_r[-1]}") MB), kbrel ${kb_t[-1]} s ($(mb "${kb_r[-1]}") MB)"
    done
    local tm km kr krmax ratio tgz_size
    tm=$(echo "${tar_t[*]}" | median)
    km=$(echo "${kb_t[*]}" | median)
    kr=$(echo "${kb_r[*]}" | median)
    krmax=$(echo "${kb_r[*]}" | maxof)
    ratio=$(div "$km" "$tm")
    tar czf "$OUT/out.tgz" -C "$kb" content
    tgz_size=$(stat -c %s "$OUT/out.tgz")
    rm -f "$OUT/out.tgz"
    local scratch pkg_size
    scratch=$(mktemp -d "$OUT/publish.XXXXXX")
    "$KBREL" --config "$kb/kbrel.toml" --registry "$scratch/registry" publish 1.0.0 \
        --date "$DATE_ARG" --changelog "$scratch/CHANGELOG.md" --quiet >/dev/null
    pkg_size=$(stat -c %s "$scratch"/registry/*.tgz)
    rm -rf "$scratch"

    local table
    table=$(
        printf '| | tar czf | kbrel publish | target | result |\n|---|---:|---:|---|---|\n'
        printf '| median wall time (s) | %s | %s | | |\n' "$tm" "$km"
        printf '| all runs (s) | %s | %s | | |\n' "${tar_t[*]}" "${kb_t[*]}"
        printf '| ratio kbrel / tar | | %s | ≤ %s | %s |\n' "$ratio" "$TARGET_RATIO" "$(passfail "$ratio" "$TARGET_RATIO")"
        printf '| peak RSS (MB), median / max | %s / %s | %s / %s | ≤ %s (kbrel) | %s |\n' \
            "$(mb "$(echo "${tar_r[*]}" | median)")" "$(mb "$(echo "${tar_r[*]}" | maxof)")" \
            "$(mb "$kr")" "$(mb "$krmax")" "$TARGET_RSS_MB" "$(passfail "$(mb "$krmax")" "$TARGET_RSS_MB")"
        printf '| output size (MB) | %s | %s (npm tarball) | | |\n' "$(div "$tgz_size" 1000000 %.1f)" "$(div "$pkg_size" 1000000 %.1f)"
    )
    printf '\n%s\n\n' "$table"

    local body=$OUT/section-publish.md
    {
        printf '## publish vs tar czf\n\n'
        printf 'Release a generated knowledge base of %s documents (%s per language, en + zh, %s MB of\n' \
            "$docs" "$((docs / 2))" "$(div "$bytes" 1000000 %.1f)"
        printf 'markdown, `kbrel-synth --docs-per-lang %s --seed %s`) as version 1.0.0 into an empty\n' "$((docs / 2))" "$BENCH_SEED"
        printf 'registry, against archiving the same folder with `tar czf`. %s runs each, alternating,\n' "$BENCH_RUNS"
        printf 'page cache warm, a fresh registry every run. Wall time from `date +%%s.%%N`, peak RSS from\n`/usr/bin/time -f %%M`.\n\n'
        machine_md
        printf '\nCommands:\n\n```sh\n'
        printf 'tar czf out.tgz -C bench/out/%s content\n' "$(basename "$kb")"
        printf 'kbrel --config bench/out/%s/kbrel.toml --registry <fresh tmp dir> publish 1.0.0 \\\n' "$(basename "$kb")"
        printf '    --date %s --changelog <tmp>/CHANGELOG.md --quiet\n```\n\n' "$DATE_ARG"
        printf '%s\n\n' "$table"
        printf 'kbrel does more than tar: it parses and lints every document, hashes it, writes one\ncontent-addressed blob per document (each fsynced), builds ESM and IIFE bundles per\nlanguage, the npm tarball (docs + bundles, parallel gzip), manifest.json, diff.json,\nindex.json and the changelog.\n'
    } >"$body"
    write_section publish "$body"
}

bench_scaling() {
    local rows=() total kb docs i
    log "== scaling: kbrel publish at $BENCH_SCALES documents, $BENCH_RUNS runs each"
    for total in $BENCH_SCALES; do
        kb=$(kb_dir "$total")
        docs=$(find "$kb/content" -name '*.md' | wc -l)
        warm "$kb"
        local ts=() rs=() tt=()
        for ((i = 1; i <= BENCH_RUNS; i++)); do
            publish_once "$kb"; ts+=("$WALL"); rs+=("$RSS_KB")
            tar_once "$kb"; tt+=("$WALL")
        done
        local m tm r per
        m=$(echo "${ts[*]}" | median)
        tm=$(echo "${tt[*]}" | median)
        r=$(echo "${rs[*]}" | maxof)
        per=$(awk -v t="$m" -v n="$docs" 'BEGIN { printf "%.1f", t * 1e6 / n }')
        log "   $docs docs: kbrel $m s ($per µs/doc, $(mb "$r") MB), tar $tm s"
        rows+=("| $docs | $(du -sm "$kb/content" | cut -f1) | $m | $per | $(mb "$r") | $(awk -v r="$r" -v n="$docs" 'BEGIN { printf "%.1f", r / n }') | $tm | $(div "$m" "$tm") |")
    done
    local table
    table=$(
        printf '| documents | content on disk (MB) | kbrel publish median (s) | µs / document | peak RSS (MB) | RSS KB / document | tar czf median (s) | ratio |\n'
        printf '|---:|---:|---:|---:|---:|---:|---:|---:|\n'
        printf '%s\n' "${rows[@]}"
    )
    printf '\n%s\n\n' "$table"
    local body=$OUT/section-scaling.md
    {
        printf '## publish scaling\n\n'
        printf '`kbrel publish` of generated knowledge bases of growing size into an empty registry\n'
        printf '(%s runs each, medians; peak RSS is the maximum). Constant µs per document means linear\ntime; constant KB per document means memory grows with the content.\n\n' "$BENCH_RUNS"
        machine_md
        printf '\n%s\n' "$table"
    } >"$body"
    write_section scaling "$body"
}

# --- main ----------------------------------------------------------------------------------

main() {
    local selected=("$@")
    if ((${#selected[@]} == 0)) || [[ ${selected[0]} == all ]]; then
        selected=("${BENCHES[@]}")
    fi
    if [[ ${selected[0]} == list ]]; then
        printf '%s\n' "${BENCHES[@]}"
        return 0
    fi
    for b in "${selected[@]}"; do
        declare -F "bench_$b" >/dev/null || die "unknown benchmark \`$b\` (available: ${BENCHES[*]})"
    done
    ((BENCH_RUNS >= 1)) || die "BENCH_RUNS must be at least 1"
    ((HAVE_GNU_TIME)) || log "bench: /usr/bin/time (Debian package \`time\`) not found: peak RSS is not measured"
    mkdir -p "$OUT"
    build
    for b in "${selected[@]}"; do
        "bench_$b"
    done
}

main "$@"
