#!/usr/bin/env bash
# Beam's Prism runner, built locally from the Go module proxy (no download at run time).
#
#   scripts/prism.sh [install]   build it once (idempotent) and print the binary's absolute path
#   scripts/prism.sh path        print the path if it is installed, exit 1 otherwise
#
# The version is the installed apache_beam's, so the runner always matches the SDK:
#   go install github.com/apache/beam/sdks/v2/go/cmd/prism@v<BEAM_VERSION>
# into GOBIN=${PULSE_CACHE:-$HOME/.cache/network-pulse}/prism/<BEAM_VERSION> (outside the repo).
# Env: PULSE_PYTHON (python with apache_beam; default <repo>/.venv/bin/python),
#      PULSE_CACHE (cache root), GO (go binary; default go on PATH, else /usr/local/go/bin/go).
# Progress goes to stderr; stdout carries only the path.
set -euo pipefail

SCRIPT_NAME=prism.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cmd="${1:-install}"

case "$cmd" in
  install|path) ;;
  -h|--help|help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 0 ;;
  *) echo "prism.sh: unknown command '$cmd' (use: install | path)" >&2; exit 2 ;;
esac

version="$(beam_release)"
gobin="$CACHE_ROOT/prism/$version"
bin="$gobin/prism"

if [ "$cmd" = path ]; then
  if [ -x "$bin" ]; then echo "$bin"; exit 0; fi
  echo "prism.sh: prism $version is not installed (run scripts/prism.sh install)" >&2
  exit 1
fi

if [ -x "$bin" ]; then
  echo "prism.sh: prism $version already at $bin" >&2
  echo "$bin"
  exit 0
fi

GO="${GO:-$(command -v go || true)}"
[ -z "$GO" ] && [ -x /usr/local/go/bin/go ] && GO=/usr/local/go/bin/go
if [ -z "$GO" ]; then
  echo "prism.sh: go is not installed (need Go to build prism)" >&2
  exit 1
fi
if ! go_version="$("$GO" version 2>&1)"; then
  echo "prism.sh: $GO does not run: $go_version" >&2
  exit 1
fi

mkdir -p "$gobin"
# One build at a time per version (parallel test workers may all ask for it).
exec 9>"$gobin/.lock"
if command -v flock >/dev/null; then flock 9; fi
if [ -x "$bin" ]; then echo "$bin"; exit 0; fi

echo "prism.sh: building prism v$version with $go_version (a few minutes the first time)" >&2
start=$(date +%s)
# Build into a temporary GOBIN and move into place, so a half-built binary is never seen.
tmp="$(mktemp -d "$gobin/.build.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
if ! GOBIN="$tmp" "$GO" install "github.com/apache/beam/sdks/v2/go/cmd/prism@v$version" >&2; then
  echo "prism.sh: go install github.com/apache/beam/sdks/v2/go/cmd/prism@v$version failed" >&2
  exit 1
fi
mv -f "$tmp/prism" "$bin"
echo "prism.sh: built $bin in $(( $(date +%s) - start ))s" >&2
echo "$bin"
