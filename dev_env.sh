# Sourced by run_direct.sh and run_tests.sh: makes ./.venv with the package installed
# (editable, with test extras) on first use, and again whenever setup.py changes.
# Needs only python3 (3.10+) on the machine.
PULSE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PULSE_VENV="${PULSE_VENV:-$PULSE_ROOT/.venv}"
if [ ! -x "$PULSE_VENV/bin/python" ]; then
  echo "dev_env: creating $PULSE_VENV" >&2
  python3 -m venv "$PULSE_VENV" || return 1
fi
if [ ! -f "$PULSE_VENV/.installed" ] || [ "$PULSE_ROOT/setup.py" -nt "$PULSE_VENV/.installed" ]; then
  echo "dev_env: installing network-pulse and its dependencies into $PULSE_VENV (about a minute)" >&2
  "$PULSE_VENV/bin/python" -m pip install -q --upgrade pip >&2 &&
  "$PULSE_VENV/bin/python" -m pip install -q -e "$PULSE_ROOT[test]" >&2 || return 1
  touch "$PULSE_VENV/.installed"
fi
# The web UI's JavaScript (ui/package-lock.json), copied into ui/static/vendor/: once.
for f in sigma.min.js graphology.umd.min.js socket.io.min.js plotly.min.js; do
  [ -f "$PULSE_ROOT/ui/static/vendor/$f" ] && continue
  if command -v npm >/dev/null; then
    echo "dev_env: installing the UI's JavaScript (npm ci in ui/)" >&2
    (cd "$PULSE_ROOT/ui" && npm ci --no-audit --no-fund --silent &&
     npm run --silent vendor) >&2 || return 1
  else
    echo "dev_env: no npm: \`pulse ui\` needs \`cd ui && npm ci && npm run vendor\`" >&2
  fi
  break
done
export PATH="$PULSE_VENV/bin:$PATH"
