"""Frame stores. A store is named by a URI:
  sqlite://PATH   the embedded default; PATH is a file path (sqlite:///tmp/f.db is /tmp/f.db,
                  sqlite://out/f.db is out/f.db, relative to the working directory)
Frames are keyed by their id, so writing a frame again replaces it (idempotent reruns and
retried bundles)."""
import json
import logging
import os
import sqlite3
import time

import apache_beam as beam
from apache_beam.metrics import Metrics

LOG = logging.getLogger(__name__)


class SQLiteFrameStore:
  """Frames in one SQLite table, WAL mode so readers can follow a writer."""
  def __init__(self, path, timeout_s=30.0):
    self.path = path
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    # Beam may call a DoFn's setup, bundles and teardown on different threads.
    self.db = sqlite3.connect(path, timeout=timeout_s, check_same_thread=False)
    self.db.execute("PRAGMA journal_mode=WAL")
    self.db.execute(
        "CREATE TABLE IF NOT EXISTS frames (id TEXT PRIMARY KEY, window_start INTEGER "
        "NOT NULL, window_end INTEGER NOT NULL, frame TEXT NOT NULL, "
        "stored_at INTEGER NOT NULL)")   # wall-clock ms of the last write: for latency
    columns = [row[1] for row in self.db.execute("PRAGMA table_info(frames)")]
    if "stored_at" not in columns:          # a store written before stored_at existed
      self.db.execute(
          "ALTER TABLE frames ADD COLUMN stored_at INTEGER NOT NULL DEFAULT 0")
    self.db.execute(
        "CREATE INDEX IF NOT EXISTS frames_by_start ON frames (window_start)")
    self.db.commit()

  def write(self, frames):
    now = int(time.time() * 1000)
    rows = [(f["id"], f["window_start"], f["window_end"],
             json.dumps(f, ensure_ascii=False), now) for f in frames]
    with self.db:
      self.db.executemany(
          "INSERT INTO frames (id, window_start, window_end, frame, stored_at) "
          "VALUES (?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET "
          "window_start=excluded.window_start, window_end=excluded.window_end, "
          "frame=excluded.frame, stored_at=excluded.stored_at", rows)
    return len(rows)

  def stored_at(self):
    """{frame id: wall-clock ms of its last write}."""
    return dict(self.db.execute("SELECT id, stored_at FROM frames"))

  def frames(self):
    """Every stored frame, ordered by window_start (then window_end)."""
    for (text,) in self.db.execute(
        "SELECT frame FROM frames ORDER BY window_start, window_end, id"):
      yield json.loads(text)

  def max_window_end(self):
    """The latest window_end stored, or None for an empty store."""
    return self.db.execute("SELECT MAX(window_end) FROM frames").fetchone()[0]

  def close(self):
    self.db.close()


def open_store(uri):
  scheme, sep, rest = uri.partition("://")
  if not sep:
    raise ValueError(f"sink {uri!r} is not a URI: use sqlite://PATH")
  if scheme == "sqlite":
    if not rest:
      raise ValueError("sqlite:// needs a file path, e.g. sqlite:///tmp/frames.db")
    return SQLiteFrameStore(rest)
  raise ValueError(f"unknown sink scheme {scheme!r} in {uri!r}: use sqlite://PATH")


class WriteFrames(beam.PTransform):
  """Frames -> the store at `uri`, one transaction per bundle."""
  def __init__(self, uri):
    super().__init__()
    open_store(uri).close()      # fail at construction on a bad URI, not on a worker
    self.uri = uri

  def expand(self, frames):
    return frames | "Store" >> beam.ParDo(_WriteFramesFn(self.uri))


class _WriteFramesFn(beam.DoFn):
  def __init__(self, uri):
    self.uri = uri
    self.written = Metrics.counter("pulse", "frames_written")

  def setup(self):
    self.store = open_store(self.uri)

  def start_bundle(self):
    self.batch = []

  def process(self, frame):
    self.batch.append(frame)

  def finish_bundle(self):
    if self.batch:
      self.written.inc(self.store.write(self.batch))
      latest = max(self.batch, key=lambda f: f["window_end"])
      LOG.info("stored %d frame(s), latest %s: %d edges, largest cluster %d",
               len(self.batch), latest["id"], latest["edges"],
               latest["clusters"][0]["size"] if latest["clusters"] else 0)
      self.batch = []

  def teardown(self):
    self.store.close()
