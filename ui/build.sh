#!/usr/bin/env bash
# Copies the browser builds the UI loads from node_modules (installed by `npm ci` from
# package-lock.json) into static/vendor/, which is not committed. Run as `npm run vendor`.
set -euo pipefail
cd "$(dirname "$0")"
[ -d node_modules ] || { echo "ui/build.sh: run 'npm ci' in ui/ first" >&2; exit 1; }
mkdir -p static/vendor
for f in sigma/dist/sigma.min.js graphology/dist/graphology.umd.min.js \
         socket.io-client/dist/socket.io.min.js plotly.js-dist-min/plotly.min.js; do
  cp "node_modules/$f" static/vendor/
done
