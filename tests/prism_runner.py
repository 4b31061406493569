"""Beam's Prism runner for tests, from a local binary (scripts/prism.sh) so nothing is
downloaded at run time.

  prism_binary()          absolute path of the prism binary matching the installed apache_beam;
                          builds it once with `scripts/prism.sh install` (Go, ~1.5 min cold)
                          when missing. If it cannot be had: pytest.skip outside CI,
                          pytest.fail when CI is set.
  prism_options(**extra)  the Beam flags to run a pipeline on that binary, plus extra flags:
                          prism_options(streaming=True) -> [..., "--streaming"];
                          key=value -> --key=value, True -> --key, False/None -> omitted,
                          a list or tuple -> the flag repeated.

Prism is started by the Python SDK itself (PrismRunner -> PrismJobServer) as
`<bin> --job_port N --log_level L --log_kind json --serve_http=false` on a free port and shared
by every pipeline of the process (it is stopped at interpreter exit). LOOPBACK runs the SDK
harness as threads of this very process, so DoFns may write to the test's tmp_path.
"""
import logging
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "scripts", "prism.sh")
BUILD_TIMEOUT = 900  # seconds; a cold build (module download + compile) takes ~90 s here

_binary = None
_error = None


def _unavailable(reason):
  if os.environ.get("CI"):
    pytest.fail("Prism runner unavailable: " + reason, pytrace=False)
  pytest.skip("Prism runner unavailable: " + reason)


def _run_script(cmd, timeout):
  env = dict(os.environ)
  env.setdefault("PULSE_PYTHON", sys.executable)  # the apache_beam this test runs with
  return subprocess.run(["bash", SCRIPT, cmd], env=env, stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE, text=True, timeout=timeout, check=False)


def prism_binary():
  """Absolute path of the prism binary for the installed apache_beam (built when missing)."""
  global _binary, _error
  if _binary:
    return _binary
  if _error is None:
    try:
      found = _run_script("path", 120)
      if found.returncode != 0:
        found = _run_script("install", BUILD_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as e:
      _error = "%s failed: %s" % (SCRIPT, e)
    else:
      path = found.stdout.strip().splitlines()[-1] if found.stdout.strip() else ""
      if found.returncode == 0 and os.path.isfile(path) and os.access(path, os.X_OK):
        _binary = path
        return _binary
      tail = "\n".join(found.stderr.strip().splitlines()[-15:])
      _error = "%s exited %d:\n%s" % (SCRIPT, found.returncode, tail)
  _unavailable(_error)


def _flag(key, value):
  name = "--" + key
  if value is True:
    return [name]
  if value is False or value is None:
    return []
  if isinstance(value, (list, tuple)):
    return [f for v in value for f in _flag(key, v)]
  return ["%s=%s" % (name, value)]


def prism_options(**extra):
  """Beam pipeline flags to run on the local Prism binary; **extra adds or overrides flags.

  --environment_type=LOOPBACK is PrismRunner's default anyway (stated so it's explicit);
  --prism_log_level=warn keeps Prism's own INFO lines (job/stage chatter, which the SDK relays
  through Python logging) out of the output; pass prism_log_level="info" or "debug" to see them
  (debug shows progress reports, splits and bundle finalization). Also quiets the SDK's
  WARNING lines about starting/stopping the Prism subprocess.
  """
  # The SDK logs WARNING "Really starting/destroying service at ..." for the shared Prism
  # process; the destroying one comes from an atexit hook after pytest's summary line.
  logging.getLogger("apache_beam.utils.subprocess_server").setLevel(logging.ERROR)
  flags = {
      "runner": "PrismRunner",
      "prism_location": prism_binary(),
      "environment_type": "LOOPBACK",
      "prism_log_level": "warn",
  }
  flags.update(extra)
  return [f for key, value in flags.items() for f in _flag(key, value)]
