#!/usr/bin/env bash
# The main job: publish the embedded user guide (content/) end to end with kbrel.
#
# 1. lint it (kbrel check),
# 2. publish it into a fresh scratch registry (target/guide-release/): snapshot, diff,
#    tarball, manifests, index, changelog section,
# 3. prove the result is byte-identical to the committed registry releases/ (deterministic
#    output),
# 4. publish it into releases/ itself: a no-op "already published" while content/ is
#    unchanged, a new release when you bump GUIDE_VERSION after editing content/.
# Repeatable: every run starts from a clean scratch directory.
set -euo pipefail
cd "$(dirname "$0")/.."

GUIDE_VERSION="${GUIDE_VERSION:-1.0.0}"
GUIDE_DATE="${GUIDE_DATE:-2026-11-25}"
scratch=target/guide-release

cargo build --release --quiet --bin kbrel
kbrel=target/release/kbrel

echo "== kbrel check"
"$kbrel" check

echo "== kbrel publish $GUIDE_VERSION into a fresh registry ($scratch/releases)"
rm -rf "$scratch"
mkdir -p "$scratch"
"$kbrel" --registry "$scratch/releases" publish "$GUIDE_VERSION" \
  --date "$GUIDE_DATE" --changelog "$scratch/CHANGELOG.md"

if [ -f releases/index.json ] && grep -q "\"version\": \"$GUIDE_VERSION\"" releases/index.json \
   && [ "$(grep -c '"version":' releases/index.json)" = 1 ]; then
  echo "== comparing with the committed registry releases/"
  for f in index.json "v/$GUIDE_VERSION/manifest.json" "v/$GUIDE_VERSION/diff.json" \
           "kbrel-guide-$GUIDE_VERSION.tgz"; do
    cmp "$scratch/releases/$f" "releases/$f"
    echo "   identical: $f"
  done
fi

echo "== kbrel publish $GUIDE_VERSION into releases/"
"$kbrel" publish "$GUIDE_VERSION" --date "$GUIDE_DATE"
