#!/usr/bin/env bash
# The main job: publish the embedded user guide (content/) end to end with kbrel.
#
# 1. lint it (kbrel check);
# 2. publish the working content into a fresh scratch registry (target/guide-release/):
#    snapshot, diff, tarball, manifests, index, packument, changelog section — and verify it;
# 3. reproducibility: rebuild the committed release in releases/ from the git commit it records
#    and check the bytes are identical;
# 4. publish into releases/ itself: a no-op "already published" while content/ is unchanged;
#    after editing content/, bump GUIDE_VERSION to cut a new release.
# Repeatable: every run starts from a clean scratch directory and never moves git tags.
set -euo pipefail
cd "$(dirname "$0")/.."

GUIDE_VERSION="${GUIDE_VERSION:-1.0.0}"
GUIDE_DATE="${GUIDE_DATE:-2026-11-25}"
scratch=target/guide-release

cargo build --release --quiet --bin kbrel
kbrel=target/release/kbrel

echo "== kbrel check"
"$kbrel" check

echo "== kbrel publish $GUIDE_VERSION of the working content into $scratch/releases"
rm -rf "$scratch"
mkdir -p "$scratch"
"$kbrel" --registry "$scratch/releases" publish "$GUIDE_VERSION" --date "$GUIDE_DATE" \
  --changelog "$scratch/CHANGELOG.md" --no-tag --allow-dirty
"$kbrel" verify "$scratch/releases"

manifest="releases/v/$GUIDE_VERSION/manifest.json"
if [ -f "$manifest" ]; then
  commit=$(sed -n 's/.*"commit": "\([0-9a-f]*\)".*/\1/p' "$manifest" | head -n 1)
  if [ -n "$commit" ] && git cat-file -e "$commit^{commit}" 2>/dev/null; then
    echo "== rebuilding releases/ $GUIDE_VERSION from commit ${commit:0:12}: bytes must be identical"
    "$kbrel" --from-git "$commit" --registry "$scratch/rebuilt" publish "$GUIDE_VERSION" \
      --date "$GUIDE_DATE" --changelog "$scratch/CHANGELOG.rebuilt.md" --no-tag
    for f in "v/$GUIDE_VERSION/manifest.json" "v/$GUIDE_VERSION/diff.json" \
             "v/$GUIDE_VERSION/package.json" "kbrel-guide-$GUIDE_VERSION.tgz"; do
      cmp "$scratch/rebuilt/$f" "releases/$f"
      echo "   identical: $f"
    done
  else
    echo "== releases/ $GUIDE_VERSION records commit '${commit:-none}', not in this clone: skipping the rebuild"
  fi
fi

echo "== kbrel publish $GUIDE_VERSION into releases/"
"$kbrel" publish "$GUIDE_VERSION" --date "$GUIDE_DATE" --no-tag
"$kbrel" verify releases
