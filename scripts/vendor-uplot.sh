#!/usr/bin/env bash
# Fetch uPlot's release from the npm registry again, check it against the registry's
# integrity hash, and compare it with (or, with --update, copy it over) the vendored
# files in src/relaylane/dashboard/static/vendor/. Needs npm; the dashboard itself
# needs nothing at run time.
set -euo pipefail
VERSION=1.6.32
INTEGRITY='sha512-KIMVnG68zvu5XXUbC4LQEPnhwOxBuLyW1AHtpm6IKTXImkbLgkMy+jabjLgSLMasNuGGzQm/ep3tOkyTxpiQIw=='
DEST="$(cd "$(dirname "$0")/.." && pwd)/src/relaylane/dashboard/static/vendor/uplot-$VERSION"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
npm pack --silent "uplot@$VERSION" >/dev/null
TARBALL="uplot-$VERSION.tgz"
GOT="sha512-$(openssl dgst -sha512 -binary "$TARBALL" | base64 -w0)"
if [ "$GOT" != "$INTEGRITY" ]; then
  echo "uplot@$VERSION: integrity $GOT is not the pinned $INTEGRITY" >&2
  exit 1
fi
tar xzf "$TARBALL"
FILES=(dist/uPlot.iife.min.js dist/uPlot.min.css LICENSE)
if [ "${1:-}" = "--update" ]; then
  mkdir -p "$DEST"
  for f in "${FILES[@]}"; do cp "package/$f" "$DEST/"; done
  echo "vendored uplot@$VERSION into $DEST"
  exit 0
fi
for f in "${FILES[@]}"; do
  cmp "package/$f" "$DEST/$(basename "$f")"
done
echo "the vendored uplot@$VERSION matches the registry's release"
