#!/usr/bin/env bash
# The main job: publish the embedded user guide (content/) end to end with kbrel.
#
# 1. lint it (kbrel check);
# 2. publish the working content into a fresh scratch registry (target/guide-release/): snapshot,
#    diff, tarball, manifests, index, packument, changelog section — then verify that registry;
# 3. reproducibility: rebuild every release in releases/ from the git commit it records, with
#    the date and package format it records, into another scratch registry, and require
#    identical bytes (index, manifests, diffs, package.json, tarballs, CHANGELOG.md);
# 4. publish the working content into releases/ as the latest version: a no-op "already
#    published" while content/ is unchanged (to release edits, from committed content:
#    GUIDE_VERSION=1.2.0 GUIDE_DATE=2026-11-25T19:00:00Z $0).
# Repeatable: every run starts from clean scratch directories and never moves git tags.
set -euo pipefail
cd "$(dirname "$0")/.."

scratch=target/guide-release
cargo build --release --quiet --bin kbrel
kbrel=target/release/kbrel

latest=$(sed -n '/"dist_tags"/,/}/s/.*"latest": "\([^"]*\)".*/\1/p' releases/index.json 2>/dev/null | head -n 1)
GUIDE_VERSION="${GUIDE_VERSION:-${latest:-1.0.0}}"
# Release date of a new version (an "already published" rerun ignores it).
GUIDE_DATE="${GUIDE_DATE:-2026-11-25}"

echo "== kbrel check"
"$kbrel" check

echo "== kbrel publish $GUIDE_VERSION of the working content into $scratch/fresh"
rm -rf "$scratch"
mkdir -p "$scratch"
"$kbrel" --registry "$scratch/fresh" publish "$GUIDE_VERSION" --date 2026-11-25 \
  --changelog "$scratch/fresh-CHANGELOG.md" --no-tag --allow-dirty
"$kbrel" verify "$scratch/fresh"

if [ -f releases/index.json ]; then
  echo "== rebuilding every release in releases/ from the commit it records"
  rebuilt_all=1
  for dir in $(ls -d releases/v/*/ | sort -V); do
    v=$(basename "$dir")
    commit=$(sed -n 's/.*"commit": "\([0-9a-f]*\)".*/\1/p' "$dir/manifest.json" | head -n 1)
    date=$(sed -n 's/^  "published": "\(.*\)",$/\1/p' "$dir/manifest.json" | head -n 1)
    # The tarball format it was packed in (absent: format 1, from before kbrel recorded it).
    format=$(sed -n 's/^  "package_format": \([0-9]*\).*/\1/p' "$dir/manifest.json" | head -n 1)
    if [ -z "$commit" ] || ! git cat-file -e "$commit^{commit}" 2>/dev/null; then
      echo "   $v records commit '${commit:-none}', which this clone lacks: skipping the rebuild"
      rebuilt_all=0
      break
    fi
    echo "   $v from ${commit:0:12} dated $date"
    "$kbrel" --from-git "$commit" --registry "$scratch/rebuilt" publish "$v" --date "$date" \
      --package-format "${format:-1}" --changelog "$scratch/rebuilt-CHANGELOG.md" --no-tag \
      --quiet >/dev/null
  done
  if [ "$rebuilt_all" = 1 ]; then
    (cd releases && find . -type f ! -name .lock | sort) | while read -r f; do
      cmp "$scratch/rebuilt/$f" "releases/$f"
    done
    cmp "$scratch/rebuilt-CHANGELOG.md" CHANGELOG.md
    echo "   identical: every file of releases/ and CHANGELOG.md"
  fi
fi

echo "== kbrel publish $GUIDE_VERSION into releases/"
"$kbrel" publish "$GUIDE_VERSION" --date "$GUIDE_DATE" --no-tag
"$kbrel" verify releases
