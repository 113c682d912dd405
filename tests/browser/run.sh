#!/usr/bin/env bash
# ctest entry for the browser tests: installs playwright-core (npm, no browser download) into the
# build tree once, then drives Debian's Chromium. Usage: run.sh BUILD_DIR DMARC_WEB WEB_SEED
# (screenshots under BUILD_DIR/screenshots, or BUILD_DIR/$DMARC_BROWSER_SHOTS).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$1
node_dir="$build/browser-node"
if [ ! -d "$node_dir/node_modules/playwright-core" ]; then
    mkdir -p "$node_dir"
    cp "$here/package.json" "$node_dir/"
    (cd "$node_dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --no-audit --no-fund --silent)
fi
cp "$here/dashboard.mjs" "$node_dir/"
exec node "$node_dir/dashboard.mjs" "$2" "$3" "$build/${DMARC_BROWSER_SHOTS:-screenshots}"
