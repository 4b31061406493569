"""A real single-node Kafka broker (KRaft) for tests, run by scripts/kafka.sh on 127.0.0.1.

  with kafka_broker(tmp_dir) as bootstrap: ...      # "127.0.0.1:PORT"
    kill_broker(tmp_dir)                            # a crash: SIGKILL, data kept
    restart_broker(tmp_dir)                         # back on the same port, same data

or, in a test module, `from kafka_broker import kafka_bootstrap` and take the session
fixture `kafka_bootstrap`. Without java (17+) or mvn the fixture skips, except under CI
(env CI set), where it fails so that CI never silently skips Kafka tests.
"""
import contextlib
import os
import re
import shutil
import subprocess
import sys

import pytest

from helpers import run_server_script

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(REPO, "scripts", "kafka.sh")
FETCH_TIMEOUT = 900   # a cold Maven repository downloads ~45 MB
START_TIMEOUT = 120   # the script itself waits at most KAFKA_START_TIMEOUT (60 s)
STOP_TIMEOUT = 60


def unavailable(reason):
  """Skip the test (or the module, when called at import), or fail under CI."""
  if os.environ.get("CI"):
    pytest.fail(f"{reason} (CI is set, so this fails instead of skipping)", pytrace=False)
  pytest.skip(reason, allow_module_level=True)


def java_major(java):
  out = subprocess.run([java, "-XshowSettings:properties", "-version"],
                       capture_output=True, text=True, timeout=60).stderr
  match = re.search(r"java\.specification\.version = (?:1\.)?(\d+)", out)
  return int(match.group(1)) if match else 0


def missing_tools():
  """Why the broker cannot run here, or None."""
  java_home = os.environ.get("JAVA_HOME")
  java = (os.path.join(java_home, "bin", "java") if java_home
          and os.access(os.path.join(java_home, "bin", "java"), os.X_OK)
          else shutil.which("java"))
  if not java:
    return "java not found (the Kafka broker needs Java 17+)"
  if java_major(java) < 17:
    return f"{java} is older than Java 17 (the Kafka broker needs 17+)"
  if not shutil.which("mvn"):
    return "mvn not found (scripts/kafka.sh fetches Kafka from Maven Central with it)"
  return None


def require_confluent_kafka():
  """The confluent_kafka module; skip (fail under CI) without it."""
  try:
    import confluent_kafka
  except ImportError:
    unavailable("confluent-kafka not installed (pip install confluent-kafka)")
  return confluent_kafka


def _script(*args, timeout):
  return run_server_script(SCRIPT, "KAFKA_WATCH_PID", *args, timeout=timeout)


def _checked(*args, timeout):
  """The last line scripts/kafka.sh ARGS printed; RuntimeError with its output if it
  failed."""
  done = _script(*args, timeout=timeout)
  if done.returncode:
    raise RuntimeError(f"scripts/kafka.sh {args[0]} failed:\n{done.stdout}{done.stderr}")
  return (done.stdout.strip().splitlines() or [""])[-1]


@contextlib.contextmanager
def kafka_broker(tmp_dir):
  """Fetch Kafka if needed, start a broker with its state in tmp_dir, yield its bootstrap
  address ("127.0.0.1:PORT") and stop it afterwards, whatever happened."""
  reason = missing_tools()
  if reason:
    unavailable(reason)
  tmp_dir = str(tmp_dir)
  _checked("fetch", timeout=FETCH_TIMEOUT)
  try:
    yield _checked("start", tmp_dir, timeout=START_TIMEOUT)
  finally:
    stop = _script("stop", tmp_dir, timeout=STOP_TIMEOUT)
    if stop.returncode:
      print(f"scripts/kafka.sh stop failed:\n{stop.stdout}{stop.stderr}", file=sys.stderr)


def kill_broker(tmp_dir):
  """SIGKILL the broker of tmp_dir, as a crash would end it; its data stays."""
  _checked("kill", str(tmp_dir), timeout=STOP_TIMEOUT)


def restart_broker(tmp_dir):
  """Start the broker of tmp_dir again, on the same port with the same data; returns its
  bootstrap address once it answers."""
  return _checked("restart", str(tmp_dir), timeout=START_TIMEOUT)


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory):
  """The bootstrap address of a Kafka broker shared by the session.

  Note: a session fixture imported into several test modules gets one instance per module
  (pytest registers it once per module that holds it); for one broker in the whole run,
  import it in tests/conftest.py instead."""
  with kafka_broker(tmp_path_factory.mktemp("kafka")) as bootstrap:
    yield bootstrap
