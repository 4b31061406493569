#!/usr/bin/env bash
# The test command: sets up ./.venv on first use, then runs the whole suite.
# Extra arguments go to pytest (e.g. ./run_tests.sh -k oracle -x).
set -euo pipefail
cd "$(dirname "$0")"
source ./dev_env.sh
exec python -m pytest "$@"
