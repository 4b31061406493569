"""Store faults with real parts: a SQLite file write-locked by another process, and the
RethinkDB double crashing in the middle of a whole pipeline run. Within the retry budget
no frame is lost; past it the error names the store, the wait and the unwritten frames.
Budgets are small here so that every test takes seconds."""
import logging
import re
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager

import apache_beam as beam
import pytest

from helpers import HOURS, make_runner, stop_process, stored_frames
from pulse.io.stores import FrameStoreError, open_store
from pulse.io.stores.rethinkdb_store import RethinkDBStoreError
from pulse.io.stores.sqlite_store import SQLiteFrameStore
from pulse.pipeline import graph
from pulse.pipeline.run import pipeline_options
from rethinkdb_double import RethinkDBDouble

FLAGS = ("--window_size=300", "--window_period=60")
LIMIT_S = 60
# Another process takes SQLite's write lock and holds it until a line on stdin.
LOCKER = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.readline()
db.execute("COMMIT")
"""


@pytest.fixture(autouse=True)
def time_limit():
  def expire(*_):
    raise TimeoutError(f"a store-fault test took over {LIMIT_S} s")
  previous = signal.signal(signal.SIGALRM, expire)
  signal.alarm(LIMIT_S)
  yield
  signal.alarm(0)
  signal.signal(signal.SIGALRM, previous)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
  """The frames of the 2011 hour, stored in SQLite with nothing in the way."""
  frames = make_runner(tmp_path_factory.mktemp("reference"))(HOURS["2011"], *FLAGS).frames
  assert len(frames) > 20
  return frames


def run_pipeline(sink, folder):
  options = pipeline_options([f"--input={HOURS['2011']}", f"--sink={sink}",
                              f"--dead_letter_output={folder}/dead.jsonl", *FLAGS])
  with beam.Pipeline(options=options) as pipeline:
    graph.build(pipeline, options)


def frame(start):
  return {"id": f"{start}-{start + 600_000}", "window_start": start,
          "window_end": start + 600_000, "edges": 1, "clusters": []}


@contextmanager
def write_locked(path):
  """SQLite's write lock on path, held by another process; yields release()."""
  locker = subprocess.Popen([sys.executable, "-c", LOCKER, path], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)

  def release():
    if locker.poll() is None:
      locker.stdin.write("\n")
      locker.stdin.flush()
      locker.wait(10)

  try:
    assert locker.stdout.readline() == "locked\n"
    yield release
  finally:
    stop_process(locker)


class _Seen(logging.Handler):
  """Sets an event when a log message contains `text`."""
  def __init__(self, text):
    super().__init__()
    self.text, self.event = text, threading.Event()

  def emit(self, record):
    if self.text in record.getMessage():
      self.event.set()


@contextmanager
def released_after_first_retry(release, after_s):
  """Calls release() after_s seconds after the first 'database is locked' retry."""
  seen = _Seen("database is locked")
  logging.getLogger().addHandler(seen)

  def wait_then_release():
    if seen.event.wait(LIMIT_S):
      time.sleep(after_s)
    release()

  releaser = threading.Thread(target=wait_then_release, daemon=True)
  releaser.start()
  try:
    yield seen.event
  finally:
    logging.getLogger().removeHandler(seen)
    seen.event.set()
    releaser.join(LIMIT_S)


# ---- SQLite ------------------------------------------------------------------------------

def test_sqlite_uri_takes_the_retry_budget_of_every_store(tmp_path):
  store = open_store(f"sqlite://{tmp_path}/f.db?retry_s=2.5&retries=3&timeout_s=0.5")
  budget = store.budget
  assert (budget.retry_s, budget.retries, budget.timeout_s) == (2.5, 3, 0.5)
  assert str(tmp_path / "f.db") in budget.where
  store.close()
  defaults = SQLiteFrameStore(str(tmp_path / "g.db")).budget
  assert (defaults.retry_s, defaults.retries, defaults.timeout_s) == (30, 10, 5)
  for bad in ("retry_s=soon", "retries=-1", "batch=3"):
    with pytest.raises(ValueError, match=bad.split("=")[0]):
      open_store(f"sqlite://{tmp_path}/f.db?{bad}")


def test_sqlite_write_waits_for_another_writers_lock(tmp_path, caplog):
  path = str(tmp_path / "f.db")
  store = open_store(f"sqlite://{path}?retry_s=10&timeout_s=0.2")
  store.write([frame(0)])
  with write_locked(path) as release:
    reader = open_store(f"sqlite://{path}")        # opening and reading need no lock
    assert [f["id"] for f in reader.frames()] == [frame(0)["id"]]
    timer = threading.Timer(1.0, release)
    timer.start()
    started = time.monotonic()
    assert store.write([frame(s * 60_000) for s in range(1, 8)]) == 7
    waited = time.monotonic() - started
    timer.join()
  assert 0.9 < waited < 3
  assert [f["window_start"] for f in store.frames()] == [s * 60_000 for s in range(8)]
  assert "database is locked" in caplog.text and "retry" in caplog.text
  reader.close()
  store.close()


def test_sqlite_locked_past_the_budget_names_the_file_the_wait_and_the_frames(tmp_path):
  path = str(tmp_path / "f.db")
  store = open_store(f"sqlite://{path}?retry_s=1&timeout_s=0.2")
  with write_locked(path):
    started = time.monotonic()
    with pytest.raises(FrameStoreError) as error:
      store.write([frame(s * 60_000) for s in range(7)])
    assert time.monotonic() - started < 2.5
  message = str(error.value)
  assert f"SQLite database {path}: writing 7 frame(s) failed" in message
  assert re.search(r"after \d+ attempt\(s\) over 1\.\d s \(retry budget 1 s", message)
  assert "database is locked; 7 of 7 frame(s) not written" in message
  assert list(store.frames()) == []                # nothing half-written
  store.write([frame(s * 60_000) for s in range(7)])   # lock gone: the caller retries
  assert len(list(store.frames())) == 7
  store.close()


def test_pipeline_waits_for_a_locked_sqlite_store_and_loses_no_frame(reference, tmp_path):
  path = str(tmp_path / "f.db")
  open_store(f"sqlite://{path}").close()           # the table exists before the lock
  started = time.monotonic()
  with write_locked(path) as release:
    with released_after_first_retry(release, after_s=1.0) as retried:
      run_pipeline(f"sqlite://{path}?retry_s=20&timeout_s=0.2", tmp_path)
      assert retried.is_set()                      # the store did meet the lock
  print(f"pipeline with a 1 s lock: {time.monotonic() - started:.1f} s")
  assert stored_frames(f"sqlite://{path}") == reference


def test_pipeline_fails_clearly_when_the_lock_outlasts_the_budget(tmp_path):
  path = str(tmp_path / "f.db")
  open_store(f"sqlite://{path}").close()
  with write_locked(path):
    with pytest.raises(FrameStoreError) as error:
      run_pipeline(f"sqlite://{path}?retry_s=1&timeout_s=0.2", tmp_path)
  message = str(error.value)
  assert f"SQLite database {path}: writing" in message
  # Whichever write comes first fails the run: the frames', or the kept pane summaries'.
  assert re.search(r"over 1\.\d s \(retry budget 1 s, 10 retries\): OperationalError: "
                   r"database is locked; (\d+) of \1 (frame\(s\)|pane summaries) not written",
                   message)
  assert stored_frames(f"sqlite://{path}") == []


# ---- RethinkDB ---------------------------------------------------------------------------

def test_rethinkdb_crashing_mid_run_and_back_loses_no_frame(reference, tmp_path, caplog):
  with RethinkDBDouble() as double:
    sink = f"rethinkdb://{double.address}/pulse/frames?batch=10&retry_s=20"
    double.crash_on_insert(nth=2, down_s=1.0)      # the second batch dies unanswered
    run_pipeline(sink, tmp_path)
    assert double.crashes == 1
    assert stored_frames(sink) == reference
  # The connection broke mid-write, then the server refused until it was back.
  assert (f"RethinkDB at {double.address}: writing 10 frame(s) to pulse.frames failed "
          "(ReqlDriverError: Connection is closed.); retry 1") in caplog.text
  assert "Connection refused" in caplog.text


def test_rethinkdb_down_for_good_mid_run_fails_clearly(reference, tmp_path):
  with RethinkDBDouble() as double:
    sink = f"rethinkdb://{double.address}/pulse/frames?batch=10&retry_s=1"
    double.crash_on_insert(nth=2)                  # and it stays down
    started = time.monotonic()
    with pytest.raises(RethinkDBStoreError) as error:
      run_pipeline(sink, tmp_path)
    print(f"failed {time.monotonic() - started:.1f} s after the start")
    assert time.monotonic() - started < 6          # the pipeline, then a 1 s budget
    message = str(error.value)
    assert (f"RethinkDB at {double.address}: writing 10 frame(s) to pulse.frames failed "
            "after") in message
    assert "retry budget 1 s" in message and "Connection refused" in message
    unwritten = re.search(r"(\d+) of (\d+) frame\(s\) not written", message)
    assert unwritten and int(unwritten[1]) == int(unwritten[2]) - 10
    double.start()                                 # what the first batch stored is there
    stored = stored_frames(sink)
    assert len(stored) == 10 and all(f in reference for f in stored)
