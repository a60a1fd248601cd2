#!/usr/bin/env bash
# shellcheck disable=SC2016 # backticks in single-quoted printf formats are markdown, not commands
# kbrel benchmarks against the tools people would otherwise use.
#
#   bench/run.sh              run every available benchmark
#   bench/run.sh publish      kbrel publish vs tar czf on 20,000 documents (en + zh)
#   bench/run.sh scaling      kbrel publish at 2,000 / 20,000 / 100,000 documents
#   bench/run.sh diff         kbrel diff vs git diff --stat and npm diff (2 % of 20,000 changed)
#   bench/run.sh diff_scaling kbrel diff vs git diff --stat at 2,000 / 20,000 / 100,000 documents
#   bench/run.sh diff_fractions kbrel diff A B --stat vs git diff --stat, and kbrel diff git:A
#                             git:B --stat vs git diff --stat A B -- <root>, at 0.1 / 2 / 20 % of
#                             the documents changed, on two corpora (synth, messy) at
#                             BENCH_FRACTION_SCALES (default 2000 20000 100000)
#   bench/run.sh git          kbrel import --from-git (50 tags of 4,000 documents) vs git archive |
#                             tar -x + kbrel publish per tag; kbrel check --from-git vs git archive |
#                             tar -x of one 20,000-document tree
#   bench/run.sh serve        kbrel serve vs nginx (wrk): 304 revalidation and a 20 KB blob
#   bench/run.sh sync         kbrel sync 1.0 → 1.1 (2% changed) vs npm install, bytes and time
#   bench/run.sh clients      the same update with kbrel sync and the JavaScript client side by side
#   bench/run.sh object_store kbrel publish --registry s3://… into a local S3-compatible server
#                             (moto, target/test-tools/moto, installed by .ci/run) vs kbrel publish
#                             into a folder + `aws s3 cp --recursive` of it (awscli, same venv)
#   bench/run.sh assets       kbrel publish of a release with BENCH_ASSETS images of BENCH_ASSET_KB KB
#                             (BENCH_ASSET_PCT % changed since the previous release) against the
#                             same publish without the images plus `tar czf` of the changed images
#                             (target ≤ 1.2×); BENCH_ASSET_DOCS documents (default 2000)
#   bench/run.sh list         list the benchmarks
#
# Environment:
#   BENCH_DOCS=20000    total documents (both languages) for `publish`, `diff`, `sync`
#   BENCH_RUNS=5        runs per tool (medians are reported; at least 5 recommended)
#   BENCH_SCALES="2000 20000 100000"   totals for `scaling` and `diff_scaling`
#   BENCH_FRACTION_SCALES="2000 20000 100000"  totals for `diff_fractions`
#   BENCH_FRACTION_CORPORA="synth messy"       corpora for `diff_fractions`
#   BENCH_FRACTION_PCTS="0.1 2 20"             change fractions (%) for `diff_fractions`
#   BENCH_SEED=1        generator seed
#   BENCH_SECONDS=30    wrk duration per row for `serve` (SERVE_CONNS=64, SERVE_THREADS=2)
#   SYNC_CHANGED_PCT=2  documents edited between 1.0.0 and 1.1.0 for `sync`
#   BENCH_GIT_DOCS=4000 total documents per tag for `git` (import)
#   BENCH_GIT_TAGS=50   release tags for `git` (v1.0.0 … v1.0.11, v1.1.0 …: 12 patches per minor)
#   BENCH_GIT_CHANGED_PCT=2            documents edited from one tag to the next for `git`
#   BENCH_GIT_TREE_DOCS=$BENCH_DOCS    documents in the one tree `git` reads (check vs archive)
#   BENCH_SETTLE=360    seconds to wait after deleting many files before timing file creation
#   BENCH_SCRATCH_MAX_MB=4096          in `scaling`, scratch left after one scale is deleted
#                       (then settled) when it is larger than this; else kept to the end
#   BENCH_NO_BUILD=1    skip building (`cargo build --release --bin kbrel`, then kbrel-synth, then the examples)
#   KBREL_BIN=path      kbrel binary to measure (default target/release/kbrel)
#   KBREL_SYNTH_BIN=path  kbrel-synth binary (default target/release/kbrel-synth)
#   BENCH_NO_WRITE=1    do not update BENCHMARKS.md
#   BENCH_GZIP_LEVEL=n  `publish`: publish with registry.gzip_level = n instead of the generated
#                       kbrel.toml's 6 (use with BENCH_NO_WRITE=1: the section assumes 6)
#
# Generated knowledge bases, git repositories and registries are cached in bench/out/
# (gitignored), keyed by `kbrel-synth --digest` (what the generator would write) and, for
# registries, the kbrel binary. Scratch output of timed runs goes to bench/out/scratch/.
# bench/out is made an empty git repository (no commits), so that kbrel, publishing a folder in
# it, does not find the project's own repository (scanning its status, recording its HEAD).
# Each benchmark is a function `bench_<name>`; add one and register it in BENCHES.
#
# Measurement hygiene: never delete files between timed runs. On ext4 without a journal (as on
# the machine these numbers come from) the inode allocator skips inodes freed in the last 60 s
# (up to 360 s while their inode-table block is still dirty: RECENTCY_MIN/RECENTCY_DIRTY in
# fs/ext4/ialloc.c, `recently_deleted`), so creating many files right after deleting many is
# quadratic: `tar -x` of 20,000 files took 3.6 s, and 14 s of system time right after an
# `rm -rf` of 20,000 files. So every timed run writes into its own fresh folder under
# bench/out/scratch/, all of them are deleted only after the benchmark's timed runs (`bulk_rm`,
# which records the time in bench/out/.last-bulk-delete), and every timed section that creates
# files first waits until BENCH_SETTLE seconds have passed since the last bulk deletion
# (`settle`), also across invocations. A full run needs disk for every run's output at once:
# about 15 GB for `git`, 8 GB for `scaling` (5 runs each), and 3 GB of caches for the
# 100,000-document `diff_scaling` repository and registry.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=$ROOT/bench/out
MD=$ROOT/BENCHMARKS.md
BENCH_DOCS=${BENCH_DOCS:-20000}
BENCH_RUNS=${BENCH_RUNS:-5}
BENCH_SEED=${BENCH_SEED:-1}
BENCH_SCALES=${BENCH_SCALES:-"2000 20000 100000"}
KBREL=${KBREL_BIN:-$ROOT/target/release/kbrel}
SYNTH=${KBREL_SYNTH_BIN:-$ROOT/target/release/kbrel-synth}
READ_TREE=$ROOT/target/release/examples/read_tree
DATE_ARG=2026-11-25
TARGET_RATIO=1.0
TARGET_RSS_MB=300
BENCH_SETTLE=${BENCH_SETTLE:-360}
BENCH_SCRATCH_MAX_MB=${BENCH_SCRATCH_MAX_MB:-4096}
SCRATCH=$OUT/scratch
LAST_BULK_DELETE=$OUT/.last-bulk-delete
# Commit dates of generated repositories: generation k is committed at GIT_EPOCH + (k-1) days.
GIT_EPOCH=1767225600 # 2026-01-01T00:00:00Z

# Registered benchmarks, in the order `bench/run.sh` runs them.
BENCHES=(publish scaling diff diff_scaling diff_fractions git serve sync clients object_store assets)

log() { printf '%s\n' "$*" >&2; }
die() { log "bench: error: $*"; exit 2; }

# Background processes (servers) to stop when the script exits, however it exits.
BG_PIDS=()
on_exit() {
    local rc=$?
    ((${#BG_PIDS[@]})) && kill "${BG_PIDS[@]}" 2>/dev/null
    if ((rc != 0)) && [[ -d $SCRATCH ]] && [[ -n $(ls -A "$SCRATCH" 2>/dev/null) ]]; then
        log "bench: removing the scratch output of the failed run"
        bulk_rm "$SCRATCH"/*
    fi
}
trap on_exit EXIT

# --- helpers -------------------------------------------------------------------------------

build() {
    if [[ -n ${BENCH_NO_BUILD:-} ]]; then
        log "== skipping build (BENCH_NO_BUILD)"
    else
        # One invocation per package, the examples last: cargo resolves features once per
        # invocation, so building the examples (dev-dependencies) or kbrel-synth with `kbrel`
        # would build it with their features too, which is not the `kbrel` that `cargo
        # install` builds (27,770 relative relocations instead of 22,094).
        log "== cargo build --release --bin kbrel; -p kbrel-synth; --examples"
        (cd "$ROOT" && cargo build --release --bin kbrel --quiet &&
            cargo build --release -p kbrel-synth --quiet &&
            cargo build --release --examples --quiet)
    fi
    [[ -x $KBREL ]] || die "no kbrel binary at $KBREL"
    [[ -x $SYNTH ]] || die "no kbrel-synth binary at $SYNTH"
}

# --- scratch space and deletion hygiene (see the header) -------------------------------------

# scratch_dir <name>: a new empty folder for one timed run's output.
scratch_dir() {
    mkdir -p "$SCRATCH"
    mktemp -d "$SCRATCH/$1.XXXXXX"
}

# bulk_rm <path…>: delete, and remember when (for `settle`).
bulk_rm() {
    (($#)) || return 0
    rm -rf -- "$@"
    date +%s >"$LAST_BULK_DELETE"
}

# scratch_clear: delete every timed run's output (after a benchmark's timed runs).
scratch_clear() {
    [[ -d $SCRATCH ]] || return 0
    local left=("$SCRATCH"/*)
    [[ -e ${left[0]} ]] || return 0
    log "== removing scratch output ($(du -sm "$SCRATCH" | cut -f1) MB in ${#left[@]} folders)"
    bulk_rm "${left[@]}"
}

# settle: before timing anything that creates files, wait until BENCH_SETTLE seconds have
# passed since the last bulk deletion, so freed inodes no longer slow down allocation.
settle() {
    [[ -f $LAST_BULK_DELETE ]] || return 0
    local last wait
    last=$(cat "$LAST_BULK_DELETE")
    wait=$((last + BENCH_SETTLE - $(date +%s)))
    if ((wait > 0)); then
        log "== waiting ${wait} s: files were deleted less than ${BENCH_SETTLE} s ago (BENCH_SETTLE)"
        sleep "$wait"
    fi
}

HAVE_GNU_TIME=0
if [[ -x /usr/bin/time ]] && /usr/bin/time -f '%e %M' true 2>/dev/null; then
    HAVE_GNU_TIME=1
fi

now() { date +%s.%N; }

# measure <label> <cmd…>: runs the command; sets WALL (seconds) and RSS_KB (peak RSS of the
# command, 0 without GNU time). Output of the command goes to $OUT/last.log.
measure() {
    local tfile=$OUT/.time t0 t1
    shift
    # Write back what earlier runs left dirty (tar czf does not sync its output), so that a
    # run that syncs, as kbrel publish does, pays for its own writes only.
    sync
    t0=$(now)
    if ((HAVE_GNU_TIME)); then
        /usr/bin/time -f '%e %M %U %S' -o "$tfile" "$@" >"$OUT/last.log" 2>&1 ||
            { cat "$OUT/last.log" >&2; die "command failed: $*"; }
    else
        "$@" >"$OUT/last.log" 2>&1 || { cat "$OUT/last.log" >&2; die "command failed: $*"; }
    fi
    t1=$(now)
    WALL=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
    # Unrounded, for ratios of runs of a few milliseconds (3 decimals is ±8 % of 6 ms).
    WALL_US=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", (b - a) * 1e6 }')
    if ((HAVE_GNU_TIME)); then
        RSS_KB=$(awk '{ print $2 }' "$tfile")
        CPU_S=$(awk '{ printf "%.2f", $3 + $4 }' "$tfile")
    else
        RSS_KB=0
        CPU_S=0
    fi
}

median() {
    tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ a[NR] = $1 }
        END { if (NR % 2) { print a[(NR + 1) / 2]; exit }
              m = (a[NR / 2] + a[NR / 2 + 1]) / 2; if (m == int(m)) print m; else printf "%.3f\n", m }'
}
maxof() { tr ' ' '\n' | grep -v '^$' | sort -g | tail -1; }
mb() { awk -v k="$1" 'BEGIN { printf "%.0f", k / 1024 }'; }
div() { awk -v a="$1" -v b="$2" -v f="${3:-%.2f}" 'BEGIN { printf f, a / b }'; }
usdoc() { awk -v t="$1" -v n="$2" 'BEGIN { printf "%.1f", t * 1e6 / n }'; }
passfail() { awk -v v="$1" -v t="$2" 'BEGIN { print (v <= t) ? "PASS" : "FAIL" }'; }

# synth_cached <dir> <kbrel-synth options…>: <dir> holds what `kbrel-synth <options> --out <dir>`
# writes, generated unless an earlier copy is still current (same `--digest`).
synth_cached() {
    local dir=$1 stamp
    shift
    stamp="$("$SYNTH" "$@" --digest) $*"
    if [[ ! -f $dir/.stamp || $(cat "$dir/.stamp") != "$stamp" ]]; then
        [[ -e $dir ]] && bulk_rm "$dir"
        log "== generating ${dir#"$ROOT"/} (kbrel-synth $*)"
        "$SYNTH" "$@" --out "$dir" --quiet
        printf '%s' "$stamp" >"$dir/.stamp"
    fi
}

# kb_dir <total docs> [generation]: a generated knowledge base, cached.
kb_dir() {
    local total=$1 gen=${2:-1}
    local dir=$OUT/kb-$total-s$BENCH_SEED-g$gen
    synth_cached "$dir" --docs-per-lang $((total / 2)) --seed "$BENCH_SEED" --generation "$gen"
    printf '%s\n' "$dir"
}

# The --on-generation hook of `synth_repo`: commit generation $KBREL_SYNTH_GENERATION with fixed
# dates and identity, then tag it ($BENCH_TAGS=semver: v1.<(g-1)/12>.<(g-1)%12>; plain: v<g>).
write_git_hook() {
    cat >"$OUT/commit-generation.sh" <<'HOOK'
#!/usr/bin/env bash
set -euo pipefail
g=$KBREL_SYNTH_GENERATION
export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@localhost
export GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@localhost
export GIT_AUTHOR_DATE="@$((BENCH_GIT_EPOCH + (g - 1) * 86400)) +0000"
export GIT_COMMITTER_DATE=$GIT_AUTHOR_DATE
case $BENCH_TAGS in
    semver) tag=v1.$(((g - 1) / 12)).$(((g - 1) % 12)) ;;
    *) tag=v$g ;;
esac
git add -A
git commit -q -m "generation $g ($tag)"
git tag "$tag"
HOOK
}

# synth_repo <dir> <semver|plain> <kbrel-synth options…>: a git repository <dir>/repo with one
# commit and tag per generation 1..K of `kbrel-synth <options>` (cached like synth_cached; the
# work tree holds the last generation and kbrel.toml; packed with `git gc`).
synth_repo() {
    local dir=$1 tags=$2 stamp
    shift 2
    write_git_hook
    stamp="$("$SYNTH" "$@" --digest) $* tags=$tags epoch=$GIT_EPOCH $(sha256sum "$OUT/commit-generation.sh" | cut -c1-16)"
    if [[ ! -f $dir/repo.stamp || $(cat "$dir/repo.stamp") != "$stamp" ]]; then
        [[ -e $dir/repo ]] && bulk_rm "$dir/repo" "$dir/repo.stamp"
        log "== generating the git repository ${dir#"$ROOT"/}/repo (kbrel-synth $*, a commit and tag per generation)"
        mkdir -p "$dir/repo"
        GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1 git -C "$dir/repo" init -q -b main
        # No background `gc --auto` after the commits: it would race the explicit gc below.
        git -C "$dir/repo" config gc.auto 0
        BENCH_TAGS=$tags BENCH_GIT_EPOCH=$GIT_EPOCH "$SYNTH" "$@" --out "$dir/repo" --force --quiet \
            --on-generation "bash '$OUT/commit-generation.sh'"
        GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1 git -C "$dir/repo" gc -q --prune=now
        printf '%s' "$stamp" >"$dir/repo.stamp"
    fi
}

# Read every pack and loose object of a repository once (warm page cache).
warm_git() { find "$1/.git/objects" -type f -print0 | xargs -0 cat >/dev/null; }

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
    if [[ $fs == ext4 ]]; then
        # A journalled ext4 has a jbd2 entry named after its device (see "Measurement notes").
        local dev
        dev=$(basename "$(df --output=source "$OUT" | tail -1)")
        if compgen -G "/proc/fs/jbd2/$dev-*" >/dev/null; then fs="ext4 (journal)"; else fs="ext4 (no journal)"; fi
    fi
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

# publish_once <kb dir>: one kbrel publish into a fresh registry (kept until scratch_clear);
# sets WALL, RSS_KB and LAST_REGISTRY.
publish_once() {
    local kb=$1 scratch cfg=$1/kbrel.toml
    scratch=$(scratch_dir publish)
    LAST_REGISTRY=$scratch/registry
    if [[ -n ${BENCH_GZIP_LEVEL:-} ]]; then
        cfg=$kb/kbrel-gzip$BENCH_GZIP_LEVEL.toml
        sed "s/^gzip_level = .*/gzip_level = $BENCH_GZIP_LEVEL/" "$kb/kbrel.toml" >"$cfg"
    fi
    measure kbrel "$KBREL" --config "$cfg" --registry "$scratch/registry" \
        publish --no-tag 1.0.0 --date "$DATE_ARG" --changelog "$scratch/CHANGELOG.md" --quiet
}

# tar_once <kb dir>: tar czf into a fresh file; sets WALL, RSS_KB and LAST_TGZ.
tar_once() {
    local kb=$1
    LAST_TGZ=$(scratch_dir tar)/out.tgz
    measure tar tar czf "$LAST_TGZ" -C "$kb" content
}

# --- benchmarks ----------------------------------------------------------------------------

bench_publish() {
    local kb docs bytes i
    kb=$(kb_dir "$BENCH_DOCS")
    docs=$(find "$kb/content" -name '*.md' | wc -l)
    bytes=$(du -sb "$kb/content" | cut -f1)
    log "== publish vs tar czf: $docs documents, $(div "$bytes" 1000000 %.1f) MB, $BENCH_RUNS runs each, alternating"
    settle
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
    local pkg_size
    tgz_size=$(stat -c %s "$LAST_TGZ")
    pkg_size=$(stat -c %s "$LAST_REGISTRY"/*.tgz)
    scratch_clear

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
        printf 'page cache warm, a fresh registry (and tar output file) every run, none deleted before\n'
        printf 'the last run, each started after an untimed `sync` (see "Measurement notes"). Wall time from `date +%%s.%%N`, peak RSS from\n`/usr/bin/time -f %%M`.\n\n'
        machine_md
        printf '\nCommands:\n\n```sh\n'
        printf 'tar czf out.tgz -C bench/out/%s content\n' "$(basename "$kb")"
        printf 'kbrel --config bench/out/%s/kbrel.toml --registry <fresh tmp dir> publish --no-tag 1.0.0 \\\n' "$(basename "$kb")"
        printf '    --date %s --changelog <tmp>/CHANGELOG.md --quiet\n```\n\n' "$DATE_ARG"
        printf '%s\n\n' "$table"
        printf 'kbrel does more than tar: it parses and lints every document, hashes it, writes one\ncontent-addressed blob per document (made durable with one syncfs), builds ESM and IIFE\nbundles per language, the npm tarball (docs + bundles, parallel gzip; package format 2: the\nbundles coded with the matches found in `docs/`, see "Where publish time and memory go"),\nmanifest.json, diff.json, index.json and the changelog.\n'
    } >"$body"
    write_section publish "$body"
}

# --- assets ----------------------------------------------------------------------------------

# assets_kb <docs> <images> <kb per image> <pct changed>: two copies of a generated knowledge
# base with images (content/images/img-N.png, random bytes: they do not compress, like real
# photographs), generation 1 and generation 2 (pct % of the images rewritten), and the same
# two without images; cached by their parameters. Prints the folder holding a1 a2 p1 p2.
assets_kb() {
    local docs=$1 n=$2 kb=$3 pct=$4 src dir stamp i changed
    src=$(kb_dir "$docs")
    dir=$OUT/assets-$docs-$n-$kb-$pct-s$BENCH_SEED
    stamp="$(cat "$src/.stamp") $n $kb $pct"
    if [[ ! -f $dir/.stamp || $(cat "$dir/.stamp") != "$stamp" ]]; then
        [[ -e $dir ]] && bulk_rm "$dir"
        log "== generating ${dir#"$ROOT"/} ($n images of $kb KB, $pct % changed)"
        mkdir -p "$dir"
        for v in p1 a1; do
            mkdir -p "$dir/$v"
            cp -a "$src/content" "$src/kbrel.toml" "$dir/$v/"
        done
        sed -i 's/^\[content\]$/[content]\nassets = ["images"]/' "$dir/a1/kbrel.toml"
        mkdir -p "$dir/a1/content/images"
        for ((i = 0; i < n; i++)); do
            head -c $((kb * 1024)) /dev/urandom >"$dir/a1/content/images/img-$i.png"
        done
        cp -a "$dir/a1" "$dir/a2"
        cp -a "$dir/p1" "$dir/p2"
        changed=$((n * pct / 100))
        mkdir -p "$dir/changed"
        for ((i = 0; i < changed; i++)); do
            head -c $((kb * 1024)) /dev/urandom >"$dir/a2/content/images/img-$((i * n / changed)).png"
            cp "$dir/a2/content/images/img-$((i * n / changed)).png" "$dir/changed/"
        done
        printf '%s' "$stamp" >"$dir/.stamp"
    fi
    printf '%s\n' "$dir"
}

bench_assets() {
    local docs=${BENCH_ASSET_DOCS:-2000} n=${BENCH_ASSETS:-2000} kb=${BENCH_ASSET_KB:-200}
    local pct=${BENCH_ASSET_PCT:-2} dir i base_a base_p
    dir=$(assets_kb "$docs" "$n" "$kb" "$pct")
    log "== assets: $docs documents + $n images of $kb KB, $pct % changed; $BENCH_RUNS runs each"
    # The previous release (1.0.0) of each, published once, untimed; each timed run publishes
    # 1.1.0 into a fresh copy of it.
    base_a=$dir/reg-a1
    base_p=$dir/reg-p1
    for pair in "a1 $base_a" "p1 $base_p"; do
        set -- $pair
        if [[ ! -f $2/index.json ]]; then
            "$KBREL" --config "$dir/$1/kbrel.toml" --registry "$2" publish --no-tag 1.0.0 \
                --date "$DATE_ARG" --changelog "$dir/$1-CHANGELOG.md" --quiet
        fi
    done
    settle
    warm "$dir/a2"
    warm "$dir/p2"
    # The asset hash cache of the folder (.kbrel-cache/), as the last publish from it leaves it:
    # one untimed publish from a2 fills it (a real next release finds the unchanged 98 % of it
    # valid and hashes the changed 2 %, about 8 MB: a few milliseconds).
    local a_t=() p_t=() t_t=() a_c=() p_c=() t_c=() s
    s=$(scratch_dir assets)
    cp -a "$base_a" "$s/ra"
    "$KBREL" --config "$dir/a2/kbrel.toml" --registry "$s/ra" publish --no-tag 1.1.0 \
        --date "$DATE_ARG" --changelog "$s/a.md" --quiet
    for ((i = 1; i <= BENCH_RUNS; i++)); do
        s=$(scratch_dir assets)
        cp -a "$base_a" "$s/ra"
        cp -a "$base_p" "$s/rp"
        measure kbrel "$KBREL" --config "$dir/a2/kbrel.toml" --registry "$s/ra" publish --no-tag 1.1.0 \
            --date "$DATE_ARG" --changelog "$s/a.md" --quiet
        a_t+=("$WALL")
        a_c+=("$CPU_S")
        measure kbrel "$KBREL" --config "$dir/p2/kbrel.toml" --registry "$s/rp" publish --no-tag 1.1.0 \
            --date "$DATE_ARG" --changelog "$s/p.md" --quiet
        p_t+=("$WALL")
        p_c+=("$CPU_S")
        measure tar tar czf "$s/changed.tgz" -C "$dir" changed
        t_t+=("$WALL")
        t_c+=("$CPU_S")
        log "   run $i: with assets ${a_t[-1]} s (${a_c[-1]} CPU-s); without ${p_t[-1]} s (${p_c[-1]}) + tar czf of the changed images ${t_t[-1]} s (${t_c[-1]})"
    done
    local am pm tm ac pc tc ratio cratio
    am=$(echo "${a_t[*]}" | median)
    pm=$(echo "${p_t[*]}" | median)
    tm=$(echo "${t_t[*]}" | median)
    ac=$(echo "${a_c[*]}" | median)
    pc=$(echo "${p_c[*]}" | median)
    tc=$(echo "${t_c[*]}" | median)
    ratio=$(awk -v a="$am" -v p="$pm" -v t="$tm" 'BEGIN { printf "%.2f", a / (p + t) }')
    cratio=$(awk -v a="$ac" -v p="$pc" -v t="$tc" 'BEGIN { printf "%.2f", a / (p + t) }')
    scratch_clear
    local table
    table=$(
        printf '| | seconds (median) | all runs | CPU-s, user + sys (median) | all runs |\n|---|---:|---|---:|---|\n'
        printf '| kbrel publish 1.1.0 with %s images (%s %% changed) | %s | %s | %s | %s |\n' "$n" "$pct" "$am" "${a_t[*]}" "$ac" "${a_c[*]}"
        printf '| kbrel publish 1.1.0 without images | %s | %s | %s | %s |\n' "$pm" "${p_t[*]}" "$pc" "${p_c[*]}"
        printf '| tar czf of the changed images | %s | %s | %s | %s |\n' "$tm" "${t_t[*]}" "$tc" "${t_c[*]}"
        printf '| ratio with / (without + tar) | %s | target ≤ 1.2: %s | %s | |\n' "$ratio" "$(passfail "$ratio" 1.2)" "$cratio"
    )
    printf '\n%s\n\n' "$table"
    local body=$OUT/section-assets.md
    {
        printf '## publish with assets\n\n'
        printf 'A release of %s documents and %s images of %s KB (random bytes, `.png`: they do not\n' "$docs" "$n" "$kb"
        printf 'compress), %s %% of the images changed since 1.0.0, published as 1.1.0 into a copy of\n' "$pct"
        printf 'the registry holding 1.0.0; against the same publish without images plus `tar czf` of the\n'
        printf 'changed images. Load average at the start: %s.\n\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
        machine_md
        printf '\n%s\n' "$table"
    } >"$body"
    write_section assets "$body"
}

# --- object storage --------------------------------------------------------------------------

MOTO_DIR=$ROOT/target/test-tools/moto

bench_object_store() {
    local kb docs port i scratch
    [[ -x $MOTO_DIR/bin/moto_server && -x $MOTO_DIR/bin/aws ]] ||
        die "moto and awscli are not installed in $MOTO_DIR (see the moto step of .ci/run)"
    kb=$(kb_dir "$BENCH_DOCS")
    docs=$(find "$kb/content" -name '*.md' | wc -l)
    port=$(free_port)
    "$MOTO_DIR/bin/moto_server" -H 127.0.0.1 -p "$port" >"$OUT/moto.log" 2>&1 &
    BG_PIDS+=($!)
    wait_port "$port"
    curl -fsS -X PUT "http://127.0.0.1:$port/bench" >/dev/null
    export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1 \
        AWS_DEFAULT_REGION=us-east-1 AWS_ENDPOINT=http://127.0.0.1:$port AWS_ALLOW_HTTP=true
    log "== object_store: $docs documents into s3://bench on 127.0.0.1:$port (moto), $BENCH_RUNS runs each"
    settle
    warm "$kb"
    local s3_t=() dir_t=() cp_t=() sum_t=() objects
    for ((i = 1; i <= BENCH_RUNS; i++)); do
        scratch=$(scratch_dir object_store)
        KBREL_MIRROR_DIR=$scratch/mirror measure kbrel "$KBREL" --config "$kb/kbrel.toml" \
            --registry "s3://bench/kbrel$i" publish --no-tag 1.0.0 --date "$DATE_ARG" \
            --changelog "$scratch/CHANGELOG-s3.md" --quiet
        s3_t+=("$WALL")
        publish_once "$kb"
        dir_t+=("$WALL")
        measure aws "$MOTO_DIR/bin/aws" --endpoint-url "http://127.0.0.1:$port" s3 cp --recursive \
            --only-show-errors "$LAST_REGISTRY" "s3://bench/aws$i/"
        cp_t+=("$WALL")
        sum_t+=("$(awk -v a="${dir_t[-1]}" -v b="${cp_t[-1]}" 'BEGIN { printf "%.3f", a + b }')")
        log "   run $i: kbrel → s3 ${s3_t[-1]} s; kbrel → folder ${dir_t[-1]} s + aws s3 cp ${cp_t[-1]} s"
    done
    objects=$(find "$LAST_REGISTRY" -type f ! -name .lock | wc -l)
    scratch_clear
    local sm dm cm bm ratio table
    sm=$(echo "${s3_t[*]}" | median)
    dm=$(echo "${dir_t[*]}" | median)
    cm=$(echo "${cp_t[*]}" | median)
    bm=$(echo "${sum_t[*]}" | median)
    ratio=$(div "$sm" "$bm")
    table=$(
        printf '| | kbrel publish → folder | aws s3 cp --recursive | folder + cp | kbrel publish → s3:// | target | result |\n'
        printf '|---|---:|---:|---:|---:|---|---|\n'
        printf '| median wall time (s) | %s | %s | %s | %s | | |\n' "$dm" "$cm" "$bm" "$sm"
        printf '| ratio s3:// / (folder + cp) | | | | %s | ≤ 1.5 | %s |\n' "$ratio" "$(passfail "$ratio" 1.5)"
    )
    printf '\n%s\n\n' "$table"
    local body=$OUT/section-object_store.md
    {
        printf '## publish to object storage vs folder + aws s3 cp\n\n'
        printf 'First release of %s generated documents (%s objects) into a local S3-compatible server\n' "$docs" "$objects"
        printf '(moto 5.2.6 server mode on 127.0.0.1; both sides pay its per-request cost): `kbrel publish\n'
        printf -- '--registry s3://bench/<fresh prefix>` (fresh mirror; uploads in parallel, index.json last,\n'
        printf 'conditional) against `kbrel publish` into a fresh folder followed by `aws s3 cp --recursive`\n'
        printf '(awscli 1.46.2) of that folder. %s runs each.\n\n' "$BENCH_RUNS"
        machine_md
        printf '\n%s\n' "$table"
    } >"$body"
    write_section object_store "$body"
}

bench_scaling() {
    local rows=() total kb docs i
    log "== scaling: kbrel publish at $BENCH_SCALES documents, $BENCH_RUNS runs each"
    for total in $BENCH_SCALES; do
        kb=$(kb_dir "$total")
        docs=$(find "$kb/content" -name '*.md' | wc -l)
        settle
        warm "$kb"
        local ts=() rs=() tt=()
        for ((i = 1; i <= BENCH_RUNS; i++)); do
            publish_once "$kb"; ts+=("$WALL"); rs+=("$RSS_KB")
            tar_once "$kb"; tt+=("$WALL")
        done
        # Keep the runs' output (deleting it would slow the next scale's file creation) unless
        # it takes too much disk; then the next scale waits BENCH_SETTLE after deleting it.
        if (($(du -sm "$SCRATCH" | cut -f1) > BENCH_SCRATCH_MAX_MB)); then
            scratch_clear
        fi
        local m tm r per
        m=$(echo "${ts[*]}" | median)
        tm=$(echo "${tt[*]}" | median)
        r=$(echo "${rs[*]}" | maxof)
        per=$(usdoc "$m" "$docs")
        log "   $docs docs: kbrel $m s ($per µs/doc, $(mb "$r") MB), tar $tm s"
        rows+=("| $docs | $(du -sm "$kb/content" | cut -f1) | $m | $per | $(mb "$r") | $(awk -v r="$r" -v n="$docs" 'BEGIN { printf "%.1f", r / n }') | $tm | $(div "$m" "$tm") |")
    done
    scratch_clear
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
        printf '(%s runs each, medians; peak RSS is the maximum). Constant µs per document means linear\ntime; constant KB per document means memory grows with the content. Every run writes a\nfresh registry (and tar output); they are deleted after the last scale, or after a scale\nwhose output exceeds %s MB, followed by a %s s pause (see "Measurement notes").\n\n' "$BENCH_RUNS" "$BENCH_SCRATCH_MAX_MB" "$BENCH_SETTLE"
        machine_md
        printf '\n%s\n' "$table"
    } >"$body"
    write_section scaling "$body"
}

# --- serve vs nginx ------------------------------------------------------------------------

# free_port: a TCP port on 127.0.0.1 nothing listens on.
free_port() {
    local p
    for _ in $(seq 1 200); do
        p=$((20000 + RANDOM % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            printf '%s\n' "$p"
            return 0
        fi
    done
    die "no free port found"
}

# wait_port <port>: until something accepts connections (10 s at most).
wait_port() {
    local i
    for ((i = 0; i < 200; i++)); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.05
    done
    die "nothing listens on 127.0.0.1:$1"
}

# http_probe <port> <path> [header line]: the response head (status line and headers) of one GET.
http_probe() {
    local port=$1 path=$2 extra=${3:-} line
    exec 3<>"/dev/tcp/127.0.0.1/$port"
    printf 'GET %s HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nConnection: close\r\n%s\r\n' "$path" "$port" \
        "${extra:+$extra$'\r\n'}" >&3
    while IFS= read -r line <&3; do
        line=${line%$'\r'}
        [[ -z $line ]] && break
        printf '%s\n' "$line"
    done
    exec 3<&-
}

probe_status() { http_probe "$@" | head -1 | awk '{ print $2 }'; }
probe_header() { http_probe "$1" "$2" "${4:-}" | awk -v h="$3" 'tolower($0) ~ "^" tolower(h) ":" { sub(/^[^:]*: */, ""); print; exit }'; }

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# wrk_run <label> <url> [header]: sets RPS, ERRORS (socket errors + non-2xx/3xx), LAT (avg).
wrk_run() {
    local label=$1 url=$2 header=${3:-} out=$OUT/serve/wrk-$1.txt
    local args=(-t "$SERVE_THREADS" -c "$SERVE_CONNS" -d "${BENCH_SECONDS}s" --latency)
    [[ -n $header ]] && args+=(-H "$header")
    wrk "${args[@]}" -d 2s "$url" >/dev/null 2>&1 || true # warm-up
    wrk "${args[@]}" "$url" >"$out" 2>&1 || { cat "$out" >&2; die "wrk failed: $label"; }
    RPS=$(awk '/^Requests\/sec:/ { print $2 }' "$out")
    LAT=$(awk '$1 == "Latency" { print $2; exit }' "$out")
    local sock non2xx
    sock=$(awk '/Socket errors:/ { gsub(/,/, ""); print $4 + $6 + $8 + $10 }' "$out")
    non2xx=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "$out")
    ERRORS=$((${sock:-0} + ${non2xx:-0}))
    log "   $label: $RPS req/s, avg latency $LAT, errors $ERRORS"
}

bench_serve() {
    BENCH_SECONDS=${BENCH_SECONDS:-30}
    SERVE_CONNS=${SERVE_CONNS:-64}
    SERVE_THREADS=${SERVE_THREADS:-2}
    local target=0.5 missing=() load0
    load0=$(cut -d' ' -f1-3 /proc/loadavg)
    command -v wrk >/dev/null 2>&1 || missing+=(wrk)
    local nginx
    nginx=$(command -v nginx || { [[ -x /usr/sbin/nginx ]] && echo /usr/sbin/nginx; } || true)
    [[ -n $nginx ]] || missing+=(nginx-light)
    if ((${#missing[@]})); then
        log "== installing ${missing[*]}"
        if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null; }; then
            die "cannot install ${missing[*]} (apt-get install -y wrk nginx-light)"
        fi
        nginx=$(command -v nginx || echo /usr/sbin/nginx)
    fi

    # A small knowledge base with one ~20 KB document per language, published once.
    local dir=$OUT/serve kb
    rm -rf "$dir"
    kb=$dir/kb
    mkdir -p "$kb/content/en" "$kb/content/zh" "$dir/nginx"
    printf '[package]\nname = "bench-serve"\ndescription = "serve benchmark"\nlicense = "MIT"\n\n[content]\nroot = "content"\nlanguages = ["en", "zh"]\nrequired_fields = ["title", "description", "date", "url"]\n' >"$kb/kbrel.toml"
    local lang
    for lang in en zh; do
        {
            printf -- '---\ntitle: Big page\ndescription: A page of about 20 KB.\ndate: 2026-11-20\nurl: "https://kb.example.test/%s/big"\nkey: Big\n---\n\n# Big page\n\n' "$lang"
            awk -v seed="${lang}" 'BEGIN { srand(length(seed)); for (i = 0; i < 300; i++) { l = ""; for (w = 0; w < 10; w++) { n = 3 + int(rand() * 6); s = ""; for (c = 0; c < n; c++) s = s sprintf("%c", 97 + int(rand() * 26)); l = l s " " } print l "." } }'
        } >"$kb/content/$lang/big.md"
        printf -- '---\ntitle: Small page\ndescription: A short page.\ndate: 2026-11-20\nurl: "https://kb.example.test/%s/small"\nkey: Small\n---\n\n# Small page\n\nShort.\n' "$lang" >"$kb/content/$lang/small.md"
    done
    "$KBREL" --config "$kb/kbrel.toml" --registry "$dir/registry" publish --no-tag 1.0.0 --date "$DATE_ARG" \
        --changelog "$dir/CHANGELOG.md" --quiet >/dev/null || die "kbrel publish failed"
    local sha blob blob_size
    sha=$(sha256sum "$kb/content/en/big.md" | cut -c1-64)
    blob=/blobs/sha256/${sha:0:2}/${sha:2}
    [[ -f $dir/registry$blob ]] || die "no blob $blob in the registry"
    blob_size=$(stat -c %s "$dir/registry$blob")

    # nginx as people run it for static files: all cores, sendfile, open-file cache, no logs.
    local np kp
    np=$(free_port)
    kp=$(free_port)
    while [[ $kp == "$np" ]]; do kp=$(free_port); done
    cat >"$dir/nginx/nginx.conf" <<NGINX
daemon off;
worker_processes auto;
pid $dir/nginx/nginx.pid;
error_log $dir/nginx/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    open_file_cache max=1000 inactive=60s;
    client_body_temp_path $dir/nginx/body;
    proxy_temp_path $dir/nginx/proxy;
    fastcgi_temp_path $dir/nginx/fastcgi;
    uwsgi_temp_path $dir/nginx/uwsgi;
    scgi_temp_path $dir/nginx/scgi;
    types { application/json json; application/octet-stream tgz; }
    default_type application/json;
    server {
        listen 127.0.0.1:$np;
        root $dir/registry;
    }
}
NGINX
    chmod -R a+rX "$dir"
    "$nginx" -p "$dir/nginx" -e "$dir/nginx/error.log" -c "$dir/nginx/nginx.conf" >"$dir/nginx/out.log" 2>&1 &
    local ngx_pid=$!
    "$KBREL" --quiet serve "$dir/registry" --addr "127.0.0.1:$kp" >"$dir/kbrel-serve.log" 2>&1 &
    local kb_pid=$!
    BG_PIDS+=("$ngx_pid" "$kb_pid")
    wait_port "$np"
    wait_port "$kp"

    # Both answer the same requests the same way before anything is measured.
    local netag ketag
    netag=$(probe_header "$np" /index.json etag)
    ketag=$(probe_header "$kp" /index.json etag)
    [[ -n $netag && -n $ketag ]] || die "no ETag for index.json (nginx: '$netag', kbrel: '$ketag')"
    [[ $(probe_status "$np" /index.json "If-None-Match: $netag") == 304 ]] || die "nginx does not answer 304"
    [[ $(probe_status "$kp" /index.json "If-None-Match: $ketag") == 304 ]] || die "kbrel serve does not answer 304"
    [[ $(probe_header "$np" "$blob" content-length) == "$blob_size" ]] || die "nginx: wrong blob length"
    [[ $(probe_header "$kp" "$blob" content-length) == "$blob_size" ]] || die "kbrel serve: wrong blob length"

    local rss0 rss1
    rss0=$(rss_kb "$kb_pid")
    log "== serve vs nginx: wrk -t$SERVE_THREADS -c$SERVE_CONNS -d${BENCH_SECONDS}s on loopback; blob $blob_size bytes"
    wrk_run nginx-304 "http://127.0.0.1:$np/index.json" "If-None-Match: $netag"
    local n304=$RPS n304e=$ERRORS n304l=$LAT
    wrk_run kbrel-304 "http://127.0.0.1:$kp/index.json" "If-None-Match: $ketag"
    local k304=$RPS k304e=$ERRORS k304l=$LAT
    wrk_run nginx-blob "http://127.0.0.1:$np$blob"
    local nblob=$RPS nblobe=$ERRORS nblobl=$LAT
    wrk_run kbrel-blob "http://127.0.0.1:$kp$blob"
    local kblob=$RPS kblobe=$ERRORS kblobl=$LAT
    rss1=$(rss_kb "$kb_pid")
    kill -0 "$kb_pid" 2>/dev/null || die "kbrel serve died during the benchmark"
    kill "$ngx_pid" "$kb_pid" 2>/dev/null || true
    wait "$ngx_pid" "$kb_pid" 2>/dev/null || true
    BG_PIDS=()

    local r304 rblob errs
    r304=$(div "$k304" "$n304")
    rblob=$(div "$kblob" "$nblob")
    errs=$((n304e + k304e + nblobe + kblobe))
    atleast() { awk -v v="$1" -v t="$2" 'BEGIN { print (v >= t) ? "PASS" : "FAIL" }'; }
    local table
    table=$(
        printf '| request | nginx req/s | kbrel serve req/s | ratio kbrel / nginx | target | result | avg latency nginx / kbrel | errors nginx / kbrel |\n'
        printf '|---|---:|---:|---:|---|---|---|---|\n'
        printf '| `GET /index.json` + `If-None-Match` (304) | %s | %s | %s | ≥ %s | %s | %s / %s | %s / %s |\n' \
            "$n304" "$k304" "$r304" "$target" "$(atleast "$r304" "$target")" "$n304l" "$k304l" "$n304e" "$k304e"
        printf '| `GET` a %s-byte blob (200) | %s | %s | %s | ≥ %s | %s | %s / %s | %s / %s |\n' \
            "$blob_size" "$nblob" "$kblob" "$rblob" "$target" "$(atleast "$rblob" "$target")" "$nblobl" "$kblobl" "$nblobe" "$kblobe"
        printf '| errors (socket errors + non-2xx/3xx), all runs | | | | 0 | %s | | |\n' "$( ((errs == 0)) && echo PASS || echo FAIL)"
        printf '| kbrel serve RSS (MB) before / after | | %s / %s | | | | | |\n' "$(div "$rss0" 1024 %.1f)" "$(div "$rss1" 1024 %.1f)"
    )
    printf '\n%s\n\n' "$table"

    local body=$OUT/section-serve.md
    {
        printf '## serve vs nginx\n\n'
        printf '`kbrel serve` (release build, `--quiet`) against nginx %s serving the same registry\n' "$("$nginx" -v 2>&1 | sed 's|.*/||')"
        printf 'directory as static files (`worker_processes auto`, sendfile, `open_file_cache`, no access\n'
        printf 'log), both on 127.0.0.1, measured with %s: `wrk -t%s -c%s -d%ss` per row after a 2 s\n' "$(wrk -v 2>&1 | head -1 | awk '{ print $1, $2 }')" "$SERVE_THREADS" "$SERVE_CONNS" "$BENCH_SECONDS"
        printf 'warm-up, one server at a time. wrk runs on the same machine and competes for the same\n'
        printf 'cores. The 304 row sends each server its own ETag of `index.json` (kbrel: sha256 of the\n'
        printf 'file; nginx: mtime-size); the blob row fetches one content-addressed document.\n\n'
        machine_md
        printf -- '- load average (1, 5, 15 min) before / after the run: %s / %s (other work on the machine\n  shows here: ratios are more trustworthy than absolute numbers)\n' "$load0" "$(cut -d' ' -f1-3 /proc/loadavg)"
        printf '\nCommands:\n\n```sh\n'
        printf 'BENCH_SECONDS=%s bench/run.sh serve\n' "$BENCH_SECONDS"
        printf 'kbrel --quiet serve bench/out/serve/registry --addr 127.0.0.1:<port>\n'
        printf 'wrk -t%s -c%s -d%ss --latency -H '"'"'If-None-Match: <etag>'"'"' http://127.0.0.1:<port>/index.json\n' "$SERVE_THREADS" "$SERVE_CONNS" "$BENCH_SECONDS"
        printf 'wrk -t%s -c%s -d%ss --latency http://127.0.0.1:<port>%s\n```\n\n' "$SERVE_THREADS" "$SERVE_CONNS" "$BENCH_SECONDS" "$blob"
        printf '%s\n' "$table"
    } >"$body"
    write_section serve "$body"
}

# --- sync vs npm install -------------------------------------------------------------------

# sync_kb2 <total>: generation 2 of the `kb_dir <total>` knowledge base with SYNC_CHANGED_PCT %
# of the documents edited and none added, removed or renamed (cached like kb_dir).
sync_kb2() {
    local total=$1
    local dir=$OUT/kb-$total-s$BENCH_SEED-g2-c$SYNC_CHANGED_PCT
    synth_cached "$dir" --docs-per-lang $((total / 2)) --seed "$BENCH_SEED" --generation 2 \
        --changed-pct "$SYNC_CHANGED_PCT" --added-pct 0
    printf '%s\n' "$dir"
}

# sync_traffic <serve log> <first line>: "<requests> <body bytes> <statuses>" of the requests
# kbrel serve logged from line <first line> on (log lines: `GET <path> <status> <bytes> <ms>`).
sync_traffic() {
    awk -v from="$2" 'NR >= from && ($1 == "GET" || $1 == "HEAD") { n++; b += $4; s[$3]++ }
        END { st = ""; for (k in s) st = st (st == "" ? "" : ",") s[k] "x" k; printf "%d %d %s\n", n, b, (st == "" ? "-" : st) }' "$1"
}

# sync_registry: publish 1.0.0 (`kb_dir`) and 1.1.0 (`sync_kb2`) into $OUT/sync/registry (cached
# by the inputs' stamps) and set SYNC_FACTS: "<changed documents> <their bytes> <1.1.0 manifest
# bytes> <index bytes> <tarball bytes> <documents> <package name>".
sync_registry() {
    SYNC_CHANGED_PCT=${SYNC_CHANGED_PCT:-2}
    local kb1 kb2 dir reg stamp
    kb1=$(kb_dir "$BENCH_DOCS")
    kb2=$(sync_kb2 "$BENCH_DOCS")
    dir=$OUT/sync
    reg=$dir/registry
    stamp="$(cat "$kb1/.stamp") / $(cat "$kb2/.stamp") / $(sha256sum "$KBREL" | cut -c1-16)"
    mkdir -p "$dir"
    if [[ ! -f $reg/.stamp || $(cat "$reg/.stamp") != "$stamp" ]]; then
        log "== publishing 1.0.0 and 1.1.0 into ${reg#"$ROOT"/}"
        [[ -e $reg ]] && bulk_rm "$reg" "$dir/CHANGELOG.md"
        "$KBREL" --config "$kb1/kbrel.toml" --registry "$reg" publish --no-tag 1.0.0 --date "$DATE_ARG" \
            --changelog "$dir/CHANGELOG.md" --quiet >/dev/null
        "$KBREL" --config "$kb2/kbrel.toml" --registry "$reg" publish --no-tag 1.1.0 --date 2026-11-26 \
            --changelog "$dir/CHANGELOG.md" --quiet >/dev/null
        printf '%s' "$stamp" >"$reg/.stamp"
    fi
    # What an update must fetch at least: the documents new in 1.1.0, its manifest, the index.
    SYNC_FACTS=$(node -e '
        const fs = require("fs"), reg = process.argv[1];
        const index = JSON.parse(fs.readFileSync(reg + "/index.json"));
        const v = (n) => index.versions.find((x) => x.version === n);
        const docs = (n) => JSON.parse(fs.readFileSync(reg + "/" + v(n).manifest.path)).documents;
        const old = new Set(docs("1.0.0").map((d) => d.sha256));
        const seen = new Set(); let n = 0, bytes = 0;
        for (const d of docs("1.1.0")) if (!old.has(d.sha256) && !seen.has(d.sha256)) { seen.add(d.sha256); n++; bytes += d.size; }
        console.log(n, bytes, v("1.1.0").manifest.size, fs.statSync(reg + "/index.json").size,
            v("1.1.0").tarball.size, docs("1.1.0").length, index.name);' "$reg")
}

bench_sync() {
    SYNC_CHANGED_PCT=${SYNC_CHANGED_PCT:-2}
    local missing=()
    command -v node >/dev/null 2>&1 || missing+=(node)
    command -v npm >/dev/null 2>&1 || missing+=(npm)
    ((${#missing[@]} == 0)) || die "sync needs ${missing[*]} (npm install is the baseline)"
    local dir=$OUT/sync reg=$OUT/sync/registry
    sync_registry
    local changed changed_bytes manifest_size index_size tgz_size doc_count name
    read -r changed changed_bytes manifest_size index_size tgz_size doc_count name <<<"$SYNC_FACTS"
    local floor=$((changed_bytes + manifest_size + index_size))
    log "== sync vs npm install: $doc_count documents, $changed changed ($(div "$changed_bytes" 1000 %.1f) KB), tarball $(div "$tgz_size" 1000000 %.1f) MB, $BENCH_RUNS runs each"

    local port serve_log pid
    port=$(free_port)
    serve_log=$dir/serve.log
    : >"$serve_log"
    "$KBREL" serve "$reg" --addr "127.0.0.1:$port" 2>>"$serve_log" &
    pid=$!
    BG_PIDS+=("$pid")
    wait_port "$port"
    local url=http://127.0.0.1:$port/
    settle

    local kb_t=() kb_b=() kb_n=() noop_t=() noop_s=() npm_t=() npm_b=() npm_n=() i mark t cache
    for ((i = 1; i <= BENCH_RUNS; i++)); do
        # kbrel: a fresh cache at 1.0.0, then the update to latest (1.1.0), then a sync with
        # nothing new. (Caches and npm projects are kept until the last run: see the header.)
        cache=$(scratch_dir sync-cache)/cache
        "$KBREL" sync --from "$url" --into "$cache" --version 1.0.0 --quiet >/dev/null
        mark=$(($(wc -l <"$serve_log") + 1))
        measure kbrel "$KBREL" sync --from "$url" --into "$cache" --json
        grep -q '"version": "1.1.0"' "$OUT/last.log" || die "kbrel sync did not reach 1.1.0"
        read -r t b _ <<<"$(sync_traffic "$serve_log" "$mark")"
        kb_t+=("$WALL"); kb_b+=("$b"); kb_n+=("$t")
        mark=$(($(wc -l <"$serve_log") + 1))
        measure noop "$KBREL" sync --from "$url" --into "$cache" --json
        noop_t+=("$WALL"); noop_s+=("$(sync_traffic "$serve_log" "$mark" | awk '{ print $1 "/" $3 }')")
        # npm: a project with 1.0.0 installed (own npm cache), then `npm install <name>@1.1.0`.
        local proj
        proj=$(scratch_dir sync-npm)
        (cd "$proj" && npm init -y >/dev/null &&
            npm install "$name@1.0.0" --registry "$url" --cache "$proj/.npm-cache" \
                --no-audit --no-fund --ignore-scripts --loglevel=error >/dev/null) || die "npm install $name@1.0.0 failed"
        mark=$(($(wc -l <"$serve_log") + 1))
        measure npm bash -c "cd '$proj' && npm install '$name@1.1.0' --registry '$url' --cache '$proj/.npm-cache' --no-audit --no-fund --ignore-scripts --loglevel=error"
        grep -q '"version": "1.1.0"' "$proj/node_modules/$name/package.json" || die "npm did not install 1.1.0"
        read -r t b _ <<<"$(sync_traffic "$serve_log" "$mark")"
        npm_t+=("$WALL"); npm_b+=("$b"); npm_n+=("$t")
        log "   run $i: kbrel ${kb_t[-1]} s, ${kb_b[-1]} B in ${kb_n[-1]} requests; no-op ${noop_t[-1]} s (${noop_s[-1]}); npm ${npm_t[-1]} s, ${npm_b[-1]} B in ${npm_n[-1]} requests"
    done
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null || true
    BG_PIDS=()
    scratch_clear

    local km nm kbm nbm knm nnm noopm
    km=$(echo "${kb_t[*]}" | median); nm=$(echo "${npm_t[*]}" | median)
    kbm=$(echo "${kb_b[*]}" | median); nbm=$(echo "${npm_b[*]}" | median)
    knm=$(echo "${kb_n[*]}" | median); nnm=$(echo "${npm_n[*]}" | median)
    noopm=$(echo "${noop_t[*]}" | median)
    local r_floor r_tgz noop_ok=PASS s
    r_floor=$(div "$kbm" "$floor" %.3f)
    r_tgz=$(div "$kbm" "$tgz_size" %.4f)
    for s in "${noop_s[@]}"; do [[ $s == "1/1x304" ]] || noop_ok=FAIL; done
    local table
    table=$(
        printf '| | kbrel sync 1.0.0 → 1.1.0 | npm install %s@1.1.0 | target | result |\n|---|---:|---:|---|---|\n' "$name"
        printf '| median wall time (s) | %s | %s | | |\n' "$km" "$nm"
        printf '| all runs (s) | %s | %s | | |\n' "${kb_t[*]}" "${npm_t[*]}"
        printf '| bytes over the wire (median) | %s | %s | | |\n' "$kbm" "$nbm"
        printf '| requests (median) | %s | %s | | |\n' "$knm" "$nnm"
        printf '| kbrel bytes / (changed documents + manifest + index = %s B) | %s | | ≤ 1.1 | %s |\n' "$floor" "$r_floor" "$(passfail "$r_floor" 1.1)"
        printf '| kbrel bytes / 1.1.0 tarball (%s B) | %s | | ≤ 0.10 | %s |\n' "$tgz_size" "$r_tgz" "$(passfail "$r_tgz" 0.10)"
        printf '| sync with nothing new: requests/status per run | %s | | 1/1x304 | %s |\n' "${noop_s[*]}" "$noop_ok"
        printf '| sync with nothing new: median wall time (s) | %s | | | |\n' "$noopm"
    )
    printf '\n%s\n\n' "$table"
    local body=$OUT/section-sync.md
    {
        printf '## sync vs npm install\n\n'
        printf 'Update a consumer from 1.0.0 to 1.1.0 of a generated knowledge base of %s documents\n' "$doc_count"
        printf '(`kbrel-synth --docs-per-lang %s --seed %s`; 1.1.0 is `--generation 2 --changed-pct %s\n' "$((doc_count / 2))" "$BENCH_SEED" "$SYNC_CHANGED_PCT"
        printf -- '--added-pct 0`: %s documents changed, %s bytes) served by `kbrel serve` on 127.0.0.1.\n' "$changed" "$changed_bytes"
        printf '`kbrel sync` fetches the index, the manifest (%s bytes, most of its traffic) and the changed\n' "$manifest_size"
        printf 'documents, gzip-encoded; `npm install` fetches the whole 1.1.0 tarball (%s bytes) into a\n' "$tgz_size"
        printf 'project that has 1.0.0 installed (plus the packument, unless its npm cache still holds it).\n'
        printf 'Bytes and requests are counted from the server'"'"'s request log (body bytes as sent).\n'
        printf '%s runs each; before each kbrel run a fresh cache syncs 1.0.0, before each npm run a\n' "$BENCH_RUNS"
        printf 'fresh project and npm cache get 1.0.0; all are kept until the last run (see "Measurement\n'
        printf 'notes"). npm replacing the installed package (deleting the 1.0.0 files) is part of its time.\n\n'
        machine_md
        printf -- '- node %s; npm %s\n' "$(node --version)" "$(npm --version)"
        printf '\nCommands:\n\n```sh\n'
        printf 'kbrel serve bench/out/sync/registry --addr 127.0.0.1:PORT\n'
        printf 'kbrel sync --from http://127.0.0.1:PORT/ --into <fresh cache> --version 1.0.0  # not timed\n'
        printf 'kbrel sync --from http://127.0.0.1:PORT/ --into <fresh cache> --json      # 1.0.0 → 1.1.0, then again\n'
        printf 'npm install %s@1.1.0 --registry http://127.0.0.1:PORT/ --cache <project>/.npm-cache --no-audit --no-fund --ignore-scripts\n```\n\n' "$name"
        printf '%s\n' "$table"
    } >"$body"
    write_section sync "$body"
}

# --- clients: kbrel sync vs the JavaScript client -------------------------------------------

# bench_clients: the `sync` update (1.0.0 → 1.1.0, SYNC_CHANGED_PCT % changed) with `kbrel sync`
# and with clients/js (bin/kbrel-js-sync.mjs, Node, the folder store) against one `kbrel serve`:
# wall time, bytes on the wire (the server's log: body bytes as sent, gzip-encoded) and each
# client's own report (bytes on the wire, bytes decoded), and an update with nothing new.
bench_clients() {
    command -v node >/dev/null 2>&1 || die "clients needs node"
    local js=$ROOT/clients/js/bin/kbrel-js-sync.mjs
    sync_registry
    local changed changed_bytes manifest_size index_size tgz_size doc_count name
    read -r changed changed_bytes manifest_size index_size tgz_size doc_count name <<<"$SYNC_FACTS"
    local dir=$OUT/sync reg=$OUT/sync/registry
    log "== clients: $doc_count documents, $changed changed ($(div "$changed_bytes" 1000 %.1f) KB), $BENCH_RUNS runs each"
    local port serve_log pid
    port=$(free_port)
    serve_log=$dir/serve-clients.log
    : >"$serve_log"
    "$KBREL" serve "$reg" --addr "127.0.0.1:$port" 2>>"$serve_log" &
    pid=$!
    BG_PIDS+=("$pid")
    wait_port "$port"
    local url=http://127.0.0.1:$port/
    settle

    local k_t=() k_b=() k_r=() j_t=() j_b=() j_r=() k_noop=() j_noop=() j_noop_t=() i mark t b cache
    for ((i = 1; i <= BENCH_RUNS; i++)); do
        cache=$(scratch_dir clients-kbrel)/cache
        "$KBREL" sync --from "$url" --into "$cache" --version 1.0.0 --quiet >/dev/null
        mark=$(($(wc -l <"$serve_log") + 1))
        measure kbrel "$KBREL" sync --from "$url" --into "$cache" --json
        grep -q '"version": "1.1.0"' "$OUT/last.log" || die "kbrel sync did not reach 1.1.0"
        read -r t b _ <<<"$(sync_traffic "$serve_log" "$mark")"
        k_t+=("$WALL"); k_b+=("$b")
        k_r+=("$(node -e 'const r = JSON.parse(require("fs").readFileSync(process.argv[1])); console.log(`${r.bytes_on_wire}/${r.bytes_decoded}`)' "$OUT/last.log")")
        mark=$(($(wc -l <"$serve_log") + 1))
        "$KBREL" sync --from "$url" --into "$cache" --quiet >/dev/null
        k_noop+=("$(sync_traffic "$serve_log" "$mark" | awk '{ print $1 "/" $3 }')")

        cache=$(scratch_dir clients-js)/cache
        node "$js" --from "$url" --into "$cache" --version 1.0.0 --json >/dev/null
        mark=$(($(wc -l <"$serve_log") + 1))
        measure js node "$js" --from "$url" --into "$cache" --json
        grep -q '"version": "1.1.0"' "$OUT/last.log" || die "the JavaScript client did not reach 1.1.0"
        read -r t b _ <<<"$(sync_traffic "$serve_log" "$mark")"
        j_t+=("$WALL"); j_b+=("$b")
        j_r+=("$(node -e 'const r = JSON.parse(require("fs").readFileSync(process.argv[1])); console.log(`${r.bytesOnWire}/${r.bytesDecoded}`)' "$OUT/last.log")")
        mark=$(($(wc -l <"$serve_log") + 1))
        measure js-noop node "$js" --from "$url" --into "$cache" --json
        j_noop_t+=("$WALL")
        j_noop+=("$(sync_traffic "$serve_log" "$mark" | awk '{ print $1 "/" $3 }')")
        log "   run $i: kbrel ${k_t[-1]} s, ${k_b[-1]} B (report ${k_r[-1]}); js ${j_t[-1]} s, ${j_b[-1]} B (report ${j_r[-1]}); no-op kbrel ${k_noop[-1]}, js ${j_noop[-1]}"
    done
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null || true
    BG_PIDS=()
    scratch_clear

    local km jm kbm jbm r_time r_k r_j noop_ok=PASS s jnm
    km=$(echo "${k_t[*]}" | median); jm=$(echo "${j_t[*]}" | median)
    kbm=$(echo "${k_b[*]}" | median); jbm=$(echo "${j_b[*]}" | median)
    jnm=$(echo "${j_noop_t[*]}" | median)
    r_time=$(div "$jm" "$km" %.2f)
    r_k=$(div "$kbm" "$changed_bytes" %.3f)
    r_j=$(div "$jbm" "$changed_bytes" %.3f)
    for s in "${k_noop[@]}" "${j_noop[@]}"; do [[ $s == "1/1x304" ]] || noop_ok=FAIL; done
    local table
    table=$(
        printf '| | kbrel sync | JavaScript client (Node) | target | result |\n|---|---:|---:|---|---|\n'
        printf '| median wall time 1.0.0 → 1.1.0 (s) | %s | %s | | |\n' "$km" "$jm"
        printf '| all runs (s) | %s | %s | | |\n' "${k_t[*]}" "${j_t[*]}"
        printf '| JS / kbrel wall time | | %s | ≤ 2 | %s |\n' "$r_time" "$(passfail "$r_time" 2)"
        printf '| bytes on the wire, server log (median) | %s | %s | | |\n' "$kbm" "$jbm"
        printf '| client report: on the wire / decoded (per run) | %s | %s | | |\n' "${k_r[*]}" "${j_r[*]}"
        printf '| bytes on the wire / changed documents (%s B) | %s | %s | ≤ 0.5 | %s / %s |\n' "$changed_bytes" "$r_k" "$r_j" "$(passfail "$r_k" 0.5)" "$(passfail "$r_j" 0.5)"
        printf '| nothing new: requests/status per run | %s | %s | 1/1x304 | %s |\n' "${k_noop[*]}" "${j_noop[*]}" "$noop_ok"
        printf '| nothing new: JS median wall time (s) | | %s | | |\n' "$jnm"
    )
    printf '\n%s\n\n' "$table"
    local body=$OUT/section-clients.md
    {
        printf '## clients: kbrel sync vs the JavaScript client\n\n'
        printf 'The `sync` update (%s documents, 1.0.0 → 1.1.0 with %s documents changed, %s bytes) with\n' "$doc_count" "$changed" "$changed_bytes"
        printf '`kbrel sync` and with `clients/js` (`bin/kbrel-js-sync.mjs`: Node, the folder store, the\n'
        printf 'layout of a `kbrel sync` cache), both against one `kbrel serve` on 127.0.0.1. Both hold\n'
        printf '1.0.0, which 1.1.0 was diffed against, so both read the delta (`v/1.1.0/diff.json`, %s B\n' "$(stat -c %s "$reg/v/1.1.0/diff.json")"
        printf 'raw) instead of the manifest (%s B raw); JSON and documents travel gzip-encoded. Bytes on\n' "$manifest_size"
        printf 'the wire from the server'"'"'s request log (body bytes as sent); each client'"'"'s own report\n'
        printf 'counts bytes on the wire and bytes decoded (`bytes_on_wire`/`bytes_decoded` in `kbrel sync\n'
        printf -- '--json`, `bytesOnWire`/`bytesDecoded` in the JavaScript report). %s runs each; before each run a\n' "$BENCH_RUNS"
        printf 'fresh cache syncs 1.0.0 with the same client (not timed). Measured on a shared, loaded\n'
        printf 'machine.\n\n'
        machine_md
        printf -- '- node %s\n' "$(node --version)"
        printf '\nCommands:\n\n```sh\n'
        printf 'kbrel serve bench/out/sync/registry --addr 127.0.0.1:PORT\n'
        printf 'kbrel sync --from http://127.0.0.1:PORT/ --into <fresh cache> --json                      # 1.0.0 → 1.1.0\n'
        printf 'node clients/js/bin/kbrel-js-sync.mjs --from http://127.0.0.1:PORT/ --into <fresh cache> --json   # the same\n```\n\n'
        printf '%s\n' "$table"
    } >"$body"
    write_section clients "$body"
}

# --- diff: kbrel diff vs git diff --stat and npm diff ---------------------------------------

# diff_repo <total>: sets DIFF_DIR, whose repo/ holds two commits tagged v1 and v2 of a
# <total>-document knowledge base: generation 1, then generation 2 with 2 % of the documents
# edited plus 1 % added and 0.5 % each removed and renamed (kbrel-synth's defaults).
diff_repo() {
    local total=$1
    DIFF_DIR=$OUT/diff-$total-s$BENCH_SEED
    # Before the repository was generated in place it was built from copies in v1/ and v2/.
    [[ -d $DIFF_DIR/v1 ]] && bulk_rm "$DIFF_DIR"
    synth_repo "$DIFF_DIR" plain --docs-per-lang $((total / 2)) --seed "$BENCH_SEED" --generation 2 \
        --changed-pct 2
}

# diff_registry <total>: diff_repo, plus DIFF_DIR/registry with v1 published as 1.0.0 and v2 as
# 1.1.0 from the repository (`--from-git`), cached per repository and kbrel binary.
diff_registry() {
    diff_repo "$1"
    local dir=$DIFF_DIR stamp
    stamp="$(cat "$dir/repo.stamp") / $(sha256sum "$KBREL" | cut -c1-16)"
    if [[ ! -f $dir/registry.stamp || $(cat "$dir/registry.stamp") != "$stamp" ]]; then
        [[ -e $dir/registry ]] && bulk_rm "$dir/registry" "$dir/CHANGELOG.md" "$dir/registry.stamp"
        log "== publishing v1 as 1.0.0 and v2 as 1.1.0 into ${dir#"$ROOT"/}/registry"
        "$KBREL" --config "$dir/repo/kbrel.toml" --from-git v1 --registry "$dir/registry" \
            publish --no-tag 1.0.0 --date "$DATE_ARG" --changelog "$dir/CHANGELOG.md" --quiet >/dev/null
        "$KBREL" --config "$dir/repo/kbrel.toml" --from-git v2 --registry "$dir/registry" \
            publish --no-tag 1.1.0 --date "$DATE_ARG" --changelog "$dir/CHANGELOG.md" --quiet >/dev/null
        printf '%s' "$stamp" >"$dir/registry.stamp"
    fi
}

# bench_diff: two versions of a $BENCH_DOCS-document knowledge base (diff_registry). Compares
# `kbrel diff 1.0.0 1.1.0 --stat` with `git diff --stat v1 v2` (same repository) and `npm diff`
# of the two tarballs. None of them writes files, so no settling is needed.
bench_diff() {
    local total=$BENCH_DOCS dir
    diff_registry "$total"
    dir=$DIFF_DIR
    local name tgz_a tgz_b
    name=$(sed -n 's/^name = "\(.*\)"/\1/p' "$dir/repo/kbrel.toml" | head -1)
    tgz_a=$dir/registry/$name-1.0.0.tgz
    tgz_b=$dir/registry/$name-1.1.0.tgz
    local changed
    changed=$("$KBREL" --config "$dir/repo/kbrel.toml" --registry "$dir/registry" diff 1.0.0 1.1.0 --name-status | wc -l)
    log "== diff: $changed changed documents, $BENCH_RUNS runs each, alternating"
    local k=() gi=() n=()
    for ((i = 0; i < BENCH_RUNS; i++)); do
        measure git git -C "$dir/repo" diff --stat v1 v2; gi+=("$WALL")
        measure kbrel "$KBREL" --config "$dir/repo/kbrel.toml" --registry "$dir/registry" diff 1.0.0 1.1.0 --stat --color never; k+=("$WALL")
        measure npm npm diff --diff="$tgz_a" --diff="$tgz_b" --no-color --cache "$dir/.npm-cache"; n+=("$WALL")
    done
    local km gm nm
    km=$(printf '%s ' "${k[@]}" | median)
    gm=$(printf '%s ' "${gi[@]}" | median)
    nm=$(printf '%s ' "${n[@]}" | median)
    local r_git r_npm
    r_git=$(div "$km" "$gm")
    r_npm=$(div "$km" "$nm")
    printf '\n%-34s %10s\n' "diff ($changed changed documents)" "median s"
    printf '%-34s %10s\n' "git diff --stat v1 v2" "$gm" "kbrel diff 1.0.0 1.1.0 --stat" "$km" "npm diff (two tarballs)" "$nm"
    printf 'kbrel / git = %s (target <= 1.0: %s); kbrel / npm = %s (target <= 0.1: %s)\n' \
        "$r_git" "$(passfail "$r_git" 1.0)" "$r_npm" "$(passfail "$r_npm" 0.1)"
    local body=$OUT/section-diff.md
    {
        printf '## diff vs git diff --stat and npm diff\n\n'
        printf '%s documents per version (en + zh), %s documents changed between 1.0.0 and 1.1.0\n' "$total" "$changed"
        printf '(2 %% edited, plus additions, removals and renames), committed as two commits of a git\n'
        printf 'repository and published from those commits. Medians of %s alternating runs.\n\n' "$BENCH_RUNS"
        machine_md
        printf -- '- %s; npm %s\n' "$(git --version)" "$(npm --version)"
        printf '\nCommands:\n\n```sh\ngit -C repo diff --stat v1 v2\n'
        printf 'kbrel --config repo/kbrel.toml --registry registry diff 1.0.0 1.1.0 --stat --color never\n'
        printf 'npm diff --diff=registry/%s-1.0.0.tgz --diff=registry/%s-1.1.0.tgz --no-color\n```\n\n' "$name" "$name"
        printf '| tool | median s | kbrel ratio | target | result |\n|---|---:|---:|---|---|\n'
        printf '| git diff --stat | %s | %s | <= 1.0 | %s |\n' "$gm" "$r_git" "$(passfail "$r_git" 1.0)"
        printf '| npm diff | %s | %s | <= 0.1 | %s |\n' "$nm" "$r_npm" "$(passfail "$r_npm" 0.1)"
        printf '| kbrel diff --stat | %s | | | |\n' "$km"
    } >"$body"
    write_section diff "$body"
}

# --- diff scaling: kbrel diff vs git diff --stat at growing sizes ---------------------------

bench_diff_scaling() {
    local rows=() total dir docs changed i
    log "== diff scaling: kbrel diff vs git diff --stat at $BENCH_SCALES documents, $BENCH_RUNS runs each"
    for total in $BENCH_SCALES; do
        diff_registry "$total"
        dir=$DIFF_DIR
        local kb=(--config "$dir/repo/kbrel.toml" --registry "$dir/registry")
        docs=$(git -C "$dir/repo" ls-tree -r --name-only v2 -- content | grep -c '\.md$')
        changed=$("$KBREL" "${kb[@]}" diff 1.0.0 1.1.0 --name-status | wc -l)
        # Warm-up (not timed): objects, manifests and blobs in the page cache.
        warm_git "$dir/repo"
        git -C "$dir/repo" diff --stat v1 v2 >/dev/null
        "$KBREL" "${kb[@]}" diff 1.0.0 1.1.0 --stat --color never >/dev/null
        local k=() g=() kr=()
        for ((i = 1; i <= BENCH_RUNS; i++)); do
            if ((i % 2)); then
                measure git git -C "$dir/repo" diff --stat v1 v2; g+=("$WALL")
                measure kbrel "$KBREL" "${kb[@]}" diff 1.0.0 1.1.0 --stat --color never; k+=("$WALL"); kr+=("$RSS_KB")
            else
                measure kbrel "$KBREL" "${kb[@]}" diff 1.0.0 1.1.0 --stat --color never; k+=("$WALL"); kr+=("$RSS_KB")
                measure git git -C "$dir/repo" diff --stat v1 v2; g+=("$WALL")
            fi
        done
        local km gm r
        km=$(echo "${k[*]}" | median)
        gm=$(echo "${g[*]}" | median)
        r=$(div "$km" "$gm")
        log "   $docs docs ($changed changed): git $gm s, kbrel $km s, ratio $r"
        rows+=("| $docs | $changed | $gm | $(usdoc "$gm" "$docs") | $km | $(usdoc "$km" "$docs") | $(mb "$(echo "${kr[*]}" | maxof)") | $r | ≤ 1.0 | $(passfail "$r" 1.0) |")
    done
    local table
    table=$(
        printf '| documents (per version) | changed | git diff --stat median (s) | git µs / document | kbrel diff --stat median (s) | kbrel µs / document | kbrel peak RSS (MB) | ratio kbrel / git | target | result |\n'
        printf '|---:|---:|---:|---:|---:|---:|---:|---:|---|---|\n'
        printf '%s\n' "${rows[@]}"
    )
    printf '\n%s\n\n' "$table"
    local body=$OUT/section-diff_scaling.md
    {
        printf '## diff scaling\n\n'
        printf '`kbrel diff 1.0.0 1.1.0 --stat` against `git diff --stat v1 v2` on knowledge bases of\n'
        printf 'growing size, built like the `diff` benchmark above: generation 1 and generation 2 of\n'
        printf '`kbrel-synth --docs-per-lang <n/2> --seed %s --generation 2 --changed-pct 2` (2 %% of the\n' "$BENCH_SEED"
        printf 'documents edited, 1 %% added, 0.5 %% removed, 0.5 %% renamed) committed and tagged v1 and v2\n'
        printf 'in one git repository (packed) and published from those tags as 1.0.0 and 1.1.0. %s runs\n' "$BENCH_RUNS"
        printf 'each, alternating, after one untimed warm-up run each; medians. Constant µs per document\n'
        printf 'means linear growth. Neither command writes files.\n\n'
        machine_md
        printf -- '- %s\n' "$(git --version)"
        printf '\nCommands:\n\n```sh\ngit -C bench/out/diff-<n>-s%s/repo diff --stat v1 v2\n' "$BENCH_SEED"
        printf 'kbrel --config bench/out/diff-<n>-s%s/repo/kbrel.toml --registry bench/out/diff-<n>-s%s/registry \\\n' "$BENCH_SEED" "$BENCH_SEED"
        printf '    diff 1.0.0 1.1.0 --stat --color never\n```\n\n'
        printf '%s\n' "$table"
    } >"$body"
    write_section diff_scaling "$body"
}

# --- diff fractions: the cost follows the change ---------------------------------------------

# bench_diff_fractions: for each corpus in BENCH_FRACTION_CORPORA, each total in
# BENCH_FRACTION_SCALES and each change fraction (0.1, 2 and 20 % of the documents edited), two
# releases tagged in git and published. Side by side: `kbrel diff <r1> <r2> --stat` against
# `git diff --stat <t1> <t2>`, and `kbrel diff git:<t1> git:<t2> --stat` against
# `git diff --stat <t1> <t2> -- <content root>`. Alternating runs after one untimed warm-up;
# medians. Corpora:
#   synth  `kbrel-synth --generation 2 --changed-pct <pct> --added-pct 0`: a flat tree (one
#          folder per section, thousands of files each), same path in both languages, path
#          pairing; tagged v1/v2, published as 1.0.0/1.1.0 with `publish --from-git`
#   messy  `kbrel-synth --messy --releases 2 --changed-pct <pct>`: numbered CJK folders,
#          per-language file names paired by url, duplicate urls, missing front matter, lint
#          errors, plus what a release does besides editing (2 additions, a move, defects);
#          tagged v1.0.0/v1.1.0, imported with `import --from-git` (as 1.0.0/1.1.0)
diff_fraction_row() {
    local corpus=$1 total=$2 pct=$3 dir i
    local t1 t2 root
    if [[ $corpus == synth ]]; then
        dir=$OUT/diff-frac-$total-$pct-s$BENCH_SEED
        synth_repo "$dir" plain --docs-per-lang $((total / 2)) --seed "$BENCH_SEED" --generation 2 \
            --changed-pct "$pct" --added-pct 0
        t1=v1 t2=v2 root=content
    else
        dir=$OUT/diff-frac-messy-$total-$pct-s$BENCH_SEED
        local args=(--messy --docs-per-lang $((total / 2)) --seed "$BENCH_SEED" --releases 2 --changed-pct "$pct")
        local mstamp
        mstamp="${args[*]} $(sha256sum "$SYNTH" | cut -c1-16)"
        if [[ ! -f $dir/repo.stamp || $(cat "$dir/repo.stamp") != "$mstamp" ]]; then
            [[ -e $dir ]] && bulk_rm "$dir"
            mkdir -p "$dir"
            log "== generating ${dir#"$ROOT"/}/repo (kbrel-synth ${args[*]})"
            "$SYNTH" "${args[@]}" --out "$dir/repo" --quiet
            GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1 git -C "$dir/repo" gc -q --prune=now
            printf '%s' "$mstamp" >"$dir/repo.stamp"
        fi
        t1=v1.0.0 t2=v1.1.0 root=docs
    fi
    local stamp
    stamp="$(cat "$dir/repo.stamp") / $(sha256sum "$KBREL" | cut -c1-16)"
    if [[ ! -f $dir/registry.stamp || $(cat "$dir/registry.stamp") != "$stamp" ]]; then
        [[ -e $dir/registry ]] && bulk_rm "$dir/registry" "$dir/CHANGELOG.md" "$dir/registry.stamp"
        if [[ $corpus == synth ]]; then
            "$KBREL" --config "$dir/repo/kbrel.toml" --from-git v1 --registry "$dir/registry" \
                publish --no-tag 1.0.0 --date "$DATE_ARG" --changelog "$dir/CHANGELOG.md" --quiet >/dev/null
            "$KBREL" --config "$dir/repo/kbrel.toml" --from-git v2 --registry "$dir/registry" \
                publish --no-tag 1.1.0 --date "$DATE_ARG" --changelog "$dir/CHANGELOG.md" --quiet >/dev/null
        else
            "$KBREL" --config "$dir/repo/kbrel.toml" --registry "$dir/registry" \
                import --from-git --quiet >/dev/null
        fi
        printf '%s' "$stamp" >"$dir/registry.stamp"
    fi
    local kb=(--config "$dir/repo/kbrel.toml" --registry "$dir/registry")
    local changed
    changed=$(git -C "$dir/repo" diff --name-only "$t1" "$t2" -- "$root" | wc -l)
    warm_git "$dir/repo"
    git -C "$dir/repo" diff --stat "$t1" "$t2" >/dev/null
    "$KBREL" "${kb[@]}" diff 1.0.0 1.1.0 --stat --color never >/dev/null
    "$KBREL" "${kb[@]}" diff "git:$t1" "git:$t2" --stat --color never >/dev/null
    # Runs of a few milliseconds vary by more than their differences: 4 × BENCH_RUNS below
    # 100,000 documents, medians of unrounded times (µs), shown in seconds to 0.1 ms.
    local runs=${BENCH_FRACTION_RUNS:-$((total < 100000 ? BENCH_RUNS * 4 : BENCH_RUNS))}
    local g=() k=() gg=() kg=()
    for ((i = 1; i <= runs; i++)); do
        measure git git -C "$dir/repo" diff --stat "$t1" "$t2"; g+=("$WALL_US")
        measure kbrel "$KBREL" "${kb[@]}" diff 1.0.0 1.1.0 --stat --color never; k+=("$WALL_US")
        measure git git -C "$dir/repo" diff --stat "$t1" "$t2" -- "$root"; gg+=("$WALL_US")
        measure kbrel "$KBREL" "${kb[@]}" diff "git:$t1" "git:$t2" --stat --color never; kg+=("$WALL_US")
    done
    local gm km ggm kgm r1 r2
    gm=$(echo "${g[*]}" | median); km=$(echo "${k[*]}" | median)
    ggm=$(echo "${gg[*]}" | median); kgm=$(echo "${kg[*]}" | median)
    r1=$(div "$km" "$gm"); r2=$(div "$kgm" "$ggm")
    gm=$(div "$gm" 1e6 %.4f); km=$(div "$km" 1e6 %.4f)
    ggm=$(div "$ggm" 1e6 %.4f); kgm=$(div "$kgm" 1e6 %.4f)
    log "   $corpus, $total docs, $pct % ($changed files): releases $km s vs git $gm s ($r1); git:A git:B $kgm s vs git $ggm s ($r2)"
    ROW="| $corpus | $total | $pct % | $changed | $gm | $km | $r1 | $(passfail "$r1" 1.0) | $ggm | $kgm | $r2 | $(passfail "$r2" 1.0) |"
}

bench_diff_fractions() {
    local rows=() corpus total pct
    local scales=${BENCH_FRACTION_SCALES:-2000 20000 100000}
    local corpora=${BENCH_FRACTION_CORPORA:-synth messy}
    local pcts=${BENCH_FRACTION_PCTS:-0.1 2 20}
    log "== diff fractions: $corpora × $scales documents × $pcts % changed, $BENCH_RUNS runs each"
    for corpus in $corpora; do
        [[ $corpus == synth || $corpus == messy ]] || die "BENCH_FRACTION_CORPORA: unknown corpus $corpus (synth, messy)"
        for total in $scales; do
            for pct in $pcts; do
                diff_fraction_row "$corpus" "$total" "$pct"
                rows+=("$ROW")
            done
        done
    done
    local table
    table=$(
        printf '| corpus | documents | changed | files | git diff --stat (s) | kbrel diff 1.0.0 1.1.0 --stat (s) | ratio | ≤ 1.0 | git diff --stat -- root (s) | kbrel diff git:A git:B --stat (s) | ratio | ≤ 1.0 |\n'
        printf '|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---|\n'
        printf '%s\n' "${rows[@]}"
    )
    printf '\n%s\n\n' "$table"
    local body=$OUT/section-diff_fractions.md
    {
        printf '## diff fractions: the cost follows the change\n\n'
        printf 'Two corpora, each at %s documents with %s %% of them edited between\n' "$scales" "$pcts"
        printf 'two releases, tagged in git and published. `synth`: `kbrel-synth --docs-per-lang <n/2>\n'
        printf -- '--seed %s --generation 2 --changed-pct <pct> --added-pct 0` (a flat tree, one folder\n' "$BENCH_SEED"
        printf 'per section, the same paths in both languages), tagged v1 and v2, published with\n'
        printf '`publish --from-git` as 1.0.0 and 1.1.0. `messy`: `kbrel-synth --messy --docs-per-lang <n/2>\n'
        printf -- '--seed %s --releases 2 --changed-pct <pct>` (numbered CJK folders, file names per\n' "$BENCH_SEED"
        printf 'language paired by url, duplicate urls, lint errors; a release also adds two documents\n'
        printf 'and moves one), tags v1.0.0 and v1.1.0 imported with `import --from-git`. Consecutive\n'
        printf 'releases answer from the stored `diff.json`; two git revisions compare tree hashes and\n'
        printf 'read only the blobs that differ. `files`: `git diff --name-only` below the content\n'
        printf 'root. %s runs each (%s below 100,000 documents), alternating, medians of unrounded times.\n\n' \
            "${BENCH_FRACTION_RUNS:-$BENCH_RUNS}" "${BENCH_FRACTION_RUNS:-$((BENCH_RUNS * 4))}"
        machine_md
        printf -- '- %s\n' "$(git --version)"
        printf -- '- load average before the run: %s\n\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
        printf '%s\n' "$table"
    } >"$body"
    write_section diff_fractions "$body"
}

# --- git: import from tags, and reading one tree ---------------------------------------------

# The reference for `kbrel import --from-git`, one timed command:
# git-reference.sh <kbrel> <repo> <scratch>: for every tag in version order, `git archive` it
# into a fresh folder and `kbrel publish` that folder, dated like the tag, into one registry.
write_git_reference() {
    cat >"$OUT/git-reference.sh" <<'REF'
#!/usr/bin/env bash
set -euo pipefail
kbrel=$1 repo=$2 scratch=$3
git -C "$repo" for-each-ref --sort=v:refname --format='%(refname:short) %(creatordate:iso-strict)' 'refs/tags/v*' |
    while read -r tag date; do
        mkdir "$scratch/$tag"
        git -C "$repo" archive "$tag" | tar -x -C "$scratch/$tag"
        "$kbrel" --config "$scratch/$tag/kbrel.toml" --registry "$scratch/registry" publish "$tag" \
            --no-tag --date "$date" --changelog "$scratch/CHANGELOG.md" --quiet
    done
REF
}

# index_versions <registry>: "<version> <published> <content_digest>" per release, in index order.
index_versions() {
    tr -d ' \n' <"$1/index.json" |
        grep -o '"version":"[^"]*"\|"published":"[^"]*"\|"content_digest":"[^"]*"' |
        sed 's/^"[a-z_]*":"\(.*\)"$/\1/' | paste -d' ' - - -
}

bench_git() {
    local docs=${BENCH_GIT_DOCS:-4000} ntags=${BENCH_GIT_TAGS:-50} pct=${BENCH_GIT_CHANGED_PCT:-2}
    local tree_docs=${BENCH_GIT_TREE_DOCS:-$BENCH_DOCS}
    local dir=$OUT/git-$docs-t$ntags-c$pct-s$BENCH_SEED i
    synth_repo "$dir" semver --docs-per-lang $((docs / 2)) --seed "$BENCH_SEED" --generation "$ntags" \
        --changed-pct "$pct" --added-pct 0
    # Reading one tree (first, so that its output can stay on disk during the import runs):
    # kbrel check --from-git vs git archive | tar -x.
    diff_repo "$tree_docs"
    local trepo=$DIFF_DIR/repo tdocs
    tdocs=$(git -C "$trepo" ls-tree -r --name-only v1 -- content | grep -c '\.md$')
    log "== git tree: reading v1 of ${trepo#"$ROOT"/} ($tdocs documents), $BENCH_RUNS runs each, alternating"
    warm_git "$trepo"
    git -C "$trepo" archive v1 >/dev/null
    "$KBREL" --config "$trepo/kbrel.toml" check --from-git v1 --quiet >/dev/null ||
        die "kbrel check --from-git v1 found errors in ${trepo#"$ROOT"/}"
    "$READ_TREE" "$trepo" v1 content >/dev/null || die "read_tree failed on ${trepo#"$ROOT"/}"
    settle
    archive_once() {
        local d
        d=$(scratch_dir git-tree)
        measure archive bash -c 'set -o pipefail; git -C "$1" archive v1 | tar -x -C "$2"' _ "$trepo" "$d"
    }
    check_once() { measure check "$KBREL" --config "$trepo/kbrel.toml" check --from-git v1 --quiet; }
    read_once() { measure read "$READ_TREE" "$trepo" v1 content; }
    local at=() ct=() cr=() rdt=() rdr=()
    for ((i = 1; i <= BENCH_RUNS; i++)); do
        if ((i % 2)); then
            archive_once; at+=("$WALL")
            read_once; rdt+=("$WALL"); rdr+=("$RSS_KB")
            check_once; ct+=("$WALL"); cr+=("$RSS_KB")
        else
            check_once; ct+=("$WALL"); cr+=("$RSS_KB")
            read_once; rdt+=("$WALL"); rdr+=("$RSS_KB")
            archive_once; at+=("$WALL")
        fi
        log "   run $i: git archive | tar -x ${at[-1]} s, read ${rdt[-1]} s, kbrel check --from-git ${ct[-1]} s ($(mb "${cr[-1]}") MB)"
    done
    # The trees stay until the end of the benchmark: deleting them now would slow down the
    # file creation of the import runs below.
    local am cm rdm tratio rdratio
    am=$(echo "${at[*]}" | median)
    cm=$(echo "${ct[*]}" | median)
    rdm=$(echo "${rdt[*]}" | median)
    tratio=$(div "$cm" "$am")
    rdratio=$(div "$rdm" "$am")

    # Importing every tag: kbrel import --from-git vs git archive | tar -x + kbrel publish.
    local repo=$dir/repo
    local tags
    tags=$(git -C "$repo" tag -l 'v*' | wc -l)
    ((tags == ntags)) || die "$repo has $tags tags, expected $ntags"
    write_git_reference
    # import writes CHANGELOG.md next to its kbrel.toml (it has no --changelog): each run gets a
    # copy of the repository's kbrel.toml in its scratch folder, so the changelog lands there.
    import_once() {
        local scratch
        scratch=$(scratch_dir git-import)
        cp "$repo/kbrel.toml" "$scratch/kbrel.toml"
        IMPORT_REGISTRY=$scratch/registry
        measure import "$KBREL" --config "$scratch/kbrel.toml" --registry "$scratch/registry" \
            import --from-git --repo "$repo" --quiet
    }
    reference_once() {
        local scratch
        scratch=$(scratch_dir git-reference)
        REFERENCE_REGISTRY=$scratch/registry
        measure reference bash "$OUT/git-reference.sh" "$KBREL" "$repo" "$scratch"
    }
    log "== git import: $ntags tags of $docs documents ($pct % edited per tag), $BENCH_RUNS runs each, alternating"
    warm_git "$repo"
    settle
    local it=() ir=() rt=() rr=()
    for ((i = 1; i <= BENCH_RUNS; i++)); do
        if ((i % 2)); then
            import_once; it+=("$WALL"); ir+=("$RSS_KB")
            reference_once; rt+=("$WALL"); rr+=("$RSS_KB")
        else
            reference_once; rt+=("$WALL"); rr+=("$RSS_KB")
            import_once; it+=("$WALL"); ir+=("$RSS_KB")
        fi
        log "   run $i: import ${it[-1]} s ($(mb "${ir[-1]}") MB), reference ${rt[-1]} s ($(mb "${rr[-1]}") MB)"
    done
    # Both must have released the same versions, dated alike, with the same content.
    local same=yes
    if [[ $(index_versions "$IMPORT_REGISTRY") != "$(index_versions "$REFERENCE_REGISTRY")" ]]; then
        same=no
        log "bench: warning: import and reference registries differ:"
        diff <(index_versions "$IMPORT_REGISTRY") <(index_versions "$REFERENCE_REGISTRY") >&2 || true
    fi
    local nver reg_mb
    nver=$(index_versions "$IMPORT_REGISTRY" | wc -l)
    ((nver == ntags)) || die "import published $nver versions, expected $ntags"
    reg_mb=$(du -sm "$IMPORT_REGISTRY" | cut -f1)
    scratch_clear
    local im rm_ ratio
    im=$(echo "${it[*]}" | median)
    rm_=$(echo "${rt[*]}" | median)
    ratio=$(div "$im" "$rm_")

    local table1 table2
    table1=$(
        printf '| | reference: git archive \\| tar -x + kbrel publish, per tag | kbrel import --from-git | target | result |\n|---|---:|---:|---|---|\n'
        printf '| median wall time (s) | %s | %s | | |\n' "$rm_" "$im"
        printf '| all runs (s) | %s | %s | | |\n' "${rt[*]}" "${it[*]}"
        printf '| per tag, median (s) | %s | %s | | |\n' "$(div "$rm_" "$ntags" %.3f)" "$(div "$im" "$ntags" %.3f)"
        printf '| peak RSS (MB), max | %s | %s | | |\n' "$(mb "$(echo "${rr[*]}" | maxof)")" "$(mb "$(echo "${ir[*]}" | maxof)")"
        printf '| ratio import / reference | | %s | ≤ 1.5 | %s |\n' "$ratio" "$(passfail "$ratio" 1.5)"
        printf '| same versions, dates and content digests in both registries | | %s | yes | %s |\n' "$same" "$([[ $same == yes ]] && echo PASS || echo FAIL)"
    )
    table2=$(
        printf '| | git archive v1 \\| tar -x | read through git2 (`read_tree`) | kbrel check --from-git v1 | target | result |\n|---|---:|---:|---:|---|---|\n'
        printf '| median wall time (s) | %s | %s | %s | | |\n' "$am" "$rdm" "$cm"
        printf '| all runs (s) | %s | %s | %s | | |\n' "${at[*]}" "${rdt[*]}" "${ct[*]}"
        printf '| peak RSS (MB), max | | %s | %s | | |\n' "$(mb "$(echo "${rdr[*]}" | maxof)")" "$(mb "$(echo "${cr[*]}" | maxof)")"
        printf '| ratio read / git archive | | %s | | ≤ 1.0 | %s |\n' "$rdratio" "$(passfail "$rdratio" 1.0)"
        printf '| ratio check (read + parse + lint) / git archive | | | %s | (information) | |\n' "$tratio"
    )
    printf '\n%s\n\n%s\n\n' "$table1" "$table2"
    local body=$OUT/section-git.md
    {
        printf '## git: import from tags, and reading one tree\n\n'
        printf 'A generated git repository of %s release tags (`v1.0.0` … `v1.0.11`, `v1.1.0` …: a minor\n' "$ntags"
        printf 'bump every 12 tags) over a knowledge base of %s documents (%s per language,\n' "$docs" "$((docs / 2))"
        printf '`kbrel-synth --docs-per-lang %s --seed %s --generation %s --changed-pct %s --added-pct 0\n' "$((docs / 2))" "$BENCH_SEED" "$ntags" "$pct"
        printf -- '--on-generation …`): one commit per generation with fixed author and committer dates one\n'
        printf 'day apart, each tag editing %s %% of the documents (some only in English), packed with\n' "$pct"
        printf '`git gc`. `kbrel import --from-git` rebuilds a registry from all tags; the reference does\n'
        printf 'what one would script without it: for every tag in version order, `git archive` into a\n'
        printf 'fresh folder and `kbrel publish` it, dated like the tag, into one registry. Both write\n'
        printf 'the same %s releases (checked: versions, dates, content digests; the import registry is %s MB)\n' "$nver" "$reg_mb"
        printf 'and a changelog in a scratch folder, and neither creates git tags (import never does; the\n'
        printf 'reference passes `--no-tag`). import reads every tag twice: it vets all of them before\n'
        printf 'writing anything. %s runs each, alternating, each into a fresh folder, all deleted after\n' "$BENCH_RUNS"
        printf 'the last run (see "Measurement notes").\n\n'
        printf 'Reading one tree: the `diff` benchmark'"'"'s repository at %s documents, tag `v1`, against\n' "$tdocs"
        printf '`git archive v1 | tar -x`. The read itself is `examples/read_tree.rs`: `kbrel::git::Repo::read_tree`,\n'
        printf 'the function every `--from-git` command and `import` use (tree walk, then the blobs read in\n'
        printf 'parallel into memory, one libgit2 handle per thread), and nothing else; the target applies to\n'
        printf 'it. `kbrel check --from-git` is shown too: it also parses, normalises, hashes and lints every\n'
        printf 'document, which `git archive | tar -x` does not do.\n\n'
        machine_md
        printf -- '- %s\n' "$(git --version)"
        printf '\nCommands:\n\n```sh\n'
        printf '# import (scratch/kbrel.toml is a copy of repo/kbrel.toml, so CHANGELOG.md goes to scratch/)\n'
        printf 'kbrel --config scratch/kbrel.toml --registry scratch/registry import --from-git --repo %s --quiet\n' "${repo#"$ROOT"/}"
        printf '# reference (bench/out/git-reference.sh)\n'
        printf "git -C repo for-each-ref --sort=v:refname --format='%%(refname:short) %%(creatordate:iso-strict)' 'refs/tags/v*' |\n"
        printf '    while read -r tag date; do\n'
        printf '        mkdir scratch/$tag && git -C repo archive $tag | tar -x -C scratch/$tag\n'
        printf '        kbrel --config scratch/$tag/kbrel.toml --registry scratch/registry publish $tag --no-tag \\\n'
        printf '            --date $date --changelog scratch/CHANGELOG.md --quiet\n'
        printf '    done\n'
        printf '# one tree\n'
        printf 'git -C %s archive v1 | tar -x -C <fresh dir>\n' "${trepo#"$ROOT"/}"
        printf 'target/release/examples/read_tree %s v1 content   # cargo build --release --examples\n' "${trepo#"$ROOT"/}"
        printf 'kbrel --config %s/kbrel.toml check --from-git v1 --quiet\n```\n\n' "${trepo#"$ROOT"/}"
        printf '%s\n\n%s\n' "$table1" "$table2"
    } >"$body"
    write_section git "$body"
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
    # bench/out lies inside the project's checkout: kbrel publish of a folder in it would find
    # that repository, scan its status and record its HEAD. An empty repository (no commits) at
    # bench/out ends the search there, so those publishes behave as outside any repository.
    [[ -e $OUT/.git ]] || git init -q "$OUT"
    # Output of an interrupted earlier run (deleting it makes the first timed section settle).
    scratch_clear
    build
    for b in "${selected[@]}"; do
        "bench_$b"
    done
}

main "$@"
