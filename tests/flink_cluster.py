"""A local Flink session cluster for tests, run by scripts/flink.sh on 127.0.0.1.

  flink_job_server_jar   session fixture: Beam's Flink job server jar (scripts/flink.sh fetch)
  flink_master           session fixture: "127.0.0.1:RESTPORT" of a cluster (JobManager + one
                         TaskManager with 2 slots), stopped when the session ends
  run_flink(master, jar, inputs, sink, *flags, timeout)   ./run_flink.sh as a subprocess

Without java or python's venv module the fixtures skip, except under CI (env CI set), where
they fail, as tests/kafka_broker.py does. When Maven Central has no job server jar for the
installed apache_beam, the jar fixture skips with mvn's error even under CI: no step of this
repo can bring it then (set FLINK_JOB_SERVER_JAR to a jar built elsewhere).
"""
import os
import shutil
import signal
import subprocess
import sys

import pytest

from helpers import run_server_script
from kafka_broker import unavailable

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(REPO, "scripts", "flink.sh")
RUN_FLINK = os.path.join(REPO, "run_flink.sh")
FETCH_TIMEOUT = 900   # a cold fetch: ~230 MB from PyPI plus the ~130 MB jar through mvn
START_TIMEOUT = 150   # the script itself waits at most FLINK_START_TIMEOUT (90 s)
STOP_TIMEOUT = 60


def missing_tools():
  if not (os.environ.get("JAVA_HOME") or shutil.which("java")):
    return "java not found (Flink needs Java 11 or 17)"
  if subprocess.run([sys.executable, "-c", "import venv"]).returncode:
    return "python's venv module is missing (scripts/flink.sh installs Flink into a venv)"
  return None


def _script(*args, timeout):
  return run_server_script(SCRIPT, "FLINK_WATCH_PID", *args, timeout=timeout)


@pytest.fixture(scope="session")
def flink_job_server_jar():
  reason = missing_tools()
  if reason:
    unavailable(reason)
  if not shutil.which("mvn") and not os.environ.get("FLINK_JOB_SERVER_JAR"):
    unavailable("mvn not found (scripts/flink.sh fetches Beam's Flink job server with it)")
  fetch = _script("fetch", timeout=FETCH_TIMEOUT)
  if fetch.returncode:
    errors = [l for l in fetch.stderr.splitlines() if "ERROR" in l or "flink.sh:" in l]
    pytest.skip("Beam's Flink job server jar is not available: " + " | ".join(errors[-2:]))
  return _script("jobserver-jar", timeout=60).stdout.strip()


@pytest.fixture(scope="session")
def flink_master(tmp_path_factory):
  reason = missing_tools()
  if reason:
    unavailable(reason)
  folder = str(tmp_path_factory.mktemp("flink"))
  try:
    start = _script("start", folder, timeout=START_TIMEOUT)
    if start.returncode:
      raise RuntimeError(f"scripts/flink.sh start failed:\n{start.stdout}{start.stderr}")
    yield start.stdout.strip().splitlines()[-1]
  finally:
    stop = _script("stop", folder, timeout=STOP_TIMEOUT)
    if stop.returncode:
      print(f"scripts/flink.sh stop failed:\n{stop.stdout}{stop.stderr}", file=sys.stderr)


def run_flink(master, jar, inputs, sink, *flags, timeout=600):
  """./run_flink.sh on the cluster at master; returns the CompletedProcess (text)."""
  inputs = [inputs] if isinstance(inputs, str) else inputs
  argv = ["bash", RUN_FLINK, "--flink_master", master, "--flink_job_server_jar", jar,
          *[f"--input={i}" for i in inputs], f"--sink={sink}", *flags]
  # Its own session: on timeout TERM reaches the script, whose trap stops its worker pool.
  proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          stdin=subprocess.DEVNULL, cwd=REPO, start_new_session=True)
  try:
    out, err = proc.communicate(timeout=timeout)
  except subprocess.TimeoutExpired:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
      out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
      os.killpg(proc.pid, signal.SIGKILL)
      out, err = proc.communicate()
    pytest.fail(f"run_flink.sh took over {timeout}s:\n{out[-3000:]}{err[-3000:]}")
  return subprocess.CompletedProcess(argv, proc.returncode, out, err)
