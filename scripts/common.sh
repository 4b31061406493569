# Sourced by the scripts here: the cache outside the repo, the project's python, and the
# installed Beam's version (the one every fetched runner or jar must match).
# $SCRIPT_NAME names the sourcing script in messages.
PULSE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE_ROOT="${PULSE_CACHE:-$HOME/.cache/network-pulse}"

die() { echo "$SCRIPT_NAME: $*" >&2; exit 1; }

python_bin() {  # PULSE_PYTHON, else the repo's .venv, else python3
  if [[ -n "${PULSE_PYTHON:-}" ]]; then echo "$PULSE_PYTHON"
  elif [[ -x "$PULSE_ROOT/.venv/bin/python" ]]; then echo "$PULSE_ROOT/.venv/bin/python"
  elif command -v python3 >/dev/null; then command -v python3
  else die "no python3 found; set PULSE_PYTHON"
  fi
}

beam_release() {  # the installed apache_beam's version; a release (X.Y.Z) or die
  local v
  v="$("$(python_bin)" -c 'import apache_beam; print(apache_beam.__version__)' 2>/dev/null)" \
    && [[ -n "$v" ]] || die "cannot read apache_beam's version with $(python_bin) (set PULSE_PYTHON)"
  # Dev and rc versions (2.78.0.dev, 2.78.0rc1) have no matching published artifacts.
  [[ "$v" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "apache_beam $v is not a release: nothing to fetch for it"
  echo "$v"
}
