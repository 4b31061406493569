"""Test helpers: the real hours, running the pipeline in-process (batch, or streaming on
Prism from Kafka with a firehose thread), test servers' ports and stops.
(tests/conftest.py puts this folder on sys.path, so tests `from helpers import ...`.)"""
import json
import os
import socket
import subprocess
import sys
import threading
import time

import apache_beam as beam

from pulse.io.stores import open_store
from pulse.pipeline import follow, graph
from pulse.pipeline.run import pipeline_options

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(REPO, "data")
HOURS = {
    "2011": os.path.join(DATA, "bigquery-2011-02-15-0.json.gz"),
    "2012": os.path.join(DATA, "bigquery-2012-02-15-0.json.gz"),
    "2015": os.path.join(DATA, "gharchive-2015-01-01-12.json.gz"),
}


def read_json_lines(path):
  if not os.path.exists(path):
    return []
  with open(path, encoding="utf-8") as f:
    return [json.loads(line) for line in f if line.strip()]


def stored_frames(sink):
  store = open_store(sink)
  try:
    return list(store.frames())
  finally:
    store.close()


class PulseRun:
  """What one in-process pipeline run left behind."""
  def __init__(self, folder):
    self.folder = folder
    self.sink = "sqlite://" + os.path.join(folder, "frames.db")
    self.dead_letter_path = os.path.join(folder, "dead.jsonl")
    self.edges_path = os.path.join(folder, "edges.jsonl")
    self.pipeline_result = None

  @property
  def frames(self):
    return stored_frames(self.sink)

  @property
  def dead_letters(self):
    return read_json_lines(self.dead_letter_path)

  @property
  def edges(self):
    return read_json_lines(self.edges_path)

  def counter(self, name):
    counters = self.pipeline_result.metrics().query()["counters"]
    return sum(c.committed for c in counters if c.key.metric.name == name)


def make_runner(base_folder):
  """run(inputs, *flags): the batch pipeline on FnApiRunner into a new folder under
  base_folder; returns a PulseRun."""
  counter = [0]

  def run(inputs, *flags):
    counter[0] += 1
    folder = os.path.join(str(base_folder), f"run{counter[0]}")
    os.makedirs(folder)
    result = PulseRun(folder)
    inputs = [inputs] if isinstance(inputs, str) else inputs
    argv = [f"--input={i}" for i in inputs] + [
        f"--sink={result.sink}", f"--dead_letter_output={result.dead_letter_path}",
        f"--edges_output={result.edges_path}", *flags]
    options = pipeline_options(argv)
    with beam.Pipeline(options=options) as pipeline:
      graph.build(pipeline, options)
    result.pipeline_result = pipeline.result
    return result

  return run


def batch_test_pipeline():
  """A TestPipeline on FnApiRunner: the DirectRunner would first try to download Prism."""
  from apache_beam.testing.test_pipeline import TestPipeline
  return TestPipeline(runner="FnApiRunner")


def run_server_script(script, watch_env, *args, timeout):
  """scripts/<server>.sh ARGS with this Python; watch_env names this process, so that if
  it dies without its teardown, the server goes too."""
  env = dict(os.environ, PULSE_PYTHON=sys.executable, **{watch_env: str(os.getpid())})
  return subprocess.run(["bash", script, *args], capture_output=True, text=True,
                        stdin=subprocess.DEVNULL, env=env, timeout=timeout)


def free_port(host="127.0.0.1"):
  """A port nothing listens on now, for a test server on 127.0.0.1."""
  with socket.socket() as s:
    s.bind((host, 0))
    return s.getsockname()[1]


def stop_process(process, timeout=10):
  """Stop a test server by its PID: TERM, then KILL if it has not gone within timeout."""
  if process.poll() is not None:
    return
  process.terminate()
  try:
    process.wait(timeout)
  except subprocess.TimeoutExpired:
    process.kill()
    process.wait(timeout)


# Streaming on Prism from Kafka (confluent-kafka and Prism are loaded only when used).

def start_pipeline(bootstrap, topic, group, sink, dead, *flags):
  """The streaming pipeline on Prism, reading kafka://bootstrap/topic as `group`; returns
  the running job's result."""
  from prism_runner import prism_options
  options = pipeline_options(prism_options(streaming=True) + [
      f"--input=kafka://{bootstrap}/{topic}", f"--sink={sink}", f"--kafka_group={group}",
      f"--dead_letter_output={dead}", *flags])
  pipeline = beam.Pipeline(options=options)
  graph.build(pipeline, options)
  return pipeline.run()


class Firehose(threading.Thread):
  """pulse.firehose.replay.run of one hour in a thread: total and done_at once it ends;
  settings (delivery_timeout_s, ...) go to its Settings, its messages to out."""
  def __init__(self, bootstrap, topic, hour, rate, out=None, **settings):
    from pulse.firehose.replay import Settings
    super().__init__(daemon=True)
    self.settings = Settings([hour], bootstrap, topic, rate=rate, quiet=True, **settings)
    self.out = out
    self.done_at = None
    self.total = None

  def run(self):
    from pulse.firehose.replay import run
    self.total = run(self.settings, self.out)
    self.done_at = time.monotonic()


def wait_for(condition, timeout, what):
  deadline = time.monotonic() + timeout
  while time.monotonic() < deadline:
    if condition():
      return
    time.sleep(0.2)
  raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def frames_equal(sink, expected):
  """True when the store holds exactly the expected frames; else a short account of the
  difference is kept in frames_equal.last."""
  got = {f["id"]: f for f in stored_frames(sink)}
  want = {f["id"]: f for f in expected}
  frames_equal.last = {
      "missing": sorted(set(want) - set(got))[:5],
      "extra": sorted(set(got) - set(want))[:5],
      "different": [(i, got[i]["edges"], want[i]["edges"]) for i in sorted(want)
                    if i in got and got[i] != want[i]][:5]}
  return got == want


def wait_for_batch_frames(sink, expected, timeout):
  """Wait until the store holds exactly the batch run's frames; else fail saying how they
  differ."""
  try:
    wait_for(lambda: frames_equal(sink, expected), timeout, "the batch run's frames")
  except AssertionError:
    raise AssertionError(f"frames differ from the batch run's: {frames_equal.last}") from None


def counter(result, name):
  """The committed counter pulse/<name> of a running or finished run, asked anew."""
  return follow.counter(follow.metrics_now(result), name)
